//! RLE decoder and PE-array issue: turns words into MAC ops.
//!
//! A nonzero word (run, d) at column j = pos + run issues chunks_l ops, one per cycle: chunk c
//! reads weight address wbase + c*in + j in every bank (chunk-major layout, so the next chunk is
//! one add away) and accumulator ybase + c. A zero word (a split run or the terminator) costs one
//! cycle. The current word is the head of the RLE buffer's register queue (`word`, valid with
//! `nonempty`); it is popped in its last cycle, and the next one is at the head in the next
//! cycle, so consecutive words have no bubble. `done` pulses the cycle after the terminator.

use crate::keep_reg::KeepReg;
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Decoder {
    pub clock: Signal<In, Clock>,
    /// Layer start: load the layer's bases (held stable for the whole layer).
    pub start: Signal<In, bool>,
    pub in_dim: Signal<In, Bits<16>>,
    /// With `registered_chunks`, read from the cycle before `start` (the sequencer's Load).
    pub chunks: Signal<In, Bits<16>>,
    pub wbase: Signal<In, Bits<16>>,
    pub ybase: Signal<In, Bits<16>>,
    pub nonempty: Signal<In, bool>,
    pub pop: Signal<Out, bool>,
    /// {nz, value, run} (`rle_buffer::rle_word`).
    pub word: Signal<In, Bits<18>>,
    pub op_valid: Signal<Out, bool>,
    pub op_waddr: Signal<Out, Bits<16>>,
    pub op_yaddr: Signal<Out, Bits<16>>,
    pub op_delta: Signal<Out, Bits<9>>,
    pub done: Signal<Out, bool>,
    finished: DFF<bool>,
    /// The current word is at its first chunk (c = 0) / at its last chunk (c + 1 = chunks);
    /// `left` = chunks - 1 - c. Flags instead of compares keep `pop` short.
    first: DFF<bool>,
    lastc: DFF<bool>,
    left: DFF<Bits<16>>,
    wpos: DFF<Bits<16>>,
    /// wpos + in_dim: the second chunk's weight address is one add away from the word.
    wpos_in: DFF<Bits<16>>,
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
    /// The head word is this layer's (words after the terminator wait for the next start).
    cur_valid: Signal<Local, bool>,
    ta: Signal<Local, Bits<16>>,
    ty: Signal<Local, Bits<16>>,
    tn: Signal<Local, Bits<16>>,
    /// One Y RAM (iCE40, one entry each; none on ECP5, whose Verilog stays as it was): the
    /// sequencer's gate, as the next cycle's "take no word" (`hold_next`), folded with
    /// `finished` into one register, so the gate adds no LUT level in front of `pop`.
    pub hold_next: Vec<Signal<In, bool>>,
    blocked: Vec<DFF<bool>>,
    /// `registered_chunks` (iCE40; one entry each, none on ECP5, whose Verilog stays as it
    /// was): the count to reload (chunks - 1, or max(chunks, 2) - 1 when `spaced`) and
    /// chunks == 1 in registers, and the mask that covers it for the widest layer, so the
    /// chunk counter reloads without a carry chain, has one enable (start or a valid head
    /// word) and only the bits it needs.
    /// (Layer constants without a power-up value, `KeepReg::layer_constant`.)
    chunks_m1: Vec<KeepReg<16>>,
    single: Vec<KeepReg<1>>,
    /// With the registered count: in_dim, wbase and ybase copied beside the address adders
    /// (layer constants; read from `start` on, a cycle after the sequencer's Load). The
    /// descriptor ROM registers they came from were shared with other blocks (Yosys merges
    /// equal ROM columns), and the route from one across the device fed the weight address
    /// adder on most UP5K seeds (session 22). `ta2`, `ty2`, `tn2`: `ta`, `ty`, `tn` on them.
    k_in: Vec<KeepReg<16>>,
    k_wb: Vec<KeepReg<16>>,
    k_yb: Vec<KeepReg<16>>,
    /// `first` copied for the weight and Y address selects (KeepRegs loaded with its next
    /// value): those 40-odd loads pulled `first` away from the rest of its logic (a 6.2 ns route
    /// on the UP5K, session 22).
    first_w: Vec<KeepReg<1>>,
    first_y: Vec<KeepReg<1>>,
    ta2: Vec<Signal<Local, Bits<16>>>,
    ty2: Vec<Signal<Local, Bits<16>>>,
    tn2: Vec<Signal<Local, Bits<16>>>,
    left_mask: Vec<Constant<Bits<16>>>,
    /// A nonzero word takes at least two cycles (`HwParams::spaced_words`): a one-chunk
    /// layer's words run the counter through two chunks, the second without an op.
    spaced: Vec<Constant<bool>>,
}

impl Decoder {
    /// `gated`: with the `hold_next` port (`HwParams::one_y_ram`).
    pub fn new(gated: bool) -> Self {
        let n = usize::from(gated);
        Decoder {
            hold_next: (0..n).map(|_| Default::default()).collect(),
            blocked: (0..n).map(|_| Default::default()).collect(),
            ..Default::default()
        }
    }

    /// With `on`, the registered chunk count (see `chunks_m1`), for layers of at most
    /// `max_chunks` chunks (`HwParams::chunks(max_out)`); same behaviour cycle for cycle once
    /// `chunks` is read a cycle before `start`. With `on` and `spaced` too, no two
    /// consecutive ops address the same Y word (`HwParams::spaced_words`); `spaced` needs
    /// the registered count and is ignored without it (`HwParams::validate` rejects that).
    pub fn registered_chunks(mut self, on: bool, max_chunks: usize, spaced: bool) -> Self {
        let n = usize::from(on);
        // Spaced: the counter counts at least to 1.
        let reload_max = max_chunks.max(1 + usize::from(spaced)) - 1;
        let bits = usize::BITS - reload_max.leading_zeros();
        self.chunks_m1 = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self.single = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self.k_in = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self.k_wb = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self.k_yb = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self.first_w = (0..n).map(|_| KeepReg::new(true)).collect();
        self.first_y = (0..n).map(|_| KeepReg::new(true)).collect();
        self.ta2 = (0..n).map(|_| Default::default()).collect();
        self.ty2 = (0..n).map(|_| Default::default()).collect();
        self.tn2 = (0..n).map(|_| Default::default()).collect();
        self.left_mask = (0..n)
            .map(|_| Constant::new(((1u64 << bits) - 1).into()))
            .collect();
        self.spaced = (0..n).map(|_| Constant::new(spaced)).collect();
        self
    }
}

impl Logic for Decoder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, finished, first, lastc, left, wpos, wpos_in, waddr, yaddr, q_valid,
            q_waddr, q_yaddr, q_delta, q_done
        );
        self.run.next = bit_cast::<16, 8>(self.word.val().get_bits::<8>(0));
        self.value.next = self.word.val().get_bits::<9>(8);
        // The terminator: a zero word with value 1 (`rle_buffer::rle_word`).
        self.nzw.next = self.word.val().get_bit(17);
        self.last.next = !self.nzw.val() & self.word.val().get_bit(8);
        self.cur_valid.next = self.nonempty.val() & !self.finished.q.val();
        for i in 0..self.blocked.len() {
            self.cur_valid.next = self.nonempty.val() & !self.blocked[i].q.val();
        }
        self.consume.next = self.cur_valid.val() & (!self.nzw.val() | self.lastc.q.val());
        self.ta.next = self.waddr.q.val();
        self.ty.next = self.yaddr.q.val();
        self.tn.next = self.waddr.q.val() + self.in_dim.val();
        if self.first.q.val() {
            self.ta.next = self.wpos.q.val() + self.run.val();
            self.ty.next = self.ybase.val();
            self.tn.next = self.wpos_in.q.val() + self.run.val();
        }
        self.q_valid.d.next = false;
        if self.cur_valid.val() & self.nzw.val() {
            self.q_valid.d.next = true;
            self.q_waddr.d.next = self.ta.val();
            self.q_yaddr.d.next = self.ty.val();
            self.q_delta.d.next = self.value.val();
            self.waddr.d.next = self.tn.val();
            self.yaddr.d.next = self.ty.val() + 1;
            self.first.d.next = false;
            self.left.d.next = self.left.q.val() - 1;
            self.lastc.d.next = self.left.q.val() == 1;
        }
        self.q_done.d.next = false;
        if self.consume.val() {
            self.first.d.next = true;
            self.left.d.next = self.chunks.val() - 1;
            self.lastc.d.next = self.chunks.val() == 1;
            self.wpos.d.next = self.wpos.q.val() + self.run.val() + 1;
            self.wpos_in.d.next = self.wpos_in.q.val() + self.run.val() + 1;
            if self.last.val() {
                self.finished.d.next = true;
                self.q_done.d.next = true;
            }
        }
        self.pop.next = self.consume.val();
        if self.start.val() {
            self.wpos.d.next = self.wbase.val();
            self.wpos_in.d.next = self.wbase.val() + self.in_dim.val();
            self.finished.d.next = false;
            self.first.d.next = true;
            self.left.d.next = self.chunks.val() - 1;
            self.lastc.d.next = self.chunks.val() == 1;
        }
        // The chunk count again, on the registered form: one enable (start, or any valid head
        // word: a nonzero word's chunk steps it, a consumed word reloads it), which Yosys does
        // not find in the per-case form above.
        for i in 0..self.chunks_m1.len() {
            self.chunks_m1[i].clock.next = self.clock.val();
            self.single[i].clock.next = self.clock.val();
            self.chunks_m1[i].enable.next = true;
            self.single[i].enable.next = true;
            self.chunks_m1[i].d.next = (self.chunks.val() - 1) & self.left_mask[i].val();
            self.single[i].d.next = 0.into();
            if self.chunks.val() == 1 {
                self.single[i].d.next = 1.into();
            }
            if self.spaced[i].val() & (self.chunks.val() == 1) {
                self.chunks_m1[i].d.next = 1.into();
            }
            self.left.d.next = self.left.q.val();
            self.lastc.d.next = self.lastc.q.val();
            if self.start.val() | self.cur_valid.val() {
                self.left.d.next = (self.left.q.val() - 1) & self.left_mask[i].val();
                self.lastc.d.next = self.left.q.val() == 1;
                if self.start.val() | !self.nzw.val() | self.lastc.q.val() {
                    self.left.d.next = self.chunks_m1[i].q.val();
                    self.lastc.d.next = self.single[i].q.val().any() & !self.spaced[i].val();
                }
            }
            // The addresses again, on the local copies of the layer's constants.
            self.k_in[i].clock.next = self.clock.val();
            self.k_wb[i].clock.next = self.clock.val();
            self.k_yb[i].clock.next = self.clock.val();
            self.k_in[i].enable.next = true;
            self.k_wb[i].enable.next = true;
            self.k_yb[i].enable.next = true;
            self.k_in[i].d.next = self.in_dim.val();
            self.k_wb[i].d.next = self.wbase.val();
            self.k_yb[i].d.next = self.ybase.val();
            self.ta2[i].next = self.waddr.q.val();
            self.ty2[i].next = self.yaddr.q.val();
            self.tn2[i].next = self.waddr.q.val() + self.k_in[i].q.val();
            if self.first_w[i].q.val().any() {
                self.ta2[i].next = self.wpos.q.val() + self.run.val();
                self.tn2[i].next = self.wpos_in.q.val() + self.run.val();
            }
            if self.first_y[i].q.val().any() {
                self.ty2[i].next = self.k_yb[i].q.val();
            }
            if self.cur_valid.val() & self.nzw.val() {
                self.q_waddr.d.next = self.ta2[i].val();
                self.q_yaddr.d.next = self.ty2[i].val();
                self.waddr.d.next = self.tn2[i].val();
                self.yaddr.d.next = self.ty2[i].val() + 1;
            }
            if self.start.val() {
                self.wpos.d.next = self.k_wb[i].q.val();
                self.wpos_in.d.next = self.k_wb[i].q.val() + self.k_in[i].q.val();
            }
            // Spaced: the second cycle of a one-chunk word issues no op.
            if self.spaced[i].val() & self.single[i].q.val().any() & !self.first.q.val() {
                self.q_valid.d.next = false;
            }
        }
        self.op_valid.next = self.q_valid.q.val();
        self.op_waddr.next = self.q_waddr.q.val();
        self.op_yaddr.next = self.q_yaddr.q.val();
        self.op_delta.next = self.q_delta.q.val();
        self.done.next = self.q_done.q.val();
        // After every assignment of first's next value.
        for i in 0..self.first_w.len() {
            self.first_w[i].clock.next = self.clock.val();
            self.first_y[i].clock.next = self.clock.val();
            self.first_w[i].enable.next = true;
            self.first_y[i].enable.next = true;
            self.first_w[i].d.next = 0.into();
            self.first_y[i].d.next = 0.into();
            if self.first.d.val() {
                self.first_w[i].d.next = 1.into();
                self.first_y[i].d.next = 1.into();
            }
        }
        // After every assignment of finished's next value.
        for i in 0..self.blocked.len() {
            self.blocked[i].clock.next = self.clock.val();
            self.blocked[i].d.next = self.finished.d.val() | self.hold_next[i].val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;
    use crate::rle_buffer::{rle_word, RleBuffer};
    use rand::{Rng, SeedableRng};

    /// The RLE buffer feeding the decoder, as in the top level.
    #[derive(LogicBlock)]
    struct BufDec {
        clock: Signal<In, Clock>,
        wr_valid: Signal<In, bool>,
        wr_word: Signal<In, Bits<18>>,
        start: Signal<In, bool>,
        in_dim: Signal<In, Bits<16>>,
        chunks: Signal<In, Bits<16>>,
        wbase: Signal<In, Bits<16>>,
        ybase: Signal<In, Bits<16>>,
        rle: RleBuffer,
        dec: Decoder,
    }

    impl Logic for BufDec {
        #[hdl_gen]
        fn update(&mut self) {
            self.rle.clock.next = self.clock.val();
            self.dec.clock.next = self.clock.val();
            self.rle.wr_valid.next = self.wr_valid.val();
            self.rle.wr_word.next = self.wr_word.val();
            self.rle.pop.next = self.dec.pop.val();
            self.dec.nonempty.next = self.rle.nonempty.val();
            self.dec.word.next = self.rle.rd_word.val();
            self.dec.start.next = self.start.val();
            self.dec.in_dim.next = self.in_dim.val();
            self.dec.chunks.next = self.chunks.val();
            self.dec.wbase.next = self.wbase.val();
            self.dec.ybase.next = self.ybase.val();
        }
    }

    #[test]
    fn decoder_yosys_validate() {
        for (avail, spaced) in [(false, false), (true, false), (true, true)] {
            yosys_validate_with(avail, spaced);
        }
    }

    fn yosys_validate_with(avail: bool, spaced: bool) {
        let mut uut = BufDec {
            clock: Default::default(),
            wr_valid: Default::default(),
            wr_word: Default::default(),
            start: Default::default(),
            in_dim: Default::default(),
            chunks: Default::default(),
            wbase: Default::default(),
            ybase: Default::default(),
            rle: RleBuffer::new(16).avail_flag(avail),
            dec: Decoder::new(false).registered_chunks(avail, 4, spaced),
        };
        uut.connect_all();
        yosys_validate("deltagen_hdl_decoder", &generate_verilog(&uut)).unwrap();
    }

    /// Random word streams with gaps: the ops are exactly chunks ops per nonzero word at
    /// column pos + run (weights chunk-major, accumulators ybase + c), and `done` follows the
    /// terminator. Both forms of the RLE buffer's read-ahead.
    #[test]
    fn decoder_issues_every_chunk_of_every_nonzero_word() {
        for (avail, spaced) in [(false, false), (true, false), (true, true)] {
            issues_every_chunk(avail, spaced);
        }
    }

    /// `spaced`: besides the same ops, no op in the cycle after one on the same Y word, and
    /// one-chunk words that do follow each other.
    fn issues_every_chunk(avail: bool, spaced: bool) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let mut back_to_back = 0;
        let uut = BufDec {
            clock: Default::default(),
            wr_valid: Default::default(),
            wr_word: Default::default(),
            start: Default::default(),
            in_dim: Default::default(),
            chunks: Default::default(),
            wbase: Default::default(),
            ybase: Default::default(),
            rle: RleBuffer::new(64).avail_flag(avail),
            dec: Decoder::new(false).registered_chunks(avail, 4, spaced),
        };
        let mut sim = ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap();
        for _ in 0..30 {
            let in_dim = rng.gen_range(1..40u64);
            let chunks = rng.gen_range(1..5u64);
            let (wbase, ybase) = (rng.gen_range(0..1000u64), rng.gen_range(0..100u64));
            sim.uut.in_dim.next = in_dim.into();
            sim.uut.chunks.next = chunks.into();
            sim.uut.wbase.next = wbase.into();
            sim.uut.ybase.next = ybase.into();
            // Words: (run, value); positions advance by run + 1.
            let mut words = Vec::new();
            let mut pos = 0u64;
            while pos < in_dim && words.len() < 30 {
                let run = rng.gen_range(0..4u64).min(in_dim - 1 - pos);
                let value: i32 = if rng.gen_bool(0.3) {
                    0
                } else {
                    rng.gen_range(-255..=255)
                };
                words.push((run, value));
                pos += run + 1;
            }
            let mut expect = Vec::new();
            let mut col = 0u64;
            for &(run, value) in &words {
                col += run;
                if value != 0 {
                    for c in 0..chunks {
                        expect.push((wbase + c * in_dim + col, ybase + c, value));
                    }
                }
                col += 1;
            }
            words.push((0, 0)); // terminator (last)
                                // The bases settle a cycle before the start (as in the sequencer's Load).
            sim.cycle().unwrap();
            sim.uut.start.next = true;
            sim.cycle().unwrap();
            sim.uut.start.next = false;
            let mut ops = Vec::new();
            let mut wi = 0;
            let mut cycles = 0;
            let mut prev_y = None;
            loop {
                cycles += 1;
                assert!(cycles < 2000);
                let write = wi < words.len() && rng.gen_bool(0.6);
                sim.uut.wr_valid.next = write;
                if write {
                    let (run, value) = words[wi];
                    sim.uut.wr_word.next = rle_word(run, value, wi + 1 == words.len()).into();
                    wi += 1;
                }
                sim.cycle().unwrap();
                let y = sim.uut.dec.op_yaddr.val().to_u64();
                let valid = sim.uut.dec.op_valid.val();
                if valid && prev_y == Some(y) {
                    back_to_back += 1;
                }
                prev_y = valid.then_some(y);
                if valid {
                    let d9 = sim.uut.dec.op_delta.val().to_u64() as i32;
                    ops.push((
                        sim.uut.dec.op_waddr.val().to_u64(),
                        sim.uut.dec.op_yaddr.val().to_u64(),
                        if d9 >= 256 { d9 - 512 } else { d9 },
                    ));
                }
                if sim.uut.dec.done.val() {
                    break;
                }
            }
            assert_eq!(ops, expect);
        }
        // The unspaced decoder does issue them (one-chunk layers, words without a gap).
        assert_eq!(back_to_back == 0, spaced, "{back_to_back} back-to-back ops");
    }
}
