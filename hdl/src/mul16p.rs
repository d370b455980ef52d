//! Three-stage unsigned 16x16 multiplier for the requant lanes. In LUTs: registered partial sums
//! of the shifted rows (eight of two rows each, one LUT level before the carry chain), then two
//! registered sums of them, then their sum on the output (registered by the caller). Rows summed
//! in fours first would save registers but not time: on a UP5K a lane so built reached 42.7 MHz,
//! 49.0 in pairs, for 45 more flip-flops and 3 more logic cells (a 1-lane 8-PE config). On a DSP block the product is registered in the block and
//! once more in the fabric.
//! `enable` holds the internal register (the requant pipeline stalls with the front end).
//!
//! On iCE40 (`sb_mac16`) the DSP form is an SB_MAC16 instance (16x16 unsigned, inputs and
//! product registered in the block, `enable` on its CE) rather than left to Yosys'
//! `ice40_dsp`: Yosys 0.23 mapped the inferred form wrongly once its registers lost their
//! enable (the stall-free front end): the product register it absorbed was left with its input
//! cut, so the low product came out constant (found by `tests/hdl_icarus.rs` on the UP5K
//! preset's netlist; the same pattern alone crashes that Yosys). Simulators see the
//! behavioural form, and `deltagen synth` hides the instance from `ice40_dsp` as it does
//! `Mac8x2`'s.

use rust_hdl::prelude::*;

/// Cycles from the inputs to `p` (then registered by the caller).
pub const MUL16P_LATENCY: u64 = 2;

#[derive(LogicBlock)]
pub struct Mul16P {
    pub clock: Signal<In, Clock>,
    pub enable: Signal<In, bool>,
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    /// a*b of the inputs two enabled edges earlier.
    pub p: Signal<Out, Bits<32>>,
    _dsp: bool,
    /// With `_dsp`: the SB_MAC16 instance under `SYNTHESIS` (iCE40).
    _sb: bool,
    _part: [u64; 4],
    _sum: u64,
}

impl Mul16P {
    /// `dsp`: on a DSP block, else in LUTs.
    pub fn new(dsp: bool) -> Self {
        Self {
            clock: Default::default(),
            enable: Default::default(),
            a: Default::default(),
            b: Default::default(),
            p: Default::default(),
            _dsp: dsp,
            _sb: false,
            _part: [0; 4],
            _sum: 0,
        }
    }
}

impl Mul16P {
    /// With `on` (and a DSP form): an SB_MAC16 instance when synthesized (module notes).
    pub fn sb_mac16(mut self, on: bool) -> Self {
        self._sb = on && self._dsp;
        self
    }
}

impl Logic for Mul16P {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.enable.val() {
            self._sum = self._part.iter().sum();
            let (a, b) = (self.a.val().to_u64(), self.b.val().to_u64());
            for (k, part) in self._part.iter_mut().enumerate() {
                *part = (a * ((b >> (4 * k)) & 0xf)) << (4 * k);
            }
        }
        self.p.next = Bits::<32>::from(self._sum & 0xffff_ffff);
    }
    fn connect(&mut self) {
        self.p.connect();
    }
    fn hdl(&self) -> Verilog {
        if self._dsp && self._sb {
            return Verilog::Custom(
                crate::mac8x2::SbMac16 {
                    define: "DELTAGEN_MUL16P_DSP",
                    comment: "// 16x16 unsigned: A and B registered in the block, the product in its pipeline register.",
                    params: ".A_REG(1'b1), .B_REG(1'b1), .PIPELINE_16x16_MULT_REG2(1'b1),\n\
.TOPOUTPUT_SELECT(2'b11), .BOTOUTPUT_SELECT(2'b11), .MODE_8x8(1'b0), .A_SIGNED(1'b0),\n\
.B_SIGNED(1'b0)",
                    ce: "enable",
                    a: "a",
                    b: "b",
                    out: "always @(*) p = o;",
                    model: "reg [31:0] pr, pr2;\n\
always @(posedge clock) if (enable) begin pr <= a * b; pr2 <= pr; end\n\
always @(*) p = pr2;\n",
                }
                .verilog(),
            );
        }
        if self._dsp {
            return Verilog::Custom(
                "reg [31:0] pr, pr2;\n\
always @(posedge clock) if (enable) begin pr <= a * b; pr2 <= pr; end\n\
always @(*) p = pr2;\n"
                    .into(),
            );
        }
        let mut rows = String::new();
        // n partial sums of `per` rows each, then two sums of half of them.
        let (n, per) = (8, 2);
        for k in 0..n {
            let terms: Vec<String> = (0..per)
                .map(|j| {
                    let i = per * k + j;
                    format!("(b[{i}] ? (ax << {i}) : 32'h0)")
                })
                .collect();
            rows.push_str(&format!("   t{k} = {};\n", terms.join(" + ")));
        }
        let regs = |p: &str| {
            (0..n)
                .map(|k| format!("{p}{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let half = |lo: usize| {
            (lo..lo + n / 2)
                .map(|k| format!("s{k}"))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let loads: String = (0..n).map(|k| format!(" s{k} <= t{k};")).collect();
        Verilog::Custom(format!(
            "// shift-add multiplier in LUTs, three stages (no DSP block)\n\
wire [31:0] ax = {{16'h0, a}};\n\
reg [31:0] {t};\n\
reg [31:0] {s};\n\
reg [31:0] v0, v1;\n\
always @(*) begin\n{rows}end\n\
always @(posedge clock) if (enable) begin\n\
  {loads}\n\
   v0 <= {h0}; v1 <= {h1};\n\
end\n\
always @(*) p = v0 + v1;\n",
            t = regs("t"),
            s = regs("s"),
            h0 = half(0),
            h1 = half(n / 2),
        ))
    }
    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "mul16p".into(),
            clock: "clock".into(),
            inputs: vec!["a".into(), "b".into(), "enable".into()],
            outputs: vec!["p".into()],
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;

    /// The Verilog of both forms in Icarus against the simulation model, through the
    /// registers.
    #[test]
    fn mul16p_verilog_matches_model_in_icarus() {
        let vectors: Vec<(u64, u64)> = (0..40u64)
            .map(|i| {
                (
                    (i * 0x9e37 + 0x8000 * (i & 1)) & 0xffff,
                    (i * 0x7f4a + 0xffff * (i % 3 / 2)) & 0xffff,
                )
            })
            .collect();
        for dsp in [false, true] {
            let mut m = Mul16P::new(dsp);
            m.connect_all();
            let dut = generate_verilog(&m);
            let mut tb = String::from(
                "module tb;\nreg clock = 0; reg enable = 1; reg [15:0] a; reg [15:0] b; wire [31:0] p;\n\
top dut(.clock(clock), .enable(enable), .a(a), .b(b), .p(p));\ninitial begin\n",
            );
            for (a, b) in &vectors {
                tb.push_str(&format!(
                    "a = 16'h{a:04x}; b = 16'h{b:04x}; #1 clock = 1; #1 clock = 0; #1 $display(\"%h\", p);\n"
                ));
            }
            tb.push_str("$finish;\nend\nendmodule\n");
            let got = crate::tools::icarus_hex_lines(&dut, &tb).unwrap();
            // The first MUL16P_LATENCY - 1 samples are still undefined (x) and not listed.
            let lat = MUL16P_LATENCY as usize;
            assert_eq!(got.len(), vectors.len() + 1 - lat, "{got:?}");
            let mut sim =
                ClockedSim::new(Mul16P::new(dsp), |u, c| u.clock.next = Clock::from(c)).unwrap();
            sim.uut.enable.next = true;
            // p follows the inputs MUL16P_LATENCY edges later.
            for (i, (a, b)) in vectors.iter().enumerate() {
                sim.uut.a.next = (*a).into();
                sim.uut.b.next = (*b).into();
                sim.cycle().unwrap();
                if i + 1 >= lat {
                    let (ea, eb) = vectors[i + 1 - lat];
                    assert_eq!(sim.uut.p.val().to_u64(), ea * eb);
                    let g = got[i + 1 - lat];
                    assert_eq!(g, ea * eb, "icarus a {ea:x} b {eb:x} dsp {dsp}");
                }
            }
        }
    }

    /// The iCE40 form: the SB_MAC16 instance (with Yosys' model of the block) and its
    /// behavioural stand-in, in Icarus, against the products, with `enable` low at random
    /// (the block's CE).
    #[test]
    fn sb_mac16_form_matches_model_in_icarus() {
        let cells = crate::tools::sb_mac16_sim_model();
        let mut m = Mul16P::new(true).sb_mac16(true);
        m.connect_all();
        let dut = generate_verilog(&m);
        assert!(dut.contains("SB_MAC16 #("), "{dut}");
        let steps: Vec<(u64, u64, bool)> = (0..60u64)
            .map(|i| {
                let a = (i.wrapping_mul(0x9e37) ^ (0xffff * (i % 5 / 4))) & 0xffff;
                let b = (i.wrapping_mul(0x7f4a) ^ (0xffff * (i % 7 / 6))) & 0xffff;
                (a, b, i < 4 || i % 3 != 1)
            })
            .collect();
        let mut tb = String::from(
            "module tb;\nreg clock = 0; reg enable; reg [15:0] a; reg [15:0] b; wire [31:0] p;\n\
top dut(.clock(clock), .enable(enable), .a(a), .b(b), .p(p));\ninitial begin\n",
        );
        for (a, b, en) in &steps {
            tb.push_str(&format!(
                "a = 16'h{a:04x}; b = 16'h{b:04x}; enable = {}; #1 clock = 1; #1 clock = 0; \
#1 $display(\"%h\", p);\n",
                u8::from(*en)
            ));
        }
        tb.push_str("$finish;\nend\nendmodule\n");
        // The product of the inputs at the last-but-one enabled edge, after each edge.
        let mut want = Vec::new();
        let (mut r1, mut r2): (Option<u64>, Option<u64>) = (None, None);
        for (a, b, en) in &steps {
            if *en {
                r2 = r1;
                r1 = Some(a * b);
            }
            want.push(r2);
        }
        for (define, extra) in [("", ""), ("`define SYNTHESIS\n", cells.as_str())] {
            let src = format!("{define}{dut}\n{extra}");
            let got = crate::tools::icarus_hex_lines(&src, &tb).expect("icarus");
            // Undefined (x) samples are not listed: those before the second enabled edge.
            let known: Vec<u64> = want.iter().flatten().copied().collect();
            assert_eq!(got, known, "define {define:?}");
        }
    }
}
