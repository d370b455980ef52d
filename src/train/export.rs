//! Export of a trained network to the integer contract (a [`Model`]) and its evaluation with the
//! golden model, plus the post-training search of the delta thresholds θ.

use super::ops::{round_half_up, sym_scale};
use super::{TrainError, Trained};
use crate::golden;
use crate::io::{Inputs, Traces};
use crate::model::{Layer, Model, Requant};
use crate::stats;
use ndarray::{Array1, Array2, Axis};

/// Quantize the trained network: int8 symmetric per-layer weights (the same grid as the
/// fake-quantized training forward), int32 biases at scale s_w·s_x, and M/2^S ≈ s_w·s_x/s_z.
pub fn to_model(
    tr: &Trained,
    class_names: &[String],
    thetas: &[i32],
    provenance: serde_json::Value,
) -> Result<Model, TrainError> {
    let net = &tr.net;
    let nl = net.n_layers();
    let mut layers = Vec::with_capacity(nl);
    let mut s_x = tr.input.scale as f64;
    let mut output_scale = None;
    for l in 0..nl {
        let w = net.w[l].as_tensor().to_vec2::<f32>()?;
        let b = net.b[l].as_tensor().to_vec1::<f32>()?;
        let max_abs = w.iter().flatten().fold(0f32, |a, v| a.max(v.abs()));
        let s_w = sym_scale(max_abs, net.qmax_w);
        let (o, i) = (w.len(), w.first().map_or(0, |r| r.len()));
        let weight = Array2::from_shape_fn((o, i), |(r, c)| {
            round_half_up(w[r][c] / s_w).clamp(-net.qmax_w, net.qmax_w) as i8
        });
        let acc_scale = s_w as f64 * s_x;
        let mut bias = Array1::<i32>::zeros(o);
        for (k, &bv) in b.iter().enumerate() {
            let q = (bv as f64 / acc_scale + 0.5).floor();
            if q.abs() > i32::MAX as f64 / 2.0 {
                return Err(TrainError::Setting {
                    field: "bias",
                    msg: format!("layer {l} bias {k} = {bv} does not fit the int32 accumulator at scale {acc_scale:e}"),
                });
            }
            bias[k] = q as i32;
        }
        let hidden = l + 1 < nl;
        let (requant, tau, wta_k) = if hidden {
            let s_z = tr.act_steps[l] as f64;
            let ratio = acc_scale / s_z;
            let (m, s) = crate::arith::quantize_multiplier(ratio).ok_or_else(|| TrainError::Setting {
                field: "requant",
                msg: format!("layer {l}: scale ratio {ratio:e} cannot be expressed as M/2^S with a 16-bit M"),
            })?;
            s_x = s_z;
            (
                Some(Requant {
                    multiplier: m,
                    shift: s,
                }),
                tr.fwd.tau.get(l).copied().unwrap_or(0) as i32,
                tr.fwd.wta.get(l).copied().flatten(),
            )
        } else {
            output_scale = Some(acc_scale);
            (None, 0, None)
        };
        layers.push(Layer {
            weight,
            bias,
            theta: thetas.get(l).copied().unwrap_or(0),
            requant,
            tau,
            wta_k,
        });
    }
    let act_bits = (net.qmax_act as u32 + 1).trailing_zeros() + 1;
    let weight_bits = (net.qmax_w as u32 + 1).trailing_zeros() + 1;
    Ok(Model {
        act_bits,
        weight_bits,
        acc_bits: 32,
        input_scale: tr.input.scale as f64,
        output_scale,
        class_names: class_names.to_vec(),
        layers,
        provenance,
    })
}

/// Golden-model results pooled over sequences of possibly different lengths.
#[derive(Debug, Clone)]
pub struct IntEval {
    /// Sequence accuracy (%) with the decision rule of [`crate::data::decide`].
    pub accuracy: f64,
    /// Frame accuracy (%): each frame's own argmax logit against its sequence's label.
    pub frame_accuracy: f64,
    /// Each frame's own argmax class, sequences concatenated.
    pub frame_predictions: Vec<usize>,
    pub sparsity: stats::Sparsity,
    pub predictions: Vec<usize>,
}

/// Run the golden model on every sequence (each at its own length).
pub fn evaluate(
    model: &Model,
    seqs: &[Array2<i8>],
    labels: &[usize],
) -> Result<IntEval, TrainError> {
    // Pooled from raw counts, so sequences of different lengths weigh as the definition says.
    let mut pooled: Option<stats::Sparsity> = None;
    let mut ok = 0usize;
    let mut frames_ok = 0usize;
    let mut frame_predictions = Vec::new();
    let mut predictions = Vec::with_capacity(seqs.len());
    for (seq, &y) in seqs.iter().zip(labels) {
        let inputs = Inputs {
            frames: seq.clone().insert_axis(Axis(0)),
            labels: None,
            lengths: None,
        };
        let tr = golden::run_all(model, &inputs, |_| {})
            .map_err(|e| TrainError::Golden(e.to_string()))?;
        let s = stats::sparsity(model, &tr, &[seq.nrows()]);
        pooled = Some(match pooled {
            Some(p) => p.merge(model, &s),
            None => s,
        });
        let lg = tr.logits.index_axis(Axis(0), 0).to_owned();
        for row in lg.rows() {
            let best = (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            frames_ok += usize::from(best == y);
            frame_predictions.push(best);
        }
        let p = crate::data::decide(&lg);
        ok += usize::from(p == y);
        predictions.push(p);
    }
    let sparsity = pooled.unwrap_or_else(|| {
        stats::Sparsity::from_counts(
            model,
            0,
            vec![0; model.layers.len()],
            vec![0; model.layers.len()],
            vec![0; model.layers.len()],
            0,
            0,
        )
    });
    Ok(IntEval {
        accuracy: 100.0 * ok as f64 / labels.len().max(1) as f64,
        frame_accuracy: 100.0 * frames_ok as f64 / sparsity.frames.max(1) as f64,
        frame_predictions,
        sparsity,
        predictions,
    })
}

/// Candidate θ values (integer steps of the layer input's grid).
pub const THETA_CANDIDATES: [i32; 11] = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32];

/// Result of the θ search.
#[derive(Debug, Clone)]
pub struct ThetaSearch {
    pub theta: Vec<i32>,
    /// Sequence and frame accuracy (%) on the search sequences with θ at its floor.
    pub reference: (f64, f64),
    /// The same at the chosen θ.
    pub chosen: (f64, f64),
}

/// θ search (coordinate ascent, layers in order): for each layer input, raise θ through
/// [`THETA_CANDIDATES`] (starting from `floor[l]`, e.g. the input θ used in training) and keep
/// the largest value for which, on the search sequences, the sequence accuracy stays ≥
/// reference − `bound` points and at most `frame_bound` % of the frames change their own
/// argmax class (either way) relative to the reference, stopping at the first failure; later
/// layers are searched with the earlier θ fixed. The frame criterion measures margins far more
/// finely than a few dozen sequences can, so the thresholds carry over to unseen data.
pub fn search_theta(
    model: &mut Model,
    seqs: &[Array2<i8>],
    labels: &[usize],
    floor: &[i32],
    bound: f64,
    frame_bound: f64,
) -> Result<ThetaSearch, TrainError> {
    for (l, layer) in model.layers.iter_mut().enumerate() {
        layer.theta = floor.get(l).copied().unwrap_or(0);
    }
    let e = evaluate(model, seqs, labels)?;
    let reference = (e.accuracy, e.frame_accuracy);
    let ref_frames = e.frame_predictions;
    let mut chosen = reference;
    for l in 0..model.layers.len() {
        let start = model.layers[l].theta;
        for &th in THETA_CANDIDATES.iter().filter(|&&t| t > start) {
            let prev = model.layers[l].theta;
            model.layers[l].theta = th;
            let e = evaluate(model, seqs, labels)?;
            let changed = e
                .frame_predictions
                .iter()
                .zip(&ref_frames)
                .filter(|(a, b)| a != b)
                .count();
            let changed_pct = 100.0 * changed as f64 / ref_frames.len().max(1) as f64;
            if e.accuracy + 1e-9 >= reference.0 - bound && changed_pct <= frame_bound + 1e-9 {
                chosen = (e.accuracy, e.frame_accuracy);
            } else {
                model.layers[l].theta = prev;
                break;
            }
        }
    }
    Ok(ThetaSearch {
        theta: model.layers.iter().map(|l| l.theta).collect(),
        reference,
        chosen,
    })
}

/// The delta encoder's reference sequence of an input sequence for threshold θ (r starts at 0,
/// |x − r| > θ moves r to x): what layer 0 of the integer model actually multiplies.
pub fn thresholded_reference(seq: &Array2<i8>, theta: i32) -> Array2<i8> {
    let mut r = vec![0i32; seq.ncols()];
    let mut out = Array2::<i8>::zeros(seq.dim());
    for (t, row) in seq.rows().into_iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            let (_, nr) = crate::arith::delta_encode(x as i32, r[j], theta);
            r[j] = nr;
            out[[t, j]] = nr as i8;
        }
    }
    out
}

/// Pooled density (t > 0) of the input deltas of `seqs` at threshold θ.
pub fn input_delta_density(seqs: &[Array2<i8>], theta: i32) -> f64 {
    let (mut nz, mut el) = (0u64, 0u64);
    for s in seqs {
        let mut r = vec![0i32; s.ncols()];
        for (t, row) in s.rows().into_iter().enumerate() {
            for (j, &x) in row.iter().enumerate() {
                let (d, nr) = crate::arith::delta_encode(x as i32, r[j], theta);
                r[j] = nr;
                if t > 0 {
                    el += 1;
                    nz += u64::from(d != 0);
                }
            }
        }
    }
    if el == 0 {
        0.0
    } else {
        nz as f64 / el as f64
    }
}

/// Test-set inputs for `inputs.npz`: sequences padded to the longest by repeating their last
/// frame (the padded frames emit no delta); `lengths` gives each sequence's real length.
pub fn padded_inputs(seqs: &[Array2<i8>], labels: &[usize]) -> Inputs {
    let t = seqs.iter().map(|s| s.nrows()).max().unwrap_or(0);
    let n_in = seqs.first().map_or(0, |s| s.ncols());
    let mut frames = ndarray::Array3::<i8>::zeros((seqs.len(), t, n_in));
    for (i, s) in seqs.iter().enumerate() {
        for k in 0..t {
            let src = k.min(s.nrows() - 1);
            frames
                .index_axis_mut(Axis(0), i)
                .row_mut(k)
                .assign(&s.row(src));
        }
    }
    Inputs {
        frames,
        labels: Some(Array1::from_iter(labels.iter().map(|&l| l as i64))),
        lengths: Some(Array1::from_iter(seqs.iter().map(|s| s.nrows() as i64))),
    }
}

/// Golden traces of the padded test inputs (what `deltagen golden` recomputes).
pub fn traces(model: &Model, inputs: &Inputs) -> Result<Traces, TrainError> {
    golden::run_all(model, inputs, |_| {}).map_err(|e| TrainError::Golden(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, SeqSet};
    use crate::train::{train, Method, QSeqs, TrainConfig};
    use candle_core::Tensor;
    use ndarray::array;
    use rand::{Rng, SeedableRng};

    #[test]
    fn thresholded_reference_and_input_density() {
        let s: Array2<i8> = array![[0], [1], [5], [6], [3]];
        let r = thresholded_reference(&s, 2);
        assert_eq!(r.column(0).to_vec(), vec![0, 0, 5, 5, 5]);
        // t > 0: 4 elements, one emitted delta (t = 2).
        assert!((input_delta_density(std::slice::from_ref(&s), 2) - 0.25).abs() < 1e-12);
        assert_eq!(thresholded_reference(&s, 0), s);
    }

    #[test]
    fn padded_inputs_repeat_last_frame() {
        let a: Array2<i8> = array![[1, 2], [3, 4]];
        let b: Array2<i8> = array![[5, 6]];
        let inp = padded_inputs(&[a, b], &[0, 1]);
        assert_eq!(inp.lengths_vec(), vec![2, 1]);
        assert_eq!(inp.frames.shape(), &[2, 2, 2]);
        assert_eq!(inp.frames[[1, 1, 0]], 5);
        assert_eq!(inp.labels.unwrap().to_vec(), vec![0, 1]);
    }

    /// Two classes of noisy random walks with different drifts.
    pub(crate) fn toy_dataset(seed: u64) -> Dataset {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut make = |n: usize| {
            let mut set = SeqSet::default();
            for i in 0..n {
                let y = i % 2;
                let t = 10 + i % 5;
                let mut v = [0f32; 4];
                let s = Array2::from_shape_fn((t, 4), |(_, c)| {
                    if c == 0 {
                        for (k, x) in v.iter_mut().enumerate() {
                            let drift = if y == 0 { 0.1 } else { -0.1 } * (k as f32 + 1.0);
                            *x += drift + rng.gen_range(-0.05..0.05);
                        }
                    }
                    v[c]
                });
                set.seqs.push(s);
                set.labels.push(y);
            }
            set
        };
        let train = make(24);
        let test = make(10);
        Dataset {
            name: "toy".into(),
            class_names: vec!["up".into(), "down".into()],
            in_dim: 4,
            window: Some(1),
            channels: 4,
            train,
            test,
            nonnegative: false,
        }
    }

    #[test]
    fn exported_model_matches_fake_quantized_network() {
        let ds = toy_dataset(3);
        let mut cfg = TrainConfig::new(Method::parse("delta-lsq").unwrap());
        cfg.epochs = 4;
        cfg.hidden = vec![8];
        cfg.chunk = 4;
        cfg.input_density_target = 1.0; // θ₀ = 0: compare against plain fake quantization.
        let tr = train(&ds, &cfg, false).unwrap();
        assert_eq!(tr.input_theta, 0);
        let model = to_model(&tr, &ds.class_names, &[0, 0], serde_json::Value::Null).unwrap();
        model.validate(std::path::Path::new("model.json")).unwrap();
        let q = QSeqs::new(&ds.test, &tr.input);
        let (mut total, mut differ, mut max_diff) = (0usize, 0usize, 0i32);
        for (si, f) in q.float.iter().enumerate() {
            let x = Tensor::from_vec(
                f.iter().copied().collect::<Vec<f32>>(),
                f.dim(),
                &candle_core::Device::Cpu,
            )
            .unwrap();
            let out = tr.net.forward(&x, &tr.fwd).unwrap();
            let fq = out.acts[0].to_vec2::<f32>().unwrap();
            let g = golden::run_sequence(&model, q.int[si].view(), si).unwrap();
            for (t, fo) in g.iter().enumerate() {
                for (k, &z) in fo.acts[0].iter().enumerate() {
                    let want = (fq[t][k] / tr.act_steps[0]).round() as i32;
                    total += 1;
                    if want != z {
                        differ += 1;
                        max_diff = max_diff.max((want - z).abs());
                    }
                }
            }
        }
        // Only rounding ties moved by the 16-bit M/2^S approximation and the int32 bias may differ.
        assert!(max_diff <= 1, "max difference {max_diff}");
        assert!(
            differ * 100 <= total,
            "{differ} of {total} activations differ"
        );
        let e = evaluate(&model, &q.int, &q.labels).unwrap();
        assert!(
            (e.accuracy - tr.float_accuracy).abs() <= 10.0 + 1e-9,
            "{} vs {}",
            e.accuracy,
            tr.float_accuracy
        );
    }

    #[test]
    fn theta_search_respects_its_bounds() {
        let ds = toy_dataset(5);
        let mut cfg = TrainConfig::new(Method::parse("delta-lsq").unwrap());
        cfg.epochs = 4;
        cfg.hidden = vec![8];
        cfg.chunk = 4;
        let tr = train(&ds, &cfg, false).unwrap();
        let floor = [tr.input_theta, 0];
        let mut model = to_model(&tr, &ds.class_names, &floor, serde_json::Value::Null).unwrap();
        let q = QSeqs::new(&ds.train, &tr.input);
        let before = evaluate(&model, &q.int, &q.labels).unwrap();
        let r = search_theta(&mut model, &q.int, &q.labels, &floor, 0.5, 5.0).unwrap();
        assert_eq!(r.reference.0, before.accuracy);
        assert!(r.theta[0] >= floor[0]);
        assert!(r.theta.iter().all(|t| THETA_CANDIDATES.contains(t)));
        let after = evaluate(&model, &q.int, &q.labels).unwrap();
        assert_eq!(after.accuracy, r.chosen.0);
        assert!(after.accuracy + 0.5 + 1e-9 >= before.accuracy);
        let changed = after
            .frame_predictions
            .iter()
            .zip(&before.frame_predictions)
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed as f64 <= 0.05 * before.frame_predictions.len() as f64 + 1e-9);
    }
}
