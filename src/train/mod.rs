//! Training toolkit: temporal-delta training (fixed-point and LSQ activation quantization with an
//! L1 penalty on delta maps), STAR and DASNet WTA, post-training quantization for the baseline,
//! and export to the integer contract.
//!
//! Training batches are chunks of `chunk` consecutive frames of a sequence, so delta maps
//! between consecutive frames exist inside every batch; every frame is classified with its
//! sequence's label (cross-entropy per frame).

pub mod cli;
pub mod export;
pub mod net;
pub mod ops;
pub mod plot;

use crate::data::{Dataset, SeqSet};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use ndarray::Array2;
use net::{ActMode, Fwd, Net};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("unknown method {0:?}: use baseline, delta-fxp, delta-lsq, star, wta, or a '+'-joined combination such as delta-lsq+star")]
    UnknownMethod(String),
    #[error("method {0:?}: fixed-point and LSQ quantization cannot be combined")]
    Conflict(String),
    #[error("invalid setting {field}: {msg}")]
    Setting { field: &'static str, msg: String },
    #[error("dataset {0}: no training frame")]
    Empty(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("golden model: {0}")]
    Golden(String),
}

/// Activation quantizer used during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quant {
    /// Float training, post-training quantization.
    Ptq,
    Fixed,
    Lsq,
}

/// A method: one of the named presets or a `+`-joined combination of them.
#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub name: String,
    pub quant: Quant,
    /// L1 penalty on delta maps.
    pub delta_penalty: bool,
    pub star: bool,
    pub wta: bool,
}

impl Method {
    pub const ALL: [&'static str; 5] = ["baseline", "delta-fxp", "delta-lsq", "star", "wta"];

    pub fn parse(s: &str) -> Result<Self, TrainError> {
        let mut m = Method {
            name: s.to_string(),
            quant: Quant::Ptq,
            delta_penalty: false,
            star: false,
            wta: false,
        };
        let set_quant = |m: &mut Method, q: Quant| {
            if m.quant != Quant::Ptq && m.quant != q {
                return Err(TrainError::Conflict(s.to_string()));
            }
            m.quant = q;
            Ok(())
        };
        for part in s.split(['+', ',']) {
            match part.trim().to_ascii_lowercase().as_str() {
                "baseline" => {}
                "delta-fxp" => {
                    set_quant(&mut m, Quant::Fixed)?;
                    m.delta_penalty = true;
                }
                "delta-lsq" => {
                    set_quant(&mut m, Quant::Lsq)?;
                    m.delta_penalty = true;
                }
                // STAR and WTA thresholds live on the integer grid: train them with LSQ unless
                // fixed point was asked for.
                "star" => {
                    m.star = true;
                    if m.quant == Quant::Ptq {
                        m.quant = Quant::Lsq;
                    }
                }
                "wta" => {
                    m.wta = true;
                    if m.quant == Quant::Ptq {
                        m.quant = Quant::Lsq;
                    }
                }
                other => return Err(TrainError::UnknownMethod(other.to_string())),
            }
        }
        Ok(m)
    }
}

/// Hyper-parameters; the defaults are the ones the comparison in docs/results used.
#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    pub method: Method,
    pub epochs: usize,
    pub seed: u64,
    pub hidden: Vec<usize>,
    pub lr: f64,
    pub batch_chunks: usize,
    pub chunk: usize,
    /// Fraction of the epochs trained in float before quantization is switched on.
    pub warmup_frac: f64,
    /// λ of the delta-map penalty λ·Σ|Δ/s|/numel (Δ in steps s of the layer's grid; per hidden
    /// layer, summed).
    pub lambda: f64,
    /// STAR: penalty weight, ε (in activation steps) and threshold τ (in steps).
    pub star_lambda: f64,
    pub star_eps_steps: f32,
    pub star_tau: u32,
    /// DASNet: cumulative-energy threshold γ.
    pub wta_gamma: f64,
    /// θ search: largest drop of training-set sequence accuracy (points) allowed.
    pub theta_bound: f64,
    /// θ search: largest share (%) of training frames whose own argmax class may change.
    pub theta_frame_bound: f64,
    /// Delta methods: the input delta threshold θ₀ is the smallest candidate whose input delta
    /// density on the training frames is at most this, and training sees the thresholded inputs
    /// (the reference r that layer 0 multiplies), so the network learns to live with it.
    pub input_density_target: f64,
    pub act_bits: u32,
    pub weight_bits: u32,
}

impl TrainConfig {
    pub fn new(method: Method) -> Self {
        // Fixed-point steps cannot grow, so a strong penalty is cheapest to meet by making the
        // activations constant (measured: delta-fxp at λ = 3 fell to chance on GunPoint and to
        // 38% on moving-digits, at λ = 0.3 it kept 93.9% on moving-digits); LSQ escapes by
        // coarsening its step.
        let lambda = if method.quant == Quant::Fixed {
            0.3
        } else {
            3.0
        };
        TrainConfig {
            method,
            epochs: 40,
            seed: 1,
            hidden: vec![64, 64],
            lr: 3e-3,
            batch_chunks: 32,
            chunk: 8,
            warmup_frac: 0.25,
            lambda,
            star_lambda: 1.0,
            star_eps_steps: 4.0,
            star_tau: 2,
            wta_gamma: 0.9,
            theta_bound: 0.5,
            theta_frame_bound: 0.25,
            input_density_target: 0.4,
            act_bits: 8,
            weight_bits: 8,
        }
    }

    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field, msg: &str| {
            Err(TrainError::Setting {
                field,
                msg: msg.to_string(),
            })
        };
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if self.hidden.contains(&0) {
            return bad("hidden", "every hidden layer needs at least one unit");
        }
        if !(2..=8).contains(&self.act_bits) {
            return bad("act_bits", "must be in 2..=8");
        }
        if !(2..=8).contains(&self.weight_bits) {
            return bad(
                "weight_bits",
                "must be in 2..=8 (weights are stored as int8)",
            );
        }
        if !(0.0..=1.0).contains(&self.wta_gamma) || self.wta_gamma == 0.0 {
            return bad("wta_gamma", "must be in (0, 1]");
        }
        if self.chunk < 2 {
            return bad("chunk", "must be at least 2 frames (deltas need two)");
        }
        Ok(())
    }
}

/// The input grid: x_int = clamp(round_half_up(x / scale), −qmax, qmax).
#[derive(Debug, Clone)]
pub struct InputQuant {
    pub scale: f32,
    pub qmax: f32,
}

impl InputQuant {
    /// Scale from the 99.9th percentile of |x| over the training frames (1/qmax for inputs in
    /// [0, 1] like pixels), so rare outliers saturate instead of coarsening the grid.
    pub fn calibrate(train: &SeqSet, act_bits: u32, nonnegative: bool) -> Self {
        let qmax = ((1u32 << (act_bits - 1)) - 1) as f32;
        if nonnegative {
            return InputQuant {
                scale: 1.0 / qmax,
                qmax,
            };
        }
        let mut v: Vec<f32> = train
            .seqs
            .iter()
            .flat_map(|s| s.iter().map(|x| x.abs()))
            .collect();
        let p = percentile(&mut v, 0.999).max(1e-6);
        InputQuant {
            scale: p / qmax,
            qmax,
        }
    }

    pub fn quantize(&self, seq: &Array2<f32>) -> Array2<i8> {
        seq.mapv(|x| ops::round_half_up(x / self.scale).clamp(-self.qmax, self.qmax) as i8)
    }
}

pub fn percentile(v: &mut [f32], q: f64) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

/// Quantized sequences: the integer frames and their dequantized float copy used in training.
pub struct QSeqs {
    pub int: Vec<Array2<i8>>,
    pub float: Vec<Array2<f32>>,
    pub labels: Vec<usize>,
}

impl QSeqs {
    pub fn new(set: &SeqSet, q: &InputQuant) -> Self {
        let int: Vec<Array2<i8>> = set.seqs.iter().map(|s| q.quantize(s)).collect();
        let float = int.iter().map(|s| s.mapv(|v| v as f32 * q.scale)).collect();
        QSeqs {
            int,
            float,
            labels: set.labels.clone(),
        }
    }
}

impl QSeqs {
    /// The same sequences as layer 0 of the integer model sees them with input threshold θ:
    /// the delta encoder's reference r instead of x (identical for θ = 0).
    pub fn thresholded(self, theta: i32, q: &InputQuant) -> Self {
        if theta == 0 {
            return self;
        }
        let float = self
            .int
            .iter()
            .map(|s| export::thresholded_reference(s, theta).mapv(|v| v as f32 * q.scale))
            .collect();
        QSeqs {
            int: self.int,
            float,
            labels: self.labels,
        }
    }
}

/// What training produced: the float network and everything the integer export needs.
pub struct Trained {
    pub net: Net,
    pub fwd: Fwd,
    /// Activation step of every hidden layer (the integer grid of its output).
    pub act_steps: Vec<f32>,
    pub input: InputQuant,
    /// Input delta threshold θ₀ trained with (0 when the method has no delta training).
    pub input_theta: i32,
    /// Accuracy (%) of the float network without any quantization, on the test set.
    pub float_unquantized_accuracy: f64,
    /// Accuracy (%) of the fake-quantized network (θ = 0), on the test set.
    pub float_accuracy: f64,
    pub epochs: usize,
    pub loss_history: Vec<f64>,
}

fn tensor_of(frames: &[&Array2<f32>]) -> candle_core::Result<Tensor> {
    let cols = frames.first().map(|f| f.ncols()).unwrap_or(0);
    let rows: usize = frames.iter().map(|f| f.nrows()).sum();
    let mut v = Vec::with_capacity(rows * cols);
    for f in frames {
        v.extend(f.iter().copied());
    }
    Tensor::from_vec(v, (rows, cols), &Device::Cpu)
}

/// Run the network on every sequence; returns per-sequence logits `[T, classes]`.
pub fn logits_per_seq(
    net: &Net,
    seqs: &[Array2<f32>],
    f: &Fwd,
) -> candle_core::Result<Vec<Array2<f32>>> {
    let mut out = Vec::with_capacity(seqs.len());
    // Batches of whole sequences keep memory bounded on the larger sets.
    for group in seqs.chunks(256) {
        let refs: Vec<&Array2<f32>> = group.iter().collect();
        let x = tensor_of(&refs)?;
        let lg = net.forward(&x, f)?.logits.to_vec2::<f32>()?;
        let mut row = 0;
        for s in group {
            let t = s.nrows();
            let c = lg.first().map(|r| r.len()).unwrap_or(0);
            let mut a = Array2::<f32>::zeros((t, c));
            for i in 0..t {
                for k in 0..c {
                    a[[i, k]] = lg[row + i][k];
                }
            }
            row += t;
            out.push(a);
        }
    }
    Ok(out)
}

/// Sequence accuracy (%) under the decision rule of [`crate::data::decide`].
pub fn accuracy(net: &Net, q: &QSeqs, f: &Fwd) -> candle_core::Result<f64> {
    let lg = logits_per_seq(net, &q.float, f)?;
    let ok = lg
        .iter()
        .zip(&q.labels)
        .filter(|(l, &y)| crate::data::decide(l) == y)
        .count();
    Ok(100.0 * ok as f64 / q.labels.len().max(1) as f64)
}

/// Collect the post-ReLU float activations of every hidden layer on (up to `max_frames`)
/// training frames, for calibration.
fn hidden_activations(
    net: &Net,
    q: &QSeqs,
    f: &Fwd,
    max_frames: usize,
) -> candle_core::Result<Vec<Vec<Vec<f32>>>> {
    let mut frames: Vec<&Array2<f32>> = vec![];
    let mut n = 0;
    for s in &q.float {
        if n >= max_frames {
            break;
        }
        frames.push(s);
        n += s.nrows();
    }
    let x = tensor_of(&frames)?;
    let out = net.forward(&x, f)?;
    out.pre.iter().map(|p| p.to_vec2::<f32>()).collect()
}

/// DASNet winner count: the smallest k whose top-k activations hold a fraction γ of a frame's
/// energy Σa², averaged over frames and rounded up.
pub fn wta_k_from_energy(acts: &[Vec<f32>], gamma: f64) -> usize {
    let mut total_k = 0usize;
    let mut n = 0usize;
    for row in acts {
        let mut sq: Vec<f64> = row.iter().map(|&a| (a as f64) * (a as f64)).collect();
        let e: f64 = sq.iter().sum();
        if e <= 0.0 {
            continue;
        }
        sq.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
        let mut acc = 0.0;
        let mut k = 0;
        for v in sq {
            acc += v;
            k += 1;
            if acc >= gamma * e {
                break;
            }
        }
        total_k += k;
        n += 1;
    }
    let width = acts.first().map(|r| r.len()).unwrap_or(1).max(1);
    if n == 0 {
        return width;
    }
    total_k.div_ceil(n).clamp(1, width)
}

/// Train a network on `ds` per `cfg`. `progress` shows a bar per epoch.
pub fn train(ds: &Dataset, cfg: &TrainConfig, progress: bool) -> Result<Trained, TrainError> {
    cfg.validate()?;
    if ds.train.frames() == 0 {
        return Err(TrainError::Empty(ds.name.clone()));
    }
    let input = InputQuant::calibrate(&ds.train, cfg.act_bits, ds.nonnegative);
    let mut tr = QSeqs::new(&ds.train, &input);
    let mut te = QSeqs::new(&ds.test, &input);
    let input_theta = if cfg.method.delta_penalty {
        let th = export::THETA_CANDIDATES
            .iter()
            .copied()
            .find(|&th| export::input_delta_density(&tr.int, th) <= cfg.input_density_target)
            .unwrap_or(*export::THETA_CANDIDATES.last().unwrap_or(&0));
        tr = tr.thresholded(th, &input);
        te = te.thresholded(th, &input);
        th
    } else {
        0
    };
    let mut sizes = vec![ds.in_dim];
    sizes.extend(&cfg.hidden);
    sizes.push(ds.n_classes());
    let net = Net::new(&sizes, cfg.act_bits, cfg.weight_bits, cfg.seed)?;
    let nh = cfg.hidden.len();
    let m = &cfg.method;
    let qat = m.quant != Quant::Ptq;
    let warm = if qat {
        ((cfg.epochs as f64 * cfg.warmup_frac).round() as usize).min(cfg.epochs - 1)
    } else {
        cfg.epochs
    };
    let chunk = cfg
        .chunk
        .min(tr.float.iter().map(|s| s.nrows()).min().unwrap_or(2))
        .max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7a11_0000);
    let mut opt = AdamW::new(
        net.params(m.quant == Quant::Lsq),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let mut fwd = Fwd::float(nh);
    let mut fixed_steps = vec![1.0f32; nh];
    let mut loss_history = vec![];
    let bar = if progress {
        let b = indicatif::ProgressBar::new(cfg.epochs as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] epoch {pos}/{len} {msg} ({elapsed})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_prefix(format!("{} {}", ds.name, m.name));
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    for epoch in 0..cfg.epochs {
        if qat && epoch == warm {
            // Switch quantization on: calibrate steps (and WTA k) on float activations.
            let pre = hidden_activations(&net, &tr, &Fwd::float(nh), 20_000)?;
            for (l, rows) in pre.iter().enumerate() {
                let mut flat: Vec<f32> = rows.iter().flatten().copied().collect();
                match m.quant {
                    Quant::Fixed => {
                        // Fixed point: a power-of-two step covering the 99.9th percentile.
                        let p = percentile(&mut flat, 0.999).max(1e-6);
                        fixed_steps[l] = 2f32.powf((p / net.qmax_act).log2().ceil());
                    }
                    Quant::Lsq => {
                        let mean_abs = flat.iter().map(|v| v.abs() as f64).sum::<f64>()
                            / flat.len().max(1) as f64;
                        let s0 = (2.0 * mean_abs / (net.qmax_act as f64).sqrt()).max(1e-4) as f32;
                        net.steps[l].set(&Tensor::from_vec(vec![s0], 1, &Device::Cpu)?)?;
                    }
                    Quant::Ptq => {}
                }
                if m.wta {
                    fwd.wta[l] = Some(wta_k_from_energy(rows, cfg.wta_gamma));
                }
            }
            fwd.quant_weights = true;
            fwd.act = match m.quant {
                Quant::Fixed => ActMode::Fixed(fixed_steps.clone()),
                _ => ActMode::Lsq,
            };
            if m.star {
                fwd.tau = vec![cfg.star_tau; nh];
            }
        }
        // Cosine learning-rate decay over the whole run.
        let lr =
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / cfg.epochs as f64).cos());
        opt.set_learning_rate(lr);
        let mut chunks: Vec<(usize, usize)> = vec![];
        for (i, s) in tr.float.iter().enumerate() {
            let t = s.nrows();
            if t < chunk {
                continue;
            }
            let off = rand::Rng::gen_range(&mut rng, 0..=(t - chunk).min(chunk - 1));
            let mut st = off;
            while st + chunk <= t {
                chunks.push((i, st));
                st += chunk;
            }
        }
        chunks.shuffle(&mut rng);
        let (mut sum_loss, mut nb) = (0.0, 0);
        for batch in chunks.chunks(cfg.batch_chunks) {
            let mut xv = Vec::with_capacity(batch.len() * chunk * ds.in_dim);
            let mut yv = Vec::with_capacity(batch.len() * chunk);
            for &(i, st) in batch {
                let s = &tr.float[i];
                for t in st..st + chunk {
                    xv.extend(s.row(t).iter().copied());
                    yv.push(tr.labels[i] as u32);
                }
            }
            let b = batch.len();
            let x = Tensor::from_vec(xv, (b * chunk, ds.in_dim), &Device::Cpu)?;
            let y = Tensor::from_vec(yv, b * chunk, &Device::Cpu)?;
            let out = net.forward(&x, &fwd)?;
            let mut loss = candle_nn::loss::cross_entropy(&out.logits, &y)?;
            let quantized = qat && epoch >= warm;
            // Deltas need two frames: single-frame sequences train without the penalty.
            if quantized && m.delta_penalty && cfg.lambda > 0.0 && chunk >= 2 {
                for (l, a) in out.acts.iter().enumerate() {
                    // Deltas in units of the layer's step (the integer deltas the hardware
                    // sees): in real units the penalty is beaten by shrinking every activation
                    // (and the LSQ step with it) instead of making deltas zero.
                    let step = match &fwd.act {
                        ActMode::Fixed(s) => Tensor::from_vec(vec![s[l]], 1, &Device::Cpu)?,
                        _ => net.steps[l].as_tensor().clone(),
                    };
                    let a3 = a.broadcast_div(&step)?.reshape((b, chunk, a.dim(1)?))?;
                    loss = (loss + (ops::delta_penalty(&a3)? * cfg.lambda)?)?;
                }
            }
            if quantized && m.star && cfg.star_lambda > 0.0 {
                let steps = match &fwd.act {
                    ActMode::Fixed(s) => s.clone(),
                    _ => net.step_values()?,
                };
                for (l, p) in out.pre.iter().enumerate() {
                    loss = (loss
                        + (ops::star_penalty(p, cfg.star_eps_steps * steps[l])?
                            * cfg.star_lambda)?)?;
                }
            }
            let grads = loss.backward()?;
            opt.step(&grads)?;
            // LSQ steps must stay positive.
            for s in &net.steps {
                let v = s.as_tensor().to_vec1::<f32>()?[0];
                if v < 1e-4 {
                    s.set(&Tensor::from_vec(vec![1e-4f32], 1, &Device::Cpu)?)?;
                }
            }
            sum_loss += loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            nb += 1;
        }
        let mean = sum_loss / nb.max(1) as f64;
        loss_history.push(mean);
        bar.set_message(format!("loss {mean:.4}"));
        bar.inc(1);
    }
    bar.finish();
    // Float accuracy without quantization (WTA masks kept: they are part of the architecture).
    let mut float_fwd = Fwd::float(nh);
    float_fwd.wta = fwd.wta.clone();
    let float_unquantized_accuracy = accuracy(&net, &te, &float_fwd)?;
    let act_steps = if qat {
        match &fwd.act {
            ActMode::Fixed(s) => s.clone(),
            _ => net.step_values()?,
        }
    } else {
        // Post-training quantization: step from the 99.99th percentile of each layer's
        // activations over the training frames.
        let pre = hidden_activations(&net, &tr, &Fwd::float(nh), 50_000)?;
        let steps: Vec<f32> = pre
            .iter()
            .map(|rows| {
                let mut flat: Vec<f32> = rows.iter().flatten().copied().collect();
                (percentile(&mut flat, 0.9999) / net.qmax_act).max(1e-6)
            })
            .collect();
        fwd.quant_weights = true;
        fwd.act = ActMode::Fixed(steps.clone());
        steps
    };
    // Evaluate with the final steps as fixed numbers (what the export uses).
    fwd.act = ActMode::Fixed(act_steps.clone());
    let float_accuracy = accuracy(&net, &te, &fwd)?;
    Ok(Trained {
        net,
        fwd,
        act_steps,
        input,
        input_theta,
        float_unquantized_accuracy,
        float_accuracy,
        epochs: cfg.epochs,
        loss_history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_parsing() {
        let m = Method::parse("delta-lsq").unwrap();
        assert_eq!(
            (m.quant, m.delta_penalty, m.star),
            (Quant::Lsq, true, false)
        );
        let m = Method::parse("delta-fxp+star").unwrap();
        assert_eq!(
            (m.quant, m.delta_penalty, m.star),
            (Quant::Fixed, true, true)
        );
        let m = Method::parse("baseline").unwrap();
        assert_eq!(m.quant, Quant::Ptq);
        assert!(matches!(
            Method::parse("delta-fxp+delta-lsq"),
            Err(TrainError::Conflict(_))
        ));
        assert!(Method::parse("magic")
            .unwrap_err()
            .to_string()
            .contains("unknown method \"magic\""));
    }

    #[test]
    fn wta_k_energy() {
        // Energies 9, 4, 1 (+0): 9/14 < 0.8 ≤ 13/14 → k = 2.
        let rows = vec![vec![3.0, 0.0, 2.0, 1.0]];
        assert_eq!(wta_k_from_energy(&rows, 0.8), 2);
        assert_eq!(wta_k_from_energy(&rows, 1.0), 3);
        assert_eq!(wta_k_from_energy(&rows, 0.5), 1);
    }

    #[test]
    fn input_quant_grid() {
        let set = SeqSet {
            seqs: vec![Array2::from_shape_vec((2, 2), vec![0.0, 1.0, -2.54, 0.5]).unwrap()],
            labels: vec![0],
        };
        let q = InputQuant::calibrate(&set, 8, false);
        assert!((q.scale - 2.54 / 127.0).abs() < 1e-6);
        let qi = q.quantize(&set.seqs[0]);
        assert_eq!(
            qi.iter().copied().collect::<Vec<i8>>(),
            vec![0, 50, -127, 25]
        );
    }
}
