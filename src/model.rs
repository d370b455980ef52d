//! The model package: `model.json` (structure, bit widths, thresholds, requantization,
//! provenance) and `model.npz` (`layer{i}.weight` int8 [out, in], `layer{i}.bias` int32 [out]).

use std::path::Path;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::arith::{self, MAX_MULTIPLIER, MAX_SHIFT};
use crate::format::{self, invalid, FormatError, Npz, NpzOut};

pub const FORMAT_NAME: &str = "deltagen-model";
pub const FORMAT_VERSION: u32 = 1;

/// Per-layer requantization of hidden accumulators: z = clamp(round_half_up(Y·M / 2^S)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requant {
    pub multiplier: u32,
    pub shift: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// int8 weights [out, in].
    pub weight: Array2<i8>,
    /// int32 biases [out].
    pub bias: Array1<i32>,
    /// Delta threshold θ ≥ 0 on this layer's input.
    pub theta: i32,
    /// Requantization of the output; None on the last layer, which outputs int32 logits.
    pub requant: Option<Requant>,
    /// STAR activation threshold τ on the output (hidden layers): z < τ gives 0.
    pub tau: i32,
    /// DASNet winners-take-all: keep the top-k outputs (hidden layers).
    pub wta_k: Option<usize>,
}

impl Layer {
    pub fn inputs(&self) -> usize {
        self.weight.ncols()
    }
    pub fn outputs(&self) -> usize {
        self.weight.nrows()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub act_bits: u32,
    pub weight_bits: u32,
    pub acc_bits: u32,
    /// Real value of one input LSB (x_real = input_scale · x_int).
    pub input_scale: f64,
    /// Real value of one logit LSB, when known.
    pub output_scale: Option<f64>,
    pub class_names: Vec<String>,
    pub layers: Vec<Layer>,
    /// Free-form record of who made the model and how (tool, command, seed, dataset, ...).
    pub provenance: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelJson {
    format: String,
    version: u32,
    act_bits: u32,
    weight_bits: u32,
    acc_bits: u32,
    input_size: usize,
    input_scale: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    class_names: Vec<String>,
    layers: Vec<LayerJson>,
    #[serde(default)]
    provenance: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerJson {
    inputs: usize,
    outputs: usize,
    theta: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requant: Option<Requant>,
    #[serde(default)]
    tau: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wta_k: Option<usize>,
}

/// Worst-case |Y| of a model and the layer that reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccBound {
    pub layer: usize,
    pub value: i64,
}

impl Model {
    pub fn input_size(&self) -> usize {
        self.layers.first().map_or(0, Layer::inputs)
    }

    pub fn output_size(&self) -> usize {
        self.layers.last().map_or(0, Layer::outputs)
    }

    /// Largest |input value| a layer can see: signed frames for layer 0, ReLU outputs after.
    pub fn max_abs_input(&self, layer: usize) -> i64 {
        if layer == 0 {
            1i64 << (self.act_bits - 1)
        } else {
            i64::from(arith::act_max(self.act_bits))
        }
    }

    /// Worst case over layers of max|B| + in·max|w|·max|x|: the accumulator range needed.
    /// Y = W·r + B with every r_j a legal input value, so no partial sum exceeds this.
    pub fn worst_case_accumulator(&self) -> AccBound {
        let mut best = AccBound { layer: 0, value: 0 };
        for (i, l) in self.layers.iter().enumerate() {
            let wmax = l
                .weight
                .iter()
                .map(|w| i64::from(*w).abs())
                .max()
                .unwrap_or(0);
            let bmax = l
                .bias
                .iter()
                .map(|b| i64::from(*b).abs())
                .max()
                .unwrap_or(0);
            let v = bmax + l.inputs() as i64 * wmax * self.max_abs_input(i);
            if v > best.value {
                best = AccBound { layer: i, value: v };
            }
        }
        best
    }

    /// Checks the model is self-consistent; `file` names model.json in errors.
    pub fn validate(&self, file: &Path) -> Result<(), FormatError> {
        let bad = |msg: String| Err(invalid(file, msg));
        if !(2..=8).contains(&self.act_bits) {
            return bad(format!("act_bits = {} (supported: 2..=8)", self.act_bits));
        }
        if !(2..=8).contains(&self.weight_bits) {
            return bad(format!(
                "weight_bits = {} (supported: 2..=8)",
                self.weight_bits
            ));
        }
        if !(16..=32).contains(&self.acc_bits) {
            return bad(format!("acc_bits = {} (supported: 16..=32)", self.acc_bits));
        }
        if !(self.input_scale.is_finite() && self.input_scale > 0.0) {
            return bad(format!("input_scale = {} must be > 0", self.input_scale));
        }
        if self.layers.is_empty() {
            return bad("layers: the model has no layers".into());
        }
        let zmax = arith::act_max(self.act_bits);
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let at = |field: &str| format!("layers[{i}].{field}");
            if l.inputs() == 0 || l.outputs() == 0 {
                return bad(format!(
                    "{}: layer {i} has an empty weight matrix",
                    at("inputs")
                ));
            }
            if l.bias.len() != l.outputs() {
                return bad(format!(
                    "{}: {} biases for {} outputs",
                    at("bias"),
                    l.bias.len(),
                    l.outputs()
                ));
            }
            if i > 0 && l.inputs() != self.layers[i - 1].outputs() {
                return bad(format!(
                    "{}: layer {i} takes {} inputs but layer {} gives {} outputs",
                    at("inputs"),
                    l.inputs(),
                    i - 1,
                    self.layers[i - 1].outputs()
                ));
            }
            if l.theta < 0 || l.theta > (1 << self.act_bits) {
                return bad(format!(
                    "{} = {} must be in 0..={}",
                    at("theta"),
                    l.theta,
                    1 << self.act_bits
                ));
            }
            if l.tau < 0 || l.tau > zmax {
                return bad(format!("{} = {} must be in 0..={zmax}", at("tau"), l.tau));
            }
            match (&l.requant, i == last) {
                (Some(_), true) => {
                    return bad(format!(
                        "{}: the last layer outputs int32 logits and takes no requantization",
                        at("requant")
                    ))
                }
                (None, false) => {
                    return bad(format!("{}: missing on hidden layer {i}", at("requant")))
                }
                (Some(rq), false) => {
                    if rq.multiplier == 0 || rq.multiplier > MAX_MULTIPLIER {
                        return bad(format!(
                            "{} = {} must be in 1..={MAX_MULTIPLIER}",
                            at("requant.multiplier"),
                            rq.multiplier
                        ));
                    }
                    if rq.shift > MAX_SHIFT {
                        return bad(format!(
                            "{} = {} must be in 0..={MAX_SHIFT}",
                            at("requant.shift"),
                            rq.shift
                        ));
                    }
                }
                (None, true) => {}
            }
            if i == last && (l.tau != 0 || l.wta_k.is_some()) {
                return bad(format!(
                    "{}: tau and wta_k apply to hidden layers only",
                    at("tau")
                ));
            }
            if let Some(k) = l.wta_k {
                if k == 0 || k > l.outputs() {
                    return bad(format!(
                        "{} = {k} must be in 1..={}",
                        at("wta_k"),
                        l.outputs()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Loads and validates a model package directory.
    pub fn load(dir: &Path) -> Result<Model, FormatError> {
        let json_path = dir.join("model.json");
        let text = std::fs::read_to_string(&json_path).map_err(|source| FormatError::Io {
            file: json_path.clone(),
            source,
        })?;
        let mj: ModelJson =
            serde_json::from_str(&text).map_err(|e| invalid(&json_path, e.to_string()))?;
        if mj.format != FORMAT_NAME {
            return Err(invalid(
                &json_path,
                format!("format = {:?}, expected {FORMAT_NAME:?}", mj.format),
            ));
        }
        if mj.version != FORMAT_VERSION {
            return Err(invalid(
                &json_path,
                format!(
                    "version = {}, this deltagen reads version {FORMAT_VERSION}",
                    mj.version
                ),
            ));
        }
        if mj.layers.is_empty() {
            return Err(invalid(&json_path, "layers: the model has no layers"));
        }
        if mj.layers[0].inputs != mj.input_size {
            return Err(invalid(
                &json_path,
                format!(
                    "input_size = {} but layers[0].inputs = {}",
                    mj.input_size, mj.layers[0].inputs
                ),
            ));
        }
        if !(2..=8).contains(&mj.weight_bits) || !(16..=32).contains(&mj.acc_bits) {
            return Err(invalid(
                &json_path,
                format!(
                    "weight_bits = {} / acc_bits = {} outside 2..=8 / 16..=32",
                    mj.weight_bits, mj.acc_bits
                ),
            ));
        }
        let npz_path = dir.join("model.npz");
        let mut npz = Npz::open(&npz_path)?;
        let (wlo, whi) = arith::signed_range(mj.weight_bits);
        let (blo, bhi) = arith::signed_range(mj.acc_bits);
        let mut layers = Vec::with_capacity(mj.layers.len());
        for (i, lj) in mj.layers.iter().enumerate() {
            let wname = format!("layer{i}.weight");
            let bname = format!("layer{i}.bias");
            let weight: Array2<i8> =
                npz.read(&wname, "int8", &[Some(lj.outputs), Some(lj.inputs)])?;
            format::check_range(&npz_path, &wname, &weight, wlo, whi)?;
            let bias: Array1<i32> = npz.read(&bname, "int32", &[Some(lj.outputs)])?;
            format::check_range(&npz_path, &bname, &bias, blo, bhi)?;
            layers.push(Layer {
                weight,
                bias,
                theta: lj.theta,
                requant: lj.requant,
                tau: lj.tau,
                wta_k: lj.wta_k,
            });
        }
        // Arrays for layers model.json does not list mean the two files do not belong together.
        let n = mj.layers.len();
        if let Some(extra) = npz.names().iter().find(|name| {
            name.strip_prefix("layer")
                .and_then(|r| r.split('.').next())
                .and_then(|idx| idx.parse::<usize>().ok())
                .is_some_and(|idx| idx >= n)
        }) {
            return Err(invalid(
                &npz_path,
                format!("has array `{extra}` but model.json lists only {n} layers"),
            ));
        }
        let model = Model {
            act_bits: mj.act_bits,
            weight_bits: mj.weight_bits,
            acc_bits: mj.acc_bits,
            input_scale: mj.input_scale,
            output_scale: mj.output_scale,
            class_names: mj.class_names,
            layers,
            provenance: mj.provenance,
        };
        model.validate(&json_path)?;
        Ok(model)
    }

    /// Writes `model.json` and `model.npz` into `dir` (created); refuses to overwrite unless `force`.
    pub fn save(&self, dir: &Path, force: bool) -> Result<(), FormatError> {
        let json_path = dir.join("model.json");
        self.validate(&json_path)?;
        let mj = ModelJson {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            act_bits: self.act_bits,
            weight_bits: self.weight_bits,
            acc_bits: self.acc_bits,
            input_size: self.input_size(),
            input_scale: self.input_scale,
            output_scale: self.output_scale,
            class_names: self.class_names.clone(),
            layers: self
                .layers
                .iter()
                .map(|l| LayerJson {
                    inputs: l.inputs(),
                    outputs: l.outputs(),
                    theta: l.theta,
                    requant: l.requant,
                    tau: l.tau,
                    wta_k: l.wta_k,
                })
                .collect(),
            provenance: self.provenance.clone(),
        };
        let npz_path = dir.join("model.npz");
        format::check_writable(&npz_path, force)?;
        let text = serde_json::to_string_pretty(&mj).expect("model json serializes") + "\n";
        format::write_text(&json_path, &text, force)?;
        let mut out = NpzOut::create(&npz_path, true)?;
        for (i, l) in self.layers.iter().enumerate() {
            out.add(&format!("layer{i}.weight"), &l.weight)?;
            out.add(&format!("layer{i}.bias"), &l.bias)?;
        }
        out.finish()
    }
}
