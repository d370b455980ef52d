//! A register with an enable that Yosys keeps as its own flip-flops.
//!
//! Yosys merges flip-flops with the same inputs. A value every requant lane samples (the layer's
//! M) then becomes one register whose fan-out crosses the device, and the path from it into the
//! lanes' LUT multipliers is mostly routing. `(* keep *)` on the register's process keeps one
//! copy per instance, which the placer puts next to its lane.
//!
//! The same block without a power-up value (`layer_constant`) holds values derived from the
//! layer descriptors, loaded before anything reads them. The descriptor ROMs' contents are
//! constants, so such a register often has a constant input. With a power-up 0 it must stay a
//! flip-flop (0 in the first cycle, the constant after), and Yosys merges every such flip-flop
//! of the design into one whose fan-out crosses the device (on the UP5K it was the start of
//! failing paths into the encoder's bounds and the input buffer's last-beat test). Without
//! one, Yosys folds it into the constant.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct KeepReg<const N: usize> {
    pub clock: Signal<In, Clock>,
    pub enable: Signal<In, bool>,
    pub d: Signal<In, Bits<N>>,
    /// `d` at the last enabled rising edge (0 after configuration).
    pub q: Signal<Out, Bits<N>>,
    _state: Bits<N>,
    /// false: a plain register (Yosys may merge it with its twins), for fabrics where every
    /// flip-flop costs a logic cell and the device is small (iCE40).
    _keep: bool,
    /// false: no power-up value in the Verilog (`layer_constant`).
    _init: bool,
}

impl<const N: usize> KeepReg<N> {
    pub fn new(keep: bool) -> Self {
        Self {
            _keep: keep,
            ..Default::default()
        }
    }
    /// A plain register (no `keep`) without a power-up value, for a value derived from the
    /// layer descriptors that is loaded before it is read: a constant input folds away.
    /// (Simulation starts it at 0 like the others; Verilog simulators at x until loaded.)
    pub fn layer_constant() -> Self {
        Self::new(false).no_init(true)
    }
    /// With `on`, no power-up value (see `layer_constant`).
    pub fn no_init(mut self, on: bool) -> Self {
        self._init = !on;
        self
    }
}

impl<const N: usize> Default for KeepReg<N> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            enable: Default::default(),
            d: Default::default(),
            q: Default::default(),
            _state: Bits::<N>::default(),
            _keep: true,
            _init: true,
        }
    }
}

impl<const N: usize> Logic for KeepReg<N> {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.enable.val() {
            self._state = self.d.val();
        }
        self.q.next = self._state;
    }
    fn connect(&mut self) {
        self.q.connect();
    }
    fn hdl(&self) -> Verilog {
        // `always @(*)` waits for a change of `r` before it first runs, so an event-driven
        // simulator (Icarus) would see `q` as x until the register first changes: a copy that
        // holds 0 for a while after reset (the read-out flag the PEs' scan selects read) then
        // reads as x. The initial value is given to `q` too, for simulators only.
        Verilog::Custom(format!(
            "reg [{top}:0] r{init};\n\
{attr}always @(posedge clock) if (enable) r <= d;\n\
always @(*) q = r;\n{q_init}",
            top = N - 1,
            init = if self._init {
                format!(" = {N}'h0")
            } else {
                String::new()
            },
            q_init = if self._init {
                format!("`ifndef SYNTHESIS\ninitial q = {N}'h0;\n`endif\n")
            } else {
                String::new()
            },
            attr = if self._keep { "(* keep *) " } else { "" }
        ))
    }
    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "keep_reg".into(),
            clock: "clock".into(),
            inputs: vec!["d".into(), "enable".into()],
            outputs: vec!["q".into()],
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;

    /// Two registers fed the same value stay two flip-flop groups after Yosys (the reason the
    /// block exists), and the generated Verilog lints clean.
    #[derive(LogicBlock)]
    struct Twins {
        clock: Signal<In, Clock>,
        enable: Signal<In, bool>,
        d: Signal<In, Bits<4>>,
        x: Signal<In, Bits<4>>,
        y: Signal<Out, Bits<4>>,
        a: KeepReg<4>,
        b: KeepReg<4>,
    }

    impl Logic for Twins {
        #[hdl_gen]
        fn update(&mut self) {
            self.a.clock.next = self.clock.val();
            self.b.clock.next = self.clock.val();
            self.a.enable.next = self.enable.val();
            self.b.enable.next = self.enable.val();
            self.a.d.next = self.d.val();
            self.b.d.next = self.d.val();
            self.y.next = (self.a.q.val() ^ self.x.val()) & (self.b.q.val() | self.x.val());
        }
    }

    fn twins() -> Twins {
        Twins {
            clock: Default::default(),
            enable: Default::default(),
            d: Default::default(),
            x: Default::default(),
            y: Default::default(),
            a: Default::default(),
            b: Default::default(),
        }
    }

    #[test]
    fn keep_reg_yosys_keeps_both_copies() {
        let mut uut = twins();
        uut.connect_all();
        let v = generate_verilog(&uut);
        yosys_validate("deltagen_hdl_keep_reg", &v).unwrap();
        let (ffs, text) = synth_ffs(&v);
        assert_eq!(ffs, 8, "two 4-bit copies expected:\n{text}");
    }

    /// A register whose input is a constant (5): with a power-up 0 Yosys keeps a flip-flop (0,
    /// then the constant; the two set bits merged into one, as across a whole design), without
    /// one it folds it away.
    #[derive(LogicBlock)]
    struct Folded {
        clock: Signal<In, Clock>,
        x: Signal<In, Bits<4>>,
        y: Signal<Out, Bits<4>>,
        a: KeepReg<4>,
    }

    impl Logic for Folded {
        #[hdl_gen]
        fn update(&mut self) {
            self.a.clock.next = self.clock.val();
            self.a.enable.next = true;
            self.a.d.next = 5.into();
            self.y.next = self.a.q.val() ^ self.x.val();
        }
    }

    /// Flip-flops after a generic `synth` (the last statistics block; synth prints its own
    /// first; one flip-flop type in these tests), with Yosys' output.
    fn synth_ffs(v: &str) -> (usize, String) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("top.v"), v).unwrap();
        let out = std::process::Command::new("yosys")
            .current_dir(tmp.path())
            .args(["-p", "read_verilog top.v; synth -top top -flatten; stat"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let ffs = text
            .lines()
            .filter(|l| l.trim_start().starts_with("$_DFF") || l.trim_start().starts_with("$_SDFF"))
            .filter_map(|l| l.split_whitespace().next_back()?.parse::<usize>().ok())
            .next_back()
            .unwrap_or(0);
        (ffs, text)
    }

    #[test]
    fn layer_constant_with_a_constant_input_folds() {
        for (reg, ffs) in [(KeepReg::new(false), 1), (KeepReg::layer_constant(), 0)] {
            let mut uut = Folded {
                clock: Default::default(),
                x: Default::default(),
                y: Default::default(),
                a: reg,
            };
            uut.connect_all();
            let v = generate_verilog(&uut);
            yosys_validate("deltagen_hdl_keep_reg_folded", &v).unwrap();
            assert_eq!(synth_ffs(&v).0, ffs, "{v}");
        }
    }

    #[test]
    fn keep_reg_holds_without_enable() {
        let mut sim = ClockedSim::new(twins(), |u, c| u.clock.next = Clock::from(c)).unwrap();
        sim.uut.x.next = 0.into();
        sim.uut.enable.next = true;
        sim.uut.d.next = 5.into();
        sim.cycle().unwrap();
        assert_eq!(sim.uut.a.q.val().to_u64(), 5);
        sim.uut.enable.next = false;
        sim.uut.d.next = 9.into();
        sim.cycle().unwrap();
        assert_eq!(sim.uut.a.q.val().to_u64(), 5);
        sim.uut.enable.next = true;
        sim.cycle().unwrap();
        assert_eq!(sim.uut.b.q.val().to_u64(), 9);
    }
}
