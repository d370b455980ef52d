//! Logit FIFO between the read-out and `m_axis`.
//!
//! The sequencer starts a frame only when the FIFO has room for all its logits (`room`), so the
//! read-out never waits on the host: a frame's compute cycles do not depend on `m_axis_tready`,
//! and the host drains the logits while the next frame runs.
//!
//! The output is two registers deep: the BRAM's read register (`r_valid`: it holds a word not
//! yet moved on) and the output register (`out_valid`, `o_data`), which takes the word when it
//! is empty or its word is taken. Nothing but that register reads the BRAM, so on ECP5 `deltagen
//! synth` moves it into the DP16KD's output register and the stream starts from flip-flops.
//!
//! A word is the logit and its last flag: 33 bits, three iCE40 EBRs wide. With accumulators
//! narrower than 32 bits (`narrow`) the flag takes bit 31 and the read sign-extends bit 30, so
//! the RAM is 32 bits wide: two EBRs.

use crate::keep_reg::KeepReg;
use crate::mem::SyncRam;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct OutFifo {
    pub clock: Signal<In, Clock>,
    pub wr_valid: Signal<In, bool>,
    pub wr_data: Signal<In, Bits<32>>,
    pub wr_last: Signal<In, bool>,
    /// Words a frame writes; `room` says that many fit. `room` is registered (a flag, not an
    /// adder chain, for the sequencer): it counts this cycle's write but not this cycle's read,
    /// so it is never optimistic and at most one cycle late.
    pub need: Signal<In, Bits<16>>,
    pub room: Signal<Out, bool>,
    pub m_axis_tvalid: Signal<Out, bool>,
    pub m_axis_tready: Signal<In, bool>,
    pub m_axis_tdata: Signal<Out, Bits<32>>,
    pub m_axis_tlast: Signal<Out, bool>,
    words: SyncRam<33>,
    /// `narrow`: the 32-bit RAM that replaces `words` (then unread, so Yosys removes it). One
    /// entry or none: with none the loops below write no Verilog, so a 32-bit design's Verilog
    /// (ecp5-16pe, whose timing was closed on it) stays as it was.
    words_n: Vec<SyncRam<32>>,
    word_n: Vec<Signal<Local, Bits<32>>>,
    read_n: Vec<NarrowRead>,
    n_low: Vec<Constant<Bits<32>>>,
    n_last: Vec<Constant<Bits<32>>>,
    wr_ptr: DFF<Bits<16>>,
    rd_ptr: DFF<Bits<16>>,
    out_valid: DFF<bool>,
    o_data: DFF<Bits<33>>,
    r_valid: DFF<bool>,
    mv: Signal<Local, bool>,
    word: Signal<Local, Bits<33>>,
    /// Words in the RAM (wr_ptr - rd_ptr, kept as a register) and depth - need.
    occ: DFF<Bits<16>>,
    lim: DFF<Bits<16>>,
    room_q: DFF<bool>,
    /// occ != 0, as a flag (the pop decision is on the output handshake's path).
    ne: DFF<bool>,
    pop: Signal<Local, bool>,
    mask: Constant<Bits<16>>,
    /// `trimmed` (iCE40; one entry, none on ECP5, whose Verilog stays as it was): the mask
    /// 2 * depth - 1 for `occ` (0 ..= depth) and `lim`, with the pointers masked to the depth,
    /// so Yosys trims their upper bits: the chains are as long as the depth needs.
    cmask: Vec<Constant<Bits<16>>>,
    /// With `cmask` (iCE40): `room` as the carry out of one add of two flip-flops each, not a
    /// compare (which Yosys mapped to five LUT levels here): occ <= lim is bit w of
    /// (lim + 1) + ~occ, occ < lim bit w of lim + ~occ (w the counter width, `wbit` = 2^w),
    /// with ~occ kept in `nocc` beside `occ` and lim, lim + 1 as layer constants without a
    /// power-up value (`KeepReg::layer_constant`: `need` is the model's logit count).
    k_lim: Vec<KeepReg<16>>,
    k_lim1: Vec<KeepReg<16>>,
    nocc: Vec<DFFWithInit<Bits<16>>>,
    wbit: Vec<Constant<Bits<16>>>,
    /// `lagged_count` (iCE40; none on ECP5): last cycle's pop. `occ` then counts pops a cycle
    /// late, so the output handshake (`m_axis_tready` -> `mv` -> `pop`) ends at this flip-flop
    /// instead of running on through `occ`'s adders and multiplexers (it measured -4.7 to
    /// -6.3 ns slack at 70 MHz on some seeds of the 8-PE preset, session 16).
    pop_r: Vec<DFF<bool>>,
    /// With `pop_r`: occ == 0, 1, 2, 3 as flags, moved up by a write and down by a lagged pop
    /// (occ == 4 is tested on `occ` only for the top one), so `ne` reads occ == 1 and occ == 2
    /// from flip-flops instead of two 7-bit compares behind the pop (session 22).
    eq0: Vec<DFFWithInit<bool>>,
    eq1: Vec<DFF<bool>>,
    eq2: Vec<DFF<bool>>,
    eq3: Vec<DFF<bool>>,
    /// `skid` (iCE40; none on ECP5): a second output register (`b_*`, behind the output
    /// register like a skid buffer), so the BRAM read decision is a gate of flip-flops (read
    /// when the read register is empty or its word moves on, which it does whenever `b` is
    /// empty) and `m_axis_tready` only reaches the two output registers' selects. Without it
    /// the output handshake ran through the move, the pop and the nonempty flag (four LUT
    /// levels; the UP5K's critical path on several seeds, session 22). Same latency.
    b_valid: Vec<DFF<bool>>,
    b_data: Vec<DFF<Bits<33>>>,
    a_take: Vec<Signal<Local, bool>>,
    rdata: Vec<Signal<Local, Bits<33>>>,
    depth: Constant<Bits<16>>,
    last_flag: Constant<Bits<33>>,
}

impl OutFifo {
    /// `depth` words (a power of two, at most 2^15 so 16-bit pointers tell full from empty).
    /// `narrow`: every logit fits 31 bits signed (a 32-bit RAM, see the module notes).
    pub fn new(depth: usize, narrow: bool) -> Self {
        assert!(depth.is_power_of_two() && depth <= 1 << 15);
        let n = usize::from(narrow);
        Self {
            clock: Default::default(),
            wr_valid: Default::default(),
            wr_data: Default::default(),
            wr_last: Default::default(),
            need: Default::default(),
            room: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tlast: Default::default(),
            // A read needs a word in the RAM and a write needs room: never the same word (the
            // sequencer starts a frame only when all its logits fit).
            words: SyncRam::new(depth, &[], None).no_rw_check(),
            words_n: (0..n)
                .map(|_| SyncRam::new(depth, &[], None).no_rw_check())
                .collect(),
            word_n: (0..n).map(|_| Default::default()).collect(),
            read_n: (0..n).map(|_| Default::default()).collect(),
            n_low: (0..n)
                .map(|_| Constant::new(0x7fff_ffffu64.into()))
                .collect(),
            n_last: (0..n)
                .map(|_| Constant::new(0x8000_0000u64.into()))
                .collect(),
            wr_ptr: Default::default(),
            rd_ptr: Default::default(),
            out_valid: Default::default(),
            o_data: Default::default(),
            r_valid: Default::default(),
            mv: Default::default(),
            word: Default::default(),
            occ: Default::default(),
            lim: Default::default(),
            room_q: Default::default(),
            ne: Default::default(),
            pop: Default::default(),
            mask: Constant::new(((depth - 1) as u64).into()),
            cmask: Vec::new(),
            k_lim: Vec::new(),
            k_lim1: Vec::new(),
            nocc: Vec::new(),
            wbit: Vec::new(),
            pop_r: Vec::new(),
            eq0: Vec::new(),
            eq1: Vec::new(),
            eq2: Vec::new(),
            eq3: Vec::new(),
            b_valid: Vec::new(),
            b_data: Vec::new(),
            a_take: Vec::new(),
            rdata: Vec::new(),
            depth: Constant::new((depth as u64).into()),
            last_flag: Constant::new((1u64 << 32).into()),
        }
    }
}

impl OutFifo {
    /// With `on`, the counters are masked to the widths the depth needs (see `cmask`); same
    /// behaviour cycle for cycle.
    pub fn trimmed(mut self, on: bool) -> Self {
        let depth = self.depth.val().to_u64();
        let n = usize::from(on);
        self.cmask = (0..n)
            .map(|_| Constant::new((2 * depth - 1).into()))
            .collect();
        self.k_lim = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self.k_lim1 = (0..n).map(|_| KeepReg::layer_constant()).collect();
        self.nocc = (0..n)
            .map(|_| DFFWithInit::new((2 * depth - 1).into()))
            .collect();
        self.wbit = (0..n).map(|_| Constant::new((2 * depth).into())).collect();
        self
    }

    /// With `on` (after `trimmed(true)`, whose masks it uses): `occ` holds the words in the RAM
    /// plus last cycle's pop (`pop_r`). It is never below the true count, so `room` stays
    /// pessimistic (at most one cycle later than without), and `ne` (exact: the pop decision
    /// reads it) compares `occ` with 1 + pop_r.
    pub fn lagged_count(mut self, on: bool) -> Self {
        assert!(
            !on || !self.cmask.is_empty(),
            "lagged_count needs trimmed(true)"
        );
        let n = usize::from(on);
        self.pop_r = (0..n).map(|_| Default::default()).collect();
        self.eq0 = (0..n).map(|_| DFFWithInit::new(true)).collect();
        self.eq1 = (0..n).map(|_| Default::default()).collect();
        self.eq2 = (0..n).map(|_| Default::default()).collect();
        self.eq3 = (0..n).map(|_| Default::default()).collect();
        self
    }

    /// With `on`, the skid output register (see `b_valid`): the same words in the same
    /// cycles for a reader that keeps up, and the BRAM read no longer waits on `m_axis_tready`.
    pub fn skid(mut self, on: bool) -> Self {
        let n = usize::from(on);
        self.b_valid = (0..n).map(|_| Default::default()).collect();
        self.b_data = (0..n).map(|_| Default::default()).collect();
        self.a_take = (0..n).map(|_| Default::default()).collect();
        self.rdata = (0..n).map(|_| Default::default()).collect();
        self
    }
}

impl Logic for OutFifo {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wr_ptr, rd_ptr, out_valid, o_data, r_valid, occ, lim, room_q, ne);
        self.words.clock.next = self.clock.val();
        self.word.next = bit_cast::<33, 32>(self.wr_data.val());
        if self.wr_last.val() {
            self.word.next = bit_cast::<33, 32>(self.wr_data.val()) | self.last_flag.val();
        }
        self.words.write_address.next = self.wr_ptr.q.val() & self.mask.val();
        self.words.write_data.next = self.word.val();
        self.words.write_enable.next = self.wr_valid.val();
        if self.wr_valid.val() {
            self.wr_ptr.d.next = self.wr_ptr.q.val() + 1;
            for _i in 0..self.cmask.len() {
                self.wr_ptr.d.next = (self.wr_ptr.q.val() + 1) & self.mask.val();
            }
        }
        // room: words in the RAM (the one in the output register has left it) + this cycle's
        // write + need <= depth, as one compare against a register.
        self.lim.d.next = self.depth.val() - self.need.val();
        for i in 0..self.cmask.len() {
            self.lim.d.next = (self.depth.val() - self.need.val()) & self.cmask[i].val();
        }
        self.room_q.d.next = self.occ.q.val() <= self.lim.q.val();
        if self.wr_valid.val() {
            self.room_q.d.next = self.occ.q.val() < self.lim.q.val();
        }
        for i in 0..self.k_lim.len() {
            self.k_lim[i].clock.next = self.clock.val();
            self.k_lim1[i].clock.next = self.clock.val();
            self.k_lim[i].enable.next = true;
            self.k_lim1[i].enable.next = true;
            self.k_lim[i].d.next = (self.depth.val() - self.need.val()) & self.cmask[i].val();
            self.k_lim1[i].d.next = (self.depth.val() - self.need.val() + 1) & self.cmask[i].val();
            self.room_q.d.next =
                ((self.k_lim1[i].q.val() + self.nocc[i].q.val()) & self.wbit[i].val()).any();
            if self.wr_valid.val() {
                self.room_q.d.next =
                    ((self.k_lim[i].q.val() + self.nocc[i].q.val()) & self.wbit[i].val()).any();
            }
        }
        self.room.next = self.room_q.q.val();
        // First-word fall-through: the read register's word moves to the output register when
        // that is empty or its word is taken; the BRAM reads the next word when its read
        // register is empty or moving, and holds otherwise.
        self.mv.next = self.r_valid.q.val() & (!self.out_valid.q.val() | self.m_axis_tready.val());
        self.pop.next = self.ne.q.val() & (!self.r_valid.q.val() | self.mv.val());
        for i in 0..self.b_valid.len() {
            self.pop.next = self.ne.q.val() & (!self.r_valid.q.val() | !self.b_valid[i].q.val());
        }
        self.words.read_address.next = self.rd_ptr.q.val() & self.mask.val();
        self.words.read_enable.next = self.pop.val();
        for i in 0..self.words_n.len() {
            self.words_n[i].clock.next = self.clock.val();
            self.word_n[i].next = self.wr_data.val() & self.n_low[i].val();
            if self.wr_last.val() {
                self.word_n[i].next =
                    (self.wr_data.val() & self.n_low[i].val()) | self.n_last[i].val();
            }
            self.words_n[i].write_address.next = self.wr_ptr.q.val() & self.mask.val();
            self.words_n[i].write_data.next = self.word_n[i].val();
            self.words_n[i].write_enable.next = self.wr_valid.val();
            self.words_n[i].read_address.next = self.rd_ptr.q.val() & self.mask.val();
            self.words_n[i].read_enable.next = self.pop.val();
            self.read_n[i].r.next = self.words_n[i].read_data.val();
        }
        if self.pop.val() {
            self.ne.d.next = self.occ.q.val() != 1;
        }
        if self.wr_valid.val() {
            self.ne.d.next = true;
        }
        if self.wr_valid.val() & !self.pop.val() {
            self.occ.d.next = self.occ.q.val() + 1;
            for i in 0..self.cmask.len() {
                self.occ.d.next = (self.occ.q.val() + 1) & self.cmask[i].val();
            }
        }
        if self.pop.val() & !self.wr_valid.val() {
            self.occ.d.next = self.occ.q.val() - 1;
            for i in 0..self.cmask.len() {
                self.occ.d.next = (self.occ.q.val() - 1) & self.cmask[i].val();
            }
        }
        for i in 0..self.pop_r.len() {
            self.pop_r[i].clock.next = self.clock.val();
            self.pop_r[i].d.next = self.pop.val();
            self.occ.d.next = self.occ.q.val();
            self.eq0[i].clock.next = self.clock.val();
            self.eq1[i].clock.next = self.clock.val();
            self.eq2[i].clock.next = self.clock.val();
            self.eq3[i].clock.next = self.clock.val();
            self.eq0[i].d.next = self.eq0[i].q.val();
            self.eq1[i].d.next = self.eq1[i].q.val();
            self.eq2[i].d.next = self.eq2[i].q.val();
            self.eq3[i].d.next = self.eq3[i].q.val();
            if self.wr_valid.val() & !self.pop_r[i].q.val() {
                self.occ.d.next = (self.occ.q.val() + 1) & self.cmask[i].val();
                self.eq0[i].d.next = false;
                self.eq1[i].d.next = self.eq0[i].q.val();
                self.eq2[i].d.next = self.eq1[i].q.val();
                self.eq3[i].d.next = self.eq2[i].q.val();
            }
            if self.pop_r[i].q.val() & !self.wr_valid.val() {
                self.occ.d.next = (self.occ.q.val() - 1) & self.cmask[i].val();
                self.eq0[i].d.next = self.eq1[i].q.val();
                self.eq1[i].d.next = self.eq2[i].q.val();
                self.eq2[i].d.next = self.eq3[i].q.val();
                self.eq3[i].d.next = self.occ.q.val() == 4;
            }
            // The true count is occ - pop_r: a pop leaves words iff it was not 1.
            if self.pop.val() {
                self.ne.d.next = !self.eq1[i].q.val();
                if self.pop_r[i].q.val() {
                    self.ne.d.next = !self.eq2[i].q.val();
                }
            }
            if self.wr_valid.val() {
                self.ne.d.next = true;
            }
        }
        if self.pop.val() {
            self.rd_ptr.d.next = self.rd_ptr.q.val() + 1;
            for _i in 0..self.cmask.len() {
                self.rd_ptr.d.next = (self.rd_ptr.q.val() + 1) & self.mask.val();
            }
            self.r_valid.d.next = true;
        } else if self.mv.val() {
            self.r_valid.d.next = false;
        }
        if self.mv.val() {
            self.o_data.d.next = self.words.read_data.val();
            for i in 0..self.read_n.len() {
                self.o_data.d.next = self.read_n[i].w.val();
            }
            self.out_valid.d.next = true;
        } else if self.m_axis_tready.val() {
            self.out_valid.d.next = false;
        }
        // Skid form: the read register's word moves on whenever `b` is empty (to the output
        // register if that takes a word this cycle, else to `b`); `b` empties into the output
        // register first.
        for i in 0..self.b_valid.len() {
            self.b_valid[i].clock.next = self.clock.val();
            self.b_data[i].clock.next = self.clock.val();
            self.b_valid[i].d.next = self.b_valid[i].q.val();
            self.b_data[i].d.next = self.b_data[i].q.val();
            self.rdata[i].next = self.words.read_data.val();
            for j in 0..self.read_n.len() {
                self.rdata[i].next = self.read_n[j].w.val();
            }
            self.a_take[i].next = !self.out_valid.q.val() | self.m_axis_tready.val();
            self.r_valid.d.next = self.pop.val() | (self.r_valid.q.val() & self.b_valid[i].q.val());
            self.o_data.d.next = self.o_data.q.val();
            self.out_valid.d.next = self.out_valid.q.val();
            if self.a_take[i].val() {
                self.out_valid.d.next = self.b_valid[i].q.val() | self.r_valid.q.val();
                self.o_data.d.next = self.rdata[i].val();
                if self.b_valid[i].q.val() {
                    self.o_data.d.next = self.b_data[i].q.val();
                }
            }
            if self.b_valid[i].q.val() & self.a_take[i].val() {
                self.b_valid[i].d.next = false;
            }
            if !self.b_valid[i].q.val() & self.r_valid.q.val() & !self.a_take[i].val() {
                self.b_valid[i].d.next = true;
                self.b_data[i].d.next = self.rdata[i].val();
            }
        }
        // After every assignment of occ's next value.
        for i in 0..self.nocc.len() {
            self.nocc[i].clock.next = self.clock.val();
            self.nocc[i].d.next = !self.occ.d.val() & self.cmask[i].val();
        }
        self.m_axis_tvalid.next = self.out_valid.q.val();
        self.m_axis_tdata.next = self.o_data.q.val().get_bits::<32>(0);
        self.m_axis_tlast.next = self.o_data.q.val().get_bit(32);
    }
}

/// A narrow FIFO word as the 33-bit output word: the flag (bit 31) to bit 32, the sign (bit 30)
/// copied into bit 31. A block of its own: `hdl_gen` loops do not take `bit_cast` of an
/// indexed signal.
#[derive(LogicBlock, Default)]
struct NarrowRead {
    r: Signal<In, Bits<32>>,
    w: Signal<Out, Bits<33>>,
}

impl Logic for NarrowRead {
    #[hdl_gen]
    fn update(&mut self) {
        // r << 1 puts the flag at 32 and the sign at 31; bits 30..0 stay r's.
        self.w.next = ((bit_cast::<33, 32>(self.r.val()) << 1) & bits::<33>(0x1_8000_0000_u64))
            | bit_cast::<33, 31>(self.r.val().get_bits::<31>(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;

    #[test]
    fn out_fifo_is_valid_verilog() {
        for narrow in [false, true] {
            let mut uut = OutFifo::new(8, narrow)
                .trimmed(narrow)
                .lagged_count(narrow)
                .skid(narrow);
            uut.connect_all();
            yosys_validate("out_fifo", &generate_verilog(&uut)).unwrap();
        }
    }

    /// Word `i` of the test stream: any 32-bit value, or (`narrow`) a 31-bit signed one, both
    /// signs and the range's ends included.
    fn word(i: u32, narrow: bool) -> u32 {
        let v = i.wrapping_mul(0x9e37_79b9) ^ (i << 29);
        if narrow {
            (((v << 1) as i32) >> 1) as u32
        } else {
            v
        }
    }

    #[test]
    fn words_survive_back_pressure() {
        back_pressure(false, 5, 6, false, false, false);
        back_pressure(false, 5, 6, true, true, false);
        back_pressure(false, 5, 6, true, true, true);
    }

    /// Frames as long as the FIFO and a slow reader: the RAM fills to its depth, the top of
    /// `occ`'s range (its width mask must hold it).
    #[test]
    fn full_frames_survive_a_slow_reader() {
        for (trim, lag, skid) in [
            (false, false, false),
            (true, false, false),
            (true, true, false),
            (true, true, true),
        ] {
            back_pressure(true, 8, 2, trim, lag, skid);
        }
    }

    #[test]
    fn narrow_words_survive_back_pressure() {
        back_pressure(true, 5, 6, true, false, false);
        back_pressure(true, 5, 6, true, true, false);
        back_pressure(true, 5, 6, true, true, true);
    }

    /// A reader that is always ready sees the same words in the same cycles with and without
    /// the skid register (one word per cycle once the first is out).
    #[test]
    fn skid_keeps_the_cycles() {
        let mut seen = Vec::new();
        for skid in [false, true] {
            let uut = OutFifo::new(8, true)
                .trimmed(true)
                .lagged_count(true)
                .skid(skid);
            let mut sim = ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap();
            sim.uut.need.next = 5u64.into();
            sim.uut.m_axis_tready.next = true;
            let mut out = Vec::new();
            for t in 0..40u32 {
                let wr = (3..8).contains(&t) || (20..25).contains(&t);
                sim.uut.wr_valid.next = wr;
                sim.uut.wr_data.next = u64::from(word(t, true)).into();
                sim.uut.wr_last.next = t == 7 || t == 24;
                sim.settle().unwrap();
                if sim.uut.m_axis_tvalid.val() {
                    out.push((t, sim.uut.m_axis_tdata.val().to_u64() as u32));
                }
                sim.cycle().unwrap();
            }
            assert_eq!(out.len(), 10);
            seen.push(out);
        }
        assert_eq!(seen[0], seen[1]);
    }

    /// Bursts of writes, a reader that stalls at random: every word comes out once, in order,
    /// with its last flag; `room` never lets a frame overflow it.
    /// Frames of `need` words; the reader is ready in `ready_in_10` cycles of 10.
    /// `trim`: `OutFifo::trimmed`; `lag`: `OutFifo::lagged_count` (`occ` then counts the
    /// previous cycle's pop late: the words in the RAM are occ - pop_r); `skid`:
    /// `OutFifo::skid`.
    fn back_pressure(narrow: bool, need: u32, ready_in_10: u64, trim: bool, lag: bool, skid: bool) {
        let uut = OutFifo::new(8, narrow)
            .trimmed(trim)
            .lagged_count(lag)
            .skid(skid);
        let mut sim = ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap();
        sim.uut.need.next = u64::from(need).into();
        let mut state = 0x9e3779b97f4a7c15u64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut written, mut burst_left) = (0u32, 0u32);
        let mut got = Vec::new();
        let mut in_fifo = 0i64;
        let mut peak = 0;
        for t in 0..4000 {
            if burst_left == 0 && written < 200 {
                sim.settle().unwrap();
                // A frame starts only with room, as the sequencer does.
                if sim.uut.room.val() {
                    burst_left = need;
                }
            }
            let wr = burst_left > 0;
            sim.uut.wr_valid.next = wr;
            sim.uut.wr_data.next = u64::from(word(written, narrow)).into();
            sim.uut.wr_last.next = burst_left == 1;
            let ready = rnd() % 10 < ready_in_10;
            sim.uut.m_axis_tready.next = ready;
            sim.settle().unwrap();
            let mut count = sim.uut.occ.q.val().to_u64() as i64;
            for p in &sim.uut.pop_r {
                count -= i64::from(p.q.val());
            }
            assert!(count <= 8, "overflow");
            peak = peak.max(count);
            if ready && sim.uut.m_axis_tvalid.val() {
                got.push((
                    sim.uut.m_axis_tdata.val().to_u64() as u32,
                    sim.uut.m_axis_tlast.val(),
                ));
                in_fifo -= 1;
            }
            // `room` is one compare of this cycle's `occ` against depth - need (a register of
            // `need`, so from the second cycle on), counting this cycle's write (every form;
            // the iCE40 one as carries of two adds).
            let occ = sim.uut.occ.q.val().to_u64() as i64;
            for (k, flags) in [&sim.uut.eq1, &sim.uut.eq2, &sim.uut.eq3]
                .iter()
                .enumerate()
            {
                for f in flags.iter() {
                    assert_eq!(f.q.val(), occ == k as i64 + 1, "occ {occ}");
                }
            }
            for f in &sim.uut.eq0 {
                assert_eq!(f.q.val(), occ == 0, "occ {occ}");
            }
            let lim = 8 - i64::from(need);
            let room_next = if wr { occ < lim } else { occ <= lim };
            sim.cycle().unwrap();
            if t > 0 {
                assert_eq!(sim.uut.room.val(), room_next, "occ {occ} write {wr}");
            }
            if wr {
                written += 1;
                burst_left -= 1;
                in_fifo += 1;
            }
        }
        let want: Vec<(u32, bool)> = (0..written)
            .map(|i| (word(i, narrow), i % need == need - 1))
            .collect();
        assert_eq!(written, 200);
        if need == 8 {
            assert_eq!(peak, 8, "the RAM never filled");
        }
        assert_eq!(got, want);
        assert_eq!(in_fifo, 0);
    }
}
