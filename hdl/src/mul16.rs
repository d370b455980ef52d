//! 16x16 multiplier with a chosen implementation, so the design never asks Yosys for more DSP
//! blocks than `max_dsp`: `dsp` writes a plain `*` (Yosys maps it to SB_MAC16 / MULT18X18D),
//! otherwise a shift-add form Yosys builds from LUTs and carry chains. Combinational; callers
//! register the product.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Mul16 {
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    /// a*b modulo 2^32 (two's complement when `signed`).
    pub p: Signal<Out, Bits<32>>,
    _signed: bool,
    _dsp: bool,
}

impl Mul16 {
    pub fn new(signed: bool, dsp: bool) -> Self {
        Self {
            a: Default::default(),
            b: Default::default(),
            p: Default::default(),
            _signed: signed,
            _dsp: dsp,
        }
    }
}

impl Logic for Mul16 {
    fn update(&mut self) {
        let (a, b) = (self.a.val().to_u64(), self.b.val().to_u64());
        let v = if self._signed {
            (i64::from(a as u16 as i16) * i64::from(b as u16 as i16)) as u64
        } else {
            a * b
        };
        self.p.next = Bits::<32>::from(v & 0xffff_ffff);
    }
    fn connect(&mut self) {
        self.p.connect();
    }
    fn hdl(&self) -> Verilog {
        let code = match (self._dsp, self._signed) {
            (true, true) => "always @(*) p = $signed(a) * $signed(b);\n".to_string(),
            (true, false) => "always @(*) p = a * b;\n".to_string(),
            (false, signed) => {
                let ext = if signed {
                    "{{16{a[15]}}, a}"
                } else {
                    "{16'h0, a}"
                };
                let fix = if signed {
                    // b[15] weighs -2^15: the loop added +2^15*a, so take 2^16*a away.
                    "   if (b[15]) acc = acc - (ax << 16);\n"
                } else {
                    ""
                };
                format!(
                    "// shift-add multiplier (LUTs, no DSP block)\n\
wire [31:0] ax = {ext};\n\
reg [31:0] acc;\n\
integer i;\n\
always @(*) begin\n\
   acc = 32'h0;\n\
   for (i = 0; i < 16; i = i + 1)\n\
      if (b[i]) acc = acc + (ax << i);\n\
{fix}   p = acc;\n\
end\n"
                )
            }
        };
        Verilog::Custom(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul16_variants_match_integer_products() {
        for (signed, dsp) in [(true, true), (true, false), (false, true), (false, false)] {
            let mut m = Mul16::new(signed, dsp);
            m.connect_all();
            for (a, b) in [
                (0u64, 0u64),
                (1, 0xffff),
                (0x8000, 0x8000),
                (0x1234, 0xfedc),
                (77, 300),
            ] {
                m.a.next = a.into();
                m.b.next = b.into();
                crate::harness::settle_block(&mut m).unwrap();
                let want = if signed {
                    (i64::from(a as u16 as i16) * i64::from(b as u16 as i16)) as u64 & 0xffff_ffff
                } else {
                    a * b
                };
                assert_eq!(m.p.val().to_u64(), want);
            }
        }
    }

    /// The hand-written Verilog (both forms) computes what the simulation model computes:
    /// Icarus runs a testbench over the same vectors.
    #[test]
    fn mul16_verilog_matches_model_in_icarus() {
        let vectors: Vec<(u64, u64)> = (0..40u64)
            .map(|i| {
                (
                    (i * 0x9e37 + 0x8000 * (i & 1)) & 0xffff,
                    (i * 0x7f4a + 0xffff * (i % 3 / 2)) & 0xffff,
                )
            })
            .collect();
        for (signed, dsp) in [(true, true), (true, false), (false, true), (false, false)] {
            let mut m = Mul16::new(signed, dsp);
            m.connect_all();
            let dut = generate_verilog(&m);
            let mut tb = String::from("module tb;\nreg [15:0] a; reg [15:0] b; wire [31:0] p;\ntop dut(.a(a), .b(b), .p(p));\ninitial begin\n");
            for (a, b) in &vectors {
                tb.push_str(&format!(
                    "a = 16'h{a:04x}; b = 16'h{b:04x}; #1 $display(\"%h\", p);\n"
                ));
            }
            tb.push_str("$finish;\nend\nendmodule\n");
            let got = crate::tools::icarus_hex_lines(&dut, &tb).unwrap();
            assert_eq!(got.len(), vectors.len(), "{got:?}");
            for ((a, b), g) in vectors.iter().zip(&got) {
                m.a.next = (*a).into();
                m.b.next = (*b).into();
                crate::harness::settle_block(&mut m).unwrap();
                assert_eq!(
                    m.p.val().to_u64(),
                    *g,
                    "a {a:x} b {b:x} signed {signed} dsp {dsp}"
                );
            }
        }
    }
}
