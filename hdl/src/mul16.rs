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
    /// The PE's product: a is a sign-extended 8-bit weight, b a sign-extended 9-bit delta, so
    /// the LUT form adds 9 rows of 17 bits instead of 16 of 32 (the DSP form is unchanged).
    _narrow: bool,
}

impl Mul16 {
    pub fn new(signed: bool, dsp: bool) -> Self {
        Self {
            a: Default::default(),
            b: Default::default(),
            p: Default::default(),
            _signed: signed,
            _dsp: dsp,
            _narrow: false,
        }
    }

    /// The PE's signed 8-bit x 9-bit product (inputs sign-extended to 16 bits).
    pub fn narrow(dsp: bool) -> Self {
        Self {
            _narrow: true,
            ..Self::new(true, dsp)
        }
    }
}

impl Logic for Mul16 {
    fn update(&mut self) {
        let (a, b) = (self.a.val().to_u64(), self.b.val().to_u64());
        let v = if self._narrow {
            // Only the low 8 / 9 bits count (the caller sign-extends them).
            let w = i64::from((a as u8) as i8);
            let d = ((b & 0x1ff) as i64) - (((b >> 8) & 1) as i64) * 512;
            (w * d) as u64
        } else if self._signed {
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
            // b[8] weighs -2^8: the rows add b[7:0] * w, then 2^8 * w is taken away.
            (false, _) if self._narrow => shift_add(
                "shift-add 8x9 signed multiplier (LUTs, no DSP block)\n\
// The upper input bits are the sign extension of the ones used.\n\
wire unused_ext = ^{a[15:8], b[15:9]};",
                17,
                "{{9{a[7]}}, a[7:0]}",
                8,
                "   if (b[8]) acc = acc - (ax << 8);\n",
                "{{15{acc[16]}}, acc}",
            ),
            (false, signed) => shift_add(
                "shift-add multiplier (LUTs, no DSP block)",
                32,
                if signed {
                    "{{16{a[15]}}, a}"
                } else {
                    "{16'h0, a}"
                },
                16,
                // b[15] weighs -2^15: the loop added +2^15*a, so take 2^16*a away.
                if signed {
                    "   if (b[15]) acc = acc - (ax << 16);\n"
                } else {
                    ""
                },
                "acc",
            ),
        };
        Verilog::Custom(code)
    }
}

/// A combinational shift-add product: `rows` conditional adds of `ax << i` (ax = `ext`, `w` bits)
/// into an accumulator, then `fix` (the sign row), then `p = out`. `head` is the comment line
/// (and any declarations after it).
fn shift_add(head: &str, w: usize, ext: &str, rows: usize, fix: &str, out: &str) -> String {
    let hi = w - 1;
    format!(
        "// {head}\n\
wire [{hi}:0] ax = {ext};\n\
reg [{hi}:0] acc;\n\
integer i;\n\
always @(*) begin\n\
   acc = {w}'h0;\n\
   for (i = 0; i < {rows}; i = i + 1)\n\
      if (b[i]) acc = acc + (ax << i);\n\
{fix}   p = {out};\n\
end\n"
    )
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

    /// The PE's 8x9 form (LUTs and DSP) in Icarus and in the model against the integer
    /// product, over every weight extreme and delta extreme and a sweep between.
    #[test]
    fn narrow_verilog_matches_products_in_icarus() {
        let sext = |v: i64| (v as u64) & 0xffff;
        let mut vectors = Vec::new();
        for w in [-128i64, -127, -1, 0, 1, 77, 127] {
            for d in [-256i64, -255, -129, -1, 0, 1, 128, 200, 255] {
                vectors.push((w, d));
            }
        }
        for i in 0..60i64 {
            vectors.push(((i * 37) % 256 - 128, (i * 91) % 512 - 256));
        }
        for dsp in [false, true] {
            let mut m = Mul16::narrow(dsp);
            m.connect_all();
            let dut = generate_verilog(&m);
            let mut tb = String::from("module tb;\nreg [15:0] a; reg [15:0] b; wire [31:0] p;\ntop dut(.a(a), .b(b), .p(p));\ninitial begin\n");
            for (w, d) in &vectors {
                tb.push_str(&format!(
                    "a = 16'h{:04x}; b = 16'h{:04x}; #1 $display(\"%h\", p);\n",
                    sext(*w),
                    sext(*d)
                ));
            }
            tb.push_str("$finish;\nend\nendmodule\n");
            let got = crate::tools::icarus_hex_lines(&dut, &tb).unwrap();
            assert_eq!(got.len(), vectors.len(), "{got:?}");
            for ((w, d), g) in vectors.iter().zip(&got) {
                let want = ((w * d) as u64) & 0xffff_ffff;
                m.a.next = sext(*w).into();
                m.b.next = sext(*d).into();
                crate::harness::settle_block(&mut m).unwrap();
                assert_eq!(m.p.val().to_u64(), want, "model w {w} d {d}");
                assert_eq!(*g, want, "icarus w {w} d {d} dsp {dsp}");
            }
        }
    }
}
