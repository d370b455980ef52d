//! The trainable MLP (candle) with the quantization-aware forward pass of every method.

use super::ops::{FakeQuantSym, FixedQuant, LsqQuant, Wta};
use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How hidden activations are computed.
#[derive(Debug, Clone, PartialEq)]
pub enum ActMode {
    /// ReLU in float (baseline training, warm-up of the QAT methods).
    Float,
    /// ReLU + fixed-step quantization with these per-hidden-layer steps (fixed point, or the
    /// post-training calibration of the baseline).
    Fixed(Vec<f32>),
    /// ReLU + LSQ with the net's learned steps.
    Lsq,
}

/// Options of one forward pass.
#[derive(Debug, Clone)]
pub struct Fwd {
    /// Fake-quantize weights to `weight_bits` (straight-through).
    pub quant_weights: bool,
    pub act: ActMode,
    /// STAR activation threshold per hidden layer in quantization steps (q < τ → 0).
    pub tau: Vec<u32>,
    /// WTA top-k per hidden layer.
    pub wta: Vec<Option<usize>>,
}

impl Fwd {
    pub fn float(hidden_layers: usize) -> Self {
        Fwd {
            quant_weights: false,
            act: ActMode::Float,
            tau: vec![0; hidden_layers],
            wta: vec![None; hidden_layers],
        }
    }
}

/// Output of a forward pass.
pub struct Out {
    pub logits: Tensor,
    /// Hidden activations after quantization/threshold/WTA (what the next layer's delta encoder sees).
    pub acts: Vec<Tensor>,
    /// Hidden activations after ReLU before quantization (for the STAR penalty and calibration).
    pub pre: Vec<Tensor>,
}

pub struct Net {
    pub w: Vec<Var>,
    pub b: Vec<Var>,
    /// LSQ steps, one per hidden layer (1-element tensors).
    pub steps: Vec<Var>,
    pub qmax_act: f32,
    pub qmax_w: f32,
}

impl Net {
    /// PyTorch-style uniform init ±1/√fan_in, from a ChaCha stream so runs repeat from the seed.
    pub fn new(sizes: &[usize], act_bits: u32, weight_bits: u32, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dev = Device::Cpu;
        let (mut w, mut b, mut steps) = (vec![], vec![], vec![]);
        for win in sizes.windows(2) {
            let (i, o) = (win[0], win[1]);
            let bound = 1.0 / (i as f32).sqrt();
            let wv: Vec<f32> = (0..i * o).map(|_| rng.gen_range(-bound..bound)).collect();
            let bv: Vec<f32> = (0..o).map(|_| rng.gen_range(-bound..bound)).collect();
            w.push(Var::from_tensor(&Tensor::from_vec(wv, (o, i), &dev)?)?);
            b.push(Var::from_tensor(&Tensor::from_vec(bv, o, &dev)?)?);
        }
        for _ in 0..sizes.len().saturating_sub(2) {
            steps.push(Var::from_tensor(&Tensor::from_vec(vec![1.0f32], 1, &dev)?)?);
        }
        Ok(Net {
            w,
            b,
            steps,
            qmax_act: ((1u32 << (act_bits - 1)) - 1) as f32,
            qmax_w: ((1u32 << (weight_bits - 1)) - 1) as f32,
        })
    }

    pub fn n_layers(&self) -> usize {
        self.w.len()
    }

    pub fn params(&self, with_steps: bool) -> Vec<Var> {
        let mut p: Vec<Var> = self.w.iter().chain(self.b.iter()).cloned().collect();
        if with_steps {
            p.extend(self.steps.iter().cloned());
        }
        p
    }

    pub fn step_values(&self) -> Result<Vec<f32>> {
        self.steps
            .iter()
            .map(|s| Ok(s.as_tensor().to_vec1::<f32>()?[0]))
            .collect()
    }

    /// Effective weight of layer `l` (fake-quantized when asked).
    pub fn weight(&self, l: usize, quant: bool) -> Result<Tensor> {
        if quant {
            self.w[l]
                .as_tensor()
                .apply_op1(FakeQuantSym { qmax: self.qmax_w })
        } else {
            Ok(self.w[l].as_tensor().clone())
        }
    }

    /// Forward `x` `[N, in]`.
    pub fn forward(&self, x: &Tensor, f: &Fwd) -> Result<Out> {
        let mut h = x.clone();
        let mut acts = vec![];
        let mut pre = vec![];
        let nl = self.n_layers();
        for l in 0..nl {
            let w = self.weight(l, f.quant_weights)?;
            let y = h.matmul(&w.t()?)?.broadcast_add(self.b[l].as_tensor())?;
            if l + 1 == nl {
                return Ok(Out {
                    logits: y,
                    acts,
                    pre,
                });
            }
            let r = y.relu()?;
            let mut a = match &f.act {
                ActMode::Float => r.clone(),
                ActMode::Fixed(steps) => y.contiguous()?.apply_op1(FixedQuant {
                    step: steps[l],
                    qmax: self.qmax_act,
                })?,
                ActMode::Lsq => {
                    let n = y.elem_count() as f32;
                    y.contiguous()?.apply_op2(
                        self.steps[l].as_tensor(),
                        LsqQuant {
                            qmax: self.qmax_act,
                            grad_scale: 1.0 / (self.qmax_act * n).sqrt(),
                        },
                    )?
                }
            };
            let tau = f.tau.get(l).copied().unwrap_or(0);
            if tau > 0 {
                let step = match &f.act {
                    ActMode::Fixed(s) => s[l],
                    ActMode::Lsq => self.step_values()?[l],
                    // τ is defined in integer steps; without quantization it has no meaning.
                    ActMode::Float => 0.0,
                };
                if step > 0.0 {
                    // a = k·step exactly, so a ≥ (τ − ½)·step ⇔ k ≥ τ.
                    let keep = a
                        .ge((tau as f64 - 0.5) * step as f64)?
                        .to_dtype(DType::F32)?;
                    a = (a * keep)?;
                }
            }
            if let Some(k) = f.wta.get(l).copied().flatten() {
                a = a.contiguous()?.apply_op1(Wta { k })?;
            }
            pre.push(r);
            acts.push(a.clone());
            h = a;
        }
        unreachable!("a network has at least one layer")
    }
}
