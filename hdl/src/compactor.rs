//! Nonzero compactor and RLE word encoder.
//!
//! Holds one group of `nz_lanes` deltas and emits one RLE word per cycle: the lowest nonzero
//! lane as (run, value), where run counts the zeros since the previous word. A run longer than
//! R = 2^rle_run_bits - 1 is split: (R, 0) words come first, each covering R+1 positions. A group
//! costs max(1, words) cycles: `ready` is high in its last cycle so the next group loads without
//! a bubble. After the last group a terminator word (0, 0, last) is written, so an all-zero
//! vector is that single word. Groups pass a two-entry queue with a registered `ready` (one
//! cycle of latency) so the stall that reaches the whole front end comes from a flip-flop.

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
    /// Registered: the group at the input is taken at the end of this cycle (if valid).
    pub ready: Signal<Out, bool>,
    pub wr_valid: Signal<Out, bool>,
    /// {last[17], value[16:8], run[7:0]}
    pub wr_word: Signal<Out, Bits<18>>,
    /// Two-entry input queue: `ready` is a register (the upstream stall is not a combinational
    /// function of this block's word logic), and the queue absorbs the group in flight.
    q_d0: Vec<DFF<Bits<9>>>,
    q_d1: Vec<DFF<Bits<9>>>,
    q_nz0: DFF<Bits<8>>,
    q_nz1: DFF<Bits<8>>,
    q_base0: DFF<Bits<16>>,
    q_base1: DFF<Bits<16>>,
    q_last0: DFF<bool>,
    q_last1: DFF<bool>,
    q_count: DFF<Bits<2>>,
    ready_q: DFF<bool>,
    push: Signal<Local, bool>,
    pop: Signal<Local, bool>,
    take: Signal<Local, bool>,
    count_next: Signal<Local, Bits<2>>,
    h_valid: DFF<bool>,
    h_d: Vec<DFF<Bits<9>>>,
    h_mask: DFF<Bits<8>>,
    h_base: DFF<Bits<16>>,
    h_last: DFF<bool>,
    next_pos: DFF<Bits<16>>,
    /// next_pos + R: a run exceeds R exactly when the element index exceeds `lim`.
    lim: DFF<Bits<16>>,
    /// Element index of every lane of the held group (base + lane), loaded with the group so
    /// no adder sits between the lane choice and the split test.
    h_idx: Vec<DFF<Bits<16>>>,
    flush: DFF<bool>,
    max_run: Constant<Bits<16>>,
    lane_bit: Vec<Constant<Bits<8>>>,
    lane_num: Vec<Constant<Bits<16>>>,
    /// Bits of the lanes below lane i.
    below: Vec<Constant<Bits<8>>>,
    sel: Vec<Signal<Local, bool>>,
    /// lowacc[i]: one-hot lowest lane among lanes below i (ascending chain of ORs).
    lowacc: Vec<Signal<Local, Bits<8>>>,
    max_run1: Constant<Bits<16>>,
    low: Signal<Local, Bits<8>>,
    dsel: Signal<Local, Bits<9>>,
    idx: Signal<Local, Bits<16>>,
    run: Signal<Local, Bits<8>>,
    split: Signal<Local, bool>,
    has: Signal<Local, bool>,
    finishing: Signal<Local, bool>,
    run_out: Signal<Local, Bits<8>>,
    val_out: Signal<Local, Bits<9>>,
    w_valid: Signal<Local, bool>,
    w_word: Signal<Local, Bits<18>>,
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
            q_d0: (0..lanes).map(|_| Default::default()).collect(),
            q_d1: (0..lanes).map(|_| Default::default()).collect(),
            q_nz0: Default::default(),
            q_nz1: Default::default(),
            q_base0: Default::default(),
            q_base1: Default::default(),
            q_last0: Default::default(),
            q_last1: Default::default(),
            q_count: Default::default(),
            ready_q: Default::default(),
            push: Default::default(),
            pop: Default::default(),
            take: Default::default(),
            count_next: Default::default(),
            h_valid: Default::default(),
            h_d: (0..lanes).map(|_| Default::default()).collect(),
            h_mask: Default::default(),
            h_base: Default::default(),
            h_last: Default::default(),
            next_pos: Default::default(),
            lim: Default::default(),
            h_idx: (0..lanes).map(|_| Default::default()).collect(),
            flush: Default::default(),
            max_run: Constant::new(((1u64 << run_bits) - 1).into()),
            lane_bit: (0..lanes)
                .map(|i| Constant::new((1u64 << i).into()))
                .collect(),
            lane_num: (0..lanes)
                .map(|i| Constant::new((i as u64).into()))
                .collect(),
            below: (0..lanes)
                .map(|i| Constant::new(((1u64 << i) - 1).into()))
                .collect(),
            sel: (0..lanes).map(|_| Default::default()).collect(),
            lowacc: (0..=lanes).map(|_| Default::default()).collect(),
            max_run1: Constant::new((1u64 << run_bits).into()),
            low: Default::default(),
            dsel: Default::default(),
            idx: Default::default(),
            run: Default::default(),
            split: Default::default(),
            has: Default::default(),
            finishing: Default::default(),
            run_out: Default::default(),
            val_out: Default::default(),
            w_valid: Default::default(),
            w_word: Default::default(),
        }
    }
}

impl Logic for Compactor {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, q_nz0, q_nz1, q_base0, q_base1, q_last0, q_last1, q_count, ready_q,
            h_valid, h_mask, h_base, h_last, next_pos, lim, flush
        );
        // Lowest set lane: each lane checks the lanes below it (no carry chain), then its
        // index and delta are selected one-hot.
        self.lowacc[0].next = 0.into();
        self.idx.next = 0.into();
        self.dsel.next = 0.into();
        for i in 0..self.h_d.len() {
            self.h_d[i].clock.next = self.clock.val();
            self.h_d[i].d.next = self.h_d[i].q.val();
            self.h_idx[i].clock.next = self.clock.val();
            self.h_idx[i].d.next = self.h_idx[i].q.val();
            self.sel[i].next =
                self.h_mask.q.val().get_bit(i) & !(self.h_mask.q.val() & self.below[i].val()).any();
            self.lowacc[i + 1].next = self.lowacc[i].val();
            if self.sel[i].val() {
                self.lowacc[i + 1].next = self.lowacc[i].val() | self.lane_bit[i].val();
                self.idx.next = self.h_idx[i].q.val();
                self.dsel.next = self.h_d[i].q.val();
            }
        }
        for i in self.h_d.len()..(self.h_d.len() + 1) {
            self.low.next = self.lowacc[i].val();
        }
        // Only the run field's 8 bits are needed (the split test uses `lim`): the low bits of a
        // difference are the difference of the low bits.
        self.run.next = self.idx.val().get_bits::<8>(0) - self.next_pos.q.val().get_bits::<8>(0);
        // The split test per lane in parallel with the lane choice (no compare after the mux).
        self.split.next = false;
        for i in 0..self.h_d.len() {
            if self.sel[i].val() & (self.h_idx[i].q.val() > self.lim.q.val()) {
                self.split.next = true;
            }
        }
        self.has.next = self.h_valid.q.val() & self.h_mask.q.val().any();
        self.finishing.next = self.h_valid.q.val()
            & (!self.h_mask.q.val().any()
                | ((self.h_mask.q.val() == self.low.val()) & !self.split.val()));
        // H takes the queue head when it is empty or finishing this cycle.
        self.take.next = !self.h_valid.q.val() | self.finishing.val();
        self.pop.next = self.take.val() & self.q_count.q.val().any();
        self.push.next = self.in_valid.val() & self.ready_q.q.val();
        self.ready.next = self.ready_q.q.val();
        // Word out.
        self.run_out.next = self.run.val();
        self.val_out.next = self.dsel.val();
        if self.split.val() {
            self.run_out.next = self.max_run.val().get_bits::<8>(0);
            self.val_out.next = 0.into();
        }
        self.w_valid.next = self.has.val();
        self.w_word.next =
            bit_cast::<18, 8>(self.run_out.val()) | (bit_cast::<18, 9>(self.val_out.val()) << 8);
        if self.flush.q.val() {
            self.w_valid.next = true;
            self.w_word.next = bits::<18>(1 << 17);
        }
        // Outputs assigned once per evaluation (glitch-free for the parent's block).
        self.wr_valid.next = self.w_valid.val();
        self.wr_word.next = self.w_word.val();
        self.flush.d.next = self.finishing.val() & self.h_last.q.val();
        if self.has.val() {
            if self.split.val() {
                self.next_pos.d.next = self.next_pos.q.val() + self.max_run1.val();
                self.lim.d.next = self.lim.q.val() + self.max_run1.val();
            } else {
                self.next_pos.d.next = self.idx.val() + 1;
                self.lim.d.next = self.idx.val() + self.max_run1.val();
                self.h_mask.d.next = self.h_mask.q.val() & !self.low.val();
            }
        }
        if self.start.val() {
            self.next_pos.d.next = 0.into();
            self.lim.d.next = self.max_run.val();
        }
        if self.take.val() {
            self.h_valid.d.next = self.pop.val();
            self.h_mask.d.next = self.q_nz0.q.val();
            self.h_base.d.next = self.q_base0.q.val();
            self.h_last.d.next = self.q_last0.q.val();
            for i in 0..self.h_d.len() {
                self.h_d[i].d.next = self.q_d0[i].q.val();
                self.h_idx[i].d.next = self.q_base0.q.val() + self.lane_num[i].val();
            }
        }
        // Queue: entry 0 is the head.
        self.count_next.next = self.q_count.q.val();
        if self.push.val() & !self.pop.val() {
            self.count_next.next = self.q_count.q.val() + 1;
        }
        if self.pop.val() & !self.push.val() {
            self.count_next.next = self.q_count.q.val() - 1;
        }
        self.q_count.d.next = self.count_next.val();
        self.ready_q.d.next = !self.count_next.val().get_bit(1);
        for i in 0..self.h_d.len() {
            self.q_d0[i].clock.next = self.clock.val();
            self.q_d1[i].clock.next = self.clock.val();
            self.q_d0[i].d.next = self.q_d0[i].q.val();
            self.q_d1[i].d.next = self.q_d1[i].q.val();
            if self.pop.val() {
                self.q_d0[i].d.next = self.q_d1[i].q.val();
            }
            if self.push.val() {
                if self.count_next.val() == 1 {
                    self.q_d0[i].d.next = self.in_d[i].val();
                }
                if self.count_next.val() == 2 {
                    self.q_d1[i].d.next = self.in_d[i].val();
                }
            }
        }
        if self.pop.val() {
            self.q_nz0.d.next = self.q_nz1.q.val();
            self.q_base0.d.next = self.q_base1.q.val();
            self.q_last0.d.next = self.q_last1.q.val();
        }
        if self.push.val() {
            if self.count_next.val() == 1 {
                self.q_nz0.d.next = self.in_nz.val();
                self.q_base0.d.next = self.in_base.val();
                self.q_last0.d.next = self.in_last.val();
            }
            if self.count_next.val() == 2 {
                self.q_nz1.d.next = self.in_nz.val();
                self.q_base1.d.next = self.in_base.val();
                self.q_last1.d.next = self.in_last.val();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;
    use deltagen::cycles::group_words;
    use rand::{Rng, SeedableRng};

    #[test]
    fn compactor_yosys_validate() {
        let mut uut = Compactor::new(4, 3);
        uut.connect_all();
        yosys_validate("deltagen_hdl_compactor", &generate_verilog(&uut)).unwrap();
    }

    /// Random sparse vectors: the words rebuild the vector exactly (splits, terminator), and
    /// every group occupies max(1, words) cycles of the word stream (the count
    /// `cycles::group_words` gives), starting two cycles after the first group is taken.
    #[test]
    fn compactor_words_rebuild_vectors() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for (lanes, run_bits) in [(1usize, 1u32), (3, 2), (4, 8), (8, 3)] {
            let max_run = (1u64 << run_bits) - 1;
            let mut sim = ClockedSim::new(Compactor::new(lanes, run_bits), |u, c| {
                u.clock.next = Clock::from(c)
            })
            .unwrap();
            for _ in 0..20 {
                let len = rng.gen_range(1..60usize);
                let density = rng.gen_range(0.0..0.6);
                let vec: Vec<i32> = (0..len)
                    .map(|_| {
                        if rng.gen_bool(density) {
                            let v = rng.gen_range(1..=255);
                            if rng.gen_bool(0.5) {
                                v
                            } else {
                                -v
                            }
                        } else {
                            0
                        }
                    })
                    .collect();
                let groups = len.div_ceil(lanes);
                let mask: Vec<bool> = vec.iter().map(|v| *v != 0).collect();
                let expect_words = group_words(&mask, lanes, groups, max_run);
                sim.uut.start.next = true;
                sim.cycle().unwrap();
                sim.uut.start.next = false;
                let mut words: Vec<(u64, i32, bool)> = Vec::new();
                let mut word_cycles: Vec<u64> = Vec::new();
                let mut g = 0usize;
                let mut first_take = None;
                let mut cycles = 0u64;
                while words.last().map(|w| w.2) != Some(true) {
                    cycles += 1;
                    assert!(cycles < 10_000);
                    let valid = g < groups;
                    sim.uut.in_valid.next = valid;
                    if valid {
                        let mut nz = 0u64;
                        for l in 0..lanes {
                            let i = g * lanes + l;
                            let d = if i < len { vec[i] } else { 0 };
                            if d != 0 {
                                nz |= 1 << l;
                            }
                            sim.uut.in_d[l].next = u64::from((d as u32) & 0x1ff).into();
                        }
                        sim.uut.in_nz.next = nz.into();
                        sim.uut.in_base.next = ((g * lanes) as u64).into();
                        sim.uut.in_last.next = g + 1 == groups;
                    }
                    sim.settle().unwrap();
                    let ready = sim.uut.ready.val();
                    if sim.uut.wr_valid.val() {
                        word_cycles.push(cycles);
                        let w = sim.uut.wr_word.val().to_u64();
                        let v9 = ((w >> 8) & 0x1ff) as i32;
                        words.push((
                            w & 0xff,
                            if v9 >= 256 { v9 - 512 } else { v9 },
                            w >> 17 == 1,
                        ));
                    }
                    sim.cycle().unwrap();
                    if valid && ready {
                        if g == 0 {
                            first_take = Some(cycles);
                        }
                        g += 1;
                    }
                }
                // Rebuild: skip `run` zeros, place `value`; the terminator ends the vector.
                let mut rebuilt = Vec::new();
                for &(run, value, last) in &words {
                    if last {
                        assert_eq!((run, value), (0, 0));
                        break;
                    }
                    assert!(run <= max_run);
                    rebuilt.extend(std::iter::repeat_n(0, run as usize));
                    rebuilt.push(value);
                }
                rebuilt.resize(len, 0);
                assert_eq!(rebuilt, vec, "lanes {lanes} run_bits {run_bits}");
                // Word i of group k at h_0 + sum of earlier costs + i; terminator after the last.
                let mut t = first_take.unwrap() + 2;
                let mut expect_cycles = Vec::new();
                for w in &expect_words {
                    for i in 0..w.len() as u64 {
                        expect_cycles.push(t + i);
                    }
                    t += (w.len() as u64).max(1);
                }
                expect_cycles.push(t);
                assert_eq!(
                    word_cycles, expect_cycles,
                    "lanes {lanes} run_bits {run_bits}"
                );
                let n: usize = expect_words.iter().map(|w| w.len()).sum();
                assert_eq!(words.len(), n + 1);
            }
        }
    }
}
