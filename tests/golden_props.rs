//! Property tests of the golden model against the dense reference and the delta identity.

use deltagen::arith;
use deltagen::golden::{dense_frame, DeltaNet};
use deltagen::model::Model;
use deltagen::random::{self, RandomSpec};
use ndarray::Axis;
use proptest::prelude::*;

fn spec_strategy() -> impl Strategy<Value = RandomSpec> {
    (
        prop::collection::vec(1usize..24, 2..5),
        1usize..4,
        2usize..60,
        any::<u64>(),
        0.0f64..0.6,
        0i32..20,
    )
        .prop_map(|(widths, seqs, frames, seed, p, tau)| {
            let mut s = RandomSpec::new(widths, seqs, frames, seed);
            s.change_prob = p;
            s.tau = tau;
            s
        })
}

/// Y = W·r + B computed directly from the references.
fn direct_accumulators(model: &Model, net: &DeltaNet, l: usize) -> Vec<i64> {
    let layer = &model.layers[l];
    let r = net.references(l);
    layer
        .weight
        .rows()
        .into_iter()
        .zip(layer.bias.iter())
        .map(|(row, b)| {
            row.iter()
                .zip(r)
                .map(|(w, x)| i64::from(*w) * i64::from(*x))
                .sum::<i64>()
                + i64::from(*b)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// With θ = 0 the delta model equals the dense model on every frame (the slides' identity).
    #[test]
    fn delta_equals_dense_for_theta_zero(spec in spec_strategy()) {
        let (model, inputs) = random::generate(&spec);
        for (si, seq) in inputs.frames.axis_iter(Axis(0)).enumerate() {
            let mut net = DeltaNet::new(&model);
            for (t, x) in seq.axis_iter(Axis(0)).enumerate() {
                let delta = net.step(x, si).unwrap();
                let dense = dense_frame(&model, x);
                prop_assert_eq!(&delta.logits, &dense.logits, "logits, sequence {} frame {}", si, t);
                prop_assert_eq!(&delta.acts, &dense.acts, "activations, sequence {} frame {}", si, t);
            }
        }
    }

    /// With θ > 0, Y = W·r + B holds exactly at every frame, and the activations are the
    /// contract's function of Y.
    #[test]
    fn accumulators_track_references_for_theta_positive(spec in spec_strategy(), theta in 1i32..12) {
        let mut spec = spec;
        spec.theta = theta;
        let (model, inputs) = random::generate(&spec);
        for (si, seq) in inputs.frames.axis_iter(Axis(0)).enumerate() {
            let mut net = DeltaNet::new(&model);
            for (t, x) in seq.axis_iter(Axis(0)).enumerate() {
                let before: Vec<Vec<i32>> = (0..model.layers.len()).map(|l| net.references(l).to_vec()).collect();
                let out = net.step(x, si).unwrap();
                for (l, before_l) in before.iter().enumerate() {
                    prop_assert_eq!(net.accumulators(l), &direct_accumulators(&model, &net, l)[..],
                        "layer {} sequence {} frame {}", l, si, t);
                    // The reference moves to the input exactly where a delta is emitted.
                    let input: Vec<i32> = if l == 0 { x.iter().map(|v| i32::from(*v)).collect() } else { out.acts[l - 1].clone() };
                    for j in 0..input.len() {
                        let (d, r_old, r_new) = (out.deltas[l][j], before_l[j], net.references(l)[j]);
                        if d != 0 {
                            prop_assert!(d == input[j] - r_old && r_new == input[j] && d.abs() > theta);
                        } else {
                            prop_assert!(r_new == r_old && (input[j] - r_old).abs() <= theta);
                        }
                    }
                }
                for (l, z) in out.acts.iter().enumerate() {
                    let layer = &model.layers[l];
                    let rq = layer.requant.unwrap();
                    let want: Vec<i32> = net.accumulators(l).iter()
                        .map(|&y| arith::activation(y, rq.multiplier, rq.shift, layer.tau, model.act_bits))
                        .collect();
                    prop_assert_eq!(z, &want);
                }
            }
        }
    }
}

/// Thousands of frames in one go on a mid-size model: dense == delta with θ = 0.
#[test]
fn dense_equals_delta_over_many_frames() {
    let mut spec = RandomSpec::new(vec![40, 32, 16, 6], 10, 400, 1234);
    spec.change_prob = 0.15;
    let (model, inputs) = random::generate(&spec);
    let mut frames = 0;
    for (si, seq) in inputs.frames.axis_iter(Axis(0)).enumerate() {
        let mut net = DeltaNet::new(&model);
        for x in seq.axis_iter(Axis(0)) {
            let delta = net.step(x, si).unwrap();
            assert_eq!(delta.logits, dense_frame(&model, x).logits);
            frames += 1;
        }
    }
    assert_eq!(frames, 4000);
}

/// Sequence reset: a reset network reproduces a fresh one exactly.
#[test]
fn reset_restores_sequence_start() {
    let mut spec = RandomSpec::new(vec![12, 8, 3], 2, 30, 5);
    spec.theta = 3;
    let (model, inputs) = random::generate(&spec);
    let mut net = DeltaNet::new(&model);
    let run = |net: &mut DeltaNet, s: usize| -> Vec<Vec<i32>> {
        inputs
            .frames
            .index_axis(Axis(0), s)
            .axis_iter(Axis(0))
            .map(|x| net.step(x, s).unwrap().logits)
            .collect()
    };
    let first = run(&mut net, 0);
    net.reset();
    let second = run(&mut net, 1);
    net.reset();
    assert_eq!(run(&mut net, 0), first);
    let mut fresh = DeltaNet::new(&model);
    assert_eq!(run(&mut fresh, 1), second);
}

/// θ > 0 really skips work: fewer nonzero deltas than θ = 0 on the same inputs.
#[test]
fn threshold_reduces_deltas() {
    let spec0 = RandomSpec::new(vec![32, 16, 4], 2, 100, 9);
    let mut spec3 = spec0.clone();
    spec3.theta = 8;
    let count = |spec: &RandomSpec| {
        let (model, inputs) = random::generate(spec);
        let traces = deltagen::golden::run_all(&model, &inputs, |_| {}).unwrap();
        deltagen::stats::sparsity(&model, &traces, &inputs.lengths_vec()).nnz_per_layer[0]
    };
    assert!(count(&spec3) < count(&spec0));
}

/// Variable-length sequences: frames past a sequence's length are neither run nor counted.
#[test]
fn lengths_limit_processed_frames() {
    let spec = RandomSpec::new(vec![10, 6, 3], 2, 40, 11);
    let (model, mut inputs) = random::generate(&spec);
    let full = deltagen::golden::run_all(&model, &inputs, |_| {}).unwrap();
    inputs.lengths = Some(ndarray::arr1(&[40i64, 15]));
    let lengths = inputs.lengths_vec();
    let cut = deltagen::golden::run_all(&model, &inputs, |_| {}).unwrap();
    // The first 15 frames of sequence 1 are unchanged; the rest are not computed.
    assert_eq!(
        cut.logits.slice(ndarray::s![1, ..15, ..]),
        full.logits.slice(ndarray::s![1, ..15, ..])
    );
    assert!(cut
        .logits
        .slice(ndarray::s![1, 15.., ..])
        .iter()
        .all(|v| *v == 0));
    let s = deltagen::stats::sparsity(&model, &cut, &lengths);
    assert_eq!(s.frames, 55);
    assert_eq!(s.delta_elements_after_first[0], (39 + 14) * 10);
    let cfg = deltagen::config::AccelConfig::preset("tiny-2pe").unwrap();
    let c = deltagen::cycles::cycle_report(&cfg, &model, &cut, &lengths);
    assert_eq!(c.per_sequence[1].frame_done.len(), 15);
    // Pooling per-sequence statistics gives the same numbers as one pass.
    let s0 = deltagen::stats::sparsity(&model, &cut, &[40]);
    let one = {
        let mut t = cut.clone();
        t.logits = t.logits.slice(ndarray::s![1..2, .., ..]).to_owned();
        t.acts = t
            .acts
            .iter()
            .map(|a| a.slice(ndarray::s![1..2, .., ..]).to_owned())
            .collect();
        t.deltas = t
            .deltas
            .iter()
            .map(|a| a.slice(ndarray::s![1..2, .., ..]).to_owned())
            .collect();
        t
    };
    let s1 = deltagen::stats::sparsity(&model, &one, &[15]);
    assert_eq!(s0.merge(&model, &s1), s);
}
