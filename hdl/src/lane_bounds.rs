//! Offset-binary forms for the delta encoder's registered threshold bounds (iCE40): x - theta,
//! x + theta and r, each as value + 1024 in 11 bits, where unsigned order is signed order (as in
//! `EncoderLane`). Combinational; the encoder registers `lo` and `hi` a stage before the
//! compares with `r11`.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct LaneBounds {
    pub x: Signal<In, Bits<8>>,
    pub theta: Signal<In, Bits<9>>,
    pub r: Signal<In, Bits<8>>,
    pub lo: Signal<Out, Bits<11>>,
    pub hi: Signal<Out, Bits<11>>,
    pub r11: Signal<Out, Bits<11>>,
    x11: Signal<Local, Bits<11>>,
}

impl Logic for LaneBounds {
    #[hdl_gen]
    fn update(&mut self) {
        // Sign-extend to 11 bits and flip the top bit: + 1024 for x >= 0, + 768 = 1024 - 256
        // on top of the 8-bit pattern for x < 0.
        self.x11.next = bit_cast::<11, 8>(self.x.val()) + 1024;
        if self.x.val().get_bit(7) {
            self.x11.next = bit_cast::<11, 8>(self.x.val()) + 768;
        }
        self.lo.next = self.x11.val() - bit_cast::<11, 9>(self.theta.val());
        self.hi.next = self.x11.val() + bit_cast::<11, 9>(self.theta.val());
        self.r11.next = bit_cast::<11, 8>(self.r.val()) + 1024;
        if self.r.val().get_bit(7) {
            self.r11.next = bit_cast::<11, 8>(self.r.val()) + 768;
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

    /// Every x, r and a spread of theta: the offset forms order as the signed values do.
    #[test]
    fn lane_bounds_are_offset_binary() {
        let mut uut = LaneBounds::default();
        uut.connect_all();
        for x in -128i32..=127 {
            for theta in [0i32, 1, 7, 100, 255, 511] {
                let r = (x * 7 + theta).rem_euclid(256) - 128;
                uut.x.next = u64::from(x as u8).into();
                uut.theta.next = (theta as u64).into();
                uut.r.next = u64::from(r as u8).into();
                crate::harness::settle_block(&mut uut).unwrap();
                assert_eq!(uut.lo.val().to_u64() as i32, x - theta + 1024);
                assert_eq!(uut.hi.val().to_u64() as i32, x + theta + 1024);
                assert_eq!(uut.r11.val().to_u64() as i32, r + 1024);
            }
        }
    }
}
