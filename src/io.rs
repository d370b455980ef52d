//! `inputs.npz` (quantized frames, optional labels) and `traces.npz` (per-layer activations,
//! delta maps and logits): the files any producer, NumPy included, uses to feed the golden model.

use std::path::Path;

use ndarray::{Array1, Array3};

use crate::format::{self, array_err, invalid, FormatError, Npz, NpzOut};
use crate::model::Model;

#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// Quantized frames, int8 [sequences, T, in].
    pub frames: Array3<i8>,
    /// Optional class per sequence.
    pub labels: Option<Array1<i64>>,
    /// Optional real length of each sequence (1..=T) when sequences of different lengths are
    /// padded to T; frames past a sequence's length are not processed.
    pub lengths: Option<Array1<i64>>,
}

impl Inputs {
    pub fn sequences(&self) -> usize {
        self.frames.shape()[0]
    }
    pub fn frames_per_sequence(&self) -> usize {
        self.frames.shape()[1]
    }
    /// Frames of sequence `s` that are processed (its length, or T).
    pub fn length(&self, s: usize) -> usize {
        self.lengths
            .as_ref()
            .map_or(self.frames_per_sequence(), |l| l[s] as usize)
    }

    /// Every sequence's processed length.
    pub fn lengths_vec(&self) -> Vec<usize> {
        (0..self.sequences()).map(|s| self.length(s)).collect()
    }

    /// Frames processed over all sequences.
    pub fn total_frames(&self) -> usize {
        self.lengths_vec().iter().sum()
    }

    /// Loads inputs and checks them against the model (width, value range).
    pub fn load(path: &Path, model: &Model) -> Result<Inputs, FormatError> {
        let mut npz = Npz::open(path)?;
        let frames: Array3<i8> =
            npz.read("frames", "int8", &[None, None, Some(model.input_size())])?;
        if frames.shape()[0] == 0 || frames.shape()[1] == 0 {
            return Err(array_err(
                path,
                "frames",
                format!("shape {:?} has no frames", frames.shape()),
            ));
        }
        let (lo, hi) = crate::arith::signed_range(model.act_bits);
        format::check_range(path, "frames", &frames, lo, hi)?;
        let labels = if npz.has("labels") {
            let n = Some(frames.shape()[0]);
            let l: Array1<i64> = match npz.read::<i64, _>("labels", "int64", &[n]) {
                Ok(l) => l,
                // NumPy on some platforms writes int32 labels; accept them too.
                Err(e64) => match npz.read::<i32, _>("labels", "int32", &[n]) {
                    Ok(l) => l.mapv(i64::from),
                    Err(_) => return Err(e64),
                },
            };
            if let Some((i, v)) = l.iter().enumerate().find(|(_, v)| **v < 0) {
                return Err(array_err(
                    path,
                    "labels",
                    format!("negative label {v} at index {i}"),
                ));
            }
            Some(l)
        } else {
            None
        };
        let lengths = if npz.has("lengths") {
            let (s, t) = (frames.shape()[0], frames.shape()[1]);
            let l: Array1<i64> = match npz.read::<i64, _>("lengths", "int64", &[Some(s)]) {
                Ok(l) => l,
                Err(e64) => match npz.read::<i32, _>("lengths", "int32", &[Some(s)]) {
                    Ok(l) => l.mapv(i64::from),
                    Err(_) => return Err(e64),
                },
            };
            format::check_range(path, "lengths", &l, 1, t as i64)?;
            Some(l)
        } else {
            None
        };
        Ok(Inputs {
            frames,
            labels,
            lengths,
        })
    }

    pub fn save(&self, path: &Path, force: bool) -> Result<(), FormatError> {
        let mut out = NpzOut::create(path, force)?;
        out.add("frames", &self.frames)?;
        if let Some(l) = &self.labels {
            out.add("labels", l)?;
        }
        if let Some(l) = &self.lengths {
            out.add("lengths", l)?;
        }
        out.finish()
    }
}

/// Everything the golden model computes for a set of sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct Traces {
    /// Last layer's accumulators, int32 [sequences, T, out].
    pub logits: Array3<i32>,
    /// Hidden activations per hidden layer l, int8 [sequences, T, out_l] (`layer{l}.act`).
    pub acts: Vec<Array3<i8>>,
    /// Emitted deltas per layer input, int16 [sequences, T, in_l] (`layer{l}.delta`).
    pub deltas: Vec<Array3<i16>>,
}

/// The first place two traces differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub array: String,
    pub sequence: usize,
    pub frame: usize,
    pub index: usize,
    pub expected: i64,
    pub actual: i64,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` differs at sequence {}, frame {}, index {}: expected {}, got {}",
            self.array, self.sequence, self.frame, self.index, self.expected, self.actual
        )
    }
}

fn first_diff<T: Copy + Into<i64> + PartialEq>(
    name: &str,
    expected: &Array3<T>,
    actual: &Array3<T>,
) -> Option<Mismatch> {
    for ((s, t, i), e) in expected.indexed_iter() {
        let a = actual[(s, t, i)];
        if a != *e {
            return Some(Mismatch {
                array: name.to_string(),
                sequence: s,
                frame: t,
                index: i,
                expected: (*e).into(),
                actual: a.into(),
            });
        }
    }
    None
}

impl Traces {
    /// Counts differing elements and reports the earliest (by sequence, frame) mismatch.
    /// Shapes must agree (both come from the same model and inputs).
    pub fn compare(&self, actual: &Traces) -> (u64, Option<Mismatch>) {
        let mut count = 0u64;
        let mut first: Option<Mismatch> = None;
        let mut note = |m: Option<Mismatch>, n: u64| {
            count += n;
            if let Some(m) = m {
                if first
                    .as_ref()
                    .is_none_or(|f| (m.sequence, m.frame) < (f.sequence, f.frame))
                {
                    first = Some(m);
                }
            }
        };
        let n = self
            .logits
            .iter()
            .zip(&actual.logits)
            .filter(|(a, b)| a != b)
            .count();
        note(first_diff("logits", &self.logits, &actual.logits), n as u64);
        for (l, (e, a)) in self.acts.iter().zip(&actual.acts).enumerate() {
            let n = e.iter().zip(a).filter(|(x, y)| x != y).count();
            note(first_diff(&format!("layer{l}.act"), e, a), n as u64);
        }
        for (l, (e, a)) in self.deltas.iter().zip(&actual.deltas).enumerate() {
            let n = e.iter().zip(a).filter(|(x, y)| x != y).count();
            note(first_diff(&format!("layer{l}.delta"), e, a), n as u64);
        }
        (count, first)
    }

    pub fn save(&self, path: &Path, force: bool) -> Result<(), FormatError> {
        let mut out = NpzOut::create(path, force)?;
        out.add("logits", &self.logits)?;
        for (l, a) in self.acts.iter().enumerate() {
            out.add(&format!("layer{l}.act"), a)?;
        }
        for (l, d) in self.deltas.iter().enumerate() {
            out.add(&format!("layer{l}.delta"), d)?;
        }
        out.finish()
    }

    /// Loads traces for `model` and inputs of shape [sequences, T]; `layer{l}.delta` arrays are
    /// optional (producers that only know activations may leave them out; they come back empty).
    pub fn load(
        path: &Path,
        model: &Model,
        sequences: usize,
        t: usize,
    ) -> Result<Traces, FormatError> {
        let mut npz = Npz::open(path)?;
        let (s, t) = (Some(sequences), Some(t));
        let logits = npz.read("logits", "int32", &[s, t, Some(model.output_size())])?;
        let hidden = model.layers.len() - 1;
        let mut acts = Vec::with_capacity(hidden);
        for (l, layer) in model.layers[..hidden].iter().enumerate() {
            acts.push(npz.read(
                &format!("layer{l}.act"),
                "int8",
                &[s, t, Some(layer.outputs())],
            )?);
        }
        let mut deltas = Vec::new();
        if npz.has("layer0.delta") {
            for (l, layer) in model.layers.iter().enumerate() {
                deltas.push(npz.read(
                    &format!("layer{l}.delta"),
                    "int16",
                    &[s, t, Some(layer.inputs())],
                )?);
            }
        }
        if npz.has(&format!("layer{hidden}.act")) {
            return Err(invalid(
                path,
                format!("has `layer{hidden}.act` but the model has only {hidden} hidden layers"),
            ));
        }
        Ok(Traces {
            logits,
            acts,
            deltas,
        })
    }
}
