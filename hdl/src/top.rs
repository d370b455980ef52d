//! Top level and layer sequencer of the delta accelerator.
//!
//! Streams: `s_axis_*` carries input frames, `nz_lanes` int8 elements per beat in
//! `tdata[8g+7:8g]`, `tuser` high on the first beat of a frame starts a new sequence (references
//! cleared, accumulators reloaded with the biases), `tlast` marks the frame's last beat.
//! `m_axis_*` carries the int32 logits of every frame, `tlast` on the last one. `busy` is high
//! while a frame is in work, `done` pulses when its last logit is accepted.
//!
//! Sequencer, per frame: [Init] then for every layer Load, Run, Drain, then Load (read-out
//! entry), Out. Run feeds the layer's input vector through the delta encoder (from the input
//! stream for layer 0, from the requant lanes scanning the previous layer's accumulators
//! otherwise) while the decoder already issues MAC ops for the words found so far. See
//! docs/architecture.md for the cycle count of each state.

use crate::compactor::Compactor;
use crate::decoder::Decoder;
use crate::delta_encoder::DeltaEncoder;
use crate::in_buffer::InBuffer;
use crate::keep_reg::KeepReg;
use crate::lane_pack::LanePack;
use crate::mac8x2::Mac8x2;
use crate::mem::SyncRom;
use crate::out_fifo::OutFifo;
use crate::params::{HwError, HwParams, Image, DESC_FIELDS};
use crate::pe::{Pe, PeKind};
use crate::requant::{RequantLane, REQUANT_LATENCY};
use crate::rle_buffer::RleBuffer;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, Debug, PartialEq, Eq, LogicState)]
pub enum SeqState {
    Idle,
    Init,
    Load,
    Run,
    Drain,
    Out,
}

/// Scan metadata stages: the Y word out of the BRAM, the PE's set register, its scan register,
/// then one per requant stage.
const META_STAGES: usize = 3 + REQUANT_LATENCY as usize;

/// Cycles the Drain state lasts (the flags `drain_a`, `drain_b`, `drain_last` in `update`): the
/// last MAC write lands before the next layer reads Y and before the PEs switch Y sets.
pub const DRAIN_CYCLES: u64 = 4;

/// PEs per group in the first level of the read-out multiplexer (a power of two: the bank
/// number's low bits pick the PE in its group, the others the group).
const LOGIT_GROUP: usize = 4;

#[derive(LogicBlock)]
pub struct DeltaTop {
    pub clock: Signal<In, Clock>,
    pub s_axis_tvalid: Signal<In, bool>,
    pub s_axis_tready: Signal<Out, bool>,
    pub s_axis_tdata: Signal<In, Bits<64>>,
    pub s_axis_tuser: Signal<In, bool>,
    pub s_axis_tlast: Signal<In, bool>,
    pub m_axis_tvalid: Signal<Out, bool>,
    pub m_axis_tready: Signal<In, bool>,
    pub m_axis_tdata: Signal<Out, Bits<32>>,
    pub m_axis_tlast: Signal<Out, bool>,
    pub busy: Signal<Out, bool>,
    pub done: Signal<Out, bool>,
    /// Sticky: an input `tlast` disagreed with the frame length of the model, or (a config
    /// whose compactor never stalls) the compactor met a run that needs a split word.
    pub error: Signal<Out, bool>,
    /// Activation monitor (for testbenches; leave unconnected in a design, synthesis drops it):
    /// `mon_valid` marks a group of hidden activations entering the delta encoder: layer
    /// `mon_layer` − 1's outputs `mon_base` .. `mon_base` + 7, lane g in `mon_z[8g+7:8g]`, valid
    /// lanes in `mon_lanes`.
    pub mon_valid: Signal<Out, bool>,
    pub mon_layer: Signal<Out, Bits<4>>,
    pub mon_base: Signal<Out, Bits<16>>,
    pub mon_lanes: Signal<Out, Bits<8>>,
    pub mon_z: Signal<Out, Bits<64>>,
    d_in_dim: SyncRom<16>,
    d_chunks: SyncRom<16>,
    d_wbase: SyncRom<16>,
    d_ybase: SyncRom<16>,
    d_theta: SyncRom<9>,
    d_rbase: SyncRom<16>,
    d_groups: SyncRom<16>,
    d_src_ybase: SyncRom<16>,
    d_multiplier: SyncRom<16>,
    d_shift: SyncRom<8>,
    d_round: SyncRom<48>,
    d_ysat: SyncRom<32>,
    d_tau: SyncRom<8>,
    d_zmax: SyncRom<8>,
    d_readout: SyncRom<1>,
    d_init_words: SyncRom<16>,
    d_frame_beats: SyncRom<16>,
    d_out_dim: SyncRom<16>,
    in_buf: InBuffer,
    out_fifo: OutFifo,
    mon_pack: LanePack,
    encoder: DeltaEncoder,
    compactor: Compactor,
    rle: RleBuffer,
    decoder: Decoder,
    pes: Vec<Pe>,
    /// `HwParams::pes_paired`: PEs 2k and 2k + 1 multiply in block k (none otherwise).
    macs: Vec<Mac8x2>,
    rq: Vec<RequantLane>,
    state: DFF<SeqState>,
    /// iCE40 (one entry each; none on ECP5, whose Verilog stays as it was): the sequencer's
    /// state one-hot, with `st_init`, `st_drain`, `st_out`: Idle (`nidle` clear), Load, Run.
    /// Every decision then reads a flip-flop, not a decode of `state` (a LUT level and a
    /// device-wide route in front of the counters it enables); `state` stays in Idle and Yosys
    /// removes it.
    nidle: Vec<DFF<bool>>,
    st_load: Vec<DFF<bool>>,
    st_run: Vec<DFF<bool>>,
    layer: DFF<Bits<4>>,
    cnt: DFF<Bits<16>>,
    initialized: DFF<bool>,
    mac_set: DFF<bool>,
    first: DFF<bool>,
    done_q: DFF<bool>,
    error_q: DFF<bool>,
    /// `HwParams::compactor_never_stalls` (one entry; none otherwise): the compactor's
    /// `overrun` exists and sets `error`.
    overrun_chk: Vec<Constant<bool>>,
    // front end (group issue)
    k: DFF<Bits<16>>,
    kbase: DFF<Bits<16>>,
    sub: DFF<Bits<8>>,
    /// Y address of the scan / read-out: starts at the layer's source base (no adder on the
    /// BRAM address).
    sc: DFF<Bits<16>>,
    /// sc + 1, kept beside it: a step loads it, so no carry chain sits behind the step's
    /// decision (which waits on the compactor's `ready`).
    sc_p1: DFF<Bits<16>>,
    /// state == Out / Init as flags: they select the PEs' Y RAM read addresses and the read-out
    /// steps, and a state decode there adds a level to paths that cross the device.
    st_out: DFF<bool>,
    st_init: DFF<bool>,
    /// state == Drain as a flag: it steps the descriptor ROMs' address.
    st_drain: DFF<bool>,
    /// The Init flag and address one cycle later, for the PEs: their bias copy (a Y read,
    /// then a write) runs a cycle behind the sequencer, so `st_init`'s enable logic stays
    /// beside the state register instead of following its fan-out to every PE's Y address.
    pe_init: DFF<bool>,
    pe_init_addr: DFF<Bits<16>>,
    // Flags and down counters instead of compares against descriptor words, so the
    // sequencer's decisions come from flip-flops: groups left (`k_more`: at least one,
    // `k_last`: exactly one), the reference address rbase + k, elements left in = in - kbase.
    kleft: DFF<Bits<16>>,
    k_more: DFF<bool>,
    k_last: DFF<bool>,
    kr: DFF<Bits<16>>,
    ll: DFF<Bits<16>>,
    /// ll >= G, kept as a flag: the lane mask is then a function of it and ll's low 3 bits.
    ll_full: DFF<bool>,
    /// iCE40 only (one entry each; none on ECP5, where the loops over them then write no
    /// Verilog): `kbase`, `kr`, `ll` and the lane mask counted again where the groups arrive,
    /// at the encoder's input, stepping when the encoder takes a valid group (groups arrive in
    /// issue order, so the values agree), plus `e_l0` = (layer == 0) as a flag for that step.
    /// The mask is a register (the next group's, from `e_ll`, loaded with the step), so the
    /// encoder's nonzero logic does not start from a shift and a carry chain.
    /// They feed the encoder, so the scan pipeline's copies (`m_base`, `m_k`, `m_lanes`: 11
    /// stages of 40 bits, about 330 flip-flops, each a logic cell on iCE40) have no loads and
    /// Yosys removes them. ECP5 keeps the carried copies: its timing was closed on them
    /// (144.8 MHz median with the counters there, 156.2 without).
    e_base: Vec<DFF<Bits<16>>>,
    e_k: Vec<DFF<Bits<16>>>,
    e_ll: Vec<DFF<Bits<16>>>,
    e_lanes: Vec<DFF<Bits<8>>>,
    /// The lane mask as a function of the low 4 bits of the elements left: `lane_tab[v]` for
    /// v < 2G (v >= 2G, or any higher bit set, means all lanes), `step_tab[v]` the same for
    /// v - G (the mask after a step), so neither needs an adder or a shifter.
    lane_tab: Vec<Constant<Bits<8>>>,
    step_tab: Vec<Constant<Bits<8>>>,
    nib: Vec<Constant<Bits<16>>>,
    hi_bits: Vec<Constant<Bits<16>>>,
    /// The mask of the group after next (ll - 2G), so a step loads `e_lanes` from this
    /// register (one LUT behind the step) and the table lookup moves to this one, on `e_ll`
    /// alone (`step2_tab` over its low 5 bits, `nib5`, `hi5`: 2G may exceed 15). The lookup
    /// behind the step was four LUT levels, failing on 9 of 10 UP5K seeds (session 22).
    e_lanes2: Vec<DFF<Bits<8>>>,
    step2_tab: Vec<Constant<Bits<8>>>,
    nib5: Vec<Constant<Bits<16>>>,
    hi5: Vec<Constant<Bits<16>>>,
    e_l0: Vec<DFF<bool>>,
    /// layer + 1, kept beside `layer` (with `e_l0`), so the descriptor ROMs' address in Drain
    /// is a 2:1 select of flip-flops, not an increment (the add was in front of every ROM
    /// register's reset decode: failing paths on the UP5K, session 22).
    layer_p1: Vec<DFFWithInit<Bits<4>>>,
    /// `HwParams::one_y_ram` (one entry, iCE40): the decoder may take words (so the MACs may
    /// read Y) in layer 0, or once the compactor has written the layer's terminator: every scan
    /// read of the previous layer's words, on the same Y RAM port, is done by then.
    mac_gate: Vec<DFF<bool>>,
    init_last: DFF<bool>,
    /// init_words - 2 - cnt during Init: `init_last` is its zero test.
    ileft: DFF<Bits<16>>,
    /// iCE40 (one entry; none on ECP5): ileft == 0, kept a cycle ahead (ileft == 1 before a
    /// decrement, init_words == 2 at the start), so `init_last` loads a flip-flop, not a
    /// 16-bit zero test behind the state flags (four LUT levels, failing on every UP5K seed
    /// in one netlist of session 22).
    il_zero: Vec<DFF<bool>>,
    /// ileft == 1, the same way: `il_zero` loads it, and it loads a compare of `ileft` (the
    /// bits `i_mask` covers) with 2 and nothing else in Init, so neither flag has a compare
    /// behind the state flags' select (four LUT levels into `il_zero` on some UP5K seeds).
    il_one: Vec<DFF<bool>>,
    i_mask: Vec<Constant<Bits<16>>>,
    drain_a: DFF<bool>,
    drain_b: DFF<bool>,
    drain_last: DFF<bool>,
    /// state == Run of a layer (not the read-out entry), as a flag: `issue` fans out widely.
    scan_run: DFF<bool>,
    /// `sub` is at P/G - 1 (the chunk's last group), `ob` at P - 1 (the chunk's last bank).
    sub_last: DFF<bool>,
    ob_last: DFF<bool>,
    // scan pipeline metadata: S1 (Y word out of the BRAM), S2 (the PE scan register), then the requant stages (the last
    // one is the encoder's E0)
    m_valid: Vec<DFF<bool>>,
    m_base: Vec<DFF<Bits<16>>>,
    m_last: Vec<DFF<bool>>,
    m_k: Vec<DFF<Bits<16>>>,
    m_lanes: Vec<DFF<Bits<8>>>,
    s0_sub: DFF<Bits<8>>,
    s1_sub: DFF<Bits<8>>,
    /// s2_hot[k]: the chunk read three advances earlier is sub-chunk k (decoded a stage early, so
    /// the requant lanes' bank multiplexer selects on a flip-flop).
    s2_hot: Vec<DFF<bool>>,
    sub_id: Vec<Constant<Bits<8>>>,
    /// The input buffer's beat, registered (nothing between the BRAM and this register: on
    /// ECP5 the DP16KD's output register); layer-0 groups meet it at metadata stage 1.
    in_q: DFF<Bits<64>>,
    // read-out
    o_valid: DFF<bool>,
    o_last: DFF<bool>,
    o_bank: DFF<Bits<8>>,
    // ... one cycle later (the word is out of the PE's Y set register), and one more, when it
    // is out of the PE's scan register
    n_valid: DFF<bool>,
    n_last: DFF<bool>,
    n_bank: DFF<Bits<8>>,
    p_valid: DFF<bool>,
    p_last: DFF<bool>,
    p_bank: DFF<Bits<8>>,
    oleft: DFF<Bits<16>>,
    o_more: DFF<bool>,
    o_one: DFF<bool>,
    ob: DFF<Bits<8>>,
    // ... after the first level of the bank multiplexer: one word per group of 4 PEs (PEs sit
    // all over the device, so a P:1 multiplexer in one cycle is a cross-chip path)
    l1_logit: Vec<DFF<Bits<32>>>,
    q_valid: DFF<bool>,
    q_last: DFF<bool>,
    /// One-hot bank selects of both multiplexer levels, decoded a stage early (`p_hot[j]`: the
    /// bank's place in its group is `hot_lo[j]`, one copy per group `hot_grp[j]`, so each drives
    /// one group's 32 bits; `q_hot[g]`: the bank is in group g).
    p_hot: Vec<KeepReg<1>>,
    hot_grp: Vec<Constant<Bits<8>>>,
    hot_lo: Vec<Constant<Bits<8>>>,
    q_hot: Vec<DFF<bool>>,
    // read-out, after the second level of the bank multiplexer
    w_valid: DFF<bool>,
    w_last: DFF<bool>,
    w_logit: DFF<Bits<32>>,
    adv: Signal<Local, bool>,
    issue: Signal<Local, bool>,
    grp_last: Signal<Local, bool>,
    in_lanes: Signal<Local, Bits<8>>,
    lanes_left: Signal<Local, Bits<16>>,
    logit: Signal<Local, Bits<32>>,
    rom_addr: Signal<Local, Bits<4>>,
    bank_lane: Vec<Constant<Bits<8>>>,
    bank_sub: Vec<Constant<Bits<8>>>,
    /// PE b's group of 4 in the read-out multiplexer and its place in it.
    bank_grp: Vec<Constant<Bits<8>>>,
    bank_lo: Vec<Constant<Bits<8>>>,
    grp_id: Vec<Constant<Bits<8>>>,
    grp_base: Vec<Constant<Bits<8>>>,
    lo_mask: Constant<Bits<8>>,
    lane_id: Vec<Constant<Bits<8>>>,
    /// iCE40 (one per lane; none on ECP5, whose Verilog stays as it was): the PEs zero their
    /// scan words unless selected (`Pe::scan_sel`, from `s1_sub` as `s2_hot` is), so lane i's
    /// input is the OR of its banks' words.
    lane_or: Vec<Signal<Local, Bits<32>>>,
    /// ... with the select of bank b in a register (`s1_sub == b / G`, loaded from `s0_sub`
    /// with it), so no compare sits between the sequencer and the PEs' scan registers.
    sel_r: Vec<DFF<bool>>,
    /// With `sel_r` (one entry): `st_out` copied for the PEs' scan selects (a KeepReg loaded
    /// with its next value), so the read-out counters' own `st_out` is not pulled toward the
    /// PEs (a 4.6 ns route in front of the scan step's flags on the UP5K, session 22).
    st_out_pe: Vec<KeepReg<1>>,
    n_lanes: Constant<Bits<16>>,
    all_lanes: Constant<Bits<8>>,
    /// 2G: ll >= 2G before an issue means ll >= G after it.
    two_lanes: Constant<Bits<16>>,
    n_sub: Constant<Bits<8>>,
    /// iCE40 (one entry each; empty on ECP5): `sub` one-hot, bit k set when sub == k, so
    /// `sub_last` and `sub_pen` load from its bits n - 2 and n - 3 (`ring_pen`, `ring_p3`:
    /// zero when n is below 2 or 3) and no compare sits between `issue` and them.
    sub_ring: Vec<DFF<Bits<64>>>,
    ring_mask: Vec<Constant<Bits<64>>>,
    ring_pen: Vec<Constant<Bits<64>>>,
    ring_p3: Vec<Constant<Bits<64>>>,
    /// iCE40 only (empty on ECP5, whose Verilog stays as measured): n_pe - 2, so `ob_last`
    /// loads from `ob == n - 2` (a compare with a constant) instead of `ob + 2 == n` (a carry
    /// chain, then the compare): ob -> ob_last measured -3.1 ns slack at 70 MHz on every seed
    /// (session 16).
    n_pe_m2: Vec<Constant<Bits<8>>>,
    n_pe: Constant<Bits<8>>,
    /// iCE40 only (one entry each; none on ECP5): the scan address step's two products in
    /// flip-flops, `step_run` = `scan_run & sub_last` and `step_out` = `st_out & ob_last`, so
    /// the step is `(adv & step_run) | step_out`, one LUT in front of `sc`'s select (the
    /// products with `k_more` / `o_more` took five LUT levels from `st_out` or `ready` to `sc`
    /// and ended the critical path on 5 of 10 seeds, session 19). Each is loaded from a flag
    /// holding its factor's next value: `sub_pen` / `ob_pen` (the counter at n - 2) for
    /// `sub_last` / `ob_last`; `n_pe_m3` is n - 3 (8-bit wrapping, so never met below 3) for
    /// `ob_pen`'s own next value, `sub_ring` gives `sub_pen`'s.
    step_run: Vec<DFF<bool>>,
    step_out: Vec<DFF<bool>>,
    sub_pen: Vec<DFF<bool>>,
    ob_pen: Vec<DFF<bool>>,
    n_pe_m3: Vec<Constant<Bits<8>>>,
    /// With them: the bits `oleft` needs (loaded with a layer's input width, at most
    /// max(max_in, max_out); in Out the logit count).
    o_mask: Vec<Constant<Bits<16>>>,
}

/// Lanes holding an element when `left` elements are left: all G lanes from G up, else the low
/// `left & 7` (the sequencer's `in_lanes`, in the same wrapping arithmetic).
fn lane_mask(left: u64, g: usize) -> usize {
    if left >= g as u64 {
        (1 << g) - 1
    } else {
        ((1u64 << (left & 7)) - 1) as usize
    }
}

/// The low bits that hold every value up to `most` (2^k - 1 for the least k), so a counter's
/// compare with a small constant reads only the bits it can use.
fn cover_mask(most: u64) -> Constant<Bits<16>> {
    Constant::new(((most + 1).next_power_of_two() - 1).into())
}

/// `sub_ring` constants for n = P/G sub-chunks: the mask of its n bits (`back` 0), else the
/// bit n - `back` (zero when n < `back`).
fn ring_bits(n: usize, back: usize) -> u64 {
    match back {
        0 if n >= 64 => u64::MAX,
        0 => (1 << n) - 1,
        _ if n < back => 0,
        _ => 1 << (n - back),
    }
}

fn rom<const W: usize>(depth: usize, image: &Image, field: usize, prefix: &str) -> SyncRom<W> {
    let words: Vec<u64> = image.descriptors.iter().map(|d| d.field(field)).collect();
    SyncRom::new(
        depth,
        &words,
        format!("{prefix}desc_{}.hex", DESC_FIELDS[field].0),
    )
}

impl DeltaTop {
    /// Builds the accelerator for `params` holding `image`; `prefix` is prepended to every
    /// `$readmemh` file name.
    pub fn new(params: &HwParams, image: &Image, prefix: &str) -> Result<Self, HwError> {
        params.validate()?;
        let geo = image.geometry;
        let p = params.p();
        let g = params.g();
        let dd = geo.desc_depth;
        let pes = (0..p)
            .map(|b| {
                Pe::new(
                    PeKind {
                        dsp: b < params.pes_on_dsp(),
                        keep: params.replicate,
                        acc_bits: params.acc_bits,
                        onehot: !params.replicate,
                        one_y_ram: params.one_y_ram,
                        paired: params.pes_paired(),
                        gated_scan: !params.replicate,
                        spaced: params.spaced_words,
                    },
                    &image.weights[b],
                    geo.weight_depth,
                    [&image.bias[0][b], &image.bias[1][b]],
                    geo.y_set_depth,
                    &format!("{prefix}pe{b}"),
                )
            })
            .collect();
        let rq_dsp = params.rq_lanes_on_dsp();
        let counted = usize::from(!params.replicate);
        let c8 = |v: usize| Constant::new((v as u64).into());
        Ok(Self {
            clock: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tuser: Default::default(),
            s_axis_tlast: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tlast: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            error: Default::default(),
            mon_valid: Default::default(),
            mon_layer: Default::default(),
            mon_base: Default::default(),
            mon_lanes: Default::default(),
            mon_z: Default::default(),
            d_in_dim: rom(dd, image, 0, prefix),
            d_chunks: rom(dd, image, 1, prefix),
            d_wbase: rom(dd, image, 2, prefix),
            d_ybase: rom(dd, image, 3, prefix),
            d_theta: rom(dd, image, 4, prefix),
            d_rbase: rom(dd, image, 5, prefix),
            d_groups: rom(dd, image, 6, prefix),
            d_src_ybase: rom(dd, image, 7, prefix),
            d_multiplier: rom(dd, image, 8, prefix),
            d_shift: rom(dd, image, 9, prefix),
            d_round: rom(dd, image, 10, prefix),
            d_ysat: rom(dd, image, 11, prefix),
            d_tau: rom(dd, image, 12, prefix),
            d_zmax: rom(dd, image, 13, prefix),
            d_readout: rom(dd, image, 14, prefix),
            d_init_words: rom(dd, image, 15, prefix),
            d_frame_beats: rom(dd, image, 16, prefix),
            d_out_dim: rom(dd, image, 17, prefix),
            in_buf: InBuffer::with_flags(geo.in_slot_beats, !params.replicate),
            out_fifo: OutFifo::new(geo.out_depth, params.acc_bits < 32)
                .trimmed(!params.replicate)
                .lagged_count(!params.replicate)
                .skid(!params.replicate),
            mon_pack: LanePack::new(g),
            encoder: DeltaEncoder::new(g, geo.r_depth).registered_bounds(!params.replicate),
            compactor: Compactor::new(g, params.rle_run_bits, params.replicate)
                .trimmed_limit(!params.replicate, params.max_vector_len())
                .stall_free(params.compactor_never_stalls()),
            rle: RleBuffer::new(geo.fifo_depth).avail_flag(!params.replicate),
            decoder: Decoder::new(params.one_y_ram).registered_chunks(
                !params.replicate,
                params.chunks(params.max_out as usize),
                params.spaced_words,
            ),
            pes,
            rq: (0..g)
                .map(|i| RequantLane::new(i < rq_dsp, params.replicate, params.acc_bits))
                .collect(),
            state: Default::default(),
            nidle: (0..counted).map(|_| Default::default()).collect(),
            st_load: (0..counted).map(|_| Default::default()).collect(),
            st_run: (0..counted).map(|_| Default::default()).collect(),
            layer: Default::default(),
            cnt: Default::default(),
            initialized: Default::default(),
            mac_set: Default::default(),
            first: Default::default(),
            done_q: Default::default(),
            error_q: Default::default(),
            overrun_chk: (0..usize::from(params.compactor_never_stalls()))
                .map(|_| Constant::new(true))
                .collect(),
            k: Default::default(),
            kbase: Default::default(),
            sub: Default::default(),
            sc: Default::default(),
            sc_p1: Default::default(),
            st_out: Default::default(),
            st_init: Default::default(),
            st_drain: Default::default(),
            pe_init: Default::default(),
            pe_init_addr: Default::default(),
            kleft: Default::default(),
            k_more: Default::default(),
            k_last: Default::default(),
            kr: Default::default(),
            ll: Default::default(),
            ll_full: Default::default(),
            e_base: (0..counted).map(|_| Default::default()).collect(),
            e_k: (0..counted).map(|_| Default::default()).collect(),
            e_ll: (0..counted).map(|_| Default::default()).collect(),
            e_lanes: (0..counted).map(|_| Default::default()).collect(),
            lane_tab: (0..16 * counted)
                .map(|v| c8(lane_mask(v as u64, g)))
                .collect(),
            step_tab: (0..16 * counted)
                .map(|v| c8(lane_mask((v as u64).wrapping_sub(g as u64) & 0xffff, g)))
                .collect(),
            nib: (0..16 * counted)
                .map(|v| Constant::new((v as u64).into()))
                .collect(),
            hi_bits: (0..counted)
                .map(|_| Constant::new(0xfff0u64.into()))
                .collect(),
            e_lanes2: (0..counted).map(|_| Default::default()).collect(),
            step2_tab: (0..32 * counted)
                .map(|v| c8(lane_mask((v as u64).wrapping_sub(2 * g as u64) & 0xffff, g)))
                .collect(),
            nib5: (0..32 * counted)
                .map(|v| Constant::new((v as u64).into()))
                .collect(),
            hi5: (0..counted)
                .map(|_| Constant::new(0xffe0u64.into()))
                .collect(),
            e_l0: (0..counted).map(|_| Default::default()).collect(),
            layer_p1: (0..counted).map(|_| DFFWithInit::new(1.into())).collect(),
            macs: (0..if params.pes_paired() { p / 2 } else { 0 })
                .map(|_| Mac8x2::default())
                .collect(),
            mac_gate: (0..usize::from(params.one_y_ram))
                .map(|_| Default::default())
                .collect(),
            init_last: Default::default(),
            ileft: Default::default(),
            il_zero: (0..counted).map(|_| Default::default()).collect(),
            il_one: (0..counted).map(|_| Default::default()).collect(),
            i_mask: (0..counted)
                .map(|_| cover_mask(geo.y_set_depth.max(geo.r_depth) as u64))
                .collect(),
            drain_a: Default::default(),
            drain_b: Default::default(),
            drain_last: Default::default(),
            scan_run: Default::default(),
            sub_last: Default::default(),
            ob_last: Default::default(),
            m_valid: (0..META_STAGES).map(|_| Default::default()).collect(),
            m_base: (0..META_STAGES).map(|_| Default::default()).collect(),
            m_last: (0..META_STAGES).map(|_| Default::default()).collect(),
            m_k: (0..META_STAGES).map(|_| Default::default()).collect(),
            m_lanes: (0..META_STAGES).map(|_| Default::default()).collect(),
            s0_sub: Default::default(),
            s1_sub: Default::default(),
            s2_hot: (0..p / g).map(|_| Default::default()).collect(),
            sub_id: (0..p / g).map(c8).collect(),
            in_q: Default::default(),
            p_valid: Default::default(),
            p_last: Default::default(),
            n_valid: Default::default(),
            n_last: Default::default(),
            n_bank: Default::default(),
            p_bank: Default::default(),
            o_valid: Default::default(),
            o_last: Default::default(),
            o_bank: Default::default(),
            oleft: Default::default(),
            o_more: Default::default(),
            o_one: Default::default(),
            ob: Default::default(),
            l1_logit: (0..p.div_ceil(LOGIT_GROUP))
                .map(|_| Default::default())
                .collect(),
            q_valid: Default::default(),
            q_last: Default::default(),
            // Kept on iCE40 too: merged, one flip-flop per place drove every group's 32 bits
            // (a 4.9 ns route on the UP5K, session 22).
            p_hot: (0..p.div_ceil(LOGIT_GROUP) * LOGIT_GROUP)
                .map(|_| KeepReg::new(true))
                .collect(),
            hot_grp: (0..p.div_ceil(LOGIT_GROUP) * LOGIT_GROUP)
                .map(|j| c8(j / LOGIT_GROUP))
                .collect(),
            hot_lo: (0..p.div_ceil(LOGIT_GROUP) * LOGIT_GROUP)
                .map(|j| c8(j % LOGIT_GROUP))
                .collect(),
            q_hot: (0..p.div_ceil(LOGIT_GROUP))
                .map(|_| Default::default())
                .collect(),
            w_valid: Default::default(),
            w_last: Default::default(),
            w_logit: Default::default(),
            adv: Default::default(),
            issue: Default::default(),
            grp_last: Default::default(),
            in_lanes: Default::default(),
            lanes_left: Default::default(),
            logit: Default::default(),
            rom_addr: Default::default(),
            bank_lane: (0..p).map(|b| c8(b % g)).collect(),
            bank_sub: (0..p).map(|b| c8(b / g)).collect(),
            bank_grp: (0..p).map(|b| c8(b / LOGIT_GROUP)).collect(),
            bank_lo: (0..p).map(|b| c8(b % LOGIT_GROUP)).collect(),
            grp_id: (0..p.div_ceil(LOGIT_GROUP)).map(c8).collect(),
            grp_base: (0..p.div_ceil(LOGIT_GROUP))
                .map(|g| c8(g * LOGIT_GROUP))
                .collect(),
            lo_mask: c8(LOGIT_GROUP - 1),
            lane_id: (0..g).map(c8).collect(),
            lane_or: (0..if params.replicate { 0 } else { g })
                .map(|_| Default::default())
                .collect(),
            st_out_pe: (0..usize::from(!params.replicate))
                .map(|_| KeepReg::new(true))
                .collect(),
            sel_r: (0..if params.replicate { 0 } else { p })
                .map(|_| Default::default())
                .collect(),
            n_lanes: Constant::new((g as u64).into()),
            all_lanes: Constant::new(((1u64 << g) - 1).into()),
            two_lanes: Constant::new((2 * g as u64).into()),
            n_sub: c8(p / g),
            n_pe: c8(p),
            // Wrapping, as `x + 2 == n` does in 8 bits.
            sub_ring: (0..usize::from(!params.replicate))
                .map(|_| Default::default())
                .collect(),
            ring_mask: (0..usize::from(!params.replicate))
                .map(|_| Constant::new(ring_bits(p / g, 0).into()))
                .collect(),
            ring_pen: (0..usize::from(!params.replicate))
                .map(|_| Constant::new(ring_bits(p / g, 2).into()))
                .collect(),
            ring_p3: (0..usize::from(!params.replicate))
                .map(|_| Constant::new(ring_bits(p / g, 3).into()))
                .collect(),
            n_pe_m2: (0..usize::from(!params.replicate))
                .map(|_| c8((p + 254) % 256))
                .collect(),
            step_run: (0..usize::from(!params.replicate))
                .map(|_| Default::default())
                .collect(),
            step_out: (0..usize::from(!params.replicate))
                .map(|_| Default::default())
                .collect(),
            sub_pen: (0..usize::from(!params.replicate))
                .map(|_| Default::default())
                .collect(),
            ob_pen: (0..usize::from(!params.replicate))
                .map(|_| Default::default())
                .collect(),
            n_pe_m3: (0..usize::from(!params.replicate))
                .map(|_| c8((p + 253) % 256))
                .collect(),
            o_mask: (0..usize::from(!params.replicate))
                .map(|_| cover_mask(params.max_in.max(params.max_out) as u64))
                .collect(),
        })
    }
}

impl Logic for DeltaTop {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            layer,
            cnt,
            initialized,
            mac_set,
            first,
            done_q,
            error_q,
            k,
            kbase,
            sub,
            sc,
            sc_p1,
            st_out,
            st_init,
            st_drain,
            pe_init,
            pe_init_addr,
            kleft,
            k_more,
            k_last,
            kr,
            ll,
            ll_full,
            init_last,
            ileft,
            drain_a,
            drain_b,
            drain_last,
            scan_run,
            sub_last,
            ob_last,
            s0_sub,
            s1_sub,
            in_q,
            p_valid,
            p_last,
            n_valid,
            n_last,
            n_bank,
            p_bank,
            q_valid,
            q_last,
            o_valid,
            o_last,
            o_bank,
            oleft,
            o_more,
            o_one,
            ob,
            w_valid,
            w_last,
            w_logit
        );
        // Descriptor ROMs, read every cycle (no enable decoded from the state to fan out to
        // every ROM register): entry `layer`, or the next one in Drain, so the next layer's
        // words are out in Load, where the counters load. Nothing reads them in Drain, and in
        // Idle and Init `layer` is 0.
        self.rom_addr.next = self.layer.q.val();
        if self.st_drain.q.val() {
            self.rom_addr.next = self.layer.q.val() + 1;
        }
        for i in 0..self.layer_p1.len() {
            self.rom_addr.next = self.layer.q.val();
            if self.st_drain.q.val() {
                self.rom_addr.next = self.layer_p1[i].q.val();
            }
        }
        self.d_in_dim.clock.next = self.clock.val();
        self.d_chunks.clock.next = self.clock.val();
        self.d_wbase.clock.next = self.clock.val();
        self.d_ybase.clock.next = self.clock.val();
        self.d_theta.clock.next = self.clock.val();
        self.d_rbase.clock.next = self.clock.val();
        self.d_groups.clock.next = self.clock.val();
        self.d_src_ybase.clock.next = self.clock.val();
        self.d_multiplier.clock.next = self.clock.val();
        self.d_shift.clock.next = self.clock.val();
        self.d_round.clock.next = self.clock.val();
        self.d_ysat.clock.next = self.clock.val();
        self.d_tau.clock.next = self.clock.val();
        self.d_zmax.clock.next = self.clock.val();
        self.d_readout.clock.next = self.clock.val();
        self.d_init_words.clock.next = self.clock.val();
        self.d_frame_beats.clock.next = self.clock.val();
        self.d_out_dim.clock.next = self.clock.val();
        self.d_in_dim.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_chunks.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_wbase.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_ybase.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_theta.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_rbase.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_groups.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_src_ybase.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_multiplier.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_shift.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_round.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_ysat.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_tau.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_zmax.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_readout.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_init_words.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_frame_beats.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_out_dim.read_address.next = bit_cast::<16, 4>(self.rom_addr.val());
        self.d_in_dim.read_enable.next = true;
        self.d_chunks.read_enable.next = true;
        self.d_wbase.read_enable.next = true;
        self.d_ybase.read_enable.next = true;
        self.d_theta.read_enable.next = true;
        self.d_rbase.read_enable.next = true;
        self.d_groups.read_enable.next = true;
        self.d_src_ybase.read_enable.next = true;
        self.d_multiplier.read_enable.next = true;
        self.d_shift.read_enable.next = true;
        self.d_round.read_enable.next = true;
        self.d_ysat.read_enable.next = true;
        self.d_tau.read_enable.next = true;
        self.d_zmax.read_enable.next = true;
        self.d_readout.read_enable.next = true;
        self.d_init_words.read_enable.next = true;
        self.d_frame_beats.read_enable.next = true;
        self.d_out_dim.read_enable.next = true;

        // Datapath clocks and defaults.
        self.encoder.clock.next = self.clock.val();
        self.compactor.clock.next = self.clock.val();
        self.rle.clock.next = self.clock.val();
        self.decoder.clock.next = self.clock.val();
        self.adv.next = self.compactor.ready.val();
        self.encoder.adv.next = self.adv.val();
        self.encoder.theta.next = self.d_theta.read_data.val();
        self.encoder.clear.next = false;
        self.encoder.clear_addr.next = self.cnt.q.val();
        self.compactor.in_valid.next = self.encoder.out_valid.val();
        self.compactor.in_nz.next = self.encoder.out_nz.val();
        self.compactor.in_base.next = self.encoder.out_base.val();
        self.compactor.in_last.next = self.encoder.out_last.val();
        for i in 0..self.rq.len() {
            self.compactor.in_d[i].next = self.encoder.out_d[i].val();
        }
        self.rle.wr_valid.next = self.compactor.wr_valid.val();
        self.rle.wr_word.next = self.compactor.wr_word.val();
        self.rle.pop.next = self.decoder.pop.val();
        self.decoder.nonempty.next = self.rle.nonempty.val();
        for i in 0..self.mac_gate.len() {
            self.mac_gate[i].clock.next = self.clock.val();
            self.mac_gate[i].d.next = self.mac_gate[i].q.val();
            // The terminator: (run 0, value 1) with nz clear (`rle_buffer::rle_word`).
            if self.compactor.wr_valid.val()
                & !self.compactor.wr_word.val().get_bit(17)
                & self.compactor.wr_word.val().get_bit(8)
            {
                self.mac_gate[i].d.next = true;
            }
        }
        self.decoder.word.next = self.rle.rd_word.val();
        self.decoder.in_dim.next = self.d_in_dim.read_data.val();
        self.decoder.chunks.next = self.d_chunks.read_data.val();
        self.decoder.wbase.next = self.d_wbase.read_data.val();
        self.decoder.ybase.next = self.d_ybase.read_data.val();

        // Group issue (front end): group k covers elements k*G .. k*G+G-1 of the layer input.
        self.grp_last.next = self.k_last.q.val();
        // Lanes holding an element: the low min(G, in - base) lanes (below G, ll < 8).
        self.lanes_left.next = self.ll.q.val() & 7;
        self.in_lanes.next = (bits::<8>(1) << self.lanes_left.val()) - 1;
        if self.ll_full.q.val() {
            self.in_lanes.next = self.all_lanes.val();
        }
        self.issue.next = self.scan_run.q.val() & self.k_more.q.val() & self.adv.val();
        // Input frames wait whole in the input buffer; layer 0 reads its beats by group index
        // (the buffer's registered read is the scan's S1 stage, like a Y read).
        self.in_buf.clock.next = self.clock.val();
        self.in_buf.s_axis_tvalid.next = self.s_axis_tvalid.val();
        self.in_buf.s_axis_tdata.next = self.s_axis_tdata.val();
        self.in_buf.s_axis_tuser.next = self.s_axis_tuser.val();
        self.in_buf.s_axis_tlast.next = self.s_axis_tlast.val();
        self.s_axis_tready.next = self.in_buf.s_axis_tready.val();
        self.in_buf.beats.next = self.d_frame_beats.read_data.val();
        self.in_buf.rd_beat.next = self.k.q.val();
        self.in_buf.rd_enable.next = self.adv.val();
        self.in_buf.consume.next =
            self.issue.val() & (self.layer.q.val() == 0) & self.grp_last.val();
        if self.in_buf.tlast_error.val() {
            self.error_q.d.next = true;
        }
        for i in 0..self.overrun_chk.len() {
            if self.compactor.overrun.val() & self.overrun_chk[i].val() {
                self.error_q.d.next = true;
            }
        }
        // Scan pipeline registers advance with the encoder.
        for k in 0..self.s2_hot.len() {
            self.s2_hot[k].clock.next = self.clock.val();
            self.s2_hot[k].d.next = self.s2_hot[k].q.val();
        }
        for b in 0..self.sel_r.len() {
            self.sel_r[b].clock.next = self.clock.val();
            self.sel_r[b].d.next = self.sel_r[b].q.val();
            // The read-out takes every bank's word.
            for i in 0..self.st_out_pe.len() {
                self.pes[b].scan_sel.next = self.st_out_pe[i].q.val().any() | self.sel_r[b].q.val();
            }
        }
        for j in 0..self.m_valid.len() {
            self.m_valid[j].clock.next = self.clock.val();
            self.m_base[j].clock.next = self.clock.val();
            self.m_last[j].clock.next = self.clock.val();
            self.m_valid[j].d.next = self.m_valid[j].q.val();
            self.m_base[j].d.next = self.m_base[j].q.val();
            self.m_last[j].d.next = self.m_last[j].q.val();
            self.m_k[j].clock.next = self.clock.val();
            self.m_k[j].d.next = self.m_k[j].q.val();
            self.m_lanes[j].clock.next = self.clock.val();
            self.m_lanes[j].d.next = self.m_lanes[j].q.val();
        }
        if self.adv.val() {
            self.m_valid[0].d.next = self.issue.val();
            self.m_base[0].d.next = self.kbase.q.val();
            self.m_last[0].d.next = self.grp_last.val();
            self.m_k[0].d.next = self.kr.q.val();
            self.m_lanes[0].d.next = self.in_lanes.val();
            self.s0_sub.d.next = self.sub.q.val();
            self.s1_sub.d.next = self.s0_sub.q.val();
            for k in 0..self.s2_hot.len() {
                self.s2_hot[k].d.next = self.s1_sub.q.val() == self.sub_id[k].val();
            }
            for b in 0..self.sel_r.len() {
                self.sel_r[b].d.next = self.s0_sub.q.val() == self.bank_sub[b].val();
            }
            self.in_q.d.next = self.in_buf.rd_data.val();
            for j in 1..self.m_valid.len() {
                self.m_valid[j].d.next = self.m_valid[j - 1].q.val();
                self.m_base[j].d.next = self.m_base[j - 1].q.val();
                self.m_last[j].d.next = self.m_last[j - 1].q.val();
                self.m_k[j].d.next = self.m_k[j - 1].q.val();
                self.m_lanes[j].d.next = self.m_lanes[j - 1].q.val();
            }
        }
        // Layer-0 groups leave the scan pipeline after S2 (they need no requant).
        if self.adv.val() & (self.layer.q.val() == 0) {
            self.m_valid[2].d.next = false;
        }
        for i in 0..self.sub_ring.len() {
            self.sub_ring[i].clock.next = self.clock.val();
            self.sub_ring[i].d.next = self.sub_ring[i].q.val();
        }
        if self.issue.val() {
            self.k.d.next = self.k.q.val() + 1;
            self.kr.d.next = self.kr.q.val() + 1;
            self.kleft.d.next = self.kleft.q.val() - 1;
            self.k_more.d.next = self.kleft.q.val() != 1;
            self.k_last.d.next = self.kleft.q.val() == 2;
            self.ll.d.next = self.ll.q.val() - self.n_lanes.val();
            self.ll_full.d.next = self.ll.q.val() >= self.two_lanes.val();
            self.kbase.d.next = self.kbase.q.val() + self.n_lanes.val();
            self.sub.d.next = self.sub.q.val() + 1;
            self.sub_last.d.next = (self.sub.q.val() + 2) == self.n_sub.val();
            for i in 0..self.sub_ring.len() {
                self.sub_last.d.next = (self.sub_ring[i].q.val() & self.ring_pen[i].val()).any();
                self.sub_ring[i].d.next = (self.sub_ring[i].q.val() << 1) & self.ring_mask[i].val();
                if self.sub_last.q.val() {
                    self.sub_ring[i].d.next = 1.into();
                }
            }
            if self.sub_last.q.val() {
                self.sub.d.next = 0.into();
                self.sub_last.d.next = self.n_sub.val() == 1;
            }
        }
        // Requant lanes: lane g takes bank sub*G + g of the chunk read two cycles earlier.
        for i in 0..self.rq.len() {
            self.rq[i].clock.next = self.clock.val();
            self.rq[i].adv.next = self.adv.val();
            self.rq[i].multiplier.next = self.d_multiplier.read_data.val();
            self.rq[i].round.next = self.d_round.read_data.val();
            self.rq[i].shift.next = self.d_shift.read_data.val();
            self.rq[i].ysat.next = self.d_ysat.read_data.val();
            self.rq[i].tau.next = self.d_tau.read_data.val();
            self.rq[i].zmax.next = self.d_zmax.read_data.val();
            self.rq[i].y.next = 0.into();
            for b in 0..self.pes.len() {
                for k in 0..self.s2_hot.len() {
                    if (self.bank_lane[b].val() == self.lane_id[i].val())
                        & (self.bank_sub[b].val() == self.sub_id[k].val())
                        & self.s2_hot[k].q.val()
                    {
                        self.rq[i].y.next = self.pes[b].scan_data.val();
                    }
                }
            }
            // Encoder input: the buffered input beat (layer 0) or the requant output.
            self.mon_pack.lane[i].next = self.rq[i].z.val();
            self.encoder.in_x[i].next = self.rq[i].z.val();
            if self.layer.q.val() == 0 {
                self.encoder.in_x[i].next = self.in_q.q.val().get_bits::<8>(8 * i);
            }
        }
        for i in 0..self.lane_or.len() {
            self.lane_or[i].next = 0.into();
            for b in 0..self.pes.len() {
                if self.bank_lane[b].val() == self.lane_id[i].val() {
                    self.lane_or[i].next = self.lane_or[i].val() | self.pes[b].scan_data.val();
                }
            }
            self.rq[i].y.next = self.lane_or[i].val();
        }
        // The last metadata stage lines up with the requant output (loop-relative index).
        for j in (self.m_valid.len() - 1)..self.m_valid.len() {
            self.encoder.in_valid.next = self.m_valid[j].q.val();
            self.encoder.in_base.next = self.m_base[j].q.val();
            self.encoder.in_last.next = self.m_last[j].q.val();
            self.encoder.in_lanes.next = self.m_lanes[j].q.val();
            self.encoder.in_raddr.next = self.m_k[j].q.val();
        }
        // Monitor: a hidden group is taken by the encoder in a cycle with `adv`.
        self.mon_valid.next =
            self.encoder.in_valid.val() & self.adv.val() & (self.layer.q.val() != 0);
        self.mon_layer.next = self.layer.q.val();
        self.mon_base.next = self.encoder.in_base.val();
        self.mon_lanes.next = self.encoder.in_lanes.val();
        self.mon_z.next = self.mon_pack.word.val();
        if self.layer.q.val() == 0 {
            self.encoder.in_valid.next = self.m_valid[1].q.val();
            self.encoder.in_base.next = self.m_base[1].q.val();
            self.encoder.in_last.next = self.m_last[1].q.val();
            self.encoder.in_lanes.next = self.m_lanes[1].q.val();
            self.encoder.in_raddr.next = self.m_k[1].q.val();
        }
        // iCE40: the group's base, reference address and lanes from the counters at the
        // encoder's input (see `e_base`).
        for i in 0..self.e_base.len() {
            self.e_base[i].clock.next = self.clock.val();
            self.e_k[i].clock.next = self.clock.val();
            self.e_ll[i].clock.next = self.clock.val();
            self.e_lanes[i].clock.next = self.clock.val();
            self.e_lanes2[i].clock.next = self.clock.val();
            self.e_l0[i].clock.next = self.clock.val();
            self.e_lanes2[i].d.next = self.e_lanes2[i].q.val();
            self.e_base[i].d.next = self.e_base[i].q.val();
            self.e_k[i].d.next = self.e_k[i].q.val();
            self.e_ll[i].d.next = self.e_ll[i].q.val();
            self.e_lanes[i].d.next = self.e_lanes[i].q.val();
            self.e_l0[i].d.next = self.e_l0[i].q.val();
            self.encoder.in_base.next = self.e_base[i].q.val();
            self.encoder.in_raddr.next = self.e_k[i].q.val();
            self.encoder.in_lanes.next = self.e_lanes[i].q.val();
            self.mon_base.next = self.e_base[i].q.val();
            self.mon_lanes.next = self.e_lanes[i].q.val();
            for j in (self.m_valid.len() - 1)..self.m_valid.len() {
                if self.adv.val()
                    & ((self.m_valid[j].q.val() & !self.e_l0[i].q.val())
                        | (self.m_valid[1].q.val() & self.e_l0[i].q.val()))
                {
                    self.e_k[i].d.next = self.e_k[i].q.val() + 1;
                    self.e_ll[i].d.next = self.e_ll[i].q.val() - self.n_lanes.val();
                    // The next group's lanes (those of ll - G, found a step ahead), and the
                    // ones after (ll - 2G, by table on ll's low bits).
                    self.e_lanes[i].d.next = self.e_lanes2[i].q.val();
                    self.e_lanes2[i].d.next = self.all_lanes.val();
                    if !(self.e_ll[i].q.val() & self.hi5[i].val()).any() {
                        for v in 0..self.step2_tab.len() {
                            if (self.e_ll[i].q.val() & 31) == self.nib5[v].val() {
                                self.e_lanes2[i].d.next = self.step2_tab[v].val();
                            }
                        }
                    }
                    self.e_base[i].d.next = self.e_base[i].q.val() + self.n_lanes.val();
                }
            }
        }

        // PEs.
        for b in 0..self.pes.len() {
            self.pes[b].clock.next = self.clock.val();
            self.pes[b].op_valid.next = self.decoder.op_valid.val();
            self.pes[b].op_waddr.next = self.decoder.op_waddr.val();
            self.pes[b].op_yaddr.next = self.decoder.op_yaddr.val();
            self.pes[b].op_delta.next = self.decoder.op_delta.val();
            self.pes[b].mac_set.next = self.mac_set.q.val();
            for _i in 0..self.mac_gate.len() {
                self.pes[b].mac_set.next = false;
            }
            self.pes[b].init_valid.next = self.pe_init.q.val();
            self.pes[b].init_addr.next = self.pe_init_addr.q.val();
            self.pes[b].scan_addr.next = self.sc.q.val();
            self.pes[b].scan_enable.next = self.adv.val();
            if self.st_out.q.val() {
                self.pes[b].scan_enable.next = true;
            }
        }

        for k in 0..self.macs.len() {
            self.macs[k].clock.next = self.clock.val();
            self.macs[k].a0.next = self.pes[2 * k].mul_w.val();
            self.macs[k].b0.next = self.pes[2 * k].mul_d.val();
            self.macs[k].a1.next = self.pes[2 * k + 1].mul_w.val();
            self.macs[k].b1.next = self.pes[2 * k + 1].mul_d.val();
            self.pes[2 * k].mul_p.next = self.macs[k].p0.val();
            self.pes[2 * k + 1].mul_p.next = self.macs[k].p1.val();
        }

        // Read-out of the last layer's accumulators into the logit FIFO, which has room for
        // the whole frame (checked before the frame started), so the read-out never waits.
        for g in 0..self.l1_logit.len() {
            self.l1_logit[g].clock.next = self.clock.val();
            self.l1_logit[g].d.next = 0.into();
            for b in 0..self.pes.len() {
                for j in 0..self.p_hot.len() {
                    if (self.bank_grp[b].val() == self.grp_id[g].val())
                        & (self.hot_grp[j].val() == self.grp_id[g].val())
                        & (self.bank_lo[b].val() == self.hot_lo[j].val())
                        & self.p_hot[j].q.val().any()
                    {
                        self.l1_logit[g].d.next = self.pes[b].scan_data.val();
                    }
                }
            }
        }
        self.logit.next = 0.into();
        for g in 0..self.l1_logit.len() {
            if self.q_hot[g].q.val() {
                self.logit.next = self.l1_logit[g].q.val();
            }
        }
        for j in 0..self.p_hot.len() {
            self.p_hot[j].clock.next = self.clock.val();
            self.p_hot[j].enable.next = true;
            self.p_hot[j].d.next = 0.into();
            if (self.n_bank.q.val() & self.lo_mask.val()) == self.hot_lo[j].val() {
                self.p_hot[j].d.next = 1.into();
            }
        }
        for g in 0..self.q_hot.len() {
            self.q_hot[g].clock.next = self.clock.val();
            self.q_hot[g].d.next =
                (self.p_bank.q.val() & !self.lo_mask.val()) == self.grp_base[g].val();
        }
        self.out_fifo.clock.next = self.clock.val();
        self.n_valid.d.next = self.o_valid.q.val();
        self.n_last.d.next = self.o_last.q.val();
        self.n_bank.d.next = self.o_bank.q.val();
        self.p_valid.d.next = self.n_valid.q.val();
        self.p_last.d.next = self.n_last.q.val();
        self.p_bank.d.next = self.n_bank.q.val();
        self.q_valid.d.next = self.p_valid.q.val();
        self.q_last.d.next = self.p_last.q.val();
        self.w_valid.d.next = self.q_valid.q.val();
        self.w_last.d.next = self.q_last.q.val();
        self.w_logit.d.next = self.logit.val();
        self.out_fifo.wr_valid.next = self.w_valid.q.val();
        self.out_fifo.wr_data.next = self.w_logit.q.val();
        self.out_fifo.wr_last.next = self.w_last.q.val();
        self.out_fifo.need.next = self.d_out_dim.read_data.val();
        self.out_fifo.m_axis_tready.next = self.m_axis_tready.val();
        self.m_axis_tvalid.next = self.out_fifo.m_axis_tvalid.val();
        self.m_axis_tdata.next = self.out_fifo.m_axis_tdata.val();
        self.m_axis_tlast.next = self.out_fifo.m_axis_tlast.val();

        // Sequencer.
        self.busy.next = self.state.q.val() != SeqState::Idle;
        self.done_q.d.next = self.out_fifo.m_axis_tvalid.val()
            & self.m_axis_tready.val()
            & self.out_fifo.m_axis_tlast.val();
        self.done.next = self.done_q.q.val();
        self.error.next = self.error_q.q.val();
        self.first.d.next = false;
        self.pe_init.d.next = self.st_init.q.val();
        self.pe_init_addr.d.next = self.cnt.q.val();
        // `first` is set only in Load, which always goes to Run: it is Run's first cycle
        // without a state decode in front of the blocks it starts.
        self.compactor.start.next = self.first.q.val();
        self.decoder.start.next = self.first.q.val();
        // Init's address counter, from the Init flag (0 outside Init; Idle and the end of
        // Init clear it), not from a state decode.
        if self.st_init.q.val() {
            self.cnt.d.next = self.cnt.q.val() + 1;
            if self.init_last.q.val() {
                self.cnt.d.next = 0.into();
            }
        }
        // Read-out (Out): one bank per cycle, from flags (the step of `sc` is shared with Run).
        if self.st_out.q.val() {
            self.o_valid.d.next = self.o_more.q.val();
            if self.o_more.q.val() {
                self.o_last.d.next = self.o_one.q.val();
                self.o_bank.d.next = self.ob.q.val();
                self.oleft.d.next = self.oleft.q.val() - 1;
                self.o_more.d.next = self.oleft.q.val() != 1;
                self.o_one.d.next = self.oleft.q.val() == 2;
                self.ob.d.next = self.ob.q.val() + 1;
                self.ob_last.d.next = (self.ob.q.val() + 2) == self.n_pe.val();
                for i in 0..self.n_pe_m2.len() {
                    self.ob_last.d.next = self.ob.q.val() == self.n_pe_m2[i].val();
                }
                if self.ob_last.q.val() {
                    self.ob.d.next = 0.into();
                    self.ob_last.d.next = self.n_pe.val() == 1;
                }
            }
        }
        // Scan address step: after a chunk's last group (Run) or its last bank (Out).
        if (self.issue.val() & self.sub_last.q.val())
            | (self.st_out.q.val() & self.o_more.q.val() & self.ob_last.q.val())
        {
            self.sc.d.next = self.sc_p1.q.val();
            self.sc_p1.d.next = self.sc_p1.q.val() + 1;
        }
        // iCE40: the same step from the registered products (Load still overrides below).
        for h in 0..self.step_run.len() {
            self.sc.d.next = self.sc.q.val();
            self.sc_p1.d.next = self.sc_p1.q.val();
            if (self.adv.val() & self.step_run[h].q.val()) | self.step_out[h].q.val() {
                self.sc.d.next = self.sc_p1.q.val();
                self.sc_p1.d.next = self.sc_p1.q.val() + 1;
            }
        }
        match self.state.q.val() {
            SeqState::Idle => {
                self.layer.d.next = 0.into();
                for i in 0..self.e_l0.len() {
                    self.e_l0[i].d.next = true;
                    self.layer_p1[i].d.next = 1.into();
                }
                self.init_last.d.next = self.d_init_words.read_data.val() <= 1;
                self.ileft.d.next = self.d_init_words.read_data.val() - 2;
                // A frame starts when it is whole in the input buffer and its logits fit the
                // FIFO, so nothing inside a frame waits on the streams.
                if self.in_buf.frame_ready.val() & self.out_fifo.room.val() {
                    self.state.d.next = SeqState::Load;
                    if self.in_buf.seq_start.val() | !self.initialized.q.val() {
                        self.state.d.next = SeqState::Init;
                        self.st_init.d.next = true;
                    }
                }
            }
            SeqState::Init => {
                self.encoder.clear.next = true;
                self.ileft.d.next = self.ileft.q.val() - 1;
                self.init_last.d.next = !self.ileft.q.val().any();
                if self.init_last.q.val() {
                    self.state.d.next = SeqState::Load;
                    self.st_init.d.next = false;
                    self.initialized.d.next = true;
                }
            }
            SeqState::Load => {
                self.state.d.next = SeqState::Run;
                for i in 0..self.mac_gate.len() {
                    self.mac_gate[i].d.next = !self.layer.q.val().any();
                }
                self.scan_run.d.next = !self.d_readout.read_data.val().any();
                self.first.d.next = true;
                self.mac_set.d.next = self.layer.q.val().get_bit(0);
                self.k.d.next = 0.into();
                self.kbase.d.next = 0.into();
                self.sub.d.next = 0.into();
                self.sub_last.d.next = self.n_sub.val() == 1;
                self.ob_last.d.next = self.n_pe.val() == 1;
                // The descriptor words of this layer are out since the last Drain cycle (or Idle).
                self.sc.d.next = self.d_src_ybase.read_data.val();
                self.sc_p1.d.next = self.d_src_ybase.read_data.val() + 1;
                self.kr.d.next = self.d_rbase.read_data.val();
                for i in 0..self.e_base.len() {
                    self.e_k[i].d.next = self.d_rbase.read_data.val();
                    self.e_base[i].d.next = 0.into();
                    self.e_ll[i].d.next = self.d_in_dim.read_data.val();
                    self.e_lanes[i].d.next = self.all_lanes.val();
                    self.e_lanes2[i].d.next = self.all_lanes.val();
                    if !(self.d_in_dim.read_data.val() & self.hi_bits[i].val()).any() {
                        for v in 0..self.lane_tab.len() {
                            if (self.d_in_dim.read_data.val() & 15) == self.nib[v].val() {
                                self.e_lanes[i].d.next = self.lane_tab[v].val();
                                self.e_lanes2[i].d.next = self.step_tab[v].val();
                            }
                        }
                    }
                }
                self.kleft.d.next = self.d_groups.read_data.val();
                self.k_more.d.next = self.d_groups.read_data.val().any();
                self.k_last.d.next = self.d_groups.read_data.val() == 1;
                self.ll.d.next = self.d_in_dim.read_data.val();
                self.ll_full.d.next = self.d_in_dim.read_data.val() >= self.n_lanes.val();
                self.oleft.d.next = self.d_in_dim.read_data.val();
                self.o_more.d.next = self.d_in_dim.read_data.val().any();
                self.o_one.d.next = self.d_in_dim.read_data.val() == 1;
                self.ob.d.next = 0.into();
            }
            SeqState::Run => {
                if self.d_readout.read_data.val().any() {
                    self.state.d.next = SeqState::Out;
                    self.st_out.d.next = true;
                }
                if self.decoder.done.val() {
                    self.state.d.next = SeqState::Drain;
                    self.st_drain.d.next = true;
                    self.st_out.d.next = false;
                    self.scan_run.d.next = false;
                    self.drain_a.d.next = false;
                    self.drain_b.d.next = false;
                    self.drain_last.d.next = false;
                }
            }
            SeqState::Drain => {
                // DRAIN_CYCLES = 4: the first cycle sets drain_a, the second drain_b, the third
                // drain_last, the fourth leaves.
                self.drain_a.d.next = true;
                self.drain_b.d.next = self.drain_a.q.val();
                self.drain_last.d.next = self.drain_b.q.val();
                if self.drain_last.q.val() {
                    self.state.d.next = SeqState::Load;
                    self.st_drain.d.next = false;
                    self.layer.d.next = self.layer.q.val() + 1;
                    for i in 0..self.e_l0.len() {
                        self.e_l0[i].d.next = false;
                        self.layer_p1[i].d.next = self.layer_p1[i].q.val() + 1;
                    }
                }
            }
            SeqState::Out => {
                if self.w_valid.q.val() & self.w_last.q.val() {
                    self.state.d.next = SeqState::Idle;
                    self.st_out.d.next = false;
                    // Idle reads descriptor entry 0.
                    self.layer.d.next = 0.into();
                    for i in 0..self.e_l0.len() {
                        self.e_l0[i].d.next = true;
                        self.layer_p1[i].d.next = 1.into();
                    }
                }
            }
            _ => {
                self.state.d.next = SeqState::Idle;
                self.st_out.d.next = false;
                self.st_init.d.next = false;
                self.st_drain.d.next = false;
            }
        }
        // iCE40: the sequencer on one-hot flags (see `nidle`). `state` stays in Idle, so the
        // match above reduces to its Idle arm, whose assignments are undone first.
        for h in 0..self.nidle.len() {
            self.nidle[h].clock.next = self.clock.val();
            self.st_load[h].clock.next = self.clock.val();
            self.st_run[h].clock.next = self.clock.val();
            self.nidle[h].d.next = self.nidle[h].q.val();
            self.st_load[h].d.next = self.st_load[h].q.val();
            self.st_run[h].d.next = self.st_run[h].q.val();
            self.state.d.next = SeqState::Idle;
            self.layer.d.next = self.layer.q.val();
            for i in 0..self.e_l0.len() {
                self.e_l0[i].d.next = self.e_l0[i].q.val();
                self.layer_p1[i].clock.next = self.clock.val();
                self.layer_p1[i].d.next = self.layer_p1[i].q.val();
            }
            self.init_last.d.next = self.init_last.q.val();
            self.ileft.d.next = self.ileft.q.val();
            self.il_zero[h].clock.next = self.clock.val();
            self.il_zero[h].d.next = self.il_zero[h].q.val();
            self.il_one[h].clock.next = self.clock.val();
            self.il_one[h].d.next = self.il_one[h].q.val();
            self.st_init.d.next = self.st_init.q.val();
            self.busy.next = self.nidle[h].q.val();
            // Idle.
            if !self.nidle[h].q.val() {
                self.layer.d.next = 0.into();
                for i in 0..self.e_l0.len() {
                    self.e_l0[i].d.next = true;
                    self.layer_p1[i].d.next = 1.into();
                }
                self.init_last.d.next = self.d_init_words.read_data.val() <= 1;
                self.ileft.d.next = self.d_init_words.read_data.val() - 2;
                self.il_zero[h].d.next = self.d_init_words.read_data.val() == 2;
                self.il_one[h].d.next = self.d_init_words.read_data.val() == 3;
                // A frame starts when it is whole in the input buffer and its logits fit the
                // FIFO, so nothing inside a frame waits on the streams.
                if self.in_buf.frame_ready.val() & self.out_fifo.room.val() {
                    self.nidle[h].d.next = true;
                    self.st_load[h].d.next = true;
                    if self.in_buf.seq_start.val() | !self.initialized.q.val() {
                        self.st_load[h].d.next = false;
                        self.st_init.d.next = true;
                    }
                }
            }
            if self.st_init.q.val() {
                self.encoder.clear.next = true;
                self.ileft.d.next = self.ileft.q.val() - 1;
                self.init_last.d.next = self.il_zero[h].q.val();
                self.il_zero[h].d.next = self.il_one[h].q.val();
                self.il_one[h].d.next = (self.ileft.q.val() & self.i_mask[h].val()) == 2;
                if self.init_last.q.val() {
                    self.st_load[h].d.next = true;
                    self.st_init.d.next = false;
                    self.initialized.d.next = true;
                }
            }
            if self.st_load[h].q.val() {
                self.st_load[h].d.next = false;
                self.st_run[h].d.next = true;
                // Layer 0 from its flag, not a decode of `layer` (shared with other logic, it
                // put a long route in front of the gate and the decoder's `blocked`).
                for i in 0..self.mac_gate.len() {
                    self.mac_gate[i].d.next = self.e_l0[h].q.val();
                }
                self.scan_run.d.next = !self.d_readout.read_data.val().any();
                self.first.d.next = true;
                self.mac_set.d.next = self.layer.q.val().get_bit(0);
                self.k.d.next = 0.into();
                self.kbase.d.next = 0.into();
                self.sub.d.next = 0.into();
                self.sub_last.d.next = self.n_sub.val() == 1;
                self.ob_last.d.next = self.n_pe.val() == 1;
                // The descriptor words of this layer are out since the last Drain cycle (or Idle).
                self.sc.d.next = self.d_src_ybase.read_data.val();
                self.sc_p1.d.next = self.d_src_ybase.read_data.val() + 1;
                self.kr.d.next = self.d_rbase.read_data.val();
                for i in 0..self.e_base.len() {
                    self.e_k[i].d.next = self.d_rbase.read_data.val();
                    self.e_base[i].d.next = 0.into();
                    self.e_ll[i].d.next = self.d_in_dim.read_data.val();
                    self.e_lanes[i].d.next = self.all_lanes.val();
                    self.e_lanes2[i].d.next = self.all_lanes.val();
                    if !(self.d_in_dim.read_data.val() & self.hi_bits[i].val()).any() {
                        for v in 0..self.lane_tab.len() {
                            if (self.d_in_dim.read_data.val() & 15) == self.nib[v].val() {
                                self.e_lanes[i].d.next = self.lane_tab[v].val();
                                self.e_lanes2[i].d.next = self.step_tab[v].val();
                            }
                        }
                    }
                }
                self.kleft.d.next = self.d_groups.read_data.val();
                self.k_more.d.next = self.d_groups.read_data.val().any();
                self.k_last.d.next = self.d_groups.read_data.val() == 1;
                self.ll.d.next = self.d_in_dim.read_data.val();
                self.ll_full.d.next = self.d_in_dim.read_data.val() >= self.n_lanes.val();
                self.oleft.d.next = self.d_in_dim.read_data.val();
                self.o_more.d.next = self.d_in_dim.read_data.val().any();
                self.o_one.d.next = self.d_in_dim.read_data.val() == 1;
                self.ob.d.next = 0.into();
            }
            if self.st_run[h].q.val() {
                if self.d_readout.read_data.val().any() {
                    self.st_run[h].d.next = false;
                    self.st_out.d.next = true;
                }
                if self.decoder.done.val() {
                    self.st_run[h].d.next = false;
                    self.st_drain.d.next = true;
                    self.st_out.d.next = false;
                    self.scan_run.d.next = false;
                    self.drain_a.d.next = false;
                    self.drain_b.d.next = false;
                    self.drain_last.d.next = false;
                }
            }
            if self.st_drain.q.val() {
                // DRAIN_CYCLES = 4: the first cycle sets drain_a, the second drain_b, the third
                // drain_last, the fourth leaves.
                self.drain_a.d.next = true;
                self.drain_b.d.next = self.drain_a.q.val();
                self.drain_last.d.next = self.drain_b.q.val();
                if self.drain_last.q.val() {
                    self.st_load[h].d.next = true;
                    self.st_drain.d.next = false;
                    self.layer.d.next = self.layer.q.val() + 1;
                    for i in 0..self.e_l0.len() {
                        self.e_l0[i].d.next = false;
                        self.layer_p1[i].d.next = self.layer_p1[i].q.val() + 1;
                    }
                }
            }
            // Out ends with the last logit into the FIFO.
            if self.st_out.q.val() & self.w_valid.q.val() & self.w_last.q.val() {
                self.nidle[h].d.next = false;
                self.st_out.d.next = false;
                // Idle reads descriptor entry 0.
                self.layer.d.next = 0.into();
                for i in 0..self.e_l0.len() {
                    self.e_l0[i].d.next = true;
                    self.layer_p1[i].d.next = 1.into();
                }
            }
        }
        // iCE40: the step's products for the next cycle, case by case as their factors change
        // above (`issue` and the read-out step, Load, the end of Run, the end of Out).
        for h in 0..self.step_run.len() {
            self.step_run[h].clock.next = self.clock.val();
            self.step_out[h].clock.next = self.clock.val();
            self.sub_pen[h].clock.next = self.clock.val();
            self.ob_pen[h].clock.next = self.clock.val();
            self.step_run[h].d.next = self.step_run[h].q.val();
            self.step_out[h].d.next = self.step_out[h].q.val();
            self.sub_pen[h].d.next = self.sub_pen[h].q.val();
            self.ob_pen[h].d.next = self.ob_pen[h].q.val();
            // Both leave out their counter's "more" flag (`k_more`, `o_more`): after the last
            // group or logit nothing issues, so a step then moves `sc` where nothing reads it
            // before Load sets it again.
            if self.issue.val() {
                // sub_last' as above, from sub_pen.
                self.step_run[h].d.next = self.sub_pen[h].q.val();
                self.sub_pen[h].d.next = (self.sub_ring[h].q.val() & self.ring_p3[h].val()).any();
                if self.sub_last.q.val() {
                    self.step_run[h].d.next = self.n_sub.val() == 1;
                    self.sub_pen[h].d.next = self.n_sub.val() == 2;
                }
            }
            // o_one is oleft == 1 (loaded with it in Load and at every step), so the read-out's
            // "more" flag needs no compare: oleft -> o_more was four LUT levels (session 22).
            if self.st_out.q.val() & self.o_more.q.val() {
                self.o_more.d.next = !self.o_one.q.val();
                self.o_one.d.next = (self.oleft.q.val() & self.o_mask[h].val()) == 2;
            }
            if self.st_out.q.val() & self.o_more.q.val() {
                self.step_out[h].d.next = self.ob_pen[h].q.val();
                self.ob_pen[h].d.next = self.ob.q.val() == self.n_pe_m3[h].val();
                if self.ob_last.q.val() {
                    self.step_out[h].d.next = self.n_pe.val() == 1;
                    self.ob_pen[h].d.next = self.n_pe.val() == 2;
                }
            }
            if self.st_load[h].q.val() {
                // scan_run' = !readout, sub_last' = (n_sub == 1); st_out stays clear.
                self.step_run[h].d.next =
                    !self.d_readout.read_data.val().any() & (self.n_sub.val() == 1);
                self.step_out[h].d.next = false;
                self.sub_pen[h].d.next = self.n_sub.val() == 2;
                self.ob_pen[h].d.next = self.n_pe.val() == 2;
                self.sub_ring[h].d.next = 1.into();
            }
            if self.st_run[h].q.val() {
                // Into Out (ob_last holds through Run), or into Drain.
                if self.d_readout.read_data.val().any() {
                    self.step_out[h].d.next = self.ob_last.q.val();
                }
                if self.decoder.done.val() {
                    self.step_run[h].d.next = false;
                    self.step_out[h].d.next = false;
                }
            }
            if self.st_out.q.val() & self.w_valid.q.val() & self.w_last.q.val() {
                self.step_out[h].d.next = false;
            }
        }
        // After every assignment of `st_out`'s next value.
        for i in 0..self.st_out_pe.len() {
            self.st_out_pe[i].clock.next = self.clock.val();
            self.st_out_pe[i].enable.next = true;
            self.st_out_pe[i].d.next = 0.into();
            if self.st_out.d.val() {
                self.st_out_pe[i].d.next = 1.into();
            }
        }
        // After every assignment of the gate's next value (the Load arm above sets it).
        for i in 0..self.mac_gate.len() {
            self.decoder.hold_next[i].next = !self.mac_gate[i].d.val();
        }
    }
}
