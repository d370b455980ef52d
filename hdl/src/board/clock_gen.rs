//! The board's clock: the oscillator pin through a vendor PLL (`SB_PLL40_PAD` on iCE40,
//! `EHXPLLL` on ECP5, `MMCME2_BASE` + `BUFG` on 7-series) or straight through. The Verilog
//! instantiates the primitive by hand (`Verilog::Custom`); the simulation model passes the
//! clock through and reports lock at once, i.e. simulation bypasses the PLL.

use super::pll::{Ecp5Pll, Ice40Pll, Mmcm7};
use rust_hdl::prelude::*;

/// How the design clock is made from the board's oscillator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockPlan {
    /// No PLL: the oscillator clocks the design.
    Direct {
        f_mhz: f64,
    },
    Ice40Pad(Ice40Pll),
    Ecp5(Ecp5Pll),
    Mmcm7(Mmcm7),
}

impl ClockPlan {
    /// The design clock this plan achieves.
    pub fn f_out_mhz(&self) -> f64 {
        match self {
            ClockPlan::Direct { f_mhz } => *f_mhz,
            ClockPlan::Ice40Pad(p) => p.f_out_mhz,
            ClockPlan::Ecp5(p) => p.f_out_mhz,
            ClockPlan::Mmcm7(p) => p.f_out_mhz,
        }
    }

    /// One line for reports, e.g. `SB_PLL40_PAD DIVR=0 DIVF=66 DIVQ=4 (12 -> 50.25 MHz)`.
    pub fn describe(&self) -> String {
        match self {
            ClockPlan::Direct { f_mhz } => format!("no PLL ({f_mhz} MHz oscillator)"),
            ClockPlan::Ice40Pad(p) => format!(
                "SB_PLL40_PAD DIVR={} DIVF={} DIVQ={} FILTER_RANGE={} ({} -> {} MHz, VCO {} MHz)",
                p.divr, p.divf, p.divq, p.filter_range, p.f_in_mhz, p.f_out_mhz, p.f_vco_mhz
            ),
            ClockPlan::Ecp5(p) => format!(
                "EHXPLLL CLKI_DIV={} CLKFB_DIV={} CLKOP_DIV={} CLKOP_CPHASE={} ({} -> {} MHz, VCO {} MHz)",
                p.clki_div, p.clkfb_div, p.clkop_div, p.clkop_cphase, p.f_in_mhz, p.f_out_mhz,
                p.f_vco_mhz
            ),
            ClockPlan::Mmcm7(p) => format!(
                "MMCME2_BASE CLKFBOUT_MULT_F={} DIVCLK_DIVIDE={} CLKOUT0_DIVIDE_F={} ({} -> {} MHz, VCO {} MHz)",
                p.mult, p.divclk, p.clkout0_div, p.f_in_mhz, p.f_out_mhz, p.f_vco_mhz
            ),
        }
    }

    /// The vendor primitive this plan instantiates, if any.
    pub fn primitive(&self) -> Option<&'static str> {
        match self {
            ClockPlan::Direct { .. } => None,
            ClockPlan::Ice40Pad(_) => Some("SB_PLL40_PAD"),
            ClockPlan::Ecp5(_) => Some("EHXPLLL"),
            ClockPlan::Mmcm7(_) => Some("MMCME2_BASE"),
        }
    }
}

#[derive(LogicBlock)]
pub struct ClockGen {
    /// The oscillator pin (for `SB_PLL40_PAD` it must come straight from a top-level port).
    pub clock_in: Signal<In, Clock>,
    pub clock_out: Signal<Out, Clock>,
    pub locked: Signal<Out, bool>,
    _plan: ClockPlan,
}

impl ClockGen {
    pub fn new(plan: ClockPlan) -> Self {
        Self {
            clock_in: Default::default(),
            clock_out: Default::default(),
            locked: Default::default(),
            _plan: plan,
        }
    }
}

fn mhz(f: f64) -> String {
    // Attribute values as the vendor tools write them: no trailing zeros.
    let s = format!("{f:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Logic for ClockGen {
    fn update(&mut self) {
        self.clock_out.next = self.clock_in.val();
        self.locked.next = true;
    }

    fn connect(&mut self) {
        self.clock_out.connect();
        self.locked.connect();
    }

    fn hdl(&self) -> Verilog {
        // The primitive drives wires; the module's outputs (declared `reg` by rust-hdl) follow
        // them combinationally.
        let tail = "always @(*) clock_out = pll_clock;\nalways @(*) locked = pll_lock;\n";
        let body = match self._plan {
            ClockPlan::Direct { .. } => {
                return Verilog::Custom(
                    "always @(*) clock_out = clock_in;\nalways @(*) locked = 1'b1;\n".into(),
                )
            }
            ClockPlan::Ice40Pad(p) => format!(
                "wire pll_clock;\nwire pll_lock;\n\
// {f_in} MHz -> {f_out} MHz (VCO {vco} MHz), settings as icepll computes them.\n\
SB_PLL40_PAD #(\n\
  .FEEDBACK_PATH(\"SIMPLE\"),\n\
  .DIVR(4'd{divr}),\n\
  .DIVF(7'd{divf}),\n\
  .DIVQ(3'd{divq}),\n\
  .FILTER_RANGE(3'd{filter})\n\
) pll_i (\n\
  .PACKAGEPIN(clock_in),\n\
  .PLLOUTGLOBAL(pll_clock),\n\
  .RESETB(1'b1),\n\
  .BYPASS(1'b0),\n\
  .LOCK(pll_lock)\n\
);\n",
                f_in = mhz(p.f_in_mhz),
                f_out = mhz(p.f_out_mhz),
                vco = mhz(p.f_vco_mhz),
                divr = p.divr,
                divf = p.divf,
                divq = p.divq,
                filter = p.filter_range,
            ),
            ClockPlan::Ecp5(p) => format!(
                "wire pll_clock;\nwire pll_lock;\n\
// {f_in} MHz -> {f_out} MHz (VCO {vco} MHz), settings as ecppll computes them.\n\
(* FREQUENCY_PIN_CLKI=\"{f_in}\" *)\n\
(* FREQUENCY_PIN_CLKOP=\"{f_out}\" *)\n\
(* ICP_CURRENT=\"12\" *) (* LPF_RESISTOR=\"8\" *) (* MFG_ENABLE_FILTEROPAMP=\"1\" *) (* MFG_GMCREF_SEL=\"2\" *)\n\
EHXPLLL #(\n\
  .PLLRST_ENA(\"DISABLED\"),\n\
  .INTFB_WAKE(\"DISABLED\"),\n\
  .STDBY_ENABLE(\"DISABLED\"),\n\
  .DPHASE_SOURCE(\"DISABLED\"),\n\
  .OUTDIVIDER_MUXA(\"DIVA\"),\n\
  .OUTDIVIDER_MUXB(\"DIVB\"),\n\
  .OUTDIVIDER_MUXC(\"DIVC\"),\n\
  .OUTDIVIDER_MUXD(\"DIVD\"),\n\
  .CLKI_DIV({clki}),\n\
  .CLKOP_ENABLE(\"ENABLED\"),\n\
  .CLKOP_DIV({clkop}),\n\
  .CLKOP_CPHASE({cphase}),\n\
  .CLKOP_FPHASE(0),\n\
  .FEEDBK_PATH(\"CLKOP\"),\n\
  .CLKFB_DIV({clkfb})\n\
) pll_i (\n\
  .RST(1'b0),\n\
  .STDBY(1'b0),\n\
  .CLKI(clock_in),\n\
  .CLKOP(pll_clock),\n\
  .CLKFB(pll_clock),\n\
  .PHASESEL0(1'b0),\n\
  .PHASESEL1(1'b0),\n\
  .PHASEDIR(1'b1),\n\
  .PHASESTEP(1'b1),\n\
  .PHASELOADREG(1'b1),\n\
  .PLLWAKESYNC(1'b0),\n\
  .ENCLKOP(1'b0),\n\
  .LOCK(pll_lock)\n\
);\n",
                f_in = mhz(p.f_in_mhz),
                f_out = mhz(p.f_out_mhz),
                vco = mhz(p.f_vco_mhz),
                clki = p.clki_div,
                clkop = p.clkop_div,
                cphase = p.clkop_cphase,
                clkfb = p.clkfb_div,
            ),
            ClockPlan::Mmcm7(p) => format!(
                "wire pll_clock;\nwire pll_lock;\nwire pll_feedback;\nwire pll_unbuffered;\n\
// {f_in} MHz -> {f_out} MHz (VCO {vco} MHz).\n\
MMCME2_BASE #(\n\
  .CLKIN1_PERIOD({period:.3}),\n\
  .CLKFBOUT_MULT_F({mult}.0),\n\
  .DIVCLK_DIVIDE({divclk}),\n\
  .CLKOUT0_DIVIDE_F({div}.0)\n\
) mmcm_i (\n\
  .CLKIN1(clock_in),\n\
  .CLKFBIN(pll_feedback),\n\
  .CLKFBOUT(pll_feedback),\n\
  .CLKOUT0(pll_unbuffered),\n\
  .LOCKED(pll_lock),\n\
  .PWRDWN(1'b0),\n\
  .RST(1'b0)\n\
);\n\
BUFG bufg_i (.I(pll_unbuffered), .O(pll_clock));\n",
                f_in = mhz(p.f_in_mhz),
                f_out = mhz(p.f_out_mhz),
                vco = mhz(p.f_vco_mhz),
                period = 1000.0 / p.f_in_mhz,
                mult = p.mult,
                divclk = p.divclk,
                div = p.clkout0_div,
            ),
        };
        Verilog::Custom(body + tail)
    }
}

/// Yosys reads a design that instantiates vendor primitives, with the primitives' own port
/// lists from Yosys' cell library for `plan` (`hierarchy -check` fails on a wrong port name),
/// and applies the checks of `tools::yosys_check`.
pub fn yosys_check_with_cells(
    dir: &std::path::Path,
    file: &str,
    top: &str,
    plan: &ClockPlan,
) -> Result<(), String> {
    let lib = match plan {
        ClockPlan::Direct { .. } => return crate::tools::yosys_check(dir, file, top),
        ClockPlan::Ice40Pad(_) => "+/ice40/cells_sim.v",
        ClockPlan::Ecp5(_) => "+/ecp5/cells_bb.v",
        ClockPlan::Mmcm7(_) => "+/xilinx/cells_sim.v +/xilinx/cells_xtra.v",
    };
    let script =
        format!("read_verilog -lib {lib}; read -vlog95 {file}; hierarchy -check -top {top}; proc");
    let out = std::process::Command::new("yosys")
        .current_dir(dir)
        .args(["-p", &script])
        .output()
        .map_err(|e| format!("cannot run yosys (install it with tools/setup.sh): {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for bad in [
        "implicitly declared",
        "Latch inferred for",
        "is used but has no driver",
        "is not part of the design",
        "ERROR",
    ] {
        if let Some(line) = text.lines().find(|l| l.contains(bad)) {
            return Err(format!("yosys: {line}"));
        }
    }
    if !out.status.success() {
        return Err(format!("yosys failed: {text}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::pll::{ecp5_pll, ice40_pll, mmcm7};
    use crate::harness::ClockedSim;

    fn plans() -> Vec<ClockPlan> {
        vec![
            ClockPlan::Direct { f_mhz: 12.0 },
            ClockPlan::Ice40Pad(ice40_pll(12.0, 50.0).unwrap()),
            ClockPlan::Ecp5(ecp5_pll(25.0, 50.0).unwrap()),
            ClockPlan::Mmcm7(mmcm7(100.0, 50.0).unwrap()),
        ]
    }

    /// Every variant elaborates in Yosys against the vendor's real primitive (its port names
    /// and parameters).
    #[test]
    fn clock_gen_yosys_validate() {
        for plan in plans() {
            let mut uut = ClockGen::new(plan);
            uut.connect_all();
            let tmp = tempfile::tempdir().unwrap();
            crate::tools::write_design(tmp.path(), &generate_verilog(&uut), &[]).unwrap();
            yosys_check_with_cells(tmp.path(), "top.v", "top", &plan)
                .unwrap_or_else(|e| panic!("{}: {e}", plan.describe()));
        }
    }

    /// In simulation every variant is a wire: the output clock follows the input, lock is high.
    #[test]
    fn clock_gen_bypasses_in_simulation() {
        for plan in plans() {
            let mut sim =
                ClockedSim::new(ClockGen::new(plan), |u, c| u.clock_in.next = Clock::from(c))
                    .unwrap();
            for c in [true, false, true] {
                sim.uut.clock_in.next = Clock::from(c);
                sim.settle().unwrap();
                assert_eq!(sim.uut.clock_out.val().clk, c);
                assert!(sim.uut.locked.val());
            }
        }
    }
}
