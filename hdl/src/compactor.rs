//! Nonzero compactor and RLE word encoder.
//!
//! Holds one group of `nz_lanes` deltas and emits one RLE word per cycle: the lowest nonzero
//! lane as (run, value), where run counts the zeros since the previous word. A run longer than
//! R = 2^rle_run_bits - 1 is split: (R, 0) words come first, each covering R+1 positions. A group
//! costs max(1, words) cycles: `ready` is high in its last cycle so the next group loads without
//! a bubble. After the last group a terminator word (0, 0, last) is written, so an all-zero
//! vector is that single word.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Compactor {
    pub clock: Signal<In, Clock>,
    /// Vector start: positions restart at 0.
    pub start: Signal<In, bool>,
    pub in_valid: Signal<In, bool>,
    pub in_d: Vec<Signal<In, Bits<9>>>,
    pub in_nz: Signal<In, Bits<8>>,
    pub in_base: Signal<In, Bits<16>>,
    pub in_last: Signal<In, bool>,
    /// The group at the input is taken at the end of this cycle (if valid).
    pub ready: Signal<Out, bool>,
    pub wr_valid: Signal<Out, bool>,
    /// {last[17], value[16:8], run[7:0]}
    pub wr_word: Signal<Out, Bits<18>>,
    h_valid: DFF<bool>,
    h_d: Vec<DFF<Bits<9>>>,
    h_mask: DFF<Bits<8>>,
    h_base: DFF<Bits<16>>,
    h_last: DFF<bool>,
    next_pos: DFF<Bits<16>>,
    flush: DFF<bool>,
    max_run: Constant<Bits<16>>,
    lane_bit: Vec<Constant<Bits<8>>>,
    lane_num: Vec<Constant<Bits<16>>>,
    low: Signal<Local, Bits<8>>,
    lane: Signal<Local, Bits<16>>,
    dsel: Signal<Local, Bits<9>>,
    idx: Signal<Local, Bits<16>>,
    run: Signal<Local, Bits<16>>,
    split: Signal<Local, bool>,
    has: Signal<Local, bool>,
    finishing: Signal<Local, bool>,
    run_out: Signal<Local, Bits<8>>,
    val_out: Signal<Local, Bits<9>>,
}

impl Compactor {
    pub fn new(lanes: usize, run_bits: u32) -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            in_valid: Default::default(),
            in_d: (0..lanes).map(|_| Default::default()).collect(),
            in_nz: Default::default(),
            in_base: Default::default(),
            in_last: Default::default(),
            ready: Default::default(),
            wr_valid: Default::default(),
            wr_word: Default::default(),
            h_valid: Default::default(),
            h_d: (0..lanes).map(|_| Default::default()).collect(),
            h_mask: Default::default(),
            h_base: Default::default(),
            h_last: Default::default(),
            next_pos: Default::default(),
            flush: Default::default(),
            max_run: Constant::new(((1u64 << run_bits) - 1).into()),
            lane_bit: (0..lanes)
                .map(|i| Constant::new((1u64 << i).into()))
                .collect(),
            lane_num: (0..lanes)
                .map(|i| Constant::new((i as u64).into()))
                .collect(),
            low: Default::default(),
            lane: Default::default(),
            dsel: Default::default(),
            idx: Default::default(),
            run: Default::default(),
            split: Default::default(),
            has: Default::default(),
            finishing: Default::default(),
            run_out: Default::default(),
            val_out: Default::default(),
        }
    }
}

impl Logic for Compactor {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, h_valid, h_mask, h_base, h_last, next_pos, flush);
        // Lowest set lane (one-hot), its index and delta.
        self.low.next = self.h_mask.q.val() & (!self.h_mask.q.val() + 1);
        self.lane.next = 0.into();
        self.dsel.next = 0.into();
        for i in 0..self.h_d.len() {
            self.h_d[i].clock.next = self.clock.val();
            self.h_d[i].d.next = self.h_d[i].q.val();
            if self.low.val() == self.lane_bit[i].val() {
                self.lane.next = self.lane_num[i].val();
                self.dsel.next = self.h_d[i].q.val();
            }
        }
        self.idx.next = self.h_base.q.val() + self.lane.val();
        self.run.next = self.idx.val() - self.next_pos.q.val();
        self.split.next = self.run.val() > self.max_run.val();
        self.has.next = self.h_valid.q.val() & self.h_mask.q.val().any();
        self.finishing.next = self.h_valid.q.val()
            & (!self.h_mask.q.val().any()
                | ((self.h_mask.q.val() == self.low.val()) & !self.split.val()));
        self.ready.next = !self.h_valid.q.val() | self.finishing.val();
        // Word out.
        self.run_out.next = self.run.val().get_bits::<8>(0);
        self.val_out.next = self.dsel.val();
        if self.split.val() {
            self.run_out.next = self.max_run.val().get_bits::<8>(0);
            self.val_out.next = 0.into();
        }
        self.wr_valid.next = self.has.val();
        self.wr_word.next =
            bit_cast::<18, 8>(self.run_out.val()) | (bit_cast::<18, 9>(self.val_out.val()) << 8);
        if self.flush.q.val() {
            self.wr_valid.next = true;
            self.wr_word.next = bits::<18>(1 << 17);
        }
        self.flush.d.next = self.finishing.val() & self.h_last.q.val();
        if self.has.val() {
            if self.split.val() {
                self.next_pos.d.next = self.next_pos.q.val() + self.max_run.val() + 1;
            } else {
                self.next_pos.d.next = self.idx.val() + 1;
                self.h_mask.d.next = self.h_mask.q.val() & !self.low.val();
            }
        }
        if self.start.val() {
            self.next_pos.d.next = 0.into();
        }
        if self.ready.val() {
            self.h_valid.d.next = self.in_valid.val();
            self.h_mask.d.next = self.in_nz.val();
            self.h_base.d.next = self.in_base.val();
            self.h_last.d.next = self.in_last.val();
            for i in 0..self.h_d.len() {
                self.h_d[i].d.next = self.in_d[i].val();
            }
        }
    }
}
