//! Custom candle operations with hand-written gradients: straight-through fake quantization,
//! Learned Step-size Quantization (LSQ) and DASNet winners-take-all masks.
//!
//! Rounding is `round_half_up(v) = floor(v + 0.5)`, the rounding of the integer contract, so the
//! fake-quantized forward pass computes the same grid values the exported integer model does.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Error, Layout, Result, Shape, Tensor};

/// Rounding of the arithmetic contract.
pub fn round_half_up(v: f32) -> f32 {
    (v + 0.5).floor()
}

/// Symmetric per-tensor weight scale so that max|w| maps to `qmax`.
pub fn sym_scale(max_abs: f32, qmax: f32) -> f32 {
    if max_abs > 0.0 {
        max_abs / qmax
    } else {
        1.0
    }
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let v = match s {
        CpuStorage::F32(v) => v,
        _ => return Err(Error::Msg(format!("{op}: only f32 is supported"))),
    };
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| Error::Msg(format!("{op}: input must be contiguous")))?;
    Ok(&v[a..b])
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// Fake quantization of weights to signed integers in [-qmax, qmax] with the per-tensor scale
/// max|w|/qmax. Backward: straight-through (the scale is treated as a constant).
pub struct FakeQuantSym {
    pub qmax: f32,
}

impl CustomOp1 for FakeQuantSym {
    fn name(&self) -> &'static str {
        "fake-quant-sym"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let m = x.iter().fold(0f32, |a, &v| a.max(v.abs()));
        let sc = sym_scale(m, self.qmax);
        let out = x
            .iter()
            .map(|&v| round_half_up(v / sc).clamp(-self.qmax, self.qmax) * sc)
            .collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.clone()))
    }
}

/// Fixed-step unsigned activation quantizer with the ReLU folded in:
/// q = clamp(round_half_up(x/s), 0, qmax)·s. Backward: straight-through inside [0, qmax·s],
/// zero outside (the clamp's gradient, which includes the ReLU's).
pub struct FixedQuant {
    pub step: f32,
    pub qmax: f32,
}

impl CustomOp1 for FixedQuant {
    fn name(&self) -> &'static str {
        "fixed-quant"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let out = x
            .iter()
            .map(|&v| round_half_up(v / self.step).clamp(0.0, self.qmax) * self.step)
            .collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let x = to_vec(arg)?;
        let g = to_vec(grad)?;
        let out: Vec<f32> = x
            .iter()
            .zip(&g)
            .map(|(&v, &g)| {
                let u = v / self.step;
                if (0.0..=self.qmax).contains(&u) {
                    g
                } else {
                    0.0
                }
            })
            .collect();
        Ok(Some(Tensor::from_vec(out, arg.shape(), arg.device())?))
    }
}

/// LSQ (Esser et al.) unsigned activation quantizer with learned step s (a 1-element tensor):
/// q = clamp(round_half_up(x/s), 0, qmax)·s.
/// Backward: ∂q/∂x = 1 inside [0, qmax·s], else 0; ∂q/∂s = round(x/s) − x/s inside, qmax above,
/// 0 (= −Qn, Qn = 0) below, and the step gradient is multiplied by `grad_scale` = 1/√(Qp·numel).
pub struct LsqQuant {
    pub qmax: f32,
    pub grad_scale: f32,
}

impl CustomOp2 for LsqQuant {
    fn name(&self) -> &'static str {
        "lsq-quant"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let st = f32_slice(s2, l2, self.name())?;
        if st.len() != 1 {
            return Err(Error::Msg("lsq-quant: the step must hold one value".into()));
        }
        let s = st[0];
        let out = x
            .iter()
            .map(|&v| round_half_up(v / s).clamp(0.0, self.qmax) * s)
            .collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        s: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let xv = to_vec(x)?;
        let g = to_vec(grad)?;
        let sv = to_vec(s)?[0];
        let mut dx = Vec::with_capacity(xv.len());
        let mut ds = 0f64;
        for (&v, &g) in xv.iter().zip(&g) {
            let u = v / sv;
            if u < 0.0 {
                dx.push(0.0);
            } else if u > self.qmax {
                dx.push(0.0);
                ds += (g * self.qmax) as f64;
            } else {
                dx.push(g);
                ds += (g * (round_half_up(u) - u)) as f64;
            }
        }
        let dx = Tensor::from_vec(dx, x.shape(), x.device())?;
        let ds = Tensor::from_vec(vec![ds as f32 * self.grad_scale], s.shape(), s.device())?;
        Ok((Some(dx), Some(ds)))
    }
}

/// Winners-take-all mask over the last dimension: keep the `k` largest values of each row (ties
/// to the lower index, as the golden model), zero the rest. Backward through the same mask.
pub struct Wta {
    pub k: usize,
}

/// Indices kept by top-k of one row (ties to the lower index).
pub fn topk_mask(row: &[f32], k: usize) -> Vec<bool> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    // Stable sort by value descending keeps lower indices first among equals.
    idx.sort_by(|&a, &b| {
        row[b]
            .partial_cmp(&row[a])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut keep = vec![false; row.len()];
    for &i in idx.iter().take(k) {
        keep[i] = true;
    }
    keep
}

impl Wta {
    fn masks(&self, x: &[f32], cols: usize) -> Vec<bool> {
        x.chunks(cols).flat_map(|r| topk_mask(r, self.k)).collect()
    }
}

impl CustomOp1 for Wta {
    fn name(&self) -> &'static str {
        "wta"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let cols = *l.shape().dims().last().unwrap_or(&1);
        let m = self.masks(x, cols.max(1));
        let out = x
            .iter()
            .zip(m)
            .map(|(&v, k)| if k { v } else { 0.0 })
            .collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let x = to_vec(arg)?;
        let g = to_vec(grad)?;
        let cols = *arg.dims().last().unwrap_or(&1);
        let m = self.masks(&x, cols.max(1));
        let out: Vec<f32> = g
            .iter()
            .zip(m)
            .map(|(&g, k)| if k { g } else { 0.0 })
            .collect();
        Ok(Some(Tensor::from_vec(out, arg.shape(), arg.device())?))
    }
}

/// Delta maps between consecutive frames: `a` is `[B, L, H]`, result `[B, L-1, H]` with
/// Δ_t = a_t − a_{t−1}.
pub fn delta_map(a: &Tensor) -> Result<Tensor> {
    let l = a.dim(1)?;
    a.narrow(1, 1, l - 1)?.sub(&a.narrow(1, 0, l - 1)?)
}

/// |x| whose gradient is sign(x) with sign(0) = 0 (candle's `abs` uses +1 at 0, which would push
/// every exactly-zero delta away from zero; the L1 subgradient 0 keeps it there).
pub fn l1_abs(x: &Tensor) -> Result<Tensor> {
    let sign = (x.gt(0.0)?.to_dtype(candle_core::DType::F32)?
        - x.lt(0.0)?.to_dtype(candle_core::DType::F32)?)?;
    x * sign
}

/// Temporal sparsity penalty Σ|Δ| / numel of the delta map of `a` (`[B, L, H]`).
pub fn delta_penalty(a: &Tensor) -> Result<Tensor> {
    let d = delta_map(a)?;
    let n = d.elem_count().max(1) as f64;
    l1_abs(&d)?.sum_all()? / n
}

/// STAR partial regularization: Σ|x| over the near-zero activations 0 < |x| < eps, / numel.
pub fn star_penalty(a: &Tensor, eps: f32) -> Result<Tensor> {
    let absx = l1_abs(a)?;
    let mask = absx.lt(eps as f64)?.to_dtype(candle_core::DType::F32)?;
    let n = a.elem_count().max(1) as f64;
    (absx * mask)?.sum_all()? / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t(v: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
    }

    /// Finite-difference derivative of a scalar function.
    fn fd(f: impl Fn(f64) -> f64, x: f64, h: f64) -> f64 {
        (f(x + h) - f(x - h)) / (2.0 * h)
    }

    #[test]
    fn fixed_quant_forward_and_ste_gradient() {
        let x = Var::from_tensor(&t(&[-0.3, 0.0, 0.24, 0.25, 0.74, 3.0], &[6])).unwrap();
        let op = FixedQuant {
            step: 0.5,
            qmax: 3.0,
        };
        let q = x.as_tensor().apply_op1(op).unwrap();
        // 0.25/0.5 = 0.5 rounds half up to 1; 3.0/0.5 = 6 saturates at 3.
        assert_eq!(
            q.to_vec1::<f32>().unwrap(),
            vec![0.0, 0.0, 0.0, 0.5, 0.5, 1.5]
        );
        let w = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let loss = (q * t(&w, &[6])).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gx = g.get(&x).unwrap().to_vec1::<f32>().unwrap();
        // The straight-through surrogate is clamp(x, 0, qmax·s): its finite-difference slope.
        let xs = [-0.3f64, 0.0, 0.24, 0.25, 0.74, 3.0];
        for i in 0..6 {
            let sur = |v: f64| v.clamp(0.0, 1.5) * w[i] as f64;
            let want = if xs[i] == 0.0 {
                w[i] as f64
            } else {
                fd(sur, xs[i], 1e-4)
            };
            assert!(
                (gx[i] as f64 - want).abs() < 1e-3,
                "i={i} got {} want {want}",
                gx[i]
            );
        }
    }

    #[test]
    fn fake_quant_sym_grid_and_ste() {
        let x = Var::from_tensor(&t(&[-1.27, 0.5, 0.0051, 1.0], &[4])).unwrap();
        let q = x
            .as_tensor()
            .apply_op1(FakeQuantSym { qmax: 127.0 })
            .unwrap();
        let qv = q.to_vec1::<f32>().unwrap();
        // Scale 0.01: every value on the integer grid, extremes exact.
        for (a, b) in qv.iter().zip([-1.27f32, 0.5, 0.01, 1.0]) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let loss = (q.sqr().unwrap()).sum_all().unwrap();
        let g = loss
            .backward()
            .unwrap()
            .get(&x)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // STE: d/dx Σ q² = 2q.
        for (gi, qi) in g.iter().zip(&qv) {
            assert!((gi - 2.0 * qi).abs() < 1e-5);
        }
    }

    #[test]
    fn lsq_gradients_match_finite_differences() {
        let xs = [-0.7f32, 0.05, 0.33, 0.61, 1.12, 2.9, 9.0];
        let s0 = 0.2f32;
        let qmax = 7.0f32;
        let gs = 1.0 / (qmax * xs.len() as f32).sqrt();
        let w = [0.3f32, -1.1, 0.7, 2.0, -0.4, 1.3, 0.9];
        let x = Var::from_tensor(&t(&xs, &[7])).unwrap();
        let s = Var::from_tensor(&t(&[s0], &[1])).unwrap();
        let q = x
            .as_tensor()
            .apply_op2(
                s.as_tensor(),
                LsqQuant {
                    qmax,
                    grad_scale: gs,
                },
            )
            .unwrap();
        let qv = q.to_vec1::<f32>().unwrap();
        let want_q: Vec<f32> = xs
            .iter()
            .map(|&v| (v / s0 + 0.5).floor().clamp(0.0, qmax) * s0)
            .collect();
        assert_eq!(qv, want_q);
        let loss = (q * t(&w, &[7])).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gx = g.get(&x).unwrap().to_vec1::<f32>().unwrap();
        let gsv = g.get(&s).unwrap().to_vec1::<f32>().unwrap()[0];
        // LSQ's gradients are those of the surrogate in which the rounding residual
        // c_i = round(x_i/s0) − x_i/s0 is held constant:
        //   q̃(x, s) = clamp(x/s + c, 0, qmax)·s.
        let c: Vec<f64> = xs
            .iter()
            .map(|&v| ((v / s0 + 0.5).floor() - v / s0) as f64)
            .collect();
        let sur = |xv: &[f64], sv: f64| -> f64 {
            xv.iter()
                .zip(&c)
                .zip(&w)
                .map(|((&xi, &ci), &wi)| {
                    let u = xi / sv;
                    // Outside the range the clamp does not see the residual.
                    let qi = if u < 0.0 {
                        0.0
                    } else if u > qmax as f64 {
                        qmax as f64
                    } else {
                        u + ci
                    };
                    qi * sv * wi as f64
                })
                .sum()
        };
        let x64: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
        let want_s = fd(|sv| sur(&x64, sv), s0 as f64, 1e-6) * gs as f64;
        assert!((gsv as f64 - want_s).abs() < 1e-4, "ds {gsv} vs {want_s}");
        for i in 0..xs.len() {
            let want = fd(
                |v| {
                    let mut xv = x64.clone();
                    xv[i] = v;
                    sur(&xv, s0 as f64)
                },
                x64[i],
                1e-6,
            );
            assert!(
                (gx[i] as f64 - want).abs() < 1e-4,
                "dx[{i}] {} vs {want}",
                gx[i]
            );
        }
    }

    #[test]
    fn lsq_step_gradient_formula_by_hand() {
        // One element inside: ∂q/∂s = round(v) − v; one above: qmax; one below: 0.
        let x = Var::from_tensor(&t(&[0.3, 5.0, -1.0], &[3])).unwrap();
        let s = Var::from_tensor(&t(&[0.25], &[1])).unwrap();
        let q = x
            .as_tensor()
            .apply_op2(
                s.as_tensor(),
                LsqQuant {
                    qmax: 3.0,
                    grad_scale: 1.0,
                },
            )
            .unwrap();
        let g = q.sum_all().unwrap().backward().unwrap();
        let ds = g.get(&s).unwrap().to_vec1::<f32>().unwrap()[0];
        let v = 0.3f32 / 0.25;
        assert!((ds - ((v + 0.5).floor() - v + 3.0)).abs() < 1e-6, "{ds}");
    }

    #[test]
    fn wta_keeps_topk_ties_low_and_masks_gradient() {
        let x = Var::from_tensor(&t(&[1.0, 3.0, 3.0, 0.5, 2.0, 2.0, 2.0, 0.0], &[2, 4])).unwrap();
        let y = x.as_tensor().apply_op1(Wta { k: 2 }).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 3.0, 3.0, 0.0, 2.0, 2.0, 0.0, 0.0]
        );
        let g = (y * t(&[1., 2., 3., 4., 5., 6., 7., 8.], &[2, 4]))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(
            g.get(&x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            vec![0.0, 2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 0.0]
        );
    }

    #[test]
    fn delta_map_and_penalties_on_hand_made_tensors() {
        // B=1, L=3, H=2: frames [1,2], [1,5], [0,5].
        let a = t(&[1.0, 2.0, 1.0, 5.0, 0.0, 5.0], &[1, 3, 2]);
        let d = delta_map(&a).unwrap();
        assert_eq!(
            d.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 3.0, -1.0, 0.0]
        );
        let p = delta_penalty(&a).unwrap().to_scalar::<f32>().unwrap();
        assert!((p - 1.0).abs() < 1e-6); // (0+3+1+0)/4
        let b = t(&[0.1, -0.2, 0.5, 0.0], &[4]);
        let sp = star_penalty(&b, 0.3).unwrap().to_scalar::<f32>().unwrap();
        assert!((sp - 0.075).abs() < 1e-6, "{sp}"); // (0.1+0.2)/4
                                                    // Gradient of the delta penalty: sign of each delta, shared between neighbours.
        let v = Var::from_tensor(&a).unwrap();
        let g = delta_penalty(v.as_tensor()).unwrap().backward().unwrap();
        let gv = g
            .get(&v)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // d|a1-a0| etc.; the subgradient at a zero delta is 0.
        assert_eq!(gv, vec![0.0, -0.25, 0.25, 0.25, -0.25, 0.0]);
    }
}
