//! One lane of the delta encoder (combinational): d = x - r, nonzero when the lane holds an
//! element and |d| > theta. Plain bit arithmetic (no `Signed`): 8-bit operands sign-extended to
//! 9 bits, so every d in -255..=255 is exact.
//!
//! The threshold test does not go through d: |x - r| > theta exactly when r < x - theta or
//! r > x + theta, and x and theta come from registers while r comes out of the reference BRAM,
//! so the bounds are formed in parallel with the BRAM read and r meets one compare. The
//! compares are on 11-bit offset-binary numbers (value + 1024), where unsigned order is signed
//! order: x ± theta lies in -639..=638.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct EncoderLane {
    pub x: Signal<In, Bits<8>>,
    pub r: Signal<In, Bits<8>>,
    pub theta: Signal<In, Bits<9>>,
    pub valid: Signal<In, bool>,
    pub d: Signal<Out, Bits<9>>,
    pub nz: Signal<Out, bool>,
    x9: Signal<Local, Bits<9>>,
    r9: Signal<Local, Bits<9>>,
    diff: Signal<Local, Bits<9>>,
    x11: Signal<Local, Bits<11>>,
    r11: Signal<Local, Bits<11>>,
    lo: Signal<Local, Bits<11>>,
    hi: Signal<Local, Bits<11>>,
}

impl Logic for EncoderLane {
    #[hdl_gen]
    fn update(&mut self) {
        self.x9.next = bit_cast::<9, 8>(self.x.val());
        if self.x.val().get_bit(7) {
            self.x9.next = bit_cast::<9, 8>(self.x.val()) | 0x100;
        }
        self.r9.next = bit_cast::<9, 8>(self.r.val());
        if self.r.val().get_bit(7) {
            self.r9.next = bit_cast::<9, 8>(self.r.val()) | 0x100;
        }
        self.diff.next = self.x9.val() - self.r9.val();
        self.d.next = self.diff.val();
        // Offset binary: value + 1024 (sign-extend to 11 bits, flip the top bit).
        self.x11.next = bit_cast::<11, 8>(self.x.val()) + 1024;
        if self.x.val().get_bit(7) {
            self.x11.next = bit_cast::<11, 8>(self.x.val()) + 768;
        }
        self.r11.next = bit_cast::<11, 8>(self.r.val()) + 1024;
        if self.r.val().get_bit(7) {
            self.r11.next = bit_cast::<11, 8>(self.r.val()) + 768;
        }
        self.lo.next = self.x11.val() - bit_cast::<11, 9>(self.theta.val());
        self.hi.next = self.x11.val() + bit_cast::<11, 9>(self.theta.val());
        self.nz.next = self.valid.val()
            & ((self.r11.val() < self.lo.val()) | (self.r11.val() > self.hi.val()));
    }
}
