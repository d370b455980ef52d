//! Bit-accurate golden model of the accelerator's integer arithmetic (docs/arithmetic.md).

use ndarray::{Array2, Array3, ArrayView1, ArrayView2, Axis};

use crate::arith;
use crate::io::{Inputs, Traces};
use crate::model::{Layer, Model};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoldenError {
    #[error(
        "accumulator overflow at sequence {sequence}, frame {frame}, layer {layer}, neuron {neuron}: \
         Y = {value} does not fit acc_bits = {acc_bits} (the config check should have rejected this model)"
    )]
    Overflow {
        sequence: usize,
        frame: usize,
        layer: usize,
        neuron: usize,
        value: i64,
        acc_bits: u32,
    },
}

/// What one frame produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameOut {
    pub logits: Vec<i32>,
    /// Activations of each hidden layer.
    pub acts: Vec<Vec<i32>>,
    /// Emitted deltas at each layer input.
    pub deltas: Vec<Vec<i32>>,
}

/// Delta-inference state of the whole network: references r and accumulators Y per layer.
pub struct DeltaNet<'m> {
    model: &'m Model,
    /// Weights transposed to [in, out]: a nonzero delta touches one contiguous column.
    wt: Vec<Array2<i64>>,
    refs: Vec<Vec<i32>>,
    acc: Vec<Vec<i64>>,
    frame: usize,
}

impl<'m> DeltaNet<'m> {
    pub fn new(model: &'m Model) -> DeltaNet<'m> {
        let wt = model
            .layers
            .iter()
            .map(|l| l.weight.t().mapv(i64::from))
            .collect();
        let mut net = DeltaNet {
            model,
            wt,
            refs: Vec::new(),
            acc: Vec::new(),
            frame: 0,
        };
        net.reset();
        net
    }

    /// Sequence start: references to 0, accumulators to the bias.
    pub fn reset(&mut self) {
        self.refs = self
            .model
            .layers
            .iter()
            .map(|l| vec![0; l.inputs()])
            .collect();
        self.acc = self
            .model
            .layers
            .iter()
            .map(|l| l.bias.iter().map(|b| i64::from(*b)).collect())
            .collect();
        self.frame = 0;
    }

    /// Current accumulators of a layer (Y = W·r + B).
    pub fn accumulators(&self, layer: usize) -> &[i64] {
        &self.acc[layer]
    }

    /// Current reference vector of a layer input.
    pub fn references(&self, layer: usize) -> &[i32] {
        &self.refs[layer]
    }

    /// Processes one frame; `sequence` only labels errors.
    pub fn step(&mut self, x: ArrayView1<i8>, sequence: usize) -> Result<FrameOut, GoldenError> {
        let m = self.model;
        let mut input: Vec<i32> = x.iter().map(|v| i32::from(*v)).collect();
        let mut out = FrameOut {
            logits: Vec::new(),
            acts: Vec::with_capacity(m.layers.len() - 1),
            deltas: Vec::with_capacity(m.layers.len()),
        };
        let (amin, amax) = arith::signed_range(m.acc_bits);
        for (l, layer) in m.layers.iter().enumerate() {
            let refs = &mut self.refs[l];
            let acc = &mut self.acc[l];
            let mut deltas = vec![0i32; input.len()];
            for (j, (&xj, rj)) in input.iter().zip(refs.iter_mut()).enumerate() {
                let (d, r) = arith::delta_encode(xj, *rj, layer.theta);
                *rj = r;
                if d != 0 {
                    deltas[j] = d;
                    let d = i64::from(d);
                    for (y, w) in acc.iter_mut().zip(self.wt[l].row(j)) {
                        *y += w * d;
                    }
                }
            }
            if let Some((neuron, &value)) = acc
                .iter()
                .enumerate()
                .find(|(_, y)| **y < amin || **y > amax)
            {
                return Err(GoldenError::Overflow {
                    sequence,
                    frame: self.frame,
                    layer: l,
                    neuron,
                    value,
                    acc_bits: m.acc_bits,
                });
            }
            out.deltas.push(deltas);
            match hidden_activations(m, layer, acc) {
                Some(z) => {
                    out.acts.push(z.clone());
                    input = z;
                }
                None => out.logits = acc.iter().map(|&y| y as i32).collect(),
            }
        }
        self.frame += 1;
        Ok(out)
    }
}

/// A hidden layer's output from its accumulators: requantization, τ, then WTA when set.
/// None for the last layer, whose accumulators are the logits.
pub fn hidden_activations(model: &Model, layer: &Layer, y: &[i64]) -> Option<Vec<i32>> {
    let rq = layer.requant?;
    let mut z: Vec<i32> = y
        .iter()
        .map(|&v| arith::activation(v, rq.multiplier, rq.shift, layer.tau, model.act_bits))
        .collect();
    if let Some(k) = layer.wta_k {
        arith::winners_take_all(&mut z, k);
    }
    Some(z)
}

/// Dense reference (no deltas): Y_t = W·x_t + B every frame, same requantization.
pub fn dense_frame(model: &Model, x: ArrayView1<i8>) -> FrameOut {
    let mut input: Vec<i64> = x.iter().map(|v| i64::from(*v)).collect();
    let mut out = FrameOut {
        logits: Vec::new(),
        acts: Vec::new(),
        deltas: Vec::new(),
    };
    for layer in &model.layers {
        let y: Vec<i64> = layer
            .weight
            .rows()
            .into_iter()
            .zip(layer.bias.iter())
            .map(|(row, b)| {
                row.iter()
                    .zip(&input)
                    .map(|(w, x)| i64::from(*w) * x)
                    .sum::<i64>()
                    + i64::from(*b)
            })
            .collect();
        match hidden_activations(model, layer, &y) {
            Some(z) => {
                input = z.iter().map(|v| i64::from(*v)).collect();
                out.acts.push(z);
            }
            None => out.logits = y.iter().map(|&v| v as i32).collect(),
        }
    }
    out
}

/// Runs one sequence through the delta model.
pub fn run_sequence(
    model: &Model,
    frames: ArrayView2<i8>,
    sequence: usize,
) -> Result<Vec<FrameOut>, GoldenError> {
    let mut net = DeltaNet::new(model);
    frames.outer_iter().map(|x| net.step(x, sequence)).collect()
}

/// Runs every sequence and gathers the traces; `on_sequence` is called after each (progress).
pub fn run_all(
    model: &Model,
    inputs: &Inputs,
    mut on_sequence: impl FnMut(usize),
) -> Result<Traces, GoldenError> {
    let (s, t) = (inputs.sequences(), inputs.frames_per_sequence());
    let mut traces = Traces {
        logits: Array3::zeros((s, t, model.output_size())),
        acts: model.layers[..model.layers.len() - 1]
            .iter()
            .map(|l| Array3::zeros((s, t, l.outputs())))
            .collect(),
        deltas: model
            .layers
            .iter()
            .map(|l| Array3::zeros((s, t, l.inputs())))
            .collect(),
    };
    for (si, seq) in inputs.frames.axis_iter(Axis(0)).enumerate() {
        let len = inputs.length(si);
        let outs = run_sequence(model, seq.slice(ndarray::s![..len, ..]), si)?;
        for (ti, fo) in outs.iter().enumerate() {
            for (n, v) in fo.logits.iter().enumerate() {
                traces.logits[(si, ti, n)] = *v;
            }
            for (l, z) in fo.acts.iter().enumerate() {
                for (n, v) in z.iter().enumerate() {
                    traces.acts[l][(si, ti, n)] = *v as i8;
                }
            }
            for (l, d) in fo.deltas.iter().enumerate() {
                for (n, v) in d.iter().enumerate() {
                    traces.deltas[l][(si, ti, n)] = *v as i16;
                }
            }
        }
        on_sequence(si);
    }
    Ok(traces)
}
