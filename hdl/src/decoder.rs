//! RLE decoder and PE-array issue: turns words into MAC ops.
//!
//! A nonzero word (run, d) at column j = pos + run issues chunks_l ops, one per cycle: chunk c
//! reads weight address wbase + c*in + j in every bank (chunk-major layout, so the next chunk is
//! one add away) and accumulator ybase + c. A zero word (a split run or the terminator) costs one
//! cycle. The next word is fetched in the last cycle of the current one, so consecutive words
//! have no bubble. `done` pulses the cycle after the terminator.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Decoder {
    pub clock: Signal<In, Clock>,
    /// Layer start: load the layer's bases (held stable for the whole layer).
    pub start: Signal<In, bool>,
    pub in_dim: Signal<In, Bits<16>>,
    pub chunks: Signal<In, Bits<16>>,
    pub wbase: Signal<In, Bits<16>>,
    pub ybase: Signal<In, Bits<16>>,
    pub nonempty: Signal<In, bool>,
    pub pop: Signal<Out, bool>,
    pub word: Signal<In, Bits<18>>,
    pub op_valid: Signal<Out, bool>,
    pub op_waddr: Signal<Out, Bits<16>>,
    pub op_yaddr: Signal<Out, Bits<16>>,
    pub op_delta: Signal<Out, Bits<9>>,
    pub done: Signal<Out, bool>,
    cur_valid: DFF<bool>,
    finished: DFF<bool>,
    c: DFF<Bits<16>>,
    wpos: DFF<Bits<16>>,
    waddr: DFF<Bits<16>>,
    yaddr: DFF<Bits<16>>,
    q_valid: DFF<bool>,
    q_waddr: DFF<Bits<16>>,
    q_yaddr: DFF<Bits<16>>,
    q_delta: DFF<Bits<9>>,
    q_done: DFF<bool>,
    run: Signal<Local, Bits<16>>,
    value: Signal<Local, Bits<9>>,
    last: Signal<Local, bool>,
    nzw: Signal<Local, bool>,
    consume: Signal<Local, bool>,
    ta: Signal<Local, Bits<16>>,
    ty: Signal<Local, Bits<16>>,
}

impl Logic for Decoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, cur_valid, finished, c, wpos, waddr, yaddr, q_valid, q_waddr, q_yaddr,
            q_delta, q_done
        );
        self.run.next = bit_cast::<16, 8>(self.word.val().get_bits::<8>(0));
        self.value.next = self.word.val().get_bits::<9>(8);
        self.last.next = self.word.val().get_bit(17);
        self.nzw.next = self.value.val().any();
        self.consume.next = self.cur_valid.q.val()
            & (!self.nzw.val() | ((self.c.q.val() + 1) == self.chunks.val()));
        self.ta.next = self.waddr.q.val();
        self.ty.next = self.yaddr.q.val();
        if self.c.q.val() == 0 {
            self.ta.next = self.wpos.q.val() + self.run.val();
            self.ty.next = self.ybase.val();
        }
        self.q_valid.d.next = false;
        if self.cur_valid.q.val() & self.nzw.val() {
            self.q_valid.d.next = true;
            self.q_waddr.d.next = self.ta.val();
            self.q_yaddr.d.next = self.ty.val();
            self.q_delta.d.next = self.value.val();
            self.waddr.d.next = self.ta.val() + self.in_dim.val();
            self.yaddr.d.next = self.ty.val() + 1;
            self.c.d.next = self.c.q.val() + 1;
        }
        self.q_done.d.next = false;
        if self.consume.val() {
            self.c.d.next = 0.into();
            self.wpos.d.next = self.wpos.q.val() + self.run.val() + 1;
            if self.last.val() {
                self.finished.d.next = true;
                self.q_done.d.next = true;
            }
        }
        self.pop.next = (!self.cur_valid.q.val() | self.consume.val())
            & self.nonempty.val()
            & !self.finished.q.val()
            & !(self.consume.val() & self.last.val());
        self.cur_valid.d.next = self.pop.val() | (self.cur_valid.q.val() & !self.consume.val());
        if self.start.val() {
            self.wpos.d.next = self.wbase.val();
            self.finished.d.next = false;
            self.c.d.next = 0.into();
            self.cur_valid.d.next = false;
        }
        self.op_valid.next = self.q_valid.q.val();
        self.op_waddr.next = self.q_waddr.q.val();
        self.op_yaddr.next = self.q_yaddr.q.val();
        self.op_delta.next = self.q_delta.q.val();
        self.done.next = self.q_done.q.val();
    }
}
