//! Two-stage unsigned 16x16 multiplier for the requant lanes: four registered partial sums (four
//! shifted rows each), then their sum on the output (registered by the caller). In LUTs no carry
//! chain is longer than two adds per stage; on a DSP block the product is registered once.
//! `enable` holds the internal register (the requant pipeline stalls with the front end).

use rust_hdl::prelude::*;

/// Cycles from the inputs to `p` (then registered by the caller).
pub const MUL16P_LATENCY: u64 = 1;

#[derive(LogicBlock)]
pub struct Mul16P {
    pub clock: Signal<In, Clock>,
    pub enable: Signal<In, bool>,
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    /// a*b of the inputs one enabled edge earlier.
    pub p: Signal<Out, Bits<32>>,
    _dsp: bool,
    _part: [u64; 4],
}

impl Mul16P {
    pub fn new(dsp: bool) -> Self {
        Self {
            clock: Default::default(),
            enable: Default::default(),
            a: Default::default(),
            b: Default::default(),
            p: Default::default(),
            _dsp: dsp,
            _part: [0; 4],
        }
    }
}

impl Logic for Mul16P {
    fn update(&mut self) {
        if self.clock.pos_edge() && self.enable.val() {
            let (a, b) = (self.a.val().to_u64(), self.b.val().to_u64());
            for (k, part) in self._part.iter_mut().enumerate() {
                *part = (a * ((b >> (4 * k)) & 0xf)) << (4 * k);
            }
        }
        let sum: u64 = self._part.iter().sum();
        self.p.next = Bits::<32>::from(sum & 0xffff_ffff);
    }
    fn connect(&mut self) {
        self.p.connect();
    }
    fn hdl(&self) -> Verilog {
        if self._dsp {
            return Verilog::Custom(
                "reg [31:0] pr;\n\
always @(posedge clock) if (enable) pr <= a * b;\n\
always @(*) p = pr;\n"
                    .into(),
            );
        }
        let mut rows = String::new();
        for k in 0..4 {
            let terms: Vec<String> = (0..4)
                .map(|j| {
                    let i = 4 * k + j;
                    format!("(b[{i}] ? (ax << {i}) : 32'h0)")
                })
                .collect();
            rows.push_str(&format!("   t{k} = {};\n", terms.join(" + ")));
        }
        Verilog::Custom(format!(
            "// shift-add multiplier in LUTs, two stages (no DSP block)\n\
wire [31:0] ax = {{16'h0, a}};\n\
reg [31:0] t0, t1, t2, t3;\n\
reg [31:0] s0, s1, s2, s3;\n\
always @(*) begin\n{rows}end\n\
always @(posedge clock) if (enable) begin\n\
   s0 <= t0; s1 <= t1; s2 <= t2; s3 <= t3;\n\
end\n\
always @(*) p = (s0 + s1) + (s2 + s3);\n"
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

    /// The Verilog of both forms in Icarus against the simulation model, through the register.
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
            assert_eq!(got.len(), vectors.len(), "{got:?}");
            let mut sim =
                ClockedSim::new(Mul16P::new(dsp), |u, c| u.clock.next = Clock::from(c)).unwrap();
            sim.uut.enable.next = true;
            for ((a, b), g) in vectors.iter().zip(&got) {
                sim.uut.a.next = (*a).into();
                sim.uut.b.next = (*b).into();
                sim.cycle().unwrap();
                assert_eq!(sim.uut.p.val().to_u64(), a * b);
                assert_eq!(*g, a * b, "icarus a {a:x} b {b:x} dsp {dsp}");
            }
        }
    }
}
