//! Cycle model of the accelerator schedule (docs/architecture.md describes the hardware).
//!
//! `ideal_cycles` is the zero-skipping limit, `dense_cycles` the same with every delta counted,
//! and `predicted_cycles` the exact cycle count of the schedule the RTL (`deltagen-hdl`)
//! implements: the whole-accelerator simulation tests hold the RTL to it cycle for cycle.
//!
//! Per frame the sequencer goes Idle → [Init] → (Load, Run, Drain) per layer → Load, Run
//! (read-out dispatch) → Out → Idle. The only data-dependent part is Run, modelled below as the
//! group stream through the compactor and the word stream through the decoder.

use serde::Serialize;

use crate::config::AccelConfig;
use crate::io::Traces;
use crate::model::Model;

/// Idle cycle between frames (the sequencer looks at the next beat's `tuser`).
pub const IDLE_CYCLES: u64 = 1;
/// Load: descriptor ROM read for the next layer.
pub const LOAD_CYCLES: u64 = 1;
/// Drain after the decoder's `done`: the last MAC write (7 stages after issue) lands before the
/// next layer's scan reads Y and before the PEs switch Y sets.
pub const DRAIN_CYCLES: u64 = 4;
/// Layer-0 groups: input-buffer read → its output register → encoder E0 (reference read) → E1
/// (reference word registered) → M (delta, threshold) → E2 (delta and nonzero mask registered)
/// → compactor queue → compactor register.
pub const INPUT_FRONT_LATENCY: u64 = 7;
/// Hidden groups: Y read → BRAM out → the PE's Y set register → its scan register → requant
/// (8 stages) → encoder E0 → E1 → M → E2 → queue → compactor.
pub const HIDDEN_FRONT_LATENCY: u64 = 16;
/// A word the compactor forms in cycle t is in the decoder at t + 6 (the compactor's output
/// register, the RLE buffer's write register, pointer compare, the BRAM read, its output
/// register, then the buffer's register queue).
pub const WORD_TO_DECODER: u64 = 6;
/// Run ends this many cycles after the decoder takes the terminator (registered `done`, seen by
/// the sequencer one cycle later).
pub const DONE_LATENCY: u64 = 2;
/// One Y RAM (`AccelConfig::one_y_ram`): in a hidden layer the decoder takes no word before
/// this many cycles after the compactor forms the terminator (its output register, then the
/// sequencer's gate register), so the layer's MACs never read Y while its scan still does.
pub const MAC_GATE_DELAY: u64 = 2;
/// Read-out: Load of the read-out descriptor plus the Run cycle that dispatches to Out.
pub const READOUT_OVERHEAD: u64 = 2;
/// Out: one logit per cycle plus the registered read of the first one, the PE's Y set and scan
/// registers and the registers after the two levels of the bank multiplexer.
pub const OUT_LATENCY: u64 = 5;

/// Encoder groups of layer `l`'s input vector: ceil(in / lanes) for the input layer; for hidden
/// layers the scan reads one Y chunk of P values per P/lanes groups, so ceil(in / P) · P/lanes.
pub fn layer_groups(cfg: &AccelConfig, l: usize, inputs: usize) -> usize {
    let g = cfg.nz_lanes as usize;
    let p = cfg.pe_count as usize;
    if l == 0 {
        inputs.div_ceil(g)
    } else {
        inputs.div_ceil(p) * (p / g)
    }
}

/// Words of one vector, per encoder group: `true` for a nonzero word, `false` for a split.
///
/// The compactor emits the nonzero lanes of a group in order; before each, the zeros since the
/// previous word are the run, and a run above `max_run` is first cut by (max_run, 0) words that
/// each cover max_run + 1 positions. Zeros after the last nonzero need no word.
pub fn group_words(mask: &[bool], lanes: usize, groups: usize, max_run: u64) -> Vec<Vec<bool>> {
    let mut out = vec![Vec::new(); groups];
    let mut next_pos = 0u64;
    for (i, _) in mask.iter().enumerate().filter(|(_, nz)| **nz) {
        let words = &mut out[i / lanes];
        let mut run = i as u64 - next_pos;
        while run > max_run {
            words.push(false);
            run -= max_run + 1;
        }
        words.push(true);
        next_pos = i as u64 + 1;
    }
    out
}

/// Cycles of one layer's Run state and its word counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LayerRun {
    pub run_cycles: u64,
    pub nonzero_words: u64,
    /// Splits plus the terminator.
    pub zero_words: u64,
}

/// Run-state cycles of a layer: groups reach the compactor `front_latency` cycles after Run
/// starts, one per max(1, words) cycles; each word is formed in one cycle, the terminator in
/// the cycle after the last group; the decoder takes a word `WORD_TO_DECODER` cycles after it
/// is formed, or when it finishes the previous one (`chunks` cycles for a nonzero word, the
/// config's `word_cycles`; 1 for a zero word), whichever is later. With `gated` the decoder
/// starts no word before `MAC_GATE_DELAY` cycles after the terminator is formed (a hidden
/// layer with one Y RAM: its scan and MACs take turns).
pub fn layer_run(
    mask: &[bool],
    lanes: usize,
    groups: usize,
    max_run: u64,
    chunks: u64,
    front_latency: u64,
    gated: bool,
) -> LayerRun {
    let words = group_words(mask, lanes, groups, max_run);
    let mut r = LayerRun::default();
    let mut h = front_latency;
    let mut dec_free = 0u64;
    if gated {
        let h_end: u64 = front_latency + words.iter().map(|g| (g.len() as u64).max(1)).sum::<u64>();
        dec_free = h_end + MAC_GATE_DELAY;
    }
    for g in &words {
        for (i, &nz) in g.iter().enumerate() {
            let start = (h + i as u64 + WORD_TO_DECODER).max(dec_free);
            if nz {
                r.nonzero_words += 1;
                dec_free = start + chunks;
            } else {
                r.zero_words += 1;
                dec_free = start + 1;
            }
        }
        h += (g.len() as u64).max(1);
    }
    // Terminator: written in cycle h (after the last group), a one-cycle zero word.
    let start = (h + WORD_TO_DECODER).max(dec_free);
    r.zero_words += 1;
    r.run_cycles = start + DONE_LATENCY;
    r
}

/// Cycles one frame takes, idle cycle included; `deltas[l]` is layer l's input delta vector.
pub fn frame_cycles(
    cfg: &AccelConfig,
    model: &Model,
    deltas: &[Vec<bool>],
    seq_start: bool,
) -> u64 {
    let lanes = cfg.nz_lanes as usize;
    let max_run = u64::from(cfg.rle_max_run());
    let mut t = IDLE_CYCLES;
    if seq_start {
        t += init_cycles(cfg, model);
    }
    for (l, layer) in model.layers.iter().enumerate() {
        let groups = layer_groups(cfg, l, layer.inputs());
        let front = if l == 0 {
            INPUT_FRONT_LATENCY
        } else {
            HIDDEN_FRONT_LATENCY
        };
        let run = layer_run(
            &deltas[l],
            lanes,
            groups,
            max_run,
            cfg.word_cycles(layer.outputs()),
            front,
            l > 0 && cfg.one_y_ram(),
        );
        t += LOAD_CYCLES + run.run_cycles + DRAIN_CYCLES;
    }
    t + READOUT_OVERHEAD + model.output_size() as u64 + OUT_LATENCY
}

/// Completion times of one sequence, in cycles from its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceSchedule {
    /// Cycle at which each frame's last logit leaves the accelerator.
    pub frame_done: Vec<u64>,
    pub total: u64,
}

impl SequenceSchedule {
    /// Cycles of each frame (the differences of `frame_done`).
    pub fn frame_cycles(&self) -> Vec<u64> {
        let mut prev = 0;
        self.frame_done
            .iter()
            .map(|&d| {
                let c = d - prev;
                prev = d;
                c
            })
            .collect()
    }
}

/// Cycles of the sequence-start initialisation: one word per cycle into every Y bank (biases, both
/// Y sets at once, or the one Y RAM holding every layer) and every reference lane (cleared), so
/// the longest of these.
pub fn init_cycles(cfg: &AccelConfig, model: &Model) -> u64 {
    let mut set = [0u64; 2];
    let mut refs = 0u64;
    for (l, layer) in model.layers.iter().enumerate() {
        let s = if cfg.one_y_ram() { 0 } else { l % 2 };
        set[s] += cfg.chunks(layer.outputs());
        refs += layer_groups(cfg, l, layer.inputs()) as u64;
    }
    set[0].max(set[1]).max(refs)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleReport {
    /// Σ_frames Σ_layers nnz_l · ceil(out_l / P): the zero-skipping limit.
    pub ideal_cycles: u64,
    /// Σ_frames Σ_layers in_l · ceil(out_l / P): every delta processed.
    pub dense_cycles: u64,
    /// Exact cycles of the RTL schedule (all sequences, frames back to back, no stalls).
    pub predicted_cycles: u64,
    pub per_sequence: Vec<SequenceSchedule>,
}

impl CycleReport {
    pub fn efficiency(&self) -> f64 {
        self.ideal_cycles as f64 / self.predicted_cycles.max(1) as f64
    }
    pub fn speedup_vs_dense(&self) -> f64 {
        self.dense_cycles as f64 / self.predicted_cycles.max(1) as f64
    }
}

/// Runs the cycle model over the golden model's delta maps.
/// `lengths[s]` frames of sequence s are processed.
pub fn cycle_report(
    cfg: &AccelConfig,
    model: &Model,
    traces: &Traces,
    lengths: &[usize],
) -> CycleReport {
    let chunks: Vec<u64> = model
        .layers
        .iter()
        .map(|l| cfg.chunks(l.outputs()))
        .collect();
    let mut ideal = 0u64;
    let mut dense = 0u64;
    let mut predicted = 0u64;
    let mut per_sequence = Vec::with_capacity(lengths.len());
    for (si, &t) in lengths.iter().enumerate() {
        let mut now = 0u64;
        let mut frame_done = Vec::with_capacity(t);
        for ti in 0..t {
            let masks: Vec<Vec<bool>> = traces
                .deltas
                .iter()
                .map(|d| {
                    d.slice(ndarray::s![si, ti, ..])
                        .iter()
                        .map(|v| *v != 0)
                        .collect()
                })
                .collect();
            for (l, m) in masks.iter().enumerate() {
                ideal += m.iter().filter(|v| **v).count() as u64 * chunks[l];
                dense += m.len() as u64 * chunks[l];
            }
            now += frame_cycles(cfg, model, &masks, ti == 0);
            frame_done.push(now);
        }
        predicted += now;
        per_sequence.push(SequenceSchedule {
            frame_done,
            total: now,
        });
    }
    CycleReport {
        ideal_cycles: ideal,
        dense_cycles: dense,
        predicted_cycles: predicted,
        per_sequence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_per_group_and_splits() {
        // 8 elements, 4 lanes, nonzeros at 1, 2, 3: group 0 has three words, group 1 none.
        let mask = [false, true, true, true, false, false, false, false];
        assert_eq!(group_words(&mask, 4, 2, 255), vec![vec![true; 3], vec![]]);
        // max_run 3: 10 zeros then a nonzero: splits cover 4 + 4 positions, then (2, d).
        let mut mask = vec![false; 10];
        mask.push(true);
        assert_eq!(group_words(&mask, 11, 1, 3), vec![vec![false, false, true]]);
        // Trailing zeros need no split.
        assert_eq!(
            group_words(&[false; 20], 4, 5, 1),
            vec![Vec::<bool>::new(); 5]
        );
    }

    #[test]
    fn empty_vector_costs_groups_plus_terminator() {
        // 3 groups reach the compactor at 2, 3, 4 (front latency 2); terminator written at 5,
        // decoded WORD_TO_DECODER later, Run ends 2 cycles after that.
        let r = layer_run(&[false; 5], 2, 3, 255, 4, 2, false);
        assert_eq!(r.nonzero_words, 0);
        assert_eq!(r.zero_words, 1);
        assert_eq!(r.run_cycles, 5 + WORD_TO_DECODER + DONE_LATENCY);
    }

    #[test]
    fn busy_decoder_hides_the_encoder() {
        // One nonzero per group of one lane, chunks 10: the decoder is the bottleneck.
        let r = layer_run(&[true; 4], 1, 4, 255, 10, 2, false);
        assert_eq!(r.nonzero_words, 4);
        // Front latency 2: first word decoded at 2 + WORD_TO_DECODER, four words of 10 cycles,
        // then the terminator.
        assert_eq!(r.run_cycles, 2 + WORD_TO_DECODER + 40 + DONE_LATENCY);
    }

    #[test]
    fn spaced_words_take_two_cycles_on_ice40() {
        let ice = AccelConfig::preset("ice40-up5k-8pe").unwrap();
        let ecp = AccelConfig::preset("ecp5-16pe").unwrap();
        // One chunk (out <= pe_count): two cycles on iCE40, one on ECP5; more chunks as before.
        assert_eq!(ice.word_cycles(4), 2);
        assert_eq!(ecp.word_cycles(4), 1);
        assert_eq!(ice.word_cycles(24), 3);
        assert_eq!(ecp.word_cycles(24), 2);
    }
}
