//! Nonzero compactor and RLE word encoder.
//!
//! Holds one group of `nz_lanes` deltas and emits one RLE word per cycle: the lowest nonzero
//! lane as (run, value), where run counts the zeros since the previous word. A run longer than
//! R = 2^rle_run_bits - 1 is split: (R, 0) words come first, each covering R+1 positions. A group
//! costs max(1, words) cycles: `ready` is high in its last cycle so the next group loads without
//! a bubble. After the last group a terminator word (run 0, value 1, nz clear:
//! `rle_buffer::rle_word`) is written, so an all-zero vector is that single word. Groups pass
//! a two-entry queue with a registered `ready` (one cycle of latency) so the stall that reaches
//! the whole front end comes from a flip-flop.
//!
//! With one lane and runs that never need a split (`stall_free`, see
//! `HwParams::compactor_never_stalls`) every group is one cycle, so `ready` is the constant 1
//! and the front end's registers lose their enables. The words then come from a plain
//! single-lane encoder beside the general one (a zero counter, the same stages and cycles; the
//! general logic loses its loads and Yosys removes it), and a word whose run would need a
//! split after all sets the sticky `overrun` instead of going out wrong.

use crate::keep_reg::KeepReg;
use crate::opt_signal::OptSignal;
use rust_hdl::prelude::*;

/// Offset of the relative limit register: `lim` holds L + 2^15 so that signed limits compare
/// as unsigned numbers.
const LIM_OFFSET: i64 = 1 << 15;

/// Cycles between the lane choice and the word at `wr_word` (its output register).
pub const COMPACTOR_WORD_DELAY: u64 = 1;

/// The limit's constants for `lanes` lanes, runs up to `r` and the limit offset `offset`: the
/// split and empty-group compares, the limit after a word (and after a group's last word) and
/// at a vector's start.
struct LimitConsts {
    k_split: Vec<Constant<Bits<16>>>,
    k_empty: Vec<Constant<Bits<16>>>,
    l_word: Vec<Constant<Bits<16>>>,
    l_wfin: Vec<Constant<Bits<16>>>,
    l_start: Constant<Bits<16>>,
}

impl LimitConsts {
    fn new(lanes: usize, r: i64, offset: i64) -> Self {
        let g = lanes as i64;
        let c = |v: i64| Constant::new(((v + offset) as u64).into());
        Self {
            k_split: (0..lanes).map(|i| c(i as i64 - r - 1)).collect(),
            k_empty: (0..lanes).map(|i| c(i as i64 + g)).collect(),
            l_word: (0..lanes).map(|j| c(j as i64 + 1 + r)).collect(),
            l_wfin: (0..lanes).map(|j| c(j as i64 + 1 + r - g)).collect(),
            l_start: c(r),
        }
    }
}

fn mask_const(lanes: usize, f: impl Fn(usize) -> bool) -> Constant<Bits<8>> {
    Constant::new(
        (0..lanes)
            .filter(|&i| f(i))
            .fold(0u64, |m, i| m | (1 << i))
            .into(),
    )
}

#[derive(LogicBlock)]
pub struct Compactor {
    pub clock: Signal<In, Clock>,
    /// Vector start: positions restart at 0.
    pub start: Signal<In, bool>,
    pub in_valid: Signal<In, bool>,
    pub in_d: Vec<Signal<In, Bits<9>>>,
    pub in_nz: Signal<In, Bits<8>>,
    /// Element index of lane 0 (groups arrive in order, so positions are tracked relative to
    /// the group; the port stays for the stream's interface).
    pub in_base: Signal<In, Bits<16>>,
    pub in_last: Signal<In, bool>,
    /// Registered: the group at the input is taken at the end of this cycle (if valid).
    pub ready: Signal<Out, bool>,
    pub wr_valid: Signal<Out, bool>,
    /// {nz[17], value[16:8], run[7:0]}; the terminator is (0, 1) with nz clear
    /// (`rle_buffer::rle_word`).
    pub wr_word: Signal<Out, Bits<18>>,
    /// `stall_free` only: a nonzero element came after a run of more than R zeros, which
    /// would need a split word (it cannot happen when the vectors fit the run field; sticky,
    /// for the top's `error`).
    pub overrun: OptSignal<Out, bool>,
    /// `stall_free` (one entry each; none otherwise, whose Verilog stays as it was): the
    /// single-lane encoder. `sf_1*` and `sf_2*` take the group where the general form's queue
    /// and held group do, `sf_zeros` counts the zeros since the last word (the next word's
    /// run), `sf_o*` is the word register and `sf_flush` the terminator's, one cycle after
    /// the last group's word slot; `overrun_q` the sticky flag.
    overrun_q: Vec<DFF<bool>>,
    sf_1v: Vec<DFF<bool>>,
    sf_1d: Vec<DFF<Bits<9>>>,
    sf_1nz: Vec<DFF<bool>>,
    sf_1last: Vec<DFF<bool>>,
    sf_2v: Vec<DFF<bool>>,
    sf_2d: Vec<DFF<Bits<9>>>,
    sf_2nz: Vec<DFF<bool>>,
    sf_2last: Vec<DFF<bool>>,
    /// (9 bits: the longest stall-free vector is 256, and a run past R = 255 must show.)
    sf_zeros: Vec<DFF<Bits<9>>>,
    sf_flush: Vec<DFF<bool>>,
    sf_ovalid: Vec<DFF<bool>>,
    sf_oval: Vec<DFF<Bits<9>>>,
    sf_orun: Vec<DFF<Bits<8>>>,
    sf_oflush: Vec<DFF<bool>>,
    max_run9: Vec<Constant<Bits<9>>>,
    /// Two-entry input queue (entries A and B, write and read pointers): `ready` is a register
    /// (the upstream stall is not a combinational function of the word logic), the entries
    /// load only on a push, and a pop moves a pointer.
    q_da: Vec<DFF<Bits<9>>>,
    q_db: Vec<DFF<Bits<9>>>,
    q_nza: DFF<Bits<8>>,
    q_nzb: DFF<Bits<8>>,
    q_lasta: DFF<bool>,
    q_lastb: DFF<bool>,
    /// Per entry: any lane nonzero, two lanes or more (so the held group's flags load ready).
    q_anya: DFF<bool>,
    q_anyb: DFF<bool>,
    q_multia: DFF<bool>,
    q_multib: DFF<bool>,
    q_wr: DFF<bool>,
    q_rd: DFF<bool>,
    /// Entry A / B holds a queued group. A free entry takes the input every cycle (a push
    /// keeps it), so the entries' enables come from these flip-flops, not from `push`: the
    /// take decision only reaches the few registers of the queue's control within a cycle.
    occ_a: DFF<bool>,
    occ_b: DFF<bool>,
    q_count: DFF<Bits<2>>,
    ready_q: DFF<bool>,
    /// The same flag for the push inside this block: `ready` fans out to the whole front end,
    /// which pulls its flip-flop away from here (a KeepReg, so Yosys does not merge the two).
    ready_loc: KeepReg<1>,
    push: Signal<Local, bool>,
    pop: Signal<Local, bool>,
    take: Signal<Local, bool>,
    count_next: Signal<Local, Bits<2>>,
    h_valid: DFF<bool>,
    h_d: Vec<DFF<Bits<9>>>,
    h_mask: DFF<Bits<8>>,
    /// h_mask has a lane left / two or more: kept with the mask so the group's last-word test
    /// starts from flip-flops.
    h_any: DFF<bool>,
    h_multi: DFF<bool>,
    h_last: DFF<bool>,
    /// L + 2^15, where L = p + R and p is the position after the last word relative to lane 0
    /// of the held (or next) group: lane i's run is i - p, and it must split when i > L.
    lim: DFF<Bits<16>>,
    /// Bit i: L < i (lane i's word must split), kept registered so the split test is a gate. An
    /// upper set of lanes: if lane i is in it, so is every lane above.
    lt: DFF<Bits<8>>,
    flush: DFF<bool>,
    /// The word's parts, registered: the split and terminator selects come after this
    /// register (one LUT in front of the RLE buffer's write register), not after the lane
    /// choice and the run subtract.
    o_valid: DFF<bool>,
    /// The lowest lane is chosen in two halves: each half's lowest lane (its delta and i + R,
    /// the run's base) is registered with a flag for "the low half has a lane", and the last
    /// two-way select and the run subtract (base - the limit's low byte) follow the register.
    o_lo: DFF<bool>,
    o_base_lo: DFF<Bits<8>>,
    o_base_hi: DFF<Bits<8>>,
    o_lim: DFF<Bits<8>>,
    o_val_lo: DFF<Bits<9>>,
    o_val_hi: DFF<Bits<9>>,
    o_split: DFF<bool>,
    o_flush: DFF<bool>,
    max_run: Constant<Bits<16>>,
    lane_bit: Vec<Constant<Bits<8>>>,
    /// Bits of the lanes below lane i, of all lanes and of lane i's half.
    below: Vec<Constant<Bits<8>>>,
    below_half: Vec<Constant<Bits<8>>>,
    lo_half: Constant<Bits<8>>,
    /// i + R: lane i's run is (i + R - L) mod 256.
    run_base: Vec<Constant<Bits<8>>>,
    /// Compare constants (offset): after a split L < i - R - 1; after an empty group L < i + G.
    k_split: Vec<Constant<Bits<16>>>,
    k_empty: Vec<Constant<Bits<16>>>,
    /// After a word at lane j: L = j + 1 + R (and - G when the group finishes), with its flags.
    l_word: Vec<Constant<Bits<16>>>,
    lt_word: Vec<Constant<Bits<8>>>,
    l_wfin: Vec<Constant<Bits<16>>>,
    lt_wfin: Vec<Constant<Bits<8>>>,
    l_start: Constant<Bits<16>>,
    lt_start: Constant<Bits<8>>,
    step_split: Constant<Bits<16>>,
    step_group: Constant<Bits<16>>,
    /// iCE40 only (`trimmed_limit`; empty on ECP5, whose Verilog stays as measured): `lim`
    /// masked to the bits the longest vector needs, so Yosys drops its upper flip-flops and
    /// the limit compares and adds are that wide instead of 16 bits (lim -> lt measured -3.0
    /// ns mean slack at 70 MHz on the 8-PE preset, session 16).
    lim_mask: Vec<Constant<Bits<16>>>,
    /// With `lim_mask` (w bits): the split and empty-group compares as adds, L < k being bit w
    /// of lim + (2^w - k) clear, so the carry chains take `lim` straight from its flip-flops
    /// (`lim < k` put an inverter LUT on every bit in front of the chain); `w_bit` = 2^w.
    c_split: Vec<Constant<Bits<16>>>,
    c_empty: Vec<Constant<Bits<16>>>,
    w_bit: Vec<Constant<Bits<16>>>,
    sel: Vec<Signal<Local, bool>>,
    /// Lane i is the lowest of its half.
    sel_half: Vec<Signal<Local, bool>>,
    /// lowacc[i]: one-hot lowest lane among lanes below i (ascending chain of ORs).
    lowacc: Vec<Signal<Local, Bits<8>>>,
    /// Ascending chains of the split and empty-group flags.
    ltsacc: Vec<Signal<Local, Bits<8>>>,
    lteacc: Vec<Signal<Local, Bits<8>>>,
    low: Signal<Local, Bits<8>>,
    dsel_lo: Signal<Local, Bits<9>>,
    dsel_hi: Signal<Local, Bits<9>>,
    base_lo: Signal<Local, Bits<8>>,
    base_hi: Signal<Local, Bits<8>>,
    w_base: Signal<Local, Bits<8>>,
    w_val: Signal<Local, Bits<9>>,
    run: Signal<Local, Bits<8>>,
    wl: Signal<Local, Bits<16>>,
    wlt: Signal<Local, Bits<8>>,
    wfl: Signal<Local, Bits<16>>,
    wflt: Signal<Local, Bits<8>>,
    split: Signal<Local, bool>,
    /// Three lanes or more in the held group (two or more after this cycle's word).
    multi3: Signal<Local, bool>,
    /// At least 1, 2, 3 lanes among the held mask's low and high four (LUTs, no carry chain).
    lo1: Signal<Local, bool>,
    lo2: Signal<Local, bool>,
    lo3: Signal<Local, bool>,
    hi1: Signal<Local, bool>,
    hi2: Signal<Local, bool>,
    hi3: Signal<Local, bool>,
    /// At least 1, 2 lanes among the input group's low and high four.
    ilo1: Signal<Local, bool>,
    ilo2: Signal<Local, bool>,
    ihi1: Signal<Local, bool>,
    ihi2: Signal<Local, bool>,
    /// Two lanes or more in the group at the input.
    in_multi: Signal<Local, bool>,
    has: Signal<Local, bool>,
    finishing: Signal<Local, bool>,
    /// iCE40 (`keep` false): "the one lane left splits", the split test of a group with one
    /// lane left, which is all `finishing` needs (see `update`): two LUT levels in front of
    /// `take` and its wide fan-out instead of four. None on ECP5, whose Verilog stays as its
    /// timing was closed on.
    one_split: Vec<Signal<Local, bool>>,
    w_valid: Signal<Local, bool>,
    w_word: Signal<Local, Bits<18>>,
}

impl Compactor {
    /// `keep`: the local `ready` copy is a KeepReg (see `HwParams::replicate`).
    pub fn new(lanes: usize, run_bits: u32, keep: bool) -> Self {
        let r = (1i64 << run_bits) - 1;
        let g = lanes as i64;
        let lc = LimitConsts::new(lanes, r, LIM_OFFSET);
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
            overrun: OptSignal::new(false),
            overrun_q: Vec::new(),
            sf_1v: Vec::new(),
            sf_1d: Vec::new(),
            sf_1nz: Vec::new(),
            sf_1last: Vec::new(),
            sf_2v: Vec::new(),
            sf_2d: Vec::new(),
            sf_2nz: Vec::new(),
            sf_2last: Vec::new(),
            sf_zeros: Vec::new(),
            sf_flush: Vec::new(),
            sf_ovalid: Vec::new(),
            sf_oval: Vec::new(),
            sf_orun: Vec::new(),
            sf_oflush: Vec::new(),
            max_run9: Vec::new(),
            q_da: (0..lanes).map(|_| Default::default()).collect(),
            q_db: (0..lanes).map(|_| Default::default()).collect(),
            q_nza: Default::default(),
            q_nzb: Default::default(),
            q_lasta: Default::default(),
            q_lastb: Default::default(),
            q_anya: Default::default(),
            q_anyb: Default::default(),
            q_multia: Default::default(),
            q_multib: Default::default(),
            q_wr: Default::default(),
            q_rd: Default::default(),
            occ_a: Default::default(),
            occ_b: Default::default(),
            q_count: Default::default(),
            ready_q: Default::default(),
            ready_loc: KeepReg::new(keep),
            one_split: (0..usize::from(!keep))
                .map(|_| Default::default())
                .collect(),
            push: Default::default(),
            pop: Default::default(),
            take: Default::default(),
            count_next: Default::default(),
            h_valid: Default::default(),
            h_d: (0..lanes).map(|_| Default::default()).collect(),
            h_mask: Default::default(),
            h_any: Default::default(),
            h_multi: Default::default(),
            h_last: Default::default(),
            lim: Default::default(),
            lt: Default::default(),
            flush: Default::default(),
            o_valid: Default::default(),
            o_lo: Default::default(),
            o_base_lo: Default::default(),
            o_base_hi: Default::default(),
            o_lim: Default::default(),
            o_val_lo: Default::default(),
            o_val_hi: Default::default(),
            o_split: Default::default(),
            o_flush: Default::default(),
            max_run: Constant::new((r as u64).into()),
            lane_bit: (0..lanes)
                .map(|i| Constant::new((1u64 << i).into()))
                .collect(),
            below: (0..lanes)
                .map(|i| Constant::new(((1u64 << i) - 1).into()))
                .collect(),
            below_half: (0..lanes)
                .map(|i| {
                    let from = if i < lanes.div_ceil(2) {
                        0
                    } else {
                        lanes.div_ceil(2)
                    };
                    Constant::new((((1u64 << i) - 1) & !((1u64 << from) - 1)).into())
                })
                .collect(),
            lo_half: Constant::new(((1u64 << lanes.div_ceil(2)) - 1).into()),
            run_base: (0..lanes)
                .map(|i| Constant::new((((i as i64 + r) & 0xff) as u64).into()))
                .collect(),
            k_split: lc.k_split,
            k_empty: lc.k_empty,
            l_word: lc.l_word,
            lt_word: (0..lanes)
                .map(|j| mask_const(lanes, |i| j as i64 + 1 + r < i as i64))
                .collect(),
            l_wfin: lc.l_wfin,
            lt_wfin: (0..lanes)
                .map(|j| mask_const(lanes, |i| j as i64 + 1 + r < i as i64 + g))
                .collect(),
            l_start: lc.l_start,
            lt_start: mask_const(lanes, |i| r < i as i64),
            step_split: Constant::new(((r + 1) as u64).into()),
            step_group: Constant::new((lanes as u64).into()),
            lim_mask: Vec::new(),
            c_split: Vec::new(),
            c_empty: Vec::new(),
            w_bit: Vec::new(),
            sel: (0..lanes).map(|_| Default::default()).collect(),
            sel_half: (0..lanes).map(|_| Default::default()).collect(),
            lowacc: (0..=lanes).map(|_| Default::default()).collect(),
            ltsacc: (0..=lanes).map(|_| Default::default()).collect(),
            lteacc: (0..=lanes).map(|_| Default::default()).collect(),
            low: Default::default(),
            dsel_lo: Default::default(),
            dsel_hi: Default::default(),
            base_lo: Default::default(),
            base_hi: Default::default(),
            w_base: Default::default(),
            w_val: Default::default(),
            run: Default::default(),
            wl: Default::default(),
            wlt: Default::default(),
            wfl: Default::default(),
            wflt: Default::default(),
            split: Default::default(),
            multi3: Default::default(),
            lo1: Default::default(),
            lo2: Default::default(),
            lo3: Default::default(),
            hi1: Default::default(),
            hi2: Default::default(),
            hi3: Default::default(),
            ilo1: Default::default(),
            ilo2: Default::default(),
            ihi1: Default::default(),
            ihi2: Default::default(),
            in_multi: Default::default(),
            has: Default::default(),
            finishing: Default::default(),
            w_valid: Default::default(),
            w_word: Default::default(),
        }
    }

    /// With `on`: keep `lim` in the fewest bits (at least 9) that hold L for vectors of up to
    /// `max_len` elements. L stays in [R - max_len - G, R + G + 1] (empty groups lower it by
    /// G, splits raise it by R + 1 only while it is below a lane, a word sets it to at most
    /// R + G), so with the offset 2^(w-1) >= max_len + R + G + 2 every limit and compare
    /// constant lies in [0, 2^w) and masking to w bits changes no value. At least 9 bits keep
    /// the offset's low byte 0, which the run (base - the limit's low byte) relies on.
    pub fn trimmed_limit(mut self, on: bool, max_len: usize) -> Self {
        if !on {
            return self;
        }
        let r = self.step_split.val().index() as i64 - 1;
        let lanes = self.lane_bit.len();
        let g = lanes as i64;
        let span = max_len.next_multiple_of(lanes) as i64 + r + g + 2;
        let mut w = 9u32;
        while (1i64 << (w - 1)) < span {
            w += 1;
        }
        if w >= 16 {
            return self;
        }
        let lc = LimitConsts::new(lanes, r, 1i64 << (w - 1));
        let add_form = |k: &[Constant<Bits<16>>]| -> Vec<Constant<Bits<16>>> {
            k.iter()
                .map(|k| Constant::new(((1u64 << w) - k.val().index() as u64).into()))
                .collect()
        };
        self.c_split = add_form(&lc.k_split);
        self.c_empty = add_form(&lc.k_empty);
        self.w_bit = vec![Constant::new((1u64 << w).into())];
        self.k_split = lc.k_split;
        self.k_empty = lc.k_empty;
        self.l_word = lc.l_word;
        self.l_wfin = lc.l_wfin;
        self.l_start = lc.l_start;
        self.lim_mask = vec![Constant::new(((1u64 << w) - 1).into())];
        self
    }
}

impl Compactor {
    /// With `on`: `ready` is the constant 1 and `overrun` exists. Only for one lane and
    /// vectors of at most R + 1 elements (R the largest run), where a group is never more than
    /// one word, so the queue never fills (`HwParams::compactor_never_stalls`).
    pub fn stall_free(mut self, on: bool) -> Self {
        if on {
            assert_eq!(self.h_d.len(), 1, "a stall-free compactor has one lane");
            self.overrun = OptSignal::new(true);
            self.overrun_q = vec![Default::default()];
            self.sf_1v = vec![Default::default()];
            self.sf_1d = vec![Default::default()];
            self.sf_1nz = vec![Default::default()];
            self.sf_1last = vec![Default::default()];
            self.sf_2v = vec![Default::default()];
            self.sf_2d = vec![Default::default()];
            self.sf_2nz = vec![Default::default()];
            self.sf_2last = vec![Default::default()];
            self.sf_zeros = vec![Default::default()];
            self.sf_flush = vec![Default::default()];
            self.sf_ovalid = vec![Default::default()];
            self.sf_oval = vec![Default::default()];
            self.sf_orun = vec![Default::default()];
            self.sf_oflush = vec![Default::default()];
            self.max_run9 = vec![Constant::new(self.max_run.val().get_bits::<9>(0))];
        }
        self
    }
}

impl Logic for Compactor {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, q_nza, q_nzb, q_lasta, q_lastb, q_anya, q_anyb, q_multia, q_multib, q_wr,
            q_rd, occ_a, occ_b, q_count, ready_q, h_valid, h_mask, h_any, h_multi, h_last, lim, lt,
            flush, o_valid, o_lo, o_base_lo, o_base_hi, o_lim, o_val_lo, o_val_hi, o_split,
            o_flush
        );
        // Lowest set lane: each lane checks the lanes below it (no carry chain), then its
        // next-limit constants are selected one-hot; its delta and run base are selected per
        // half (the halves meet after the output register). The flag updates are computed per
        // lane from registers, in parallel with the lane choice.
        self.lowacc[0].next = 0.into();
        self.ltsacc[0].next = 0.into();
        self.lteacc[0].next = 0.into();
        self.dsel_lo.next = 0.into();
        self.dsel_hi.next = 0.into();
        self.base_lo.next = 0.into();
        self.base_hi.next = 0.into();
        self.wl.next = 0.into();
        self.wlt.next = 0.into();
        self.wfl.next = 0.into();
        self.wflt.next = 0.into();
        for i in 0..self.h_d.len() {
            self.h_d[i].clock.next = self.clock.val();
            self.h_d[i].d.next = self.h_d[i].q.val();
            self.sel[i].next =
                self.h_mask.q.val().get_bit(i) & !(self.h_mask.q.val() & self.below[i].val()).any();
            self.lowacc[i + 1].next = self.lowacc[i].val();
            if self.sel[i].val() {
                self.lowacc[i + 1].next = self.lowacc[i].val() | self.lane_bit[i].val();
                self.wl.next = self.l_word[i].val();
                self.wlt.next = self.lt_word[i].val();
                self.wfl.next = self.l_wfin[i].val();
                self.wflt.next = self.lt_wfin[i].val();
            }
            self.sel_half[i].next = self.h_mask.q.val().get_bit(i)
                & !(self.h_mask.q.val() & self.below_half[i].val()).any();
            if self.sel_half[i].val() & self.lo_half.val().get_bit(i) {
                self.dsel_lo.next = self.h_d[i].q.val();
                self.base_lo.next = self.run_base[i].val();
            }
            if self.sel_half[i].val() & !self.lo_half.val().get_bit(i) {
                self.dsel_hi.next = self.h_d[i].q.val();
                self.base_hi.next = self.run_base[i].val();
            }
            self.ltsacc[i + 1].next = self.ltsacc[i].val();
            if self.lim.q.val() < self.k_split[i].val() {
                self.ltsacc[i + 1].next = self.ltsacc[i].val() | self.lane_bit[i].val();
            }
            self.lteacc[i + 1].next = self.lteacc[i].val();
            if self.lim.q.val() < self.k_empty[i].val() {
                self.lteacc[i + 1].next = self.lteacc[i].val() | self.lane_bit[i].val();
            }
            for m in 0..self.w_bit.len() {
                self.ltsacc[i + 1].next = self.ltsacc[i].val();
                if !((self.lim.q.val() + self.c_split[i].val()) & self.w_bit[m].val()).any() {
                    self.ltsacc[i + 1].next = self.ltsacc[i].val() | self.lane_bit[i].val();
                }
                self.lteacc[i + 1].next = self.lteacc[i].val();
                if !((self.lim.q.val() + self.c_empty[i].val()) & self.w_bit[m].val()).any() {
                    self.lteacc[i + 1].next = self.lteacc[i].val() | self.lane_bit[i].val();
                }
            }
        }
        for i in self.h_d.len()..(self.h_d.len() + 1) {
            self.low.next = self.lowacc[i].val();
        }
        // `lt` is an upper set of lanes (L < i holds from some lane up), so the lowest lane is
        // in it exactly when no lane below it is: the split test does not wait for the lane
        // choice, and neither does `finishing` (one lane left and no split), which gates the
        // queue and every register of the held group.
        self.split.next = self.h_any.q.val() & !(self.h_mask.q.val() & !self.lt.q.val()).any();
        self.has.next = self.h_valid.q.val() & self.h_any.q.val();
        // The flags of the mask after this cycle's word (lowest lane cleared), off the loop:
        // they only wait in front of the flag registers. Counted per half in LUTs (x - 1
        // tests would put two carry chains in series).
        self.lo1.next = (self.h_mask.q.val() & 0x0f).any();
        self.hi1.next = (self.h_mask.q.val() & 0xf0).any();
        self.lo2.next = (self.h_mask.q.val().get_bit(0) & self.h_mask.q.val().get_bit(1))
            | (self.h_mask.q.val().get_bit(0) & self.h_mask.q.val().get_bit(2))
            | (self.h_mask.q.val().get_bit(0) & self.h_mask.q.val().get_bit(3))
            | (self.h_mask.q.val().get_bit(1) & self.h_mask.q.val().get_bit(2))
            | (self.h_mask.q.val().get_bit(1) & self.h_mask.q.val().get_bit(3))
            | (self.h_mask.q.val().get_bit(2) & self.h_mask.q.val().get_bit(3));
        self.hi2.next = (self.h_mask.q.val().get_bit(4) & self.h_mask.q.val().get_bit(5))
            | (self.h_mask.q.val().get_bit(4) & self.h_mask.q.val().get_bit(6))
            | (self.h_mask.q.val().get_bit(4) & self.h_mask.q.val().get_bit(7))
            | (self.h_mask.q.val().get_bit(5) & self.h_mask.q.val().get_bit(6))
            | (self.h_mask.q.val().get_bit(5) & self.h_mask.q.val().get_bit(7))
            | (self.h_mask.q.val().get_bit(6) & self.h_mask.q.val().get_bit(7));
        self.lo3.next = (self.h_mask.q.val().get_bit(0)
            & self.h_mask.q.val().get_bit(1)
            & self.h_mask.q.val().get_bit(2))
            | (self.h_mask.q.val().get_bit(0)
                & self.h_mask.q.val().get_bit(1)
                & self.h_mask.q.val().get_bit(3))
            | (self.h_mask.q.val().get_bit(0)
                & self.h_mask.q.val().get_bit(2)
                & self.h_mask.q.val().get_bit(3))
            | (self.h_mask.q.val().get_bit(1)
                & self.h_mask.q.val().get_bit(2)
                & self.h_mask.q.val().get_bit(3));
        self.hi3.next = (self.h_mask.q.val().get_bit(4)
            & self.h_mask.q.val().get_bit(5)
            & self.h_mask.q.val().get_bit(6))
            | (self.h_mask.q.val().get_bit(4)
                & self.h_mask.q.val().get_bit(5)
                & self.h_mask.q.val().get_bit(7))
            | (self.h_mask.q.val().get_bit(4)
                & self.h_mask.q.val().get_bit(6)
                & self.h_mask.q.val().get_bit(7))
            | (self.h_mask.q.val().get_bit(5)
                & self.h_mask.q.val().get_bit(6)
                & self.h_mask.q.val().get_bit(7));
        self.multi3.next = self.lo3.val()
            | self.hi3.val()
            | (self.lo2.val() & self.hi1.val())
            | (self.lo1.val() & self.hi2.val());
        self.ilo1.next = (self.in_nz.val() & 0x0f).any();
        self.ihi1.next = (self.in_nz.val() & 0xf0).any();
        self.ilo2.next = (self.in_nz.val().get_bit(0) & self.in_nz.val().get_bit(1))
            | (self.in_nz.val().get_bit(0) & self.in_nz.val().get_bit(2))
            | (self.in_nz.val().get_bit(0) & self.in_nz.val().get_bit(3))
            | (self.in_nz.val().get_bit(1) & self.in_nz.val().get_bit(2))
            | (self.in_nz.val().get_bit(1) & self.in_nz.val().get_bit(3))
            | (self.in_nz.val().get_bit(2) & self.in_nz.val().get_bit(3));
        self.ihi2.next = (self.in_nz.val().get_bit(4) & self.in_nz.val().get_bit(5))
            | (self.in_nz.val().get_bit(4) & self.in_nz.val().get_bit(6))
            | (self.in_nz.val().get_bit(4) & self.in_nz.val().get_bit(7))
            | (self.in_nz.val().get_bit(5) & self.in_nz.val().get_bit(6))
            | (self.in_nz.val().get_bit(5) & self.in_nz.val().get_bit(7))
            | (self.in_nz.val().get_bit(6) & self.in_nz.val().get_bit(7));
        self.in_multi.next =
            self.ilo2.val() | self.ihi2.val() | (self.ilo1.val() & self.ihi1.val());
        self.finishing.next = self.h_valid.q.val()
            & (!self.h_any.q.val() | (!self.h_multi.q.val() & !self.split.val()));
        // With one lane left (h_any and not h_multi) the split test is that lane's `lt` bit; with
        // none, h_mask is zero and so is the AND. Either way `finishing` is the expression below,
        // the same function of the registers without the lowest-lane test.
        for i in 0..self.one_split.len() {
            self.one_split[i].next = (self.h_mask.q.val() & self.lt.q.val()).any();
            self.finishing.next =
                self.h_valid.q.val() & !self.h_multi.q.val() & !self.one_split[i].val();
        }
        // H takes the queue head when it is empty or finishing this cycle.
        self.take.next = !self.h_valid.q.val() | self.finishing.val();
        self.pop.next = self.take.val() & self.q_count.q.val().any();
        self.push.next = self.in_valid.val() & self.ready_loc.q.val().any();
        self.ready.next = self.ready_q.q.val();
        for _i in 0..self.overrun_q.len() {
            self.ready.next = true;
        }
        // Word out, one cycle after the lane choice (COMPACTOR_WORD_DELAY).
        self.o_valid.d.next = self.has.val() | self.flush.q.val();
        self.o_lo.d.next = (self.h_mask.q.val() & self.lo_half.val()).any();
        self.o_base_lo.d.next = self.base_lo.val();
        self.o_base_hi.d.next = self.base_hi.val();
        self.o_lim.d.next = self.lim.q.val().get_bits::<8>(0);
        self.o_val_lo.d.next = self.dsel_lo.val();
        self.o_val_hi.d.next = self.dsel_hi.val();
        self.o_split.d.next = self.split.val();
        self.o_flush.d.next = self.flush.q.val();
        // A word: {nz, value, run}; a split: (R, 0); the terminator: (0, 1) (`rle_word`).
        self.w_valid.next = self.o_valid.q.val();
        self.w_base.next = self.o_base_hi.q.val();
        self.w_val.next = self.o_val_hi.q.val();
        if self.o_lo.q.val() {
            self.w_base.next = self.o_base_lo.q.val();
            self.w_val.next = self.o_val_lo.q.val();
        }
        // `run` is an 8-bit signal: inside the 18-bit cast, Verilog would widen the subtract
        // and its borrow would reach the value and nz bits.
        self.run.next = self.w_base.val() - self.o_lim.q.val();
        self.w_word.next = bit_cast::<18, 8>(self.run.val())
            | (bit_cast::<18, 9>(self.w_val.val()) << 8)
            | bits::<18>(1 << 17);
        if self.o_split.q.val() {
            self.w_word.next = bit_cast::<18, 8>(self.max_run.val().get_bits::<8>(0));
        }
        if self.o_flush.q.val() {
            self.w_word.next = bits::<18>(1 << 8);
        }
        // Stall-free: the single-lane encoder (see `sf_1v`), its word in place of the general
        // one's.
        for i in 0..self.overrun_q.len() {
            self.overrun_q[i].clock.next = self.clock.val();
            self.sf_1v[i].clock.next = self.clock.val();
            self.sf_1d[i].clock.next = self.clock.val();
            self.sf_1nz[i].clock.next = self.clock.val();
            self.sf_1last[i].clock.next = self.clock.val();
            self.sf_2v[i].clock.next = self.clock.val();
            self.sf_2d[i].clock.next = self.clock.val();
            self.sf_2nz[i].clock.next = self.clock.val();
            self.sf_2last[i].clock.next = self.clock.val();
            self.sf_zeros[i].clock.next = self.clock.val();
            self.sf_flush[i].clock.next = self.clock.val();
            self.sf_ovalid[i].clock.next = self.clock.val();
            self.sf_oval[i].clock.next = self.clock.val();
            self.sf_orun[i].clock.next = self.clock.val();
            self.sf_oflush[i].clock.next = self.clock.val();
            self.sf_1v[i].d.next = self.in_valid.val();
            self.sf_1d[i].d.next = self.in_d[i].val();
            self.sf_1nz[i].d.next = self.in_nz.val().get_bit(0);
            self.sf_1last[i].d.next = self.in_last.val();
            self.sf_2v[i].d.next = self.sf_1v[i].q.val();
            self.sf_2d[i].d.next = self.sf_1d[i].q.val();
            self.sf_2nz[i].d.next = self.sf_1nz[i].q.val();
            self.sf_2last[i].d.next = self.sf_1last[i].q.val();
            self.sf_zeros[i].d.next = self.sf_zeros[i].q.val();
            if self.sf_2v[i].q.val() {
                self.sf_zeros[i].d.next = self.sf_zeros[i].q.val() + 1;
                if self.sf_2nz[i].q.val() {
                    self.sf_zeros[i].d.next = 0.into();
                }
            }
            if self.start.val() {
                self.sf_zeros[i].d.next = 0.into();
            }
            self.sf_flush[i].d.next = self.sf_2v[i].q.val() & self.sf_2last[i].q.val();
            self.sf_ovalid[i].d.next =
                (self.sf_2v[i].q.val() & self.sf_2nz[i].q.val()) | self.sf_flush[i].q.val();
            self.sf_oval[i].d.next = self.sf_2d[i].q.val();
            self.sf_orun[i].d.next = self.sf_zeros[i].q.val().get_bits::<8>(0);
            self.sf_oflush[i].d.next = self.sf_flush[i].q.val();
            self.overrun_q[i].d.next = self.overrun_q[i].q.val()
                | (self.sf_2v[i].q.val()
                    & self.sf_2nz[i].q.val()
                    & (self.sf_zeros[i].q.val() > self.max_run9[i].val()));
            self.overrun.next = self.overrun_q[i].q.val();
            self.w_valid.next = self.sf_ovalid[i].q.val();
            // Through `run` and `w_val` (a bit_cast of an indexed signal does not translate).
            self.run.next = self.sf_orun[i].q.val();
            self.w_val.next = self.sf_oval[i].q.val();
            self.w_word.next = bit_cast::<18, 8>(self.run.val())
                | (bit_cast::<18, 9>(self.w_val.val()) << 8)
                | bits::<18>(1 << 17);
            if self.sf_oflush[i].q.val() {
                self.w_word.next = bits::<18>(1 << 8);
            }
        }
        // Outputs assigned once per evaluation (glitch-free for the parent's block).
        self.wr_valid.next = self.w_valid.val();
        self.wr_word.next = self.w_word.val();
        self.flush.d.next = self.finishing.val() & self.h_last.q.val();
        // Limit: a split moves it by R + 1; a word at lane j sets it to j + 1 + R; a finishing
        // group rebases it to the next group (- G). Every case is precomputed above.
        if self.has.val() {
            if self.split.val() {
                self.lim.d.next = self.lim.q.val() + self.step_split.val();
                for m in 0..self.lim_mask.len() {
                    self.lim.d.next =
                        (self.lim.q.val() + self.step_split.val()) & self.lim_mask[m].val();
                }
                for i in self.h_d.len()..(self.h_d.len() + 1) {
                    self.lt.d.next = self.ltsacc[i].val();
                }
            } else {
                self.lim.d.next = self.wl.val();
                self.lt.d.next = self.wlt.val();
                self.h_mask.d.next = self.h_mask.q.val() & !self.low.val();
                self.h_any.d.next = self.h_multi.q.val();
                self.h_multi.d.next = self.multi3.val();
            }
        }
        if self.finishing.val() {
            if self.has.val() {
                self.lim.d.next = self.wfl.val();
                self.lt.d.next = self.wflt.val();
            } else {
                self.lim.d.next = self.lim.q.val() - self.step_group.val();
                for m in 0..self.lim_mask.len() {
                    self.lim.d.next =
                        (self.lim.q.val() - self.step_group.val()) & self.lim_mask[m].val();
                }
                for i in self.h_d.len()..(self.h_d.len() + 1) {
                    self.lt.d.next = self.lteacc[i].val();
                }
            }
        }
        if self.start.val() {
            self.lim.d.next = self.l_start.val();
            self.lt.d.next = self.lt_start.val();
        }
        if self.take.val() {
            self.h_valid.d.next = self.pop.val();
            self.h_mask.d.next = self.q_nza.q.val();
            self.h_any.d.next = self.q_anya.q.val();
            self.h_multi.d.next = self.q_multia.q.val();
            self.h_last.d.next = self.q_lasta.q.val();
            if self.q_rd.q.val() {
                self.h_mask.d.next = self.q_nzb.q.val();
                self.h_any.d.next = self.q_anyb.q.val();
                self.h_multi.d.next = self.q_multib.q.val();
                self.h_last.d.next = self.q_lastb.q.val();
            }
            for i in 0..self.h_d.len() {
                self.h_d[i].d.next = self.q_da[i].q.val();
                if self.q_rd.q.val() {
                    self.h_d[i].d.next = self.q_db[i].q.val();
                }
            }
        }
        // Queue.
        self.count_next.next = self.q_count.q.val();
        if self.push.val() & !self.pop.val() {
            self.count_next.next = self.q_count.q.val() + 1;
        }
        if self.pop.val() & !self.push.val() {
            self.count_next.next = self.q_count.q.val() - 1;
        }
        self.q_count.d.next = self.count_next.val();
        self.ready_q.d.next = !self.count_next.val().get_bit(1);
        self.ready_loc.clock.next = self.clock.val();
        self.ready_loc.enable.next = true;
        self.ready_loc.d.next = 1.into();
        if self.count_next.val().get_bit(1) {
            self.ready_loc.d.next = 0.into();
        }
        if self.pop.val() {
            self.q_rd.d.next = !self.q_rd.q.val();
        }
        if self.push.val() {
            self.q_wr.d.next = !self.q_wr.q.val();
        }
        for i in 0..self.h_d.len() {
            self.q_da[i].clock.next = self.clock.val();
            self.q_db[i].clock.next = self.clock.val();
            self.q_da[i].d.next = self.q_da[i].q.val();
            self.q_db[i].d.next = self.q_db[i].q.val();
            if !self.occ_a.q.val() {
                self.q_da[i].d.next = self.in_d[i].val();
            }
            if !self.occ_b.q.val() {
                self.q_db[i].d.next = self.in_d[i].val();
            }
        }
        if self.pop.val() & !self.q_rd.q.val() {
            self.occ_a.d.next = false;
        }
        if self.pop.val() & self.q_rd.q.val() {
            self.occ_b.d.next = false;
        }
        if self.push.val() & !self.q_wr.q.val() {
            self.occ_a.d.next = true;
        }
        if self.push.val() & self.q_wr.q.val() {
            self.occ_b.d.next = true;
        }
        if !self.occ_a.q.val() {
            self.q_nza.d.next = self.in_nz.val();
            self.q_anya.d.next = self.in_nz.val().any();
            self.q_multia.d.next = self.in_multi.val();
            self.q_lasta.d.next = self.in_last.val();
        }
        if !self.occ_b.q.val() {
            self.q_nzb.d.next = self.in_nz.val();
            self.q_anyb.d.next = self.in_nz.val().any();
            self.q_multib.d.next = self.in_multi.val();
            self.q_lastb.d.next = self.in_last.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::ClockedSim;
    use crate::rle_buffer::rle_unword;
    use deltagen::cycles::group_words;
    use rand::{Rng, SeedableRng};

    /// The longest vector of `compactor_words_rebuild_vectors`.
    const MAX_LEN: usize = 60;

    #[test]
    fn compactor_yosys_validate() {
        let mut uut = Compactor::new(4, 3, true);
        uut.connect_all();
        yosys_validate("deltagen_hdl_compactor", &generate_verilog(&uut)).unwrap();
        let mut uut = Compactor::new(1, 6, false)
            .trimmed_limit(true, MAX_LEN)
            .stall_free(true);
        uut.connect_all();
        yosys_validate("deltagen_hdl_compactor_free", &generate_verilog(&uut)).unwrap();
    }

    /// Random sparse vectors: the words rebuild the vector exactly (splits, terminator), and
    /// every group occupies max(1, words) cycles of the word stream (the count
    /// `cycles::group_words` gives), starting 2 + COMPACTOR_WORD_DELAY cycles after the first
    /// group is taken.
    #[test]
    fn compactor_words_rebuild_vectors() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        // Both forms: ECP5's (`keep`) and iCE40's (the one-lane split test in `finishing`),
        // and the iCE40 limit trimmed to the longest vector here (`trim`: 9 bits, 10 with
        // R = 255).
        // `free`: the stall-free form (one lane, vectors of at most R + 1 = 64 or 256).
        for (lanes, run_bits, keep, trim, free) in [
            (1usize, 1u32, true, false, false),
            (3, 2, true, false, false),
            (4, 8, true, false, false),
            (8, 3, true, false, false),
            (1, 1, false, false, false),
            (2, 2, false, false, false),
            (4, 3, false, false, false),
            (8, 3, false, false, false),
            (1, 1, false, true, false),
            (1, 6, false, true, false),
            (1, 6, false, true, true),
            (1, 8, false, true, false),
            (1, 8, false, true, true),
            (3, 2, false, true, false),
            (8, 3, false, true, false),
        ] {
            let max_run = (1u64 << run_bits) - 1;
            let uut = Compactor::new(lanes, run_bits, keep)
                .trimmed_limit(trim, MAX_LEN)
                .stall_free(free);
            let mut sim = ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap();
            for _ in 0..20 {
                let len = rng.gen_range(1..=MAX_LEN);
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
                    assert!(
                        cycles < 10_000,
                        "{lanes} lanes, run bits {run_bits}, keep {keep}, trim {trim}"
                    );
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
                    assert!(ready || !free, "a stall-free compactor stalled");
                    if sim.uut.wr_valid.val() {
                        word_cycles.push(cycles);
                        let w = sim.uut.wr_word.val().to_u64();
                        let (run, value, last) = rle_unword(w);
                        // The nz bit is set exactly on the words with a value.
                        assert_eq!(w >> 17 == 1, !last && value != 0);
                        words.push((run, value, last));
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
                let mut t = first_take.unwrap() + 2 + COMPACTOR_WORD_DELAY;
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
                if free {
                    assert!(!sim.uut.overrun.val());
                }
            }
        }
    }

    /// A stall-free compactor fed a vector that does need splits (a run of 15 zeros with
    /// R = 3: three split words in front of the value, more than the queue absorbs) takes the
    /// next groups anyway, and says so with the sticky `overrun`.
    #[test]
    fn stall_free_compactor_flags_an_overrun() {
        let uut = Compactor::new(1, 2, false).stall_free(true);
        let mut sim = ClockedSim::new(uut, |u, c| u.clock.next = Clock::from(c)).unwrap();
        sim.uut.start.next = true;
        sim.cycle().unwrap();
        sim.uut.start.next = false;
        let mut vec = vec![0; 15];
        vec.extend([7, 3, 1, 2, 5, 6]);
        for (g, &v) in vec.iter().enumerate() {
            assert!(sim.uut.ready.val());
            sim.uut.in_valid.next = true;
            sim.uut.in_d[0].next = (v as u64).into();
            sim.uut.in_nz.next = u64::from(v != 0).into();
            sim.uut.in_base.next = (g as u64).into();
            sim.uut.in_last.next = g + 1 == vec.len();
            sim.cycle().unwrap();
        }
        sim.uut.in_valid.next = false;
        for _ in 0..4 {
            sim.cycle().unwrap();
        }
        assert!(sim.uut.overrun.val());
    }
}
