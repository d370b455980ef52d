//! Requantization / activation lane: z = clamp(round_half_up(y*M / 2^S), 0, zmax), then z < tau
//! gives 0 (docs/arithmetic.md).
//!
//! y <= 0 gives 0 and y >= ysat (the smallest y that reaches zmax, precomputed per layer) gives
//! zmax, so only 0 < y < ysat < 2^31 is multiplied: as two 16x16 products (y_hi*M, y_lo*M)
//! summed into 48 bits. Eight registered stages, all held while `adv` is low: Q0 input (next to
//! the bank multiplexer that feeds it), Q1 the multipliers' inputs (on ECP5 inside the
//! MULT18X18D), M1 and M2 inside the multipliers (partial sums in LUTs; the block's product
//! register and a fabric copy on a DSP), Q2 products, Q3 rounded sum, Q4 byte shift, Q5 bit
//! shift and clamp; the tau test is on Q5's output. No stage holds more than two chained adds;
//! each shift stage is an AND-OR on one-hot flags decoded from S when the layer starts.

use crate::keep_reg::KeepReg;
use crate::mul16p::Mul16P;
use rust_hdl::prelude::*;

/// Cycles from `y` to `z`.
pub const REQUANT_LATENCY: u64 = 8;

#[derive(LogicBlock)]
pub struct RequantLane {
    pub clock: Signal<In, Clock>,
    pub adv: Signal<In, bool>,
    pub y: Signal<In, Bits<32>>,
    pub multiplier: Signal<In, Bits<16>>,
    /// 2^(S-1), or 0 for S = 0.
    pub round: Signal<In, Bits<48>>,
    pub shift: Signal<In, Bits<8>>,
    pub ysat: Signal<In, Bits<32>>,
    pub tau: Signal<In, Bits<8>>,
    pub zmax: Signal<In, Bits<8>>,
    pub z: Signal<Out, Bits<8>>,
    mul_hi: Mul16P,
    mul_lo: Mul16P,
    q0_y: DFF<Bits<32>>,
    q1_y: DFF<Bits<32>>,
    /// M sampled with y: the multipliers' inputs are then all flip-flops (on ECP5 `deltagen
    /// synth` moves them into the MULT18X18D). M is a layer constant, set long before the
    /// layer's first y. Every lane keeps its own copy (Yosys would merge them into one
    /// register that drives the LUT multipliers of lanes all over the device).
    q1_m: KeepReg<16>,
    /// tau and zmax, copied per lane for the same reason (the last stage's compare and
    /// select read them; layer constants, so sampled every cycle). On iCE40 (`!keep`) these
    /// layer constants (not M, a KeepReg everywhere) have no power-up value
    /// (`KeepReg::no_init`), so a model constant folds into the logic instead of staying a
    /// flip-flop that Yosys merges with its twins.
    k_tau: KeepReg<8>,
    k_zmax: KeepReg<8>,
    /// ... and ysat (the compares' operands) and S, decoded one-hot in its byte part (S / 8)
    /// and bit part (S mod 8): the shifter is then two AND-OR levels, each select driving a
    /// few dozen LUTs instead of a barrel shifter's stages.
    k_shi: KeepReg<6>,
    k_slo: KeepReg<8>,
    k_ysat: KeepReg<32>,
    /// ... and 2^(S-1): the rounding add reads it in every lane.
    k_round: KeepReg<48>,
    /// Q3's sum shifted by 8c (bits 14..0), when S / 8 = c; their OR, registered (Q4).
    coarse_t: Vec<Signal<Local, Bits<15>>>,
    coarse: Signal<Local, Bits<15>>,
    q4_coarse: DFF<Bits<15>>,
    q4_zero: DFF<bool>,
    q4_sat: DFF<bool>,
    /// Q4's word shifted by f (bits 7..0), when S mod 8 = f.
    fine_t: Vec<Signal<Local, Bits<8>>>,
    q2_hi: DFF<Bits<32>>,
    q2_lo: DFF<Bits<32>>,
    qm_zero: DFF<bool>,
    /// y >= ysat in two 16-bit halves (high greater, high equal, low at least), combined a
    /// stage later: no 32-bit compare in one cycle.
    qm_hgt: DFF<bool>,
    qm_heq: DFF<bool>,
    qm_lge: DFF<bool>,
    /// The flags one multiplier stage later (M2).
    qn_zero: DFF<bool>,
    qn_sat: DFF<bool>,
    q2_zero: DFF<bool>,
    q2_sat: DFF<bool>,
    q3_sum: DFF<Bits<48>>,
    q3_zero: DFF<bool>,
    q3_sat: DFF<bool>,
    q5_z: DFF<Bits<8>>,
    sum: Signal<Local, Bits<48>>,
    /// Accumulators narrower than 32 bits (one entry, none at 32: a 32-bit design's Verilog
    /// stays as its timing was closed on): y's bits from acc_bits up, copies of its sign, are
    /// cleared at the multipliers' inputs. Only 0 < y < ysat is multiplied (the flags decide
    /// the rest), so the product is the same, and Yosys trims the constant-zero rows and sums.
    y_mask: Vec<Constant<Bits<32>>>,
    y_pos: Vec<Signal<Local, Bits<32>>>,
    shifted: Signal<Local, Bits<8>>,
    z_out: Signal<Local, Bits<8>>,
    /// iCE40 (`!keep`; one entry each, none on ECP5, whose Verilog stays as its timing was
    /// closed on): the rounding constant added to the low product at Q2 (`q2_lr`), so Q3 is
    /// one two-operand carry chain; and the saturation and zero flags over three stages
    /// instead of two: bytewise at M1 (`qm_b`: y > ysat / y == ysat for bytes 3, 2, 1, y >=
    /// ysat for byte 0; `qm_z`: y[15:0] == 0, y[30:16] == 0), halves at M2 (`qn_h`: high
    /// greater, high equal, low at least), combined at Q2. The flags are first read at Q5.
    q2_lr: Vec<DFF<Bits<48>>>,
    qm_gt3: Vec<DFF<bool>>,
    qm_eq3: Vec<DFF<bool>>,
    qm_gt2: Vec<DFF<bool>>,
    qm_eq2: Vec<DFF<bool>>,
    qm_gt1: Vec<DFF<bool>>,
    qm_eq1: Vec<DFF<bool>>,
    qm_ge0: Vec<DFF<bool>>,
    qm_zlo: Vec<DFF<bool>>,
    qm_zhi: Vec<DFF<bool>>,
    qn_hgt: Vec<DFF<bool>>,
    qn_heq: Vec<DFF<bool>>,
    qn_lge: Vec<DFF<bool>>,
    /// With the split flags: ~ysat, so a byte's y > ysat is the carry out of y + ~ysat (both
    /// operands flip-flops: `a > b` as a compare put an inverter LUT on every bit of b in front
    /// of its carry chain, and that path was the UP5K's critical one on every seed once the
    /// front end stopped stalling) and y == ysat is y ^ ~ysat all ones (LUTs, no chain).
    k_nysat: Vec<KeepReg<32>>,
    /// Byte 0's y > ysat and y == ysat, OR-ed into `qm_ge0`. (A byte is widened to the add's
    /// 9 bits with get_bits and a shift or mask: a bit_cast of an indexed signal does not
    /// translate.)
    gt0: Vec<Signal<Local, bool>>,
    eq0: Vec<Signal<Local, bool>>,
}

impl RequantLane {
    /// `dsp`: the two multipliers on DSP blocks (else LUTs, see `Mul16P`).
    /// `keep`: the layer-constant copies are KeepRegs (see `HwParams::replicate`; M always is).
    /// `acc_bits`: the accumulators' width (y is sign-extended from it).
    pub fn new(dsp: bool, keep: bool, acc_bits: u32) -> Self {
        let narrow = (acc_bits < 32) as usize;
        let split = usize::from(!keep);
        let mask = (1u64 << acc_bits.min(32)) - 1;
        Self {
            clock: Default::default(),
            adv: Default::default(),
            y: Default::default(),
            multiplier: Default::default(),
            round: Default::default(),
            shift: Default::default(),
            ysat: Default::default(),
            tau: Default::default(),
            zmax: Default::default(),
            z: Default::default(),
            mul_hi: Mul16P::new(dsp).sb_mac16(!keep),
            mul_lo: Mul16P::new(dsp).sb_mac16(!keep),
            q0_y: Default::default(),
            q1_y: Default::default(),
            q1_m: Default::default(),
            k_tau: KeepReg::new(keep).no_init(!keep),
            k_zmax: KeepReg::new(keep).no_init(!keep),
            k_shi: KeepReg::new(keep).no_init(!keep),
            k_slo: KeepReg::new(keep).no_init(!keep),
            coarse_t: (0..6).map(|_| Default::default()).collect(),
            coarse: Default::default(),
            fine_t: (0..8).map(|_| Default::default()).collect(),
            k_ysat: KeepReg::new(keep).no_init(!keep),
            k_round: KeepReg::new(keep).no_init(!keep),
            q4_coarse: Default::default(),
            q4_zero: Default::default(),
            q4_sat: Default::default(),
            q2_hi: Default::default(),
            q2_lo: Default::default(),
            qm_zero: Default::default(),
            qm_hgt: Default::default(),
            qm_heq: Default::default(),
            qm_lge: Default::default(),
            qn_zero: Default::default(),
            qn_sat: Default::default(),
            q2_zero: Default::default(),
            q2_sat: Default::default(),
            q3_sum: Default::default(),
            q3_zero: Default::default(),
            q3_sat: Default::default(),
            q5_z: Default::default(),
            sum: Default::default(),
            y_mask: (0..narrow).map(|_| Constant::new(mask.into())).collect(),
            y_pos: (0..narrow).map(|_| Default::default()).collect(),
            shifted: Default::default(),
            z_out: Default::default(),
            q2_lr: (0..split).map(|_| Default::default()).collect(),
            qm_gt3: (0..split).map(|_| Default::default()).collect(),
            qm_eq3: (0..split).map(|_| Default::default()).collect(),
            qm_gt2: (0..split).map(|_| Default::default()).collect(),
            qm_eq2: (0..split).map(|_| Default::default()).collect(),
            qm_gt1: (0..split).map(|_| Default::default()).collect(),
            qm_eq1: (0..split).map(|_| Default::default()).collect(),
            qm_ge0: (0..split).map(|_| Default::default()).collect(),
            qm_zlo: (0..split).map(|_| Default::default()).collect(),
            qm_zhi: (0..split).map(|_| Default::default()).collect(),
            qn_hgt: (0..split).map(|_| Default::default()).collect(),
            qn_heq: (0..split).map(|_| Default::default()).collect(),
            qn_lge: (0..split).map(|_| Default::default()).collect(),
            k_nysat: (0..split).map(|_| KeepReg::layer_constant()).collect(),
            gt0: (0..split).map(|_| Default::default()).collect(),
            eq0: (0..split).map(|_| Default::default()).collect(),
        }
    }
}

impl Logic for RequantLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, q0_y, q1_y, q2_hi, q2_lo, qm_zero, qm_hgt, qm_heq, qm_lge, qn_zero,
            qn_sat, q2_zero, q2_sat, q3_sum, q3_zero, q3_sat, q4_coarse, q4_zero, q4_sat, q5_z
        );
        self.mul_hi.clock.next = self.clock.val();
        self.mul_lo.clock.next = self.clock.val();
        self.mul_hi.enable.next = self.adv.val();
        self.mul_lo.enable.next = self.adv.val();
        self.mul_hi.a.next = self.q1_y.q.val().get_bits::<16>(16);
        self.q1_m.clock.next = self.clock.val();
        self.q1_m.enable.next = self.adv.val();
        self.q1_m.d.next = self.multiplier.val();
        self.mul_hi.b.next = self.q1_m.q.val();
        self.k_tau.clock.next = self.clock.val();
        self.k_tau.enable.next = true;
        self.k_tau.d.next = self.tau.val();
        self.k_zmax.clock.next = self.clock.val();
        self.k_zmax.enable.next = true;
        self.k_zmax.d.next = self.zmax.val();
        self.k_shi.clock.next = self.clock.val();
        self.k_shi.enable.next = true;
        self.k_shi.d.next = bits::<6>(1) << bit_cast::<6, 3>(self.shift.val().get_bits::<3>(3));
        self.k_slo.clock.next = self.clock.val();
        self.k_slo.enable.next = true;
        self.k_slo.d.next = bits::<8>(1) << bit_cast::<8, 3>(self.shift.val().get_bits::<3>(0));
        self.k_ysat.clock.next = self.clock.val();
        self.k_ysat.enable.next = true;
        self.k_ysat.d.next = self.ysat.val();
        self.k_round.clock.next = self.clock.val();
        self.k_round.enable.next = true;
        self.k_round.d.next = self.round.val();
        self.mul_lo.a.next = self.q1_y.q.val().get_bits::<16>(0);
        self.mul_lo.b.next = self.q1_m.q.val();
        for i in 0..self.y_mask.len() {
            self.y_pos[i].next = self.q1_y.q.val() & self.y_mask[i].val();
            self.mul_hi.a.next = self.y_pos[i].val().get_bits::<16>(16);
            self.mul_lo.a.next = self.y_pos[i].val().get_bits::<16>(0);
        }
        self.sum.next = (bit_cast::<48, 32>(self.q2_hi.q.val()) << 16)
            + bit_cast::<48, 32>(self.q2_lo.q.val())
            + self.k_round.q.val();
        // iCE40: rounded at Q2 (before Q3 reads the sum).
        for i in 0..self.q2_lr.len() {
            self.sum.next = (bit_cast::<48, 32>(self.q2_hi.q.val()) << 16) + self.q2_lr[i].q.val();
        }
        // sum >> S, bits 7..0 (0 < y < ysat: the result fits them). Byte part first (S <= 47,
        // so S / 8 <= 5), then the bit part, each an AND-OR on one-hot selects.
        self.coarse_t[0].next = 0.into();
        if self.k_shi.q.val().get_bit(0) {
            self.coarse_t[0].next = self.q3_sum.q.val().get_bits::<15>(0);
        }
        self.coarse_t[1].next = 0.into();
        if self.k_shi.q.val().get_bit(1) {
            self.coarse_t[1].next = self.q3_sum.q.val().get_bits::<15>(8);
        }
        self.coarse_t[2].next = 0.into();
        if self.k_shi.q.val().get_bit(2) {
            self.coarse_t[2].next = self.q3_sum.q.val().get_bits::<15>(16);
        }
        self.coarse_t[3].next = 0.into();
        if self.k_shi.q.val().get_bit(3) {
            self.coarse_t[3].next = self.q3_sum.q.val().get_bits::<15>(24);
        }
        self.coarse_t[4].next = 0.into();
        if self.k_shi.q.val().get_bit(4) {
            self.coarse_t[4].next = self.q3_sum.q.val().get_bits::<15>(32);
        }
        self.coarse_t[5].next = 0.into();
        if self.k_shi.q.val().get_bit(5) {
            self.coarse_t[5].next = bit_cast::<15, 8>(self.q3_sum.q.val().get_bits::<8>(40));
        }
        self.coarse.next = self.coarse_t[0].val()
            | self.coarse_t[1].val()
            | self.coarse_t[2].val()
            | self.coarse_t[3].val()
            | self.coarse_t[4].val()
            | self.coarse_t[5].val();
        self.fine_t[0].next = 0.into();
        if self.k_slo.q.val().get_bit(0) {
            self.fine_t[0].next = self.q4_coarse.q.val().get_bits::<8>(0);
        }
        self.fine_t[1].next = 0.into();
        if self.k_slo.q.val().get_bit(1) {
            self.fine_t[1].next = self.q4_coarse.q.val().get_bits::<8>(1);
        }
        self.fine_t[2].next = 0.into();
        if self.k_slo.q.val().get_bit(2) {
            self.fine_t[2].next = self.q4_coarse.q.val().get_bits::<8>(2);
        }
        self.fine_t[3].next = 0.into();
        if self.k_slo.q.val().get_bit(3) {
            self.fine_t[3].next = self.q4_coarse.q.val().get_bits::<8>(3);
        }
        self.fine_t[4].next = 0.into();
        if self.k_slo.q.val().get_bit(4) {
            self.fine_t[4].next = self.q4_coarse.q.val().get_bits::<8>(4);
        }
        self.fine_t[5].next = 0.into();
        if self.k_slo.q.val().get_bit(5) {
            self.fine_t[5].next = self.q4_coarse.q.val().get_bits::<8>(5);
        }
        self.fine_t[6].next = 0.into();
        if self.k_slo.q.val().get_bit(6) {
            self.fine_t[6].next = self.q4_coarse.q.val().get_bits::<8>(6);
        }
        self.fine_t[7].next = 0.into();
        if self.k_slo.q.val().get_bit(7) {
            self.fine_t[7].next = self.q4_coarse.q.val().get_bits::<8>(7);
        }
        self.shifted.next = self.fine_t[0].val()
            | self.fine_t[1].val()
            | self.fine_t[2].val()
            | self.fine_t[3].val()
            | self.fine_t[4].val()
            | self.fine_t[5].val()
            | self.fine_t[6].val()
            | self.fine_t[7].val();
        if self.adv.val() {
            self.q0_y.d.next = self.y.val();
            self.q1_y.d.next = self.q0_y.q.val();
            self.q2_hi.d.next = self.mul_hi.p.val();
            self.q2_lo.d.next = self.mul_lo.p.val();
            self.qm_zero.d.next = self.q1_y.q.val().get_bit(31) | !self.q1_y.q.val().any();
            self.qm_hgt.d.next =
                self.q1_y.q.val().get_bits::<16>(16) > self.k_ysat.q.val().get_bits::<16>(16);
            self.qm_heq.d.next =
                self.q1_y.q.val().get_bits::<16>(16) == self.k_ysat.q.val().get_bits::<16>(16);
            self.qm_lge.d.next =
                self.q1_y.q.val().get_bits::<16>(0) >= self.k_ysat.q.val().get_bits::<16>(0);
            self.qn_zero.d.next = self.qm_zero.q.val();
            self.qn_sat.d.next = self.qm_hgt.q.val() | (self.qm_heq.q.val() & self.qm_lge.q.val());
            self.q2_zero.d.next = self.qn_zero.q.val();
            self.q2_sat.d.next = self.qn_sat.q.val();
            self.q3_sum.d.next = self.sum.val();
            self.q3_zero.d.next = self.q2_zero.q.val();
            self.q3_sat.d.next = self.q2_sat.q.val();
            self.q4_coarse.d.next = self.coarse.val();
            self.q4_zero.d.next = self.q3_zero.q.val();
            self.q4_sat.d.next = self.q3_sat.q.val();
            self.q5_z.d.next = self.shifted.val();
            if self.q4_sat.q.val() {
                self.q5_z.d.next = self.k_zmax.q.val();
            }
            if self.q4_zero.q.val() {
                self.q5_z.d.next = 0.into();
            }
        }
        // iCE40: the split forms (see `q2_lr`), over the values set above.
        for i in 0..self.q2_lr.len() {
            self.k_nysat[i].clock.next = self.clock.val();
            self.k_nysat[i].enable.next = true;
            self.k_nysat[i].d.next = !self.ysat.val();
            self.gt0[i].next = (((self.q1_y.q.val().get_bits::<9>(0) & 255)
                + (self.k_nysat[i].q.val().get_bits::<9>(0) & 255))
                & 256)
                .any();
            self.eq0[i].next = (self.q1_y.q.val().get_bits::<8>(0)
                ^ self.k_nysat[i].q.val().get_bits::<8>(0))
                == 255;
            self.q2_lr[i].clock.next = self.clock.val();
            self.q2_lr[i].d.next = self.q2_lr[i].q.val();
            self.qm_gt3[i].clock.next = self.clock.val();
            self.qm_gt3[i].d.next = self.qm_gt3[i].q.val();
            self.qm_eq3[i].clock.next = self.clock.val();
            self.qm_eq3[i].d.next = self.qm_eq3[i].q.val();
            self.qm_gt2[i].clock.next = self.clock.val();
            self.qm_gt2[i].d.next = self.qm_gt2[i].q.val();
            self.qm_eq2[i].clock.next = self.clock.val();
            self.qm_eq2[i].d.next = self.qm_eq2[i].q.val();
            self.qm_gt1[i].clock.next = self.clock.val();
            self.qm_gt1[i].d.next = self.qm_gt1[i].q.val();
            self.qm_eq1[i].clock.next = self.clock.val();
            self.qm_eq1[i].d.next = self.qm_eq1[i].q.val();
            self.qm_ge0[i].clock.next = self.clock.val();
            self.qm_ge0[i].d.next = self.qm_ge0[i].q.val();
            self.qm_zlo[i].clock.next = self.clock.val();
            self.qm_zlo[i].d.next = self.qm_zlo[i].q.val();
            self.qm_zhi[i].clock.next = self.clock.val();
            self.qm_zhi[i].d.next = self.qm_zhi[i].q.val();
            self.qn_hgt[i].clock.next = self.clock.val();
            self.qn_hgt[i].d.next = self.qn_hgt[i].q.val();
            self.qn_heq[i].clock.next = self.clock.val();
            self.qn_heq[i].d.next = self.qn_heq[i].q.val();
            self.qn_lge[i].clock.next = self.clock.val();
            self.qn_lge[i].d.next = self.qn_lge[i].q.val();
            if self.adv.val() {
                self.q2_lr[i].d.next =
                    bit_cast::<48, 32>(self.mul_lo.p.val()) + self.k_round.q.val();
                self.qm_gt3[i].d.next = (((self.q1_y.q.val().get_bits::<9>(23) >> 1)
                    + (self.k_nysat[i].q.val().get_bits::<9>(23) >> 1))
                    & 256)
                    .any();
                self.qm_eq3[i].d.next = (self.q1_y.q.val().get_bits::<8>(24)
                    ^ self.k_nysat[i].q.val().get_bits::<8>(24))
                    == 255;
                self.qm_gt2[i].d.next = (((self.q1_y.q.val().get_bits::<9>(15) >> 1)
                    + (self.k_nysat[i].q.val().get_bits::<9>(15) >> 1))
                    & 256)
                    .any();
                self.qm_eq2[i].d.next = (self.q1_y.q.val().get_bits::<8>(16)
                    ^ self.k_nysat[i].q.val().get_bits::<8>(16))
                    == 255;
                self.qm_gt1[i].d.next = (((self.q1_y.q.val().get_bits::<9>(7) >> 1)
                    + (self.k_nysat[i].q.val().get_bits::<9>(7) >> 1))
                    & 256)
                    .any();
                self.qm_eq1[i].d.next = (self.q1_y.q.val().get_bits::<8>(8)
                    ^ self.k_nysat[i].q.val().get_bits::<8>(8))
                    == 255;
                self.qm_ge0[i].d.next = self.gt0[i].val() | self.eq0[i].val();
                self.qm_zlo[i].d.next = !self.q1_y.q.val().get_bits::<16>(0).any();
                self.qm_zhi[i].d.next = !self.q1_y.q.val().get_bits::<15>(16).any();
                // In this form `qm_zero` holds y's sign only; `qn_zero` adds y == 0.
                self.qm_zero.d.next = self.q1_y.q.val().get_bit(31);
                self.qn_hgt[i].d.next =
                    self.qm_gt3[i].q.val() | (self.qm_eq3[i].q.val() & self.qm_gt2[i].q.val());
                self.qn_heq[i].d.next = self.qm_eq3[i].q.val() & self.qm_eq2[i].q.val();
                self.qn_lge[i].d.next =
                    self.qm_gt1[i].q.val() | (self.qm_eq1[i].q.val() & self.qm_ge0[i].q.val());
                self.qn_zero.d.next =
                    self.qm_zero.q.val() | (self.qm_zlo[i].q.val() & self.qm_zhi[i].q.val());
                self.q2_sat.d.next =
                    self.qn_hgt[i].q.val() | (self.qn_heq[i].q.val() & self.qn_lge[i].q.val());
            }
        }
        self.z_out.next = self.q5_z.q.val();
        if self.q5_z.q.val() < self.k_tau.q.val() {
            self.z_out.next = 0.into();
        }
        self.z.next = self.z_out.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;
    use crate::params::ysat;
    use deltagen::arith::{activation, saturation_point};
    use rand::{Rng, SeedableRng};

    #[test]
    fn requant_yosys_validate() {
        for (dsp, keep, acc_bits) in [
            (false, true, 32),
            (true, true, 32),
            (false, true, 24),
            (true, false, 24),
        ] {
            let mut uut = RequantLane::new(dsp, keep, acc_bits);
            uut.connect_all();
            // Not rust-hdl's yosys_validate: on iCE40 (keep false) the products are SB_MAC16
            // instances, which need Yosys' cell library to elaborate.
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().to_path_buf();
            crate::tools::write_design(&dir, &generate_verilog(&uut), &[]).unwrap();
            crate::tools::yosys_check(&dir, "top.v", "top").unwrap();
        }
    }

    #[test]
    fn requant_matches_golden() {
        golden(32, true);
    }

    /// The iCE40 form (`!keep`): rounding at Q2, flags over three stages.
    #[test]
    fn split_requant_matches_golden() {
        golden(32, false);
        golden(24, false);
    }

    /// Narrow accumulators: y sign-extended from bit 23 (the masked multiplier inputs), and from
    /// bit 11 (the mask reaches the low product's input too).
    #[test]
    fn narrow_requant_matches_golden() {
        golden(24, true);
        golden(12, true);
    }

    /// Random y, M, S, tau (shift 0, large shifts, saturation, negatives, the accumulator
    /// range's ends) with random stalls, against `arith::activation`; ysat against
    /// `arith::saturation_point`.
    fn golden(acc_bits: u32, keep: bool) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut sim = ClockedSim::new(RequantLane::new(false, keep, acc_bits), |u, c| {
            u.clock.next = Clock::from(c)
        })
        .unwrap();
        // y as the PEs deliver it: sign-extended from bit acc_bits - 1.
        let wrap = |y: i32| (y << (32 - acc_bits)) >> (32 - acc_bits);
        let top = wrap(i32::MAX);
        for case in 0..120 {
            // Small M too: with a small S only they leave y a range below saturation.
            let m: u32 = (rng.gen_range(1..65536u32) >> rng.gen_range(0..16)).max(1);
            let s: u32 = match case % 4 {
                0 => 0,
                1 => rng.gen_range(1..8),
                2 => rng.gen_range(8..24),
                _ => rng.gen_range(24..=47),
            };
            let tau: i32 = rng.gen_range(0..=128);
            let ys = ysat(m, s, 8);
            assert_eq!(ys, saturation_point(m, s, 8));
            sim.uut.multiplier.next = u64::from(m).into();
            sim.uut.shift.next = u64::from(s).into();
            sim.uut.round.next = (if s == 0 { 0 } else { 1u64 << (s - 1) }).into();
            sim.uut.ysat.next = (ys.clamp(1, u32::MAX as i64) as u64).into();
            sim.uut.tau.next = (tau as u64).into();
            sim.uut.zmax.next = 127u64.into();
            let mut sent: Vec<i32> = Vec::new();
            let mut advanced = 0usize;
            while advanced < 40 + REQUANT_LATENCY as usize {
                let adv = rng.gen_bool(0.7);
                let near = ys.min(i32::MAX as i64) as i32;
                let y: i32 = wrap(match rng.gen_range(0..6) {
                    // ysat with one byte changed: every byte's compare decides some case.
                    5 => near ^ (rng.gen_range(1..256) << (8 * rng.gen_range(0..4))),
                    0 => rng.gen(),
                    1 => rng.gen_range(-3..3),
                    2 => near.saturating_add(rng.gen_range(-2..2)),
                    3 => top.saturating_add(rng.gen_range(-1..3)),
                    _ => rng.gen_range(0..=near),
                });
                sim.uut.adv.next = adv;
                sim.uut.y.next = u64::from(y as u32).into();
                sim.cycle().unwrap();
                if adv {
                    sent.push(y);
                    advanced += 1;
                    if advanced >= REQUANT_LATENCY as usize {
                        let yin = sent[advanced - REQUANT_LATENCY as usize];
                        let want = activation(i64::from(yin), m, s, tau, 8);
                        let got = sim.uut.z.val().to_u64() as i32;
                        assert_eq!(got, want, "y {yin} M {m} S {s} tau {tau}");
                    }
                }
            }
        }
    }
}
