//! Sparsity statistics, measured as the literature does.

use serde::Serialize;

use crate::io::Traces;
use crate::model::Model;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sparsity {
    /// Frames in all sequences.
    pub frames: u64,
    /// Pooled delta density 1 − sparsity = Σ nnz / Σ elements over all layer inputs, t = 0 excluded.
    pub delta_density: f64,
    /// The same per layer input.
    pub delta_density_per_layer: Vec<f64>,
    /// Σ nnz·fan_out / Σ elements·fan_out (fan_out = the layer's outputs), t = 0 excluded.
    pub mac_weighted_density: f64,
    /// Fraction of nonzero hidden activations (spatial density), all frames.
    pub activation_density: f64,
    /// Nonzero deltas per layer, all frames (t = 0 included), as the hardware sees them.
    pub nnz_per_layer: Vec<u64>,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Computes statistics from the golden model's delta maps and activations.
pub fn sparsity(model: &Model, traces: &Traces) -> Sparsity {
    let shape = traces.logits.shape();
    let (s, t) = (shape[0], shape[1]);
    let mut per_layer = Vec::new();
    let mut nnz_all = Vec::new();
    let (mut nnz_sum, mut el_sum, mut mac_nnz, mut mac_el) = (0u64, 0u64, 0u64, 0u64);
    for (l, d) in traces.deltas.iter().enumerate() {
        let fan_out = model.layers[l].outputs() as u64;
        let inputs = model.layers[l].inputs() as u64;
        let mut nnz_after0 = 0u64;
        let mut nnz_total = 0u64;
        for ((_, ti, _), v) in d.indexed_iter() {
            if *v != 0 {
                nnz_total += 1;
                if ti > 0 {
                    nnz_after0 += 1;
                }
            }
        }
        let elements = (s * t.saturating_sub(1)) as u64 * inputs;
        per_layer.push(ratio(nnz_after0, elements));
        nnz_all.push(nnz_total);
        nnz_sum += nnz_after0;
        el_sum += elements;
        mac_nnz += nnz_after0 * fan_out;
        mac_el += elements * fan_out;
    }
    let (mut act_nz, mut act_el) = (0u64, 0u64);
    for a in &traces.acts {
        act_nz += a.iter().filter(|v| **v != 0).count() as u64;
        act_el += a.len() as u64;
    }
    Sparsity {
        frames: (s * t) as u64,
        delta_density: ratio(nnz_sum, el_sum),
        delta_density_per_layer: per_layer,
        mac_weighted_density: ratio(mac_nnz, mac_el),
        activation_density: ratio(act_nz, act_el),
        nnz_per_layer: nnz_all,
    }
}
