//! Cycle model of the accelerator schedule (docs/architecture.md describes the hardware).
//!
//! `ideal_cycles` is the zero-skipping limit, `dense_cycles` the same schedule with every delta
//! counted, and `predicted_cycles` the exact cycle count of the schedule the RTL implements, so
//! the Verilator testbench can hold the RTL to it.

use serde::Serialize;

use crate::config::AccelConfig;
use crate::io::Traces;
use crate::model::Model;

/// Cycles from the last MAC issued for a layer until its accumulators can be read
/// (weight read, multiply, accumulate read-modify-write).
pub const MAC_LATENCY: u64 = 4;
/// Cycles from the first accumulator read of the requantization scan to its first encoded word.
pub const REQUANT_LATENCY: u64 = 4;

/// Cost of one delta vector in run-length words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VectorCost {
    /// Cycles the delta encoder spends: `nz_lanes` elements per cycle, at most one word per cycle.
    pub encoder_cycles: u64,
    /// Words with a nonzero delta.
    pub nonzero_words: u64,
    /// Zero words: run splits plus the end-of-vector word.
    pub zero_words: u64,
}

impl VectorCost {
    /// PE-array cycles to consume the vector: a nonzero word costs `chunks` cycles, a zero word 1.
    pub fn pe_cycles(&self, chunks: u64) -> u64 {
        self.nonzero_words * chunks + self.zero_words
    }
}

/// RLE encoding cost of a delta vector given its nonzero mask.
///
/// Words are (run, value): skip `run` zeros, then place `value`. A zero run reaching
/// `max_run + 1` emits a split word (max_run, 0); every vector ends with an end-of-vector word.
pub fn vector_cost(
    nonzero: impl IntoIterator<Item = bool>,
    lanes: u64,
    max_run: u64,
) -> VectorCost {
    let mask: Vec<bool> = nonzero.into_iter().collect();
    let mut cost = VectorCost::default();
    let mut run = 0u64;
    let groups = mask.chunks(lanes.max(1) as usize);
    let last_group = groups.len().saturating_sub(1);
    for (g, group) in groups.enumerate() {
        let mut words = 0u64;
        for &nz in group {
            if nz {
                cost.nonzero_words += 1;
                words += 1;
                run = 0;
            } else {
                run += 1;
                if run == max_run + 1 {
                    cost.zero_words += 1;
                    words += 1;
                    run = 0;
                }
            }
        }
        if g == last_group {
            // End-of-vector word, emitted with the last group.
            cost.zero_words += 1;
            words += 1;
        }
        cost.encoder_cycles += words.max(1);
    }
    if mask.is_empty() {
        cost.zero_words += 1;
        cost.encoder_cycles += 1;
    }
    cost
}

/// Work of one frame: encoder and PE cycles per layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameWork {
    pub encoder: Vec<u64>,
    pub pe: Vec<u64>,
}

/// Completion times of one sequence, in cycles from its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceSchedule {
    /// Cycle at which each frame's last logit leaves the accelerator.
    pub frame_done: Vec<u64>,
    pub total: u64,
}

/// Cycles of the sequence-start initialization: biases into Y (one chunk per cycle across all
/// banks), references cleared (one `nz_lanes`-wide word per cycle, input and hidden encoders in
/// parallel).
pub fn init_cycles(cfg: &AccelConfig, model: &Model) -> u64 {
    let lanes = u64::from(cfg.nz_lanes);
    let bias: u64 = model.layers.iter().map(|l| cfg.chunks(l.outputs())).sum();
    let in_refs = (model.input_size() as u64).div_ceil(lanes);
    let hid_refs: u64 = model.layers[1..]
        .iter()
        .map(|l| (l.inputs() as u64).div_ceil(lanes))
        .sum();
    bias.max(in_refs).max(hid_refs)
}

/// The v1 schedule, one sequence (sequences run back to back, each draining before the next).
///
/// - The input encoder encodes frame f into one of two RLE buffers while the PE array works on
///   earlier frames; it may start once frame f−1 is encoded and frame f−2's buffer is consumed.
/// - The PE array runs a frame's layers in order. Layer 0 starts when its vector is encoded and
///   the previous frame's PE work is done. Before each later layer, the MAC pipeline drains
///   (`MAC_LATENCY`) and the hidden encoder scans the previous layer's accumulators
///   (`REQUANT_LATENCY` + encoder cycles) into a full RLE vector.
/// - After the last layer drains, logits stream out one per cycle; the next frame's earlier layers
///   overlap this, but its last layer waits until the output unit has read them all.
pub fn schedule_sequence(
    cfg: &AccelConfig,
    model: &Model,
    frames: &[FrameWork],
) -> SequenceSchedule {
    let layers = model.layers.len();
    let out_len = model.output_size() as u64;
    let init = init_cycles(cfg, model);
    let mut enc_done_prev = init;
    let mut l0_done: Vec<u64> = Vec::with_capacity(frames.len());
    let mut pe_free = init;
    let mut out_done = init;
    let mut frame_done = Vec::with_capacity(frames.len());
    for (f, w) in frames.iter().enumerate() {
        let buffer_free = if f >= 2 { l0_done[f - 2] } else { init };
        let enc_done = enc_done_prev.max(buffer_free) + w.encoder[0];
        enc_done_prev = enc_done;
        let mut t = enc_done.max(pe_free);
        for l in 0..layers {
            if l > 0 {
                t += MAC_LATENCY + REQUANT_LATENCY + w.encoder[l];
            }
            if l == layers - 1 {
                t = t.max(out_done);
            }
            t += w.pe[l];
            if l == 0 {
                l0_done.push(t);
            }
        }
        pe_free = t;
        out_done = t + MAC_LATENCY + out_len;
        frame_done.push(out_done);
    }
    SequenceSchedule {
        frame_done,
        total: out_done,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleReport {
    /// Σ_frames Σ_layers nnz_l · ceil(out_l / P): the zero-skipping limit.
    pub ideal_cycles: u64,
    /// Σ_frames Σ_layers in_l · ceil(out_l / P): every delta processed.
    pub dense_cycles: u64,
    /// Exact cycles of the RTL schedule (all sequences).
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
pub fn cycle_report(cfg: &AccelConfig, model: &Model, traces: &Traces) -> CycleReport {
    let shape = traces.logits.shape();
    let (s, t) = (shape[0], shape[1]);
    let lanes = u64::from(cfg.nz_lanes);
    let max_run = u64::from(cfg.rle_max_run());
    let chunks: Vec<u64> = model
        .layers
        .iter()
        .map(|l| cfg.chunks(l.outputs()))
        .collect();
    let mut ideal = 0u64;
    let mut dense = 0u64;
    let mut predicted = 0u64;
    let mut per_sequence = Vec::with_capacity(s);
    for si in 0..s {
        let mut work = Vec::with_capacity(t);
        for ti in 0..t {
            let mut fw = FrameWork {
                encoder: Vec::with_capacity(chunks.len()),
                pe: Vec::with_capacity(chunks.len()),
            };
            for (l, d) in traces.deltas.iter().enumerate() {
                let row = d.slice(ndarray::s![si, ti, ..]);
                let cost = vector_cost(row.iter().map(|v| *v != 0), lanes, max_run);
                ideal += cost.nonzero_words * chunks[l];
                dense += row.len() as u64 * chunks[l];
                fw.encoder.push(cost.encoder_cycles);
                fw.pe.push(cost.pe_cycles(chunks[l]));
            }
            work.push(fw);
        }
        let sched = schedule_sequence(cfg, model, &work);
        predicted += sched.total;
        per_sequence.push(sched);
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
    fn vector_cost_counts_words_and_encoder_cycles() {
        // 8 elements, 4 lanes, nonzeros at 1, 2, 3: group 0 emits 3 words (3 cycles), group 1
        // emits only the end-of-vector word (1 cycle).
        let mask = [false, true, true, true, false, false, false, false];
        let c = vector_cost(mask, 4, 255);
        assert_eq!(c.nonzero_words, 3);
        assert_eq!(c.zero_words, 1);
        assert_eq!(c.encoder_cycles, 4);
        assert_eq!(c.pe_cycles(5), 16);
    }

    #[test]
    fn long_runs_are_split() {
        // max_run 3: a run of 10 zeros emits splits after 4 and 8 zeros.
        let mut mask = vec![false; 10];
        mask.push(true);
        let c = vector_cost(mask, 11, 3);
        assert_eq!(c.nonzero_words, 1);
        assert_eq!(c.zero_words, 3); // two splits + end of vector
        assert_eq!(c.encoder_cycles, 4);
    }

    #[test]
    fn empty_vector_costs_one_word() {
        let c = vector_cost(vec![false; 5], 2, 255);
        assert_eq!(c.nonzero_words, 0);
        assert_eq!(c.zero_words, 1);
        assert_eq!(c.encoder_cycles, 3); // groups of 2, 2, 1
        let c = vector_cost(vec![false; 4], 2, 255);
        assert_eq!(c.encoder_cycles, 2); // the end-of-vector word shares the last group's cycle
        assert_eq!(c.pe_cycles(7), 1);
    }
}
