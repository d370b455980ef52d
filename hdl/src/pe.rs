//! Processing element: one weight bank, two accumulator (Y) sets, a registered multiplier and a
//! pipelined read-modify-write with forwarding.
//!
//! Pipeline (one MAC op per cycle, issue-to-write latency 7):
//! A: op registers (from the decoder), weight ROM read issued.
//! B: weight word out of the BRAM, registered (the BRAM clock-to-out does not feed the multiplier).
//! C: weight and delta sign-extended into the multiplier's input registers; Y read issued; the
//!    op's Y address compared with the four ops ahead (`d_hit*`).
//! D: w*d (a 16x16 DSP block, or an 8x9 LUT multiplier) into a registered product; Y word out of
//!    the BRAM, registered in its own set's register (`ya_r`, `yb_r`: nothing between a Y RAM
//!    and its register, so on ECP5 `deltagen synth` moves it into the RAM's output register);
//!    the compares copied into this PE's own select registers.
//! E1: the MAC set's register or a forwarded word, registered (`y_eff_r`), and the product
//!    copied into a fabric register (`e2_prod`): the Y RAMs and the multipliers sit in their
//!    own rows of the device, so neither drives the adder across the chip.
//! E2: `y_eff_r` (or the sum just written to `f1_data`, when the op one ahead hit the same
//!    word) + w*d, registered (`f1_data`).
//! F: `f1_data` written back. A read in C misses the writes of the four ops ahead (the one in
//!    its own cycle, whose word `no_rw_check` leaves undefined, and the next three): the three
//!    forwarding registers cover the ops two to four ahead in E1, `f1_data` the op one ahead in
//!    E2.
//!
//! Layers alternate between Y set A (even layers) and B (odd layers): the MAC owns the set of the
//! layer it works on, the scan port reads the other one (the previous layer's accumulators) at
//! the same time.
//!
//! The biases live in the upper half of their Y RAM (words Y0 + a, Y0 = the power of two above
//! the set depth), not in ROMs of their own: at a sequence start the read port is free, so the
//! copy reads word Y0 + a and writes word a one cycle later through the write port. On the
//! presets the Y words fill half a block RAM at most, so this saves two block RAMs per PE (two
//! iCE40 EBRs each, one ECP5 DP16KD each) at no cost.

use crate::keep_reg::KeepReg;
use crate::mem::{addr_bits, SyncRam, SyncRom};
use crate::mul16::Mul16;
use crate::opt_signal::OptSignal;
use rust_hdl::prelude::*;

/// Cycles from an op in stage A to its Y write being visible to a read.
pub const MAC_LATENCY: u64 = 7;

#[derive(LogicBlock)]
pub struct Pe {
    pub clock: Signal<In, Clock>,
    pub op_valid: Signal<In, bool>,
    pub op_waddr: Signal<In, Bits<16>>,
    pub op_yaddr: Signal<In, Bits<16>>,
    pub op_delta: Signal<In, Bits<9>>,
    /// Y set of the layer the MAC works on (false = A).
    pub mac_set: Signal<In, bool>,
    /// Copy bias word `init_addr` into both Y sets (the write lands two cycles later).
    pub init_valid: Signal<In, bool>,
    pub init_addr: Signal<In, Bits<16>>,
    /// Read port on the set the MAC does not own; data three cycles after the address (the
    /// BRAM's, then the set's register, then the set select into the scan register). All
    /// advance only with `scan_enable`.
    pub scan_addr: Signal<In, Bits<16>>,
    pub scan_enable: Signal<In, bool>,
    pub scan_data: Signal<Out, Bits<32>>,
    mul: Mul16,
    wrom: SyncRom<8>,
    ya: SyncRam<32>,
    yb: SyncRam<32>,
    /// Y0: the bias words' base address in each Y RAM.
    bias_base: Constant<Bits<16>>,
    /// The Y RAMs' address bits (2 Y0 words); the op's Y address is cut to them in stage A.
    y_mask: Constant<Bits<16>>,
    b_valid: DFF<bool>,
    b_yaddr: DFF<Bits<16>>,
    b_delta: DFF<Bits<9>>,
    c_valid: DFF<bool>,
    c_yaddr: DFF<Bits<16>>,
    c_delta: DFF<Bits<9>>,
    c_w: DFF<Bits<8>>,
    d_valid: DFF<bool>,
    d_yaddr: DFF<Bits<16>>,
    d_w: DFF<Bits<16>>,
    d_d: DFF<Bits<16>>,
    e_valid: DFF<bool>,
    e_yaddr: DFF<Bits<16>>,
    e_prod: DFF<Bits<32>>,
    /// Y words out of the RAMs. Enabled every cycle for the MAC's set, with `scan_enable` for
    /// the scanned one, and for the bias copy.
    ya_r: DFF<Bits<32>>,
    yb_r: DFF<Bits<32>>,
    /// The scanned set's word, copied into a fabric register that advances with the scan:
    /// the Y RAMs sit in their own rows, so their output registers do not drive the requant
    /// and read-out multiplexers across the device.
    scan_r: DFF<Bits<32>>,
    scan_y: Signal<Local, Bits<32>>,
    /// `d_hitN`: the op in C reads the word the op N ahead writes (that op is in D, E1, E2 or F1
    /// now), compared in C so E1 is only the select and E2 a 2:1 mux and the add.
    d_hit1: DFF<bool>,
    d_hit2: DFF<bool>,
    d_hit3: DFF<bool>,
    d_hit4: DFF<bool>,
    e_hit1: DFF<bool>,
    /// The E1 and E2 selects, copied from `d_hit*` in D. KeepRegs: every PE sees the same ops,
    /// so Yosys would merge them into one flip-flop per flag driving the 32-bit multiplexers of
    /// all PEs across the device; one copy per PE sits next to its multiplexer.
    e_hit2: KeepReg<1>,
    e_hit3: KeepReg<1>,
    e_hit4: KeepReg<1>,
    e2_valid: DFF<bool>,
    e2_yaddr: DFF<Bits<16>>,
    e2_prod: DFF<Bits<32>>,
    e2_hit1: KeepReg<1>,
    y_eff_r: DFF<Bits<32>>,
    f1_valid: DFF<bool>,
    f1_addr: DFF<Bits<16>>,
    f1_data: DFF<Bits<32>>,
    f2_data: DFF<Bits<32>>,
    f3_data: DFF<Bits<32>>,
    init_q: DFF<bool>,
    init_qaddr: DFF<Bits<16>>,
    init_q2: DFF<bool>,
    init_qaddr2: DFF<Bits<16>>,
    w16: Signal<Local, Bits<16>>,
    d16: Signal<Local, Bits<16>>,
    y_eff: Signal<Local, Bits<32>>,
    y_add: Signal<Local, Bits<32>>,
    sum: Signal<Local, Bits<32>>,
    /// Accumulators are `acc_bits` wide (no model the config accepts leaves that range): the
    /// sum and the Y RAM words are sign-extended from bit acc_bits - 1 before their registers,
    /// so Yosys merges the upper flip-flops and trims the adder. One entry below 32 bits, none
    /// at 32: the loops over them then write no Verilog at all, so a 32-bit design's Verilog
    /// (ecp5-16pe, whose timing was closed on it) stays as it was.
    acc_lo: Vec<Constant<Bits<32>>>,
    acc_sign: Vec<Constant<Bits<32>>>,
    acc_hi: Vec<Constant<Bits<32>>>,
    /// iCE40 (`PeKind::onehot`): E1's multiplexer as an AND-OR on masks registered in D (the
    /// forwarding priority decoded a stage early; each mask is all ones or all zeros, so Yosys
    /// keeps one flip-flop per mask): two LUT levels instead of a four-deep priority chain. One
    /// entry each on iCE40, none on ECP5, whose Verilog then stays as its timing was closed on.
    m_set: Vec<DFF<Bits<32>>>,
    m_f1: Vec<DFF<Bits<32>>>,
    m_f2: Vec<DFF<Bits<32>>>,
    m_f3: Vec<DFF<Bits<32>>>,
    m_ones: Vec<Constant<Bits<32>>>,
    /// `PeKind::one_y_ram` (one entry, iCE40; none on ECP5, whose Verilog stays as it was): set
    /// A holds every layer and serves the scan too, the MAC's reads taking the port whenever an
    /// op is in C (the sequencer keeps the two apart); `mac_set` is held low by the top, so
    /// set B has no reader and Yosys removes it.
    one_ram: Vec<Constant<bool>>,
    /// With `one_ram`: C's valid flag and Y address again, as this PE's own flip-flops
    /// (KeepRegs) for its Y RAM's read address select. Every PE sees the same ops, so Yosys
    /// merged `c_valid` and `c_yaddr` across the PEs and one select drove all eight RAMs' read
    /// addresses (routes of 6 ns to the block RAM columns on the UP5K, session 22).
    ra_valid: Vec<KeepReg<1>>,
    ra_addr: Vec<KeepReg<16>>,
    /// `PeKind::gated_scan` (one entry; none otherwise): the scan register loads zero unless
    /// `scan_sel` (this PE's bank is the one the requant lane takes, or the read-out runs),
    /// so a lane ORs its PEs' words instead of selecting one with flags that fan out to every
    /// PE (a flip-flop reset, no logic).
    gated: Vec<Constant<bool>>,
    pub scan_sel: OptSignal<In, bool>,
    /// `PeKind::paired` (one entry; none otherwise, whose Verilog then stays as it was): the
    /// product comes from a DSP block shared with another PE (`Mac8x2`), as signed weight x
    /// |delta| (|delta| <= 255: two 8-bit activations apart). |delta| and the sign are
    /// registered in B (every PE sees the same delta, so Yosys keeps one copy), the operands
    /// leave in C (the block registers them, as D does here), the product comes back in E1,
    /// where a negative delta inverts it; its + 1 is E2's carry-in.
    pub mul_w: OptSignal<Out, Bits<8>>,
    pub mul_d: OptSignal<Out, Bits<8>>,
    pub mul_p: OptSignal<In, Bits<16>>,
    c_mag: Vec<DFF<Bits<8>>>,
    c_neg: Vec<DFF<bool>>,
    d_neg: Vec<DFF<bool>>,
    e_neg: Vec<DFF<bool>>,
    /// The sign for E2's carry-in, one flip-flop per PE: every PE sees the same delta, and
    /// Yosys merged the copies into one flip-flop that reached all PEs' carry chains across
    /// the device (4 ns of routing in front of the 24-bit add on the UP5K).
    e2_neg: Vec<KeepReg<1>>,
    /// `e2_neg` as 0 or 1, 32 bits wide (a bit_cast of an indexed signal does not translate;
    /// Yosys trims the constant bits).
    neg32: Vec<Signal<Local, Bits<32>>>,
    p_ext: Vec<Signal<Local, Bits<32>>>,
    p_hi: Vec<Constant<Bits<32>>>,
    /// `PeKind::spaced` (one entry; none otherwise, whose Verilog then stays as it was): no op
    /// writes the word the op one behind reads, so E2 adds `y_eff_r` without the `f1_data`
    /// multiplexer in front of its carry chain.
    spaced: Vec<Constant<bool>>,
}

/// How a PE is built, beside its memory contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeKind {
    /// Multiplier on a DSP block (else an 8x9 LUT multiplier).
    pub dsp: bool,
    /// Per-PE copies of the forwarding selects (`HwParams::replicate`).
    pub keep: bool,
    /// Accumulator width (`HwParams::acc_bits`).
    pub acc_bits: u32,
    /// E1's multiplexer from one-hot masks (iCE40, where a LUT level costs about 3 ns).
    pub onehot: bool,
    /// One Y RAM for every layer (`HwParams::one_y_ram`).
    pub one_y_ram: bool,
    /// The product from a DSP block shared with another PE (`HwParams::pes_paired`); `dsp`
    /// is then ignored.
    pub paired: bool,
    /// The scan register gated by `scan_sel` (iCE40).
    pub gated_scan: bool,
    /// Two consecutive ops never address the same Y word (`HwParams::spaced_words`: the
    /// decoder gives a one-chunk word two cycles), so E2 needs no forward of the op one ahead.
    pub spaced: bool,
}

impl Pe {
    /// `weights`: this bank's words; `bias`: [set A, set B] words; `name`: file-name stem.
    pub fn new(
        kind: PeKind,
        weights: &[u64],
        weight_depth: usize,
        bias: [&[u64]; 2],
        y_depth: usize,
        name: &str,
    ) -> Self {
        let PeKind {
            dsp,
            keep,
            acc_bits,
            onehot,
            one_y_ram,
            paired,
            gated_scan,
            spaced,
        } = kind;
        let pr = usize::from(paired);
        let oh = usize::from(onehot);
        let y0 = 1usize << addr_bits(y_depth);
        let lo = (1u64 << acc_bits) - 1;
        let full = (1u64 << 32) - 1;
        // One set of sign-extension constants below 32 bits, none at 32.
        let narrow = usize::from(acc_bits < 32);
        Self {
            clock: Default::default(),
            op_valid: Default::default(),
            op_waddr: Default::default(),
            op_yaddr: Default::default(),
            op_delta: Default::default(),
            mac_set: Default::default(),
            init_valid: Default::default(),
            init_addr: Default::default(),
            scan_addr: Default::default(),
            scan_enable: Default::default(),
            scan_data: Default::default(),
            mul: Mul16::narrow(dsp),
            wrom: SyncRom::new(weight_depth, weights, format!("{name}_w.hex")),
            // A MAC read that meets a write of its address takes the forwarded word instead,
            // and the bias copy reads the upper half while it writes the lower one.
            ya: SyncRam::new_at(2 * y0, y0, bias[0], Some(format!("{name}_bias_a.hex")))
                .no_rw_check(),
            yb: SyncRam::new_at(2 * y0, y0, bias[1], Some(format!("{name}_bias_b.hex")))
                .no_rw_check(),
            bias_base: Constant::new((y0 as u64).into()),
            y_mask: Constant::new(((2 * y0 - 1) as u64).into()),
            b_valid: Default::default(),
            b_yaddr: Default::default(),
            b_delta: Default::default(),
            c_valid: Default::default(),
            c_yaddr: Default::default(),
            c_delta: Default::default(),
            c_w: Default::default(),
            d_valid: Default::default(),
            d_yaddr: Default::default(),
            d_w: Default::default(),
            d_d: Default::default(),
            e_valid: Default::default(),
            e_yaddr: Default::default(),
            e_prod: Default::default(),
            ya_r: Default::default(),
            yb_r: Default::default(),
            scan_r: Default::default(),
            scan_y: Default::default(),
            d_hit1: Default::default(),
            d_hit2: Default::default(),
            d_hit3: Default::default(),
            d_hit4: Default::default(),
            e_hit1: Default::default(),
            e_hit2: KeepReg::new(keep),
            e_hit3: KeepReg::new(keep),
            e_hit4: KeepReg::new(keep),
            e2_valid: Default::default(),
            e2_yaddr: Default::default(),
            e2_prod: Default::default(),
            // Kept per PE on iCE40 too: merged, the one flip-flop drove every PE's 24-bit E2
            // multiplexer, 3.6 ns of routing in front of the accumulator's carry chain.
            e2_hit1: KeepReg::new(keep || onehot),
            y_eff_r: Default::default(),
            f1_valid: Default::default(),
            f1_addr: Default::default(),
            f1_data: Default::default(),
            f2_data: Default::default(),
            f3_data: Default::default(),
            init_q: Default::default(),
            init_qaddr: Default::default(),
            init_q2: Default::default(),
            init_qaddr2: Default::default(),
            w16: Default::default(),
            d16: Default::default(),
            y_eff: Default::default(),
            y_add: Default::default(),
            sum: Default::default(),
            acc_lo: (0..narrow).map(|_| Constant::new(lo.into())).collect(),
            acc_sign: (0..narrow)
                .map(|_| Constant::new((1u64 << (acc_bits - 1)).into()))
                .collect(),
            acc_hi: (0..narrow)
                .map(|_| Constant::new((full & !lo).into()))
                .collect(),
            m_set: (0..oh).map(|_| Default::default()).collect(),
            m_f1: (0..oh).map(|_| Default::default()).collect(),
            m_f2: (0..oh).map(|_| Default::default()).collect(),
            m_f3: (0..oh).map(|_| Default::default()).collect(),
            m_ones: (0..oh).map(|_| Constant::new(full.into())).collect(),
            one_ram: (0..usize::from(one_y_ram))
                .map(|_| Constant::new(true))
                .collect(),
            ra_valid: (0..usize::from(one_y_ram))
                .map(|_| KeepReg::new(true))
                .collect(),
            ra_addr: (0..usize::from(one_y_ram))
                .map(|_| KeepReg::new(true))
                .collect(),
            gated: (0..usize::from(gated_scan))
                .map(|_| Constant::new(true))
                .collect(),
            scan_sel: OptSignal::new(gated_scan),
            mul_w: OptSignal::new(paired),
            mul_d: OptSignal::new(paired),
            mul_p: OptSignal::new(paired),
            c_mag: (0..pr).map(|_| Default::default()).collect(),
            c_neg: (0..pr).map(|_| Default::default()).collect(),
            d_neg: (0..pr).map(|_| Default::default()).collect(),
            e_neg: (0..pr).map(|_| Default::default()).collect(),
            e2_neg: (0..pr).map(|_| KeepReg::new(true)).collect(),
            neg32: (0..pr).map(|_| Default::default()).collect(),
            p_ext: (0..pr).map(|_| Default::default()).collect(),
            p_hi: (0..pr)
                .map(|_| Constant::new(0xffff_0000u64.into()))
                .collect(),
            spaced: (0..usize::from(spaced))
                .map(|_| Constant::new(true))
                .collect(),
        }
    }
}

impl Logic for Pe {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            b_valid,
            b_yaddr,
            b_delta,
            c_valid,
            c_yaddr,
            c_delta,
            c_w,
            d_valid,
            d_yaddr,
            d_w,
            d_d,
            e_valid,
            e_yaddr,
            e_prod,
            ya_r,
            yb_r,
            scan_r,
            d_hit1,
            d_hit2,
            d_hit3,
            d_hit4,
            e_hit1,
            e2_valid,
            e2_yaddr,
            e2_prod,
            y_eff_r,
            f1_valid,
            f1_addr,
            f1_data,
            f2_data,
            f3_data,
            init_q,
            init_qaddr,
            init_q2,
            init_qaddr2
        );
        self.wrom.clock.next = self.clock.val();
        self.ya.clock.next = self.clock.val();
        self.yb.clock.next = self.clock.val();
        // A: weight read
        self.wrom.read_address.next = self.op_waddr.val();
        self.wrom.read_enable.next = true;
        self.b_valid.d.next = self.op_valid.val();
        // Only the RAM's address bits travel down the pipeline: the hazard compares stay two LUT
        // levels deep (the MAC never addresses the bias half, so nothing is lost).
        self.b_yaddr.d.next = self.op_yaddr.val() & self.y_mask.val();
        self.b_delta.d.next = self.op_delta.val();
        // B: register the BRAM output
        self.c_w.d.next = self.wrom.read_data.val();
        self.c_valid.d.next = self.b_valid.q.val();
        self.c_yaddr.d.next = self.b_yaddr.q.val();
        self.c_delta.d.next = self.b_delta.q.val();
        // C: sign-extend into the multiplier's input registers; Y read issued.
        // (By hand: rust-hdl's signed_bit_cast recurses forever on the minimum value.)
        self.w16.next = bit_cast::<16, 8>(self.c_w.q.val());
        if self.c_w.q.val().get_bit(7) {
            self.w16.next = bit_cast::<16, 8>(self.c_w.q.val()) | 0xff00;
        }
        self.d16.next = bit_cast::<16, 9>(self.c_delta.q.val());
        if self.c_delta.q.val().get_bit(8) {
            self.d16.next = bit_cast::<16, 9>(self.c_delta.q.val()) | 0xfe00;
        }
        self.d_w.d.next = self.w16.val();
        self.d_d.d.next = self.d16.val();
        self.d_valid.d.next = self.c_valid.q.val();
        self.d_yaddr.d.next = self.c_yaddr.q.val();
        // D: multiply from registered inputs into a registered product (Yosys 0.23's ice40_dsp
        // crashes on a product that passes two registers before the adder).
        self.mul.a.next = self.d_w.q.val();
        self.mul.b.next = self.d_d.q.val();
        // Y read ports: the MAC set reads c_yaddr, the other set serves the scan port.
        self.ya.read_address.next = self.scan_addr.val();
        self.ya.read_enable.next = self.scan_enable.val();
        self.yb.read_address.next = self.c_yaddr.q.val();
        self.yb.read_enable.next = true;
        self.scan_y.next = self.ya_r.q.val();
        if !self.mac_set.val() {
            self.ya.read_address.next = self.c_yaddr.q.val();
            self.ya.read_enable.next = true;
            self.yb.read_address.next = self.scan_addr.val();
            self.yb.read_enable.next = self.scan_enable.val();
            self.scan_y.next = self.yb_r.q.val();
        }
        for i in 0..self.one_ram.len() {
            self.ra_valid[i].clock.next = self.clock.val();
            self.ra_addr[i].clock.next = self.clock.val();
            self.ra_valid[i].enable.next = true;
            self.ra_addr[i].enable.next = true;
            self.ra_valid[i].d.next = 0.into();
            if self.b_valid.q.val() {
                self.ra_valid[i].d.next = 1.into();
            }
            self.ra_addr[i].d.next = self.b_yaddr.q.val();
            self.ya.read_address.next = self.scan_addr.val();
            self.ya.read_enable.next = self.scan_enable.val();
            if self.ra_valid[i].q.val().any() & self.one_ram[i].val() {
                self.ya.read_address.next = self.ra_addr[i].q.val();
                self.ya.read_enable.next = true;
            }
            self.scan_y.next = self.ya_r.q.val();
        }
        if self.scan_enable.val() {
            self.scan_r.d.next = self.scan_y.val();
        }
        for i in 0..self.gated.len() {
            if self.scan_enable.val() & self.gated[i].val() & !self.scan_sel.val() {
                self.scan_r.d.next = 0.into();
            }
        }
        self.scan_data.next = self.scan_r.q.val();
        // Each register takes only its RAM's word (one enable per register).
        // The sign extension is written out at each of its three registers (hdl_gen has no
        // helper calls, and a shared local signal would change the 32-bit Verilog).
        if !self.mac_set.val() | self.scan_enable.val() | self.init_q.q.val() {
            self.ya_r.d.next = self.ya.read_data.val();
            for i in 0..self.acc_lo.len() {
                self.ya_r.d.next = self.ya.read_data.val() & self.acc_lo[i].val();
                if (self.ya.read_data.val() & self.acc_sign[i].val()).any() {
                    self.ya_r.d.next =
                        (self.ya.read_data.val() & self.acc_lo[i].val()) | self.acc_hi[i].val();
                }
            }
        }
        if self.mac_set.val() | self.scan_enable.val() | self.init_q.q.val() {
            self.yb_r.d.next = self.yb.read_data.val();
            for i in 0..self.acc_lo.len() {
                self.yb_r.d.next = self.yb.read_data.val() & self.acc_lo[i].val();
                if (self.yb.read_data.val() & self.acc_sign[i].val()).any() {
                    self.yb_r.d.next =
                        (self.yb.read_data.val() & self.acc_lo[i].val()) | self.acc_hi[i].val();
                }
            }
        }
        // One RAM: ya_r is a stage of the MAC (an op in D) or of the scan, which may stall.
        for i in 0..self.one_ram.len() {
            if self.one_ram[i].val()
                & !(self.d_valid.q.val() | self.scan_enable.val() | self.init_q.q.val())
            {
                self.ya_r.d.next = self.ya_r.q.val();
            }
        }
        self.e_valid.d.next = self.d_valid.q.val();
        self.e_yaddr.d.next = self.d_yaddr.q.val();
        self.e_prod.d.next = self.mul.p.val();
        // E1: select the Y word (forwarding the ops two to four ahead); E2: add; F writes back.
        // In C, the ops one to four ahead are in D, E1, E2 and F1.
        self.d_hit1.d.next = self.d_valid.q.val() & (self.d_yaddr.q.val() == self.c_yaddr.q.val());
        self.d_hit2.d.next = self.e_valid.q.val() & (self.e_yaddr.q.val() == self.c_yaddr.q.val());
        self.d_hit3.d.next =
            self.e2_valid.q.val() & (self.e2_yaddr.q.val() == self.c_yaddr.q.val());
        self.d_hit4.d.next = self.f1_valid.q.val() & (self.f1_addr.q.val() == self.c_yaddr.q.val());
        self.e_hit1.d.next = self.d_hit1.q.val();
        self.e_hit2.clock.next = self.clock.val();
        self.e_hit3.clock.next = self.clock.val();
        self.e_hit4.clock.next = self.clock.val();
        self.e2_hit1.clock.next = self.clock.val();
        self.e_hit2.enable.next = true;
        self.e_hit3.enable.next = true;
        self.e_hit4.enable.next = true;
        self.e2_hit1.enable.next = true;
        self.e_hit2.d.next = 0.into();
        if self.d_hit2.q.val() {
            self.e_hit2.d.next = 1.into();
        }
        self.e_hit3.d.next = 0.into();
        if self.d_hit3.q.val() {
            self.e_hit3.d.next = 1.into();
        }
        self.e_hit4.d.next = 0.into();
        if self.d_hit4.q.val() {
            self.e_hit4.d.next = 1.into();
        }
        self.y_eff.next = self.yb_r.q.val();
        if !self.mac_set.val() {
            self.y_eff.next = self.ya_r.q.val();
        }
        if self.e_hit4.q.val().any() {
            self.y_eff.next = self.f3_data.q.val();
        }
        if self.e_hit3.q.val().any() {
            self.y_eff.next = self.f2_data.q.val();
        }
        if self.e_hit2.q.val().any() {
            self.y_eff.next = self.f1_data.q.val();
        }
        for i in 0..self.m_set.len() {
            self.m_set[i].clock.next = self.clock.val();
            self.m_f1[i].clock.next = self.clock.val();
            self.m_f2[i].clock.next = self.clock.val();
            self.m_f3[i].clock.next = self.clock.val();
            // In D: the same priority as the chain above (two ahead, then three, then four).
            self.m_set[i].d.next = 0.into();
            self.m_f1[i].d.next = 0.into();
            self.m_f2[i].d.next = 0.into();
            self.m_f3[i].d.next = 0.into();
            if self.d_hit2.q.val() {
                self.m_f1[i].d.next = self.m_ones[i].val();
            } else if self.d_hit3.q.val() {
                self.m_f2[i].d.next = self.m_ones[i].val();
            } else if self.d_hit4.q.val() {
                self.m_f3[i].d.next = self.m_ones[i].val();
            } else {
                self.m_set[i].d.next = self.m_ones[i].val();
            }
            // The MAC set's word, then the AND-OR (one 4:1 term per bit after the set select).
            self.y_eff.next = self.yb_r.q.val();
            if !self.mac_set.val() {
                self.y_eff.next = self.ya_r.q.val();
            }
            self.y_eff.next = (self.y_eff.val() & self.m_set[i].q.val())
                | (self.f1_data.q.val() & self.m_f1[i].q.val())
                | (self.f2_data.q.val() & self.m_f2[i].q.val())
                | (self.f3_data.q.val() & self.m_f3[i].q.val());
        }
        self.y_eff_r.d.next = self.y_eff.val();
        self.e2_prod.d.next = self.e_prod.q.val();
        self.e2_valid.d.next = self.e_valid.q.val();
        self.e2_yaddr.d.next = self.e_yaddr.q.val();
        self.e2_hit1.d.next = 0.into();
        if self.e_hit1.q.val() {
            self.e2_hit1.d.next = 1.into();
        }
        // E2: the op one ahead has just written its sum to f1_data.
        self.y_add.next = self.y_eff_r.q.val();
        if self.e2_hit1.q.val().any() {
            self.y_add.next = self.f1_data.q.val();
        }
        for i in 0..self.spaced.len() {
            if self.spaced[i].val() {
                self.y_add.next = self.y_eff_r.q.val();
            }
        }
        self.sum.next = self.y_add.val() + self.e2_prod.q.val();
        for i in 0..self.c_mag.len() {
            self.c_mag[i].clock.next = self.clock.val();
            self.c_neg[i].clock.next = self.clock.val();
            self.d_neg[i].clock.next = self.clock.val();
            self.e_neg[i].clock.next = self.clock.val();
            self.e2_neg[i].clock.next = self.clock.val();
            self.e2_neg[i].enable.next = true;
            // B: |delta| (at most 255) and its sign.
            self.c_mag[i].d.next = self.b_delta.q.val().get_bits::<8>(0);
            if self.b_delta.q.val().get_bit(8) {
                self.c_mag[i].d.next = (!self.b_delta.q.val().get_bits::<8>(0)) + 1;
            }
            self.c_neg[i].d.next = self.b_delta.q.val().get_bit(8);
            // C: the operands go to the shared block, which registers them.
            self.mul_w.next = self.c_w.q.val();
            self.mul_d.next = self.c_mag[i].q.val();
            self.d_neg[i].d.next = self.c_neg[i].q.val();
            self.e_neg[i].d.next = self.d_neg[i].q.val();
            // E1: the product back, sign-extended, inverted for a negative delta (-p = ~p + 1).
            self.p_ext[i].next = bit_cast::<32, 16>(self.mul_p.val());
            if self.mul_p.val().get_bit(15) {
                self.p_ext[i].next = bit_cast::<32, 16>(self.mul_p.val()) | self.p_hi[i].val();
            }
            self.e2_prod.d.next = self.p_ext[i].val();
            if self.e_neg[i].q.val() {
                self.e2_prod.d.next = !self.p_ext[i].val();
            }
            self.e2_neg[i].d.next = 0.into();
            if self.e_neg[i].q.val() {
                self.e2_neg[i].d.next = 1.into();
            }
            // E2: the + 1 as the adder's carry-in (one carry chain).
            self.neg32[i].next = 0.into();
            if self.e2_neg[i].q.val().any() {
                self.neg32[i].next = 1.into();
            }
            self.sum.next = self.y_add.val() + self.e2_prod.q.val() + self.neg32[i].val();
        }
        self.f1_valid.d.next = self.e2_valid.q.val();
        self.f1_addr.d.next = self.e2_yaddr.q.val();
        self.f1_data.d.next = self.sum.val();
        for i in 0..self.acc_lo.len() {
            self.f1_data.d.next = self.sum.val() & self.acc_lo[i].val();
            if (self.sum.val() & self.acc_sign[i].val()).any() {
                self.f1_data.d.next =
                    (self.sum.val() & self.acc_lo[i].val()) | self.acc_hi[i].val();
            }
        }
        self.f2_data.d.next = self.f1_data.q.val();
        self.f3_data.d.next = self.f2_data.q.val();
        // Bias copy at sequence start: bias word Y0 + a read (the read port is idle then),
        // written to word a two cycles later (from the set's register).
        if self.init_valid.val() {
            self.ya.read_address.next = self.init_addr.val() | self.bias_base.val();
            self.ya.read_enable.next = true;
            self.yb.read_address.next = self.init_addr.val() | self.bias_base.val();
            self.yb.read_enable.next = true;
        }
        self.init_q.d.next = self.init_valid.val();
        self.init_qaddr.d.next = self.init_addr.val();
        self.init_q2.d.next = self.init_q.q.val();
        self.init_qaddr2.d.next = self.init_qaddr.q.val();
        self.ya.write_address.next = self.f1_addr.q.val();
        self.ya.write_data.next = self.f1_data.q.val();
        self.ya.write_enable.next = self.f1_valid.q.val() & !self.mac_set.val();
        self.yb.write_address.next = self.f1_addr.q.val();
        self.yb.write_data.next = self.f1_data.q.val();
        self.yb.write_enable.next = self.f1_valid.q.val() & self.mac_set.val();
        if self.init_q2.q.val() {
            self.ya.write_address.next = self.init_qaddr2.q.val();
            self.ya.write_data.next = self.ya_r.q.val();
            self.ya.write_enable.next = true;
            self.yb.write_address.next = self.init_qaddr2.q.val();
            self.yb.write_data.next = self.yb_r.q.val();
            self.yb.write_enable.next = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;
    use crate::mem::hex_lines;
    use rand::{Rng, SeedableRng};

    fn make(
        rng: &mut impl Rng,
        acc_bits: u32,
        onehot: bool,
        one_y_ram: bool,
    ) -> (Pe, Vec<i8>, [Vec<i32>; 2]) {
        make_kind(rng, acc_bits, onehot, one_y_ram, false, false)
    }

    fn make_kind(
        rng: &mut impl Rng,
        acc_bits: u32,
        onehot: bool,
        one_y_ram: bool,
        paired: bool,
        spaced: bool,
    ) -> (Pe, Vec<i8>, [Vec<i32>; 2]) {
        // The extremes first: -128 caught a sign-extension bug in rust-hdl's signed casts.
        let w: Vec<i8> = (0..32)
            .map(|i| match i {
                0 => -128,
                1 => 127,
                _ => rng.gen(),
            })
            .collect();
        // Biases near the ends of the accumulator range, so narrow accumulators wrap.
        let bmax = (1i32 << (acc_bits.min(31) - 1)) - 1;
        let mut b: [Vec<i32>; 2] = [
            (0..8).map(|_| rng.gen_range(-bmax..bmax)).collect(),
            (0..8).map(|_| rng.gen_range(-bmax..bmax)).collect(),
        ];
        for s in b.iter_mut() {
            s[0] = bmax - 10;
            s[1] = -bmax + 10;
        }
        let wu: Vec<u64> = w.iter().map(|&x| u64::from(x as u8)).collect();
        let bu: Vec<Vec<u64>> = b
            .iter()
            .map(|s| s.iter().map(|&x| u64::from(x as u32)).collect())
            .collect();
        (
            Pe::new(
                PeKind {
                    dsp: true,
                    keep: !onehot,
                    acc_bits,
                    onehot,
                    one_y_ram,
                    paired,
                    gated_scan: false,
                    spaced,
                },
                &wu,
                32,
                [&bu[0], &bu[1]],
                8,
                "pe",
            ),
            w,
            b,
        )
    }

    #[test]
    fn pe_yosys_validate() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (mut uut, w, _) = make(&mut rng, 32, false, false);
        uut.connect_all();
        let v = generate_verilog(&uut);
        let files = vec![
            (
                "pe_w.hex".to_string(),
                hex_lines(
                    &w.iter().map(|&x| u64::from(x as u8)).collect::<Vec<_>>(),
                    8,
                ),
            ),
            ("pe_bias_a.hex".to_string(), hex_lines(&[0; 8], 32)),
            ("pe_bias_b.hex".to_string(), hex_lines(&[0; 8], 32)),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        crate::tools::write_design(&dir, &v, &files).unwrap();
        crate::tools::yosys_check(&dir, "top.v", "top").unwrap();
    }

    /// Random MAC ops with back-to-back hazards on the same accumulator, both Y sets, checked
    /// through the scan port against an integer reference that wraps at the accumulator width.
    #[test]
    fn pe_mac_matches_reference() {
        for (acc_bits, onehot) in [(32, false), (20, false), (24, true)] {
            mac_matches_reference(acc_bits, onehot);
        }
    }

    /// `v` wrapped to an `acc_bits`-wide two's complement accumulator.
    fn wrap_to(acc_bits: u32, v: i64) -> i32 {
        let s = 64 - acc_bits;
        ((v << s) >> s) as i32
    }

    /// The sequence-start bias copy of Y words 0..8.
    fn copy_biases(sim: &mut ClockedSim<Pe>) {
        for k in 0..8u64 {
            sim.uut.init_valid.next = true;
            sim.uut.init_addr.next = k.into();
            sim.cycle().unwrap();
        }
        sim.uut.init_valid.next = false;
        sim.cycle().unwrap();
    }

    /// Puts a random op on the PE's inputs (valid with probability 0.8, Y address base + 0..3);
    /// returns (weight address, Y address, delta) when it is valid.
    fn drive_op(
        sim: &mut ClockedSim<Pe>,
        rng: &mut impl Rng,
        base: usize,
    ) -> Option<(usize, usize, i32)> {
        let valid = rng.gen_bool(0.8);
        let wa = rng.gen_range(0..32usize);
        let ya = base + rng.gen_range(0..3usize);
        let d: i32 = rng.gen_range(-255..=255);
        sim.uut.op_valid.next = valid;
        sim.uut.op_waddr.next = (wa as u64).into();
        sim.uut.op_yaddr.next = (ya as u64).into();
        sim.uut.op_delta.next = u64::from((d as u32) & 0x1ff).into();
        valid.then_some((wa, ya, d))
    }

    /// One Y RAM (iCE40): two layers' words in address ranges 0..4 and 4..8 of set A, the MAC
    /// and the scan taking turns on its read port, the scan stalling at random (its stages must
    /// hold, not refill from the RAM).
    #[test]
    fn pe_one_y_ram_mac_and_stalled_scan() {
        let acc_bits = 24;
        let wrap = |v: i64| wrap_to(acc_bits, v);
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (uut, w, b) = make(&mut rng, acc_bits, true, true);
        let mut sim = ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap();
        let mut y = b[0].clone();
        copy_biases(&mut sim);
        for round in 0..4 {
            let base = 4 * (round % 2);
            for _ in 0..60 {
                if let Some((wa, ya, d)) = drive_op(&mut sim, &mut rng, base) {
                    y[ya] = wrap(i64::from(y[ya]) + i64::from(w[wa]) * i64::from(d));
                }
                sim.cycle().unwrap();
            }
            sim.uut.op_valid.next = false;
            for _ in 0..MAC_LATENCY {
                sim.cycle().unwrap();
            }
            // The scan of the range just written, with stalls: after the n-th advancing cycle
            // the scan register holds the word addressed in the (n-2)-th.
            let mut sent = Vec::new();
            let mut checked = 0;
            while checked < 4 {
                let go = rng.gen_bool(0.6);
                let a = base + sent.len().min(3);
                sim.uut.scan_enable.next = go;
                sim.uut.scan_addr.next = (a as u64).into();
                sim.cycle().unwrap();
                if go {
                    sent.push(a);
                }
                if sent.len() >= 3 {
                    let want = y[sent[sent.len() - 3]];
                    let got = sim.uut.scan_data.val().to_u64() as u32 as i32;
                    assert_eq!(got, want, "round {round} after {} advances", sent.len());
                    if go {
                        checked += 1;
                    }
                }
            }
            sim.uut.scan_enable.next = false;
        }
    }

    fn mac_matches_reference(acc_bits: u32, onehot: bool) {
        let wrap = |v: i64| wrap_to(acc_bits, v);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let (uut, w, b) = make(&mut rng, acc_bits, onehot, false);
        let mut sim = ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap();
        let mut y = b.clone();
        let mut wraps = 0;
        copy_biases(&mut sim);
        for round in 0..6 {
            let set = round % 2;
            sim.uut.mac_set.next = set == 1;
            for _ in 0..60 {
                if let Some((wa, ya, d)) = drive_op(&mut sim, &mut rng, 0) {
                    let v = i64::from(y[set][ya]) + i64::from(w[wa]) * i64::from(d);
                    y[set][ya] = wrap(v);
                    wraps += usize::from(i64::from(y[set][ya]) != v);
                }
                sim.cycle().unwrap();
            }
            sim.uut.op_valid.next = false;
            for _ in 0..MAC_LATENCY {
                sim.cycle().unwrap();
            }
        }
        for (set, ys) in y.iter().enumerate() {
            sim.uut.mac_set.next = set == 0;
            sim.uut.scan_enable.next = true;
            for k in 0..8u64 {
                sim.uut.scan_addr.next = k.into();
                // BRAM read, the set's register, the scan register.
                sim.cycle().unwrap();
                sim.cycle().unwrap();
                sim.cycle().unwrap();
                let got = sim.uut.scan_data.val().to_u64() as u32 as i32;
                assert_eq!(
                    got, ys[k as usize],
                    "set {set} addr {k} acc_bits {acc_bits}"
                );
            }
        }
        // The narrow accumulator must have wrapped, or the test would not see its width.
        assert_eq!(
            wraps > 0,
            acc_bits < 32,
            "{wraps} wraps at acc_bits {acc_bits}"
        );
    }

    /// A PE whose product comes from a shared DSP block (`Mac8x2`; the block's other half
    /// idle), as on iCE40 with paired PEs.
    #[derive(LogicBlock)]
    struct PairedPe {
        clock: Signal<In, Clock>,
        pe: Pe,
        mac: crate::mac8x2::Mac8x2,
    }

    impl Logic for PairedPe {
        fn update(&mut self) {
            self.pe.clock.next = self.clock.val();
            self.mac.clock.next = self.clock.val();
            self.mac.a0.next = self.pe.mul_w.val();
            self.mac.b0.next = self.pe.mul_d.val();
            self.mac.a1.next = 0.into();
            self.mac.b1.next = 0.into();
            self.pe.mul_p.next = self.mac.p0.val();
        }
        fn connect(&mut self) {
            // The test drives the PE's op and scan inputs itself.
            self.pe.clock.connect();
            self.pe.op_valid.connect();
            self.pe.op_waddr.connect();
            self.pe.op_yaddr.connect();
            self.pe.op_delta.connect();
            self.pe.mac_set.connect();
            self.pe.init_valid.connect();
            self.pe.init_addr.connect();
            self.pe.scan_addr.connect();
            self.pe.scan_enable.connect();
            self.pe.mul_p.connect();
            self.mac.clock.connect();
            self.mac.a0.connect();
            self.mac.b0.connect();
            self.mac.a1.connect();
            self.mac.b1.connect();
        }
    }

    /// Paired: random ops over the whole delta range (+-255) and weights with -128 and 127,
    /// back-to-back hazards, one Y RAM, checked through the scan port. Spaced (iCE40): the
    /// same, with no two consecutive ops on one Y word, as the decoder issues them, and hazards
    /// two to four ops apart.
    #[test]
    fn pe_paired_mac_matches_reference() {
        for spaced in [false, true] {
            paired_mac_matches_reference(spaced);
        }
    }

    fn paired_mac_matches_reference(spaced: bool) {
        let acc_bits = 24;
        let wrap = |v: i64| wrap_to(acc_bits, v);
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let (pe, w, b) = make_kind(&mut rng, acc_bits, true, true, true, spaced);
        let mut sim = ClockedSim::new(
            PairedPe {
                clock: Default::default(),
                pe,
                mac: Default::default(),
            },
            |u, c| u.clock.next = Clock::from(c),
        )
        .unwrap();
        let mut y = b[0].clone();
        for k in 0..8u64 {
            sim.uut.pe.init_valid.next = true;
            sim.uut.pe.init_addr.next = k.into();
            sim.cycle().unwrap();
        }
        sim.uut.pe.init_valid.next = false;
        sim.cycle().unwrap();
        let mut extremes = 0;
        // Valid ops on the word of the op one or two ahead.
        let (mut prev, mut prev2, mut hazards) = (None, None, 0);
        for i in 0..400 {
            let valid = rng.gen_bool(0.85);
            // Every weight word in turn with the extreme deltas, then random ones.
            let wa = i % 32;
            let d: i32 = match i / 32 {
                0 => 255,
                1 => -255,
                _ => rng.gen_range(-255..=255),
            };
            let mut ya = rng.gen_range(0..3usize);
            if spaced && prev == Some(ya) {
                ya = (ya + 1 + rng.gen_range(0..2usize)) % 3;
            }
            hazards += usize::from(valid && (prev == Some(ya) || prev2 == Some(ya)));
            prev2 = prev;
            prev = valid.then_some(ya);
            sim.uut.pe.op_valid.next = valid;
            sim.uut.pe.op_waddr.next = (wa as u64).into();
            sim.uut.pe.op_yaddr.next = (ya as u64).into();
            sim.uut.pe.op_delta.next = u64::from((d as u32) & 0x1ff).into();
            if valid {
                y[ya] = wrap(i64::from(y[ya]) + i64::from(w[wa]) * i64::from(d));
                extremes += usize::from(d.abs() == 255 && (w[wa] == -128 || w[wa] == 127));
            }
            sim.cycle().unwrap();
        }
        assert!(extremes >= 2, "{extremes} extreme products");
        assert!(hazards >= 50, "{hazards} hazards");
        sim.uut.pe.op_valid.next = false;
        for _ in 0..MAC_LATENCY {
            sim.cycle().unwrap();
        }
        sim.uut.pe.scan_enable.next = true;
        for k in 0..3u64 {
            sim.uut.pe.scan_addr.next = k.into();
            for _ in 0..3 {
                sim.cycle().unwrap();
            }
            let got = sim.uut.pe.scan_data.val().to_u64() as u32 as i32;
            assert_eq!(got, y[k as usize], "addr {k}");
        }
    }
}
