//! Sparsity statistics, measured as the literature does.

use serde::Serialize;

use crate::io::Traces;
use crate::model::Model;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sparsity {
    /// Frames processed in all sequences.
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
    /// Raw counts behind the densities, so results can be pooled exactly: nonzero deltas and
    /// elements per layer input with t = 0 excluded, nonzero and total hidden activations.
    pub delta_nnz_after_first: Vec<u64>,
    pub delta_elements_after_first: Vec<u64>,
    pub activation_nonzero: u64,
    pub activation_elements: u64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl Sparsity {
    /// Densities from raw counts (also how results of several runs are pooled).
    pub fn from_counts(
        model: &Model,
        frames: u64,
        nnz_per_layer: Vec<u64>,
        nnz_after_first: Vec<u64>,
        elements_after_first: Vec<u64>,
        activation_nonzero: u64,
        activation_elements: u64,
    ) -> Sparsity {
        let (mut mac_nnz, mut mac_el) = (0u64, 0u64);
        for (l, layer) in model.layers.iter().enumerate() {
            mac_nnz += nnz_after_first[l] * layer.outputs() as u64;
            mac_el += elements_after_first[l] * layer.outputs() as u64;
        }
        Sparsity {
            frames,
            delta_density: ratio(
                nnz_after_first.iter().sum(),
                elements_after_first.iter().sum(),
            ),
            delta_density_per_layer: nnz_after_first
                .iter()
                .zip(&elements_after_first)
                .map(|(n, e)| ratio(*n, *e))
                .collect(),
            mac_weighted_density: ratio(mac_nnz, mac_el),
            activation_density: ratio(activation_nonzero, activation_elements),
            nnz_per_layer,
            delta_nnz_after_first: nnz_after_first,
            delta_elements_after_first: elements_after_first,
            activation_nonzero,
            activation_elements,
        }
    }

    /// Pools two sets of statistics over the same model.
    pub fn merge(&self, model: &Model, other: &Sparsity) -> Sparsity {
        let add = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<_>>();
        Sparsity::from_counts(
            model,
            self.frames + other.frames,
            add(&self.nnz_per_layer, &other.nnz_per_layer),
            add(&self.delta_nnz_after_first, &other.delta_nnz_after_first),
            add(
                &self.delta_elements_after_first,
                &other.delta_elements_after_first,
            ),
            self.activation_nonzero + other.activation_nonzero,
            self.activation_elements + other.activation_elements,
        )
    }
}

/// Computes statistics from the golden model's delta maps and activations; `lengths[s]` frames
/// of sequence s count (padding past a sequence's length is ignored).
pub fn sparsity(model: &Model, traces: &Traces, lengths: &[usize]) -> Sparsity {
    let layers = model.layers.len();
    let mut nnz_all = vec![0u64; layers];
    let mut nnz_after = vec![0u64; layers];
    let mut el_after = vec![0u64; layers];
    let (mut act_nz, mut act_el) = (0u64, 0u64);
    for (si, &len) in lengths.iter().enumerate() {
        for (l, d) in traces.deltas.iter().enumerate() {
            for ti in 0..len {
                let nnz = d
                    .slice(ndarray::s![si, ti, ..])
                    .iter()
                    .filter(|v| **v != 0)
                    .count() as u64;
                nnz_all[l] += nnz;
                if ti > 0 {
                    nnz_after[l] += nnz;
                    el_after[l] += model.layers[l].inputs() as u64;
                }
            }
        }
        for a in &traces.acts {
            let rows = a.slice(ndarray::s![si, ..len, ..]);
            act_nz += rows.iter().filter(|v| **v != 0).count() as u64;
            act_el += rows.len() as u64;
        }
    }
    let frames = lengths.iter().map(|l| *l as u64).sum();
    Sparsity::from_counts(model, frames, nnz_all, nnz_after, el_after, act_nz, act_el)
}
