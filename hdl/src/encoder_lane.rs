//! One lane of the delta encoder (combinational): d = x - r, nonzero when the lane holds an
//! element and |d| > theta. Plain bit arithmetic (no `Signed`): 8-bit operands sign-extended to
//! 9 bits, so every d in -255..=255 is exact.

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
    mag: Signal<Local, Bits<9>>,
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
        self.mag.next = self.diff.val();
        if self.diff.val().get_bit(8) {
            self.mag.next = !self.diff.val() + 1;
        }
        self.d.next = self.diff.val();
        self.nz.next = self.valid.val() & (self.mag.val() > self.theta.val());
    }
}
