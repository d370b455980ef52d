//! RLE word buffer between the compactor and the decoder.
//!
//! A circular buffer in one BRAM: the compactor writes the current vector's words while the
//! decoder already reads them, so encoding overlaps the PE array's work. Its depth holds a whole
//! vector (at most max_in words plus the terminator), so the writer never waits; words of the
//! next vector only start after the decoder has taken the terminator of this one.

use crate::mem::SyncRam;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct RleBuffer {
    pub clock: Signal<In, Clock>,
    pub wr_valid: Signal<In, bool>,
    pub wr_word: Signal<In, Bits<18>>,
    /// Words are waiting.
    pub nonempty: Signal<Out, bool>,
    /// Take the next word; it appears on `rd_word` in the next cycle (and stays until the next pop).
    pub pop: Signal<In, bool>,
    pub rd_word: Signal<Out, Bits<18>>,
    words: SyncRam<18>,
    wr_ptr: DFF<Bits<16>>,
    rd_ptr: DFF<Bits<16>>,
    mask: Constant<Bits<16>>,
}

impl RleBuffer {
    /// `depth` must be a power of two.
    pub fn new(depth: usize) -> Self {
        assert!(depth.is_power_of_two());
        Self {
            clock: Default::default(),
            wr_valid: Default::default(),
            wr_word: Default::default(),
            nonempty: Default::default(),
            pop: Default::default(),
            rd_word: Default::default(),
            words: SyncRam::new(depth, &[], None),
            wr_ptr: Default::default(),
            rd_ptr: Default::default(),
            mask: Constant::new(((depth - 1) as u64).into()),
        }
    }
}

impl Logic for RleBuffer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wr_ptr, rd_ptr);
        self.words.clock.next = self.clock.val();
        self.words.write_address.next = self.wr_ptr.q.val();
        self.words.write_data.next = self.wr_word.val();
        self.words.write_enable.next = self.wr_valid.val();
        if self.wr_valid.val() {
            self.wr_ptr.d.next = (self.wr_ptr.q.val() + 1) & self.mask.val();
        }
        self.words.read_address.next = self.rd_ptr.q.val();
        self.words.read_enable.next = self.pop.val();
        if self.pop.val() {
            self.rd_ptr.d.next = (self.rd_ptr.q.val() + 1) & self.mask.val();
        }
        self.nonempty.next = self.wr_ptr.q.val() != self.rd_ptr.q.val();
        self.rd_word.next = self.words.read_data.val();
    }
}
