//! Requantization / activation lane: z = clamp(round_half_up(y*M / 2^S), 0, zmax), then z < tau
//! gives 0 (docs/arithmetic.md).
//!
//! y <= 0 gives 0 and y >= ysat (the smallest y that reaches zmax, precomputed per layer) gives
//! zmax, so only 0 < y < ysat < 2^31 is multiplied: as two 16x16 products (y_hi*M, y_lo*M)
//! summed into 48 bits. Three registered stages, all held while `adv` is low:
//! Q1 input register, Q2 products and flags, Q3 rounded shift; the tau test is on Q3's output.

use rust_hdl::prelude::*;

/// Cycles from `y` to `z`.
pub const REQUANT_LATENCY: u64 = 3;

#[derive(LogicBlock, Default)]
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
    q1_y: DFF<Bits<32>>,
    q2_hi: DFF<Bits<32>>,
    q2_lo: DFF<Bits<32>>,
    q2_zero: DFF<bool>,
    q2_sat: DFF<bool>,
    q3_z: DFF<Bits<8>>,
    sum: Signal<Local, Bits<48>>,
    shifted: Signal<Local, Bits<48>>,
}

impl Logic for RequantLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, q1_y, q2_hi, q2_lo, q2_zero, q2_sat, q3_z);
        self.sum.next = (bit_cast::<48, 32>(self.q2_hi.q.val()) << 16)
            + bit_cast::<48, 32>(self.q2_lo.q.val())
            + self.round.val();
        self.shifted.next = self.sum.val() >> self.shift.val();
        if self.adv.val() {
            self.q1_y.d.next = self.y.val();
            self.q2_hi.d.next = self.q1_y.q.val().get_bits::<16>(16) * self.multiplier.val();
            self.q2_lo.d.next = self.q1_y.q.val().get_bits::<16>(0) * self.multiplier.val();
            self.q2_zero.d.next = self.q1_y.q.val().get_bit(31) | !self.q1_y.q.val().any();
            self.q2_sat.d.next = self.q1_y.q.val() >= self.ysat.val();
            self.q3_z.d.next = self.shifted.val().get_bits::<8>(0);
            if self.q2_sat.q.val() {
                self.q3_z.d.next = self.zmax.val();
            }
            if self.q2_zero.q.val() {
                self.q3_z.d.next = 0.into();
            }
        }
        self.z.next = self.q3_z.q.val();
        if self.q3_z.q.val() < self.tau.val() {
            self.z.next = 0.into();
        }
    }
}
