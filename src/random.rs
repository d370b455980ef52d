//! Random quantized models and temporally-correlated inputs, for tests, demos and benchmarks.

use ndarray::{Array1, Array2, Array3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::arith;
use crate::golden;
use crate::io::Inputs;
use crate::model::{Layer, Model, Requant};

#[derive(Debug, Clone)]
pub struct RandomSpec {
    /// Layer widths: input, hidden..., output (at least two entries).
    pub widths: Vec<usize>,
    pub sequences: usize,
    pub frames: usize,
    pub seed: u64,
    /// Delta threshold θ of every layer.
    pub theta: i32,
    /// STAR threshold τ of every hidden layer.
    pub tau: i32,
    /// Probability that an input element changes from one frame to the next.
    pub change_prob: f64,
    pub act_bits: u32,
    pub weight_bits: u32,
    pub acc_bits: u32,
}

impl RandomSpec {
    pub fn new(widths: Vec<usize>, sequences: usize, frames: usize, seed: u64) -> RandomSpec {
        RandomSpec {
            widths,
            sequences,
            frames,
            seed,
            theta: 0,
            tau: 0,
            change_prob: 0.1,
            act_bits: 8,
            weight_bits: 8,
            acc_bits: 32,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if self.widths.len() < 2 {
            return Err(
                "--layers needs at least an input and an output width, e.g. 96,64,4".into(),
            );
        }
        if let Some(i) = self.widths.iter().position(|w| *w == 0) {
            return Err(format!("--layers: width {i} is 0"));
        }
        if self.sequences == 0 || self.frames == 0 {
            return Err("--sequences and --frames must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.change_prob) {
            return Err(format!(
                "--change-prob {} must be in [0, 1]",
                self.change_prob
            ));
        }
        if self.theta < 0 || self.tau < 0 || self.tau > arith::act_max(self.act_bits) {
            return Err(format!(
                "--theta must be >= 0 and --tau in 0..={}",
                arith::act_max(self.act_bits)
            ));
        }
        Ok(())
    }
}

/// Random walks with holds: each element changes with probability `change_prob` per frame by a
/// step of ±1..=16, clamped to the signed act_bits range, so deltas are sparse and correlated.
pub fn random_inputs(spec: &RandomSpec, rng: &mut impl Rng) -> Inputs {
    let n = spec.widths[0];
    let (lo, hi) = arith::signed_range(spec.act_bits);
    let (lo, hi) = (lo as i32, hi as i32);
    let mut frames = Array3::<i8>::zeros((spec.sequences, spec.frames, n));
    for mut seq in frames.axis_iter_mut(Axis(0)) {
        let mut x: Vec<i32> = (0..n).map(|_| rng.gen_range(lo / 2..=hi / 2)).collect();
        for mut frame in seq.axis_iter_mut(Axis(0)) {
            for (v, xi) in frame.iter_mut().zip(x.iter_mut()) {
                if rng.gen_bool(spec.change_prob) {
                    let step = rng.gen_range(1..=16) * if rng.gen_bool(0.5) { 1 } else { -1 };
                    *xi = (*xi + step).clamp(lo, hi);
                }
                *v = *xi as i8;
            }
        }
    }
    Inputs {
        frames,
        labels: None,
        lengths: None,
    }
}

/// A random model whose requantization is calibrated on `calib` so hidden activations use the
/// range (the 99th percentile of positive accumulators maps to 3/4 of act_max).
pub fn random_model(spec: &RandomSpec, calib: &Inputs, rng: &mut impl Rng) -> Model {
    let (wlo, whi) = arith::signed_range(spec.weight_bits);
    let nl = spec.widths.len() - 1;
    let mut layers = Vec::with_capacity(nl);
    for l in 0..nl {
        let (inp, out) = (spec.widths[l], spec.widths[l + 1]);
        let weight = Array2::from_shape_fn((out, inp), |_| rng.gen_range(wlo + 1..=whi) as i8);
        let bound = ((inp as f64).sqrt() * 2000.0) as i32;
        let bias = Array1::from_shape_fn(out, |_| rng.gen_range(-bound..=bound));
        layers.push(Layer {
            weight,
            bias,
            theta: spec.theta,
            requant: if l + 1 < nl {
                Some(Requant {
                    multiplier: 1,
                    shift: 0,
                })
            } else {
                None
            },
            tau: if l + 1 < nl { spec.tau } else { 0 },
            wta_k: None,
        });
    }
    let mut model = Model {
        act_bits: spec.act_bits,
        weight_bits: spec.weight_bits,
        acc_bits: spec.acc_bits,
        input_scale: 1.0 / f64::from(1u32 << (spec.act_bits - 1)),
        output_scale: None,
        class_names: Vec::new(),
        layers,
        provenance: serde_json::json!({
            "tool": format!("deltagen {}", env!("CARGO_PKG_VERSION")),
            "kind": "random",
            "seed": spec.seed,
            "widths": spec.widths,
            "change_prob": spec.change_prob,
        }),
    };
    // Calibrate layer by layer: the dense pass up to layer l uses the already-calibrated layers.
    let zmax = f64::from(arith::act_max(spec.act_bits));
    for l in 0..nl - 1 {
        let sub = truncated(&model, l);
        let mut ys = Vec::new();
        for seq in calib.frames.axis_iter(Axis(0)) {
            for x in seq.axis_iter(Axis(0)) {
                ys.extend(
                    golden::dense_frame(&sub, x)
                        .logits
                        .into_iter()
                        .filter(|v| *v > 0),
                );
            }
        }
        ys.sort_unstable();
        let p99 = f64::from(ys.get(ys.len() * 99 / 100).copied().unwrap_or(1).max(1));
        let (m, s) = arith::quantize_multiplier(0.75 * zmax / p99).unwrap_or((1, 0));
        model.layers[l].requant = Some(Requant {
            multiplier: m,
            shift: s,
        });
    }
    model
}

/// The model cut after layer `l`, whose accumulators become the outputs.
fn truncated(model: &Model, l: usize) -> Model {
    let mut sub = model.clone();
    sub.layers.truncate(l + 1);
    let last = &mut sub.layers[l];
    last.requant = None;
    last.tau = 0;
    last.wta_k = None;
    sub
}

/// Model and inputs from one seed (the inputs double as calibration data).
pub fn generate(spec: &RandomSpec) -> (Model, Inputs) {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let inputs = random_inputs(spec, &mut rng);
    let model = random_model(spec, &inputs, &mut rng);
    (model, inputs)
}
