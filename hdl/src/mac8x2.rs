//! Two PEs' products in one iCE40 DSP block (SB_MAC16 in its dual 8x8 mode).
//!
//! A PE multiplies a signed 8-bit weight by a 9-bit delta. The delta is at most 255 in
//! magnitude (two 8-bit activations apart), so the PE sends its magnitude (`b`, unsigned) and
//! negates the product itself a stage later. Signed 8 x unsigned 8 is one half of an SB_MAC16
//! in 8x8 mode (`A_SIGNED`, not `B_SIGNED`), so two PEs share a block: eight PEs take four of
//! the UP5K's eight DSPs and leave four for the requant lanes, whose 16x16 products in LUTs
//! were the largest and slowest logic of the 8-PE design.
//!
//! Pipeline: the inputs are registered in the block (`A_REG`, `B_REG`, the PE's stage D
//! registers) and so is each product (`*_8x8_MULT_REG`, the PE's `e_prod`): `p` follows the
//! inputs two rising edges later, as the PE's own 16x16 multiplier does.
//!
//! Yosys does not infer the 8x8 mode, so under `SYNTHESIS` the block is instantiated by hand;
//! simulators (Verilator, Icarus) see a behavioural model of the same registers. A synthesis
//! for another family defines `DELTAGEN_NO_SB_MAC16` (`deltagen synth` does) and gets the
//! model, two small multipliers. The test below runs both forms in Icarus, the instance with
//! Yosys' own SB_MAC16 simulation model.
//!
//! `synth_ice40 -dsp` would rewrite the instance: its `ice40_dsp` pass takes every SB_MAC16 for
//! a 16x16 multiplier of its own. `deltagen synth` hides it from that pass
//! (`deltagen::synth::Family::synth_cmd`), and `tests/hdl_icarus.rs` checks the mapped netlist.

use rust_hdl::prelude::*;

/// Rising edges from the inputs to `p0`, `p1`.
pub const MAC8X2_LATENCY: u64 = 2;

#[derive(LogicBlock, Default)]
pub struct Mac8x2 {
    pub clock: Signal<In, Clock>,
    /// Signed 8-bit operands.
    pub a0: Signal<In, Bits<8>>,
    pub a1: Signal<In, Bits<8>>,
    /// Unsigned 8-bit operands.
    pub b0: Signal<In, Bits<8>>,
    pub b1: Signal<In, Bits<8>>,
    /// a*b as a signed 16-bit word (it cannot overflow: |a*b| <= 128 * 255).
    pub p0: Signal<Out, Bits<16>>,
    pub p1: Signal<Out, Bits<16>>,
    _in: [(u8, u8); 2],
    _prod: [u16; 2],
}

fn product(a: u8, b: u8) -> u16 {
    (i32::from(a as i8) * i32::from(b)) as u16
}

impl Logic for Mac8x2 {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self._prod = [
                product(self._in[0].0, self._in[0].1),
                product(self._in[1].0, self._in[1].1),
            ];
            self._in = [
                (self.a0.val().to_u64() as u8, self.b0.val().to_u64() as u8),
                (self.a1.val().to_u64() as u8, self.b1.val().to_u64() as u8),
            ];
        }
        self.p0.next = u64::from(self._prod[0]).into();
        self.p1.next = u64::from(self._prod[1]).into();
    }
    fn connect(&mut self) {
        self.p0.connect();
        self.p1.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(
            SbMac16 {
                define: "DELTAGEN_MAC8X2_DSP",
                comment: "// Dual 8x8 mode: O[15:0] = A[7:0]*B[7:0], O[31:16] = A[15:8]*B[15:8], A signed, B unsigned;\n\
// inputs and products registered in the block.",
                params: ".A_REG(1'b1), .B_REG(1'b1), .TOP_8x8_MULT_REG(1'b1), .BOT_8x8_MULT_REG(1'b1),\n\
.TOPOUTPUT_SELECT(2'b10), .BOTOUTPUT_SELECT(2'b10), .MODE_8x8(1'b1), .A_SIGNED(1'b1),\n\
.B_SIGNED(1'b0)",
                ce: "1'b1",
                a: "{a1, a0}",
                b: "{b1, b0}",
                out: "always @(*) begin p0 = o[15:0]; p1 = o[31:16]; end",
                model: "reg [7:0] ra0 = 8'h0, rb0 = 8'h0, ra1 = 8'h0, rb1 = 8'h0;\n\
reg [15:0] r0 = 16'h0, r1 = 16'h0;\n\
always @(posedge clock) begin\n\
  ra0 <= a0; rb0 <= b0; ra1 <= a1; rb1 <= b1;\n\
  r0 <= {{8{ra0[7]}}, ra0} * {8'h0, rb0};\n\
  r1 <= {{8{ra1[7]}}, ra1} * {8'h0, rb1};\n\
end\n\
always @(*) begin p0 = r0; p1 = r1; end\n",
            }
            .verilog(),
        )
    }
    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "mac8x2".into(),
            clock: "clock".into(),
            inputs: vec!["a0".into(), "a1".into(), "b0".into(), "b1".into()],
            outputs: vec!["p0".into(), "p1".into()],
        }]
    }
}

/// Verilog of one SB_MAC16 instance for iCE40 synthesis (`SYNTHESIS` defined and
/// `DELTAGEN_NO_SB_MAC16` not), and of `model`, the same registers in plain Verilog, for
/// simulators and other families. Written out by hand because Yosys infers neither the 8x8
/// mode nor, since its `ice40_dsp` rewrites them, the registers with their enable.
pub(crate) struct SbMac16<'a> {
    /// The macro that selects the instance (one per block kind).
    pub define: &'a str,
    /// Comment lines above the instance.
    pub comment: &'a str,
    /// The block's parameters, `.NAME(value), ...`.
    pub params: &'a str,
    pub ce: &'a str,
    pub a: &'a str,
    pub b: &'a str,
    /// Statement(s) driving the block's outputs from `o`.
    pub out: &'a str,
    /// The simulation form, ending in a newline.
    pub model: &'a str,
}

impl SbMac16<'_> {
    pub(crate) fn verilog(&self) -> String {
        let SbMac16 {
            define,
            comment,
            params,
            ce,
            a,
            b,
            out,
            model,
        } = self;
        format!(
            "`ifdef SYNTHESIS\n\
`ifndef DELTAGEN_NO_SB_MAC16\n\
`define {define}\n\
`endif\n\
`endif\n\
`ifdef {define}\n\
{comment}\n\
wire [31:0] o;\n\
SB_MAC16 #({params}) dsp (\n\
  .CLK(clock), .CE({ce}), .A({a}), .B({b}), .C(16'h0), .D(16'h0),\n\
  .AHOLD(1'b0), .BHOLD(1'b0), .CHOLD(1'b0), .DHOLD(1'b0), .IRSTTOP(1'b0), .IRSTBOT(1'b0),\n\
  .ORSTTOP(1'b0), .ORSTBOT(1'b0), .OLOADTOP(1'b0), .OLOADBOT(1'b0), .ADDSUBTOP(1'b0),\n\
  .ADDSUBBOT(1'b0), .OHOLDTOP(1'b0), .OHOLDBOT(1'b0), .CI(1'b0), .ACCUMCI(1'b0),\n\
  .SIGNEXTIN(1'b0), .O(o), .CO(), .ACCUMCO(), .SIGNEXTOUT());\n\
{out}\n\
`else\n\
{model}\
`endif\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;

    fn vectors() -> Vec<[u8; 4]> {
        // The ends of both ranges first, then a spread of the rest.
        let mut v = vec![
            [0x80, 0xff, 0x7f, 0xff],
            [0x7f, 0xff, 0x80, 0x01],
            [0xff, 0x01, 0x00, 0xff],
            [0x80, 0x00, 0x01, 0x80],
        ];
        v.extend((0..60u32).map(|i| {
            let x = i.wrapping_mul(0x9e37_79b9);
            x.to_le_bytes()
        }));
        v
    }

    fn expect(v: &[u8; 4]) -> (u64, u64) {
        (
            u64::from(product(v[0], v[1])),
            u64::from(product(v[2], v[3])),
        )
    }

    #[test]
    fn model_products_follow_two_edges_later() {
        let vs = vectors();
        let mut sim =
            ClockedSim::new(Mac8x2::default(), |u, c| u.clock.next = Clock::from(c)).expect("sim");
        let lat = MAC8X2_LATENCY as usize;
        for (i, v) in vs.iter().enumerate() {
            sim.uut.a0.next = u64::from(v[0]).into();
            sim.uut.b0.next = u64::from(v[1]).into();
            sim.uut.a1.next = u64::from(v[2]).into();
            sim.uut.b1.next = u64::from(v[3]).into();
            sim.cycle().expect("cycle");
            if i + 1 >= lat {
                let (e0, e1) = expect(&vs[i + 1 - lat]);
                assert_eq!(sim.uut.p0.val().to_u64(), e0, "vector {}", i + 1 - lat);
                assert_eq!(sim.uut.p1.val().to_u64(), e1, "vector {}", i + 1 - lat);
            }
        }
        // -128 * 255 and 127 * 255, as 16-bit two's complement words.
        assert_eq!(expect(&vs[0]), (0x8080, 0x7e81));
    }

    /// The behavioural model and the SB_MAC16 instance (with Yosys' simulation model of the
    /// block) in Icarus, against the products.
    #[test]
    fn sb_mac16_instance_matches_model_in_icarus() {
        let cells = crate::tools::sb_mac16_sim_model();
        let cells = cells.as_str();
        let vs = vectors();
        let mut m = Mac8x2::default();
        m.connect_all();
        let dut = generate_verilog(&m);
        assert!(dut.contains("SB_MAC16 #("), "{dut}");
        let mut tb = String::from(
            "module tb;\nreg clock = 0; reg [7:0] a0, b0, a1, b1; wire [15:0] p0, p1;\n\
top dut(.clock(clock), .a0(a0), .b0(b0), .a1(a1), .b1(b1), .p0(p0), .p1(p1));\n\
initial begin\n",
        );
        for v in &vs {
            tb.push_str(&format!(
                "a0 = 8'h{:02x}; b0 = 8'h{:02x}; a1 = 8'h{:02x}; b1 = 8'h{:02x}; \
#1 clock = 1; #1 clock = 0; #1 $display(\"%h%h\", p1, p0);\n",
                v[0], v[1], v[2], v[3]
            ));
        }
        tb.push_str("$finish;\nend\nendmodule\n");
        let lat = MAC8X2_LATENCY as usize;
        for (define, extra) in [("", ""), ("`define SYNTHESIS\n", cells)] {
            let src = format!("{define}{dut}\n{extra}");
            let got = crate::tools::icarus_hex_lines(&src, &tb).expect("icarus");
            // Display k follows edge k + 1. The block's registers start undefined, so its first
            // display (x) is not listed; the model's start at 0.
            let skip = vs.len() - got.len();
            assert!(skip <= 1, "define {define:?}: {got:?}");
            for (j, &g) in got.iter().enumerate() {
                let k = j + skip;
                if k + 1 >= lat {
                    let (e0, e1) = expect(&vs[k + 1 - lat]);
                    assert_eq!(
                        g,
                        (e1 << 16) | e0,
                        "define {define:?}, vector {}",
                        k + 1 - lat
                    );
                }
            }
        }
    }
}
