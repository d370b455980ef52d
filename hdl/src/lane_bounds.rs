//! The delta encoder's registered threshold bounds (iCE40), as addends: the nonzero test
//! |r - x| > theta is r < x - theta or r > x + theta, and each compare is the top bit of one
//! 12-bit sum r + k of two flip-flop outputs, so the carry chain starts at the registers (a
//! compare `a < b` needs ~b in front of its chain, a LUT level). With s the signed r sign-extended
//! to 12 bits:
//!
//! - r < x - theta  <=>  s + (2048 - x + theta) < 2048: bit 11 of `r12 + k_lo` is 0;
//! - r > x + theta  <=>  s + (2047 - x - theta) >= 2048: bit 11 of `r12 + k_hi` is 1.
//!
//! Over r, x in -128..=127 and theta in 0..=511 both sums stay within 0..4095 (k_lo in
//! 1921..=2687, k_hi in 1409..=2175), so the 12-bit wrap never reaches bit 11.
//!
//! The addends themselves are one add each of two flip-flop outputs too: with -x = ~x + 1,
//! k_lo = (theta + 2049) + ~x and k_hi = (2048 - theta) + ~x, where the encoder keeps ~x
//! (`nx`, sign-extended here: wiring) in a register of its own and the layer's `t_lo` =
//! theta + 2049 and `t_hi` = 2048 - theta in two more (theta is a layer constant). Forming
//! them from x and theta directly took two carry chains and two LUT levels in series (the
//! critical path of every seed once the front end lost its stall enables). Combinational; the
//! encoder registers `k_lo` and `k_hi` a stage before the adds.

use rust_hdl::prelude::*;

/// The layer's addends for threshold `theta` (what the encoder's `t_lo` / `t_hi` hold).
pub fn theta_addends(theta: u64) -> (u64, u64) {
    ((theta + 2049) & 0xfff, (2048 - theta) & 0xfff)
}

#[derive(LogicBlock, Default)]
pub struct LaneBounds {
    /// ~x (bitwise), from a register.
    pub nx: Signal<In, Bits<8>>,
    /// theta + 2049 and 2048 - theta (`theta_addends`), from registers.
    pub t_lo: Signal<In, Bits<12>>,
    pub t_hi: Signal<In, Bits<12>>,
    pub r: Signal<In, Bits<8>>,
    pub k_lo: Signal<Out, Bits<12>>,
    pub k_hi: Signal<Out, Bits<12>>,
    /// r sign-extended to 12 bits (wiring only).
    pub r12: Signal<Out, Bits<12>>,
    nx12: Signal<Local, Bits<12>>,
}

impl Logic for LaneBounds {
    #[hdl_gen]
    fn update(&mut self) {
        self.nx12.next = bit_cast::<12, 8>(self.nx.val());
        if self.nx.val().get_bit(7) {
            self.nx12.next = bit_cast::<12, 8>(self.nx.val()) | 3840;
        }
        self.k_lo.next = self.t_lo.val() + self.nx12.val();
        self.k_hi.next = self.t_hi.val() + self.nx12.val();
        self.r12.next = bit_cast::<12, 8>(self.r.val());
        if self.r.val().get_bit(7) {
            self.r12.next = bit_cast::<12, 8>(self.r.val()) | 3840;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_bounds_yosys_validate() {
        let mut uut = LaneBounds::default();
        uut.connect_all();
        yosys_validate("deltagen_hdl_lane_bounds", &generate_verilog(&uut)).unwrap();
    }

    /// Every x and r and a spread of theta: bit 11 of each sum is the compare it stands for.
    #[test]
    fn lane_bounds_sums_are_the_compares() {
        let mut uut = LaneBounds::default();
        uut.connect_all();
        for x in -128i32..=127 {
            for theta in [0i32, 1, 7, 100, 255, 511] {
                for r in -128i32..=127 {
                    let (t_lo, t_hi) = theta_addends(theta as u64);
                    uut.nx.next = u64::from(!(x as u8)).into();
                    uut.t_lo.next = t_lo.into();
                    uut.t_hi.next = t_hi.into();
                    uut.r.next = u64::from(r as u8).into();
                    crate::harness::settle_block(&mut uut).unwrap();
                    let r12 = uut.r12.val().to_u64();
                    assert_eq!(r12, (r as u64) & 0xfff);
                    let lo = (r12 + uut.k_lo.val().to_u64()) & 0xfff;
                    let hi = (r12 + uut.k_hi.val().to_u64()) & 0xfff;
                    assert_eq!(lo & 0x800 == 0, r < x - theta, "x {x} r {r} theta {theta}");
                    assert_eq!(hi & 0x800 != 0, r > x + theta, "x {x} r {r} theta {theta}");
                }
            }
        }
    }
}
