//! RLE word buffer between the compactor and the decoder.
//!
//! A circular buffer in one BRAM: the compactor writes the current vector's words (through a
//! register, so its word logic does not run into the BRAM's data pins) while the decoder
//! already reads them, so encoding overlaps the PE array's work. Its depth holds a whole
//! vector (at most max_in words plus the terminator), so the writer never waits; words of the
//! next vector only start after the decoder has taken the terminator of this one.
//!
//! The decoder sees the words through a four-entry queue of registers (first-word
//! fall-through, head always in `e0`), so its decisions start from flip-flops rather than from
//! the BRAM's clock-to-out. A read word is registered once (`a_word`, which `deltagen synth`
//! moves into the ECP5 block RAM's output register) before the queue insert, so no logic
//! follows the BRAM's clock-to-out either; its nonzero flag is a stored bit (`rle_word`). The BRAM is read ahead whenever
//! the queue plus the two reads in flight hold fewer than four words; that keeps one word per
//! cycle flowing without looking at this cycle's `pop`. A word presented in cycle t is at the
//! head in t + 5 at the earliest (`cycles::WORD_TO_DECODER`).

use crate::mem::SyncRam;
use rust_hdl::prelude::*;

/// Word layout: {nz[17], value[16:8], run[7:0]}. A nonzero word has nz set (so its flag is a
/// stored bit, not a 9-input OR after the BRAM); the zero words are a split (R, 0) and the
/// terminator, (0, 1) with nz clear.
pub fn rle_word(run: u64, value: i32, last: bool) -> u64 {
    if last {
        1 << 8
    } else {
        run | (u64::from((value as u32) & 0x1ff) << 8) | (u64::from(value != 0) << 17)
    }
}

/// Decodes `rle_word`: (run, value, last).
pub fn rle_unword(w: u64) -> (u64, i32, bool) {
    let v9 = ((w >> 8) & 0x1ff) as i32;
    let nz = w >> 17 & 1 == 1;
    if !nz && v9 != 0 {
        (w & 0xff, 0, true)
    } else {
        (w & 0xff, if v9 >= 256 { v9 - 512 } else { v9 }, false)
    }
}

#[derive(LogicBlock)]
pub struct RleBuffer {
    pub clock: Signal<In, Clock>,
    pub wr_valid: Signal<In, bool>,
    pub wr_word: Signal<In, Bits<18>>,
    /// A word is at the head (`rd_word`).
    pub nonempty: Signal<Out, bool>,
    /// Take the head word; the next one (if any) is at the head in the next cycle.
    pub pop: Signal<In, bool>,
    pub rd_word: Signal<Out, Bits<18>>,
    words: SyncRam<18>,
    /// The compactor's word, registered before the BRAM write.
    w_valid: DFF<bool>,
    w_word: DFF<Bits<18>>,
    wr_ptr: DFF<Bits<16>>,
    rd_ptr: DFF<Bits<16>>,
    mask: Constant<Bits<16>>,
    e0: DFF<Bits<18>>,
    e1: DFF<Bits<18>>,
    e2: DFF<Bits<18>>,
    e3: DFF<Bits<18>>,
    /// The word read two cycles ago (the BRAM word, registered).
    a_word: DFF<Bits<18>>,
    /// Words in the queue (0..=4); a read issued one (f1) and two (f2) cycles ago, i.e. its
    /// word in the BRAM output (in `a_word`); the head valid (cnt != 0).
    cnt: DFF<Bits<3>>,
    f1: DFF<bool>,
    f2: DFF<bool>,
    head: DFF<bool>,
    /// iCE40 (see `avail_flag`): "the BRAM holds an unread word" (u >= 1, u the unread words)
    /// as a flip-flop, so `fetch` does not wait on a pointer compare and its fan-out (the read
    /// pointer's enable, the BRAM read enable) starts from a flip-flop. None on ECP5, where
    /// the loops over it write no Verilog.
    avail: Vec<DFF<bool>>,
    /// With `avail`: u >= 2 and u >= 3 as flip-flops and u itself, so each flag's next value
    /// is a select by the write and `fetch` between its neighbours: a write alone sets u >= 1
    /// and moves each flag up from the one below, a fetch alone down from the one above, and
    /// only the last (u >= 3 after a fetch: u >= 4, a test of u's upper bits) reads u. The
    /// earlier form compared the pointers (wr_ptr != rd_ptr + 1) behind the select: five LUT
    /// levels that capped the UP5K at 64.2 MHz on most seeds (session 22).
    avail2: Vec<DFF<bool>>,
    avail3: Vec<DFF<bool>>,
    unread: Vec<DFF<Bits<16>>>,
    /// The bits of `unread` from 4 up (within the depth mask).
    from4: Vec<Constant<Bits<16>>>,
    /// With `avail`: `ins_k` = f2 & (cnt == k), the word in `a_word` arriving behind k queued
    /// words, kept as flip-flops (loaded a cycle ahead for both outcomes of `pop`), so the 72
    /// queue-entry multiplexers select on registers, not on a decode of `cnt` fanned out to
    /// all of them.
    ins0: Vec<DFF<bool>>,
    ins1: Vec<DFF<bool>>,
    ins2: Vec<DFF<bool>>,
    ins3: Vec<DFF<bool>>,
    /// With `avail`: the occupancy (queue + reads in flight, cnt + f1 + f2, 0..=4) as a
    /// thermometer, `le_k` = occupancy <= k, updated by `fetch` and `pop` alone, so `fetch` is
    /// `avail & le3`: one LUT from two flip-flops in front of its fan-out (the read pointer,
    /// the BRAM read enable), where the decode of `cnt`, `f1` and `f2` took three levels.
    le0: Vec<DFFWithInit<bool>>,
    le1: Vec<DFFWithInit<bool>>,
    le2: Vec<DFFWithInit<bool>>,
    le3: Vec<DFFWithInit<bool>>,
    fetch: Signal<Local, bool>,
    pos: Signal<Local, Bits<3>>,
    cnt_next: Signal<Local, Bits<3>>,
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
            // Reads only where wr_ptr != rd_ptr, and writes go to wr_ptr: never the same word.
            words: SyncRam::new(depth, &[], None).no_rw_check(),
            w_valid: Default::default(),
            w_word: Default::default(),
            wr_ptr: Default::default(),
            rd_ptr: Default::default(),
            mask: Constant::new(((depth - 1) as u64).into()),
            e0: Default::default(),
            e1: Default::default(),
            e2: Default::default(),
            e3: Default::default(),
            a_word: Default::default(),
            cnt: Default::default(),
            f1: Default::default(),
            f2: Default::default(),
            head: Default::default(),
            avail: Vec::new(),
            avail2: Vec::new(),
            avail3: Vec::new(),
            unread: Vec::new(),
            from4: Vec::new(),
            ins0: Vec::new(),
            ins1: Vec::new(),
            ins2: Vec::new(),
            ins3: Vec::new(),
            le0: Vec::new(),
            le1: Vec::new(),
            le2: Vec::new(),
            le3: Vec::new(),
            fetch: Default::default(),
            pos: Default::default(),
            cnt_next: Default::default(),
        }
    }
}

impl RleBuffer {
    /// With `on`, the registered "unread word" flag (`avail`) replaces the pointer compare in
    /// `fetch`; same behaviour cycle for cycle.
    pub fn avail_flag(mut self, on: bool) -> Self {
        let n = usize::from(on);
        self.avail = (0..n).map(|_| Default::default()).collect();
        self.avail2 = (0..n).map(|_| Default::default()).collect();
        self.avail3 = (0..n).map(|_| Default::default()).collect();
        self.unread = (0..n).map(|_| Default::default()).collect();
        let mask = self.mask.val().to_u64();
        self.from4 = (0..n).map(|_| Constant::new((mask & !3).into())).collect();
        self.ins0 = (0..n).map(|_| Default::default()).collect();
        self.ins1 = (0..n).map(|_| Default::default()).collect();
        self.ins2 = (0..n).map(|_| Default::default()).collect();
        self.ins3 = (0..n).map(|_| Default::default()).collect();
        self.le0 = (0..n).map(|_| DFFWithInit::new(true)).collect();
        self.le1 = (0..n).map(|_| DFFWithInit::new(true)).collect();
        self.le2 = (0..n).map(|_| DFFWithInit::new(true)).collect();
        self.le3 = (0..n).map(|_| DFFWithInit::new(true)).collect();
        self
    }
}

impl Logic for RleBuffer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, w_valid, w_word, wr_ptr, rd_ptr, e0, e1, e2, e3, a_word, cnt, f1, f2, head
        );
        self.words.clock.next = self.clock.val();
        self.words.write_address.next = self.wr_ptr.q.val();
        self.w_valid.d.next = self.wr_valid.val();
        self.w_word.d.next = self.wr_word.val();
        self.words.write_data.next = self.w_word.q.val();
        self.words.write_enable.next = self.w_valid.q.val();
        if self.w_valid.q.val() {
            self.wr_ptr.d.next = (self.wr_ptr.q.val() + 1) & self.mask.val();
        }
        // Read ahead while queue + in flight < 4 (registers only: no path from `pop`).
        self.fetch.next = (self.wr_ptr.q.val() != self.rd_ptr.q.val())
            & (self.cnt.q.val() != 4)
            & !((self.cnt.q.val() == 3) & (self.f1.q.val() | self.f2.q.val()))
            & !((self.cnt.q.val() == 2) & self.f1.q.val() & self.f2.q.val());
        for i in 0..self.avail.len() {
            self.avail[i].clock.next = self.clock.val();
            self.fetch.next = self.avail[i].q.val() & self.le3[i].q.val();
            // Occupancy + fetch - pop (a pop takes a queued word, so it never meets zero).
            self.le0[i].clock.next = self.clock.val();
            self.le1[i].clock.next = self.clock.val();
            self.le2[i].clock.next = self.clock.val();
            self.le3[i].clock.next = self.clock.val();
            self.le0[i].d.next = self.le0[i].q.val();
            self.le1[i].d.next = self.le1[i].q.val();
            self.le2[i].d.next = self.le2[i].q.val();
            self.le3[i].d.next = self.le3[i].q.val();
            if self.fetch.val() & !self.pop.val() {
                self.le0[i].d.next = false;
                self.le1[i].d.next = self.le0[i].q.val();
                self.le2[i].d.next = self.le1[i].q.val();
                self.le3[i].d.next = self.le2[i].q.val();
            }
            if !self.fetch.val() & self.pop.val() {
                self.le0[i].d.next = self.le1[i].q.val();
                self.le1[i].d.next = self.le2[i].q.val();
                self.le2[i].d.next = self.le3[i].q.val();
                self.le3[i].d.next = true;
            }
            self.avail2[i].clock.next = self.clock.val();
            self.avail3[i].clock.next = self.clock.val();
            self.unread[i].clock.next = self.clock.val();
            self.avail[i].d.next = self.avail[i].q.val();
            self.avail2[i].d.next = self.avail2[i].q.val();
            self.avail3[i].d.next = self.avail3[i].q.val();
            self.unread[i].d.next = self.unread[i].q.val();
            if self.w_valid.q.val() & !self.fetch.val() {
                self.avail[i].d.next = true;
                self.avail2[i].d.next = self.avail[i].q.val();
                self.avail3[i].d.next = self.avail2[i].q.val();
                self.unread[i].d.next = (self.unread[i].q.val() + 1) & self.mask.val();
            }
            if !self.w_valid.q.val() & self.fetch.val() {
                self.avail[i].d.next = self.avail2[i].q.val();
                self.avail2[i].d.next = self.avail3[i].q.val();
                self.avail3[i].d.next = (self.unread[i].q.val() & self.from4[i].val()).any();
                self.unread[i].d.next = (self.unread[i].q.val() - 1) & self.mask.val();
            }
        }
        self.words.read_address.next = self.rd_ptr.q.val();
        self.words.read_enable.next = self.fetch.val();
        if self.fetch.val() {
            self.rd_ptr.d.next = (self.rd_ptr.q.val() + 1) & self.mask.val();
        }
        self.f1.d.next = self.fetch.val();
        self.f2.d.next = self.f1.q.val();
        self.a_word.d.next = self.words.read_data.val();
        // Shift queue: a pop moves e1..e3 forward; the word arriving from `a_word` lands
        // behind the words that stay: at cnt without a pop, at cnt - 1 with one. Both cases
        // are decoded from registers, so the late `pop` only picks between them.
        self.pos.next = self.cnt.q.val();
        self.e0.d.next = self.e0.q.val();
        if self.f2.q.val() & (self.cnt.q.val() == 0) {
            self.e0.d.next = self.a_word.q.val();
        }
        self.e1.d.next = self.e1.q.val();
        if self.f2.q.val() & (self.cnt.q.val() == 1) {
            self.e1.d.next = self.a_word.q.val();
        }
        self.e2.d.next = self.e2.q.val();
        if self.f2.q.val() & (self.cnt.q.val() == 2) {
            self.e2.d.next = self.a_word.q.val();
        }
        self.e3.d.next = self.e3.q.val();
        if self.f2.q.val() & (self.cnt.q.val() == 3) {
            self.e3.d.next = self.a_word.q.val();
        }
        if self.pop.val() {
            self.pos.next = self.cnt.q.val() - 1;
            self.e0.d.next = self.e1.q.val();
            if self.f2.q.val() & (self.cnt.q.val() == 1) {
                self.e0.d.next = self.a_word.q.val();
            }
            self.e1.d.next = self.e2.q.val();
            if self.f2.q.val() & (self.cnt.q.val() == 2) {
                self.e1.d.next = self.a_word.q.val();
            }
            self.e2.d.next = self.e3.q.val();
            if self.f2.q.val() & (self.cnt.q.val() == 3) {
                self.e2.d.next = self.a_word.q.val();
            }
        }
        // With `avail` (iCE40) the same queue update on the `ins_k` flags; their next values
        // are f1 & (cnt + f2 - pop == k), spelled out as decodes of registers for both
        // outcomes of `pop`, so the late `pop` only selects. (Loaded from `cnt_next`, they put
        // pop -> pos -> add -> compare in front of the flags: the worst path on every seed,
        // -3.7 ns mean slack at 70 MHz, session 16.)
        for i in 0..self.ins0.len() {
            self.ins0[i].clock.next = self.clock.val();
            self.ins1[i].clock.next = self.clock.val();
            self.ins2[i].clock.next = self.clock.val();
            self.ins3[i].clock.next = self.clock.val();
            self.e0.d.next = self.e0.q.val();
            if self.ins0[i].q.val() {
                self.e0.d.next = self.a_word.q.val();
            }
            self.e1.d.next = self.e1.q.val();
            if self.ins1[i].q.val() {
                self.e1.d.next = self.a_word.q.val();
            }
            self.e2.d.next = self.e2.q.val();
            if self.ins2[i].q.val() {
                self.e2.d.next = self.a_word.q.val();
            }
            self.e3.d.next = self.e3.q.val();
            if self.ins3[i].q.val() {
                self.e3.d.next = self.a_word.q.val();
            }
            if self.pop.val() {
                self.e0.d.next = self.e1.q.val();
                if self.ins1[i].q.val() {
                    self.e0.d.next = self.a_word.q.val();
                }
                self.e1.d.next = self.e2.q.val();
                if self.ins2[i].q.val() {
                    self.e1.d.next = self.a_word.q.val();
                }
                self.e2.d.next = self.e3.q.val();
                if self.ins3[i].q.val() {
                    self.e2.d.next = self.a_word.q.val();
                }
            }
            self.ins0[i].d.next = self.f1.q.val() & !self.f2.q.val() & (self.cnt.q.val() == 0);
            self.ins1[i].d.next = self.f1.q.val()
                & ((!self.f2.q.val() & (self.cnt.q.val() == 1))
                    | (self.f2.q.val() & (self.cnt.q.val() == 0)));
            self.ins2[i].d.next = self.f1.q.val()
                & ((!self.f2.q.val() & (self.cnt.q.val() == 2))
                    | (self.f2.q.val() & (self.cnt.q.val() == 1)));
            self.ins3[i].d.next = self.f1.q.val()
                & ((!self.f2.q.val() & (self.cnt.q.val() == 3))
                    | (self.f2.q.val() & (self.cnt.q.val() == 2)));
            if self.pop.val() {
                self.ins0[i].d.next = self.f1.q.val()
                    & ((!self.f2.q.val() & (self.cnt.q.val() == 1))
                        | (self.f2.q.val() & (self.cnt.q.val() == 0)));
                self.ins1[i].d.next = self.f1.q.val()
                    & ((!self.f2.q.val() & (self.cnt.q.val() == 2))
                        | (self.f2.q.val() & (self.cnt.q.val() == 1)));
                self.ins2[i].d.next = self.f1.q.val()
                    & ((!self.f2.q.val() & (self.cnt.q.val() == 3))
                        | (self.f2.q.val() & (self.cnt.q.val() == 2)));
                self.ins3[i].d.next = self.f1.q.val()
                    & ((!self.f2.q.val() & (self.cnt.q.val() == 4))
                        | (self.f2.q.val() & (self.cnt.q.val() == 3)));
            }
        }
        self.cnt_next.next = self.pos.val();
        if self.f2.q.val() {
            self.cnt_next.next = self.pos.val() + 1;
        }
        self.cnt.d.next = self.cnt_next.val();
        self.head.d.next = self.cnt_next.val().any();
        // With `avail` (iCE40): the same flag without the count's add: a pop leaves a word
        // iff two were queued, an arriving word always does.
        for _i in 0..self.avail.len() {
            self.head.d.next = self.f2.q.val()
                | (self.head.q.val() & !self.pop.val())
                | (self.pop.val() & (self.cnt.q.val() >= 2));
        }
        self.nonempty.next = self.head.q.val();
        self.rd_word.next = self.e0.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;
    use rand::{Rng, SeedableRng};

    #[test]
    fn rle_buffer_yosys_validate() {
        for avail in [false, true] {
            let mut uut = RleBuffer::new(16).avail_flag(avail);
            uut.connect_all();
            yosys_validate("deltagen_hdl_rle_buffer", &generate_verilog(&uut)).unwrap();
        }
    }

    /// Both forms (the pointer compare and the iCE40 flags: `avail`, the occupancy
    /// thermometer, the insert flags) side by side under the same random writes and pops, at
    /// several write and pop rates: the same head and the same words, cycle for cycle, every
    /// word in order and none lost.
    #[test]
    fn rle_buffer_forms_agree_cycle_for_cycle() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(21);
        let new = |avail| {
            ClockedSim::new(RleBuffer::new(16).avail_flag(avail), |u, c| {
                u.clock.next = Clock::from(c)
            })
            .unwrap()
        };
        let (mut a, mut b) = (new(false), new(true));
        let (mut written, mut read) = (0u64, 0u64);
        for step in 0..6000 {
            let (p_write, p_pop) = [(0.9, 0.9), (0.3, 0.9), (0.9, 0.2), (0.6, 0.6)][step / 1500];
            // The writer stays within the buffer's depth (the compactor's words of one vector).
            let write = written - read < 12 && rng.gen_bool(p_write);
            assert_eq!(a.uut.nonempty.val(), b.uut.nonempty.val(), "step {step}");
            let pop = a.uut.nonempty.val() && rng.gen_bool(p_pop);
            if a.uut.nonempty.val() {
                assert_eq!(a.uut.rd_word.val(), b.uut.rd_word.val(), "step {step}");
            }
            if pop {
                assert_eq!(a.uut.rd_word.val().to_u64(), read & 0x3ffff, "step {step}");
                read += 1;
            }
            for s in [&mut a, &mut b] {
                s.uut.wr_valid.next = write;
                s.uut.wr_word.next = (written & 0x3ffff).into();
                s.uut.pop.next = pop;
                s.cycle().unwrap();
            }
            written += u64::from(write);
        }
        assert!(read > 2000, "{read} words read");
    }
}
