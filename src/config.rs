//! Accelerator configuration: one serde struct with named presets and `validate()`.
//!
//! The same struct parameterizes the golden model's cycle model, `deltagen generate` and the
//! synthesis flow, so software and RTL cannot drift apart.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Model;

/// FPGA families/devices the flow knows how to target.
pub const TARGETS: &[&str] = &[
    "ice40-up5k",
    "ice40-hx8k",
    "ecp5-25k",
    "ecp5-85k",
    "xilinx-7",
];

/// Built-in presets: (name, TOML text). The files in `configs/` are these same texts.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "ice40-up5k-8pe",
        include_str!("../configs/ice40-up5k-8pe.toml"),
    ),
    (
        "ice40-up5k-4pe",
        include_str!("../configs/ice40-up5k-4pe.toml"),
    ),
    ("ecp5-16pe", include_str!("../configs/ecp5-16pe.toml")),
    ("tiny-2pe", include_str!("../configs/tiny-2pe.toml")),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccelConfig {
    /// Preset or user name, echoed in generated files.
    pub name: String,
    /// Processing elements: MACs per cycle on one nonzero delta.
    pub pe_count: u32,
    /// Activation width (signed input frames; hidden activations use the non-negative half).
    pub act_bits: u32,
    /// Weight width (signed).
    pub weight_bits: u32,
    /// Bias/accumulator width (signed).
    pub acc_bits: u32,
    /// Width of the zero-run field of run-length-compressed delta words.
    pub rle_run_bits: u32,
    /// Deltas examined per cycle by the delta encoders / nonzero detection.
    pub nz_lanes: u32,
    /// Widest layer input the hardware holds.
    pub max_in: u32,
    /// Widest layer output the hardware holds.
    pub max_out: u32,
    /// Most layers the sequencer runs.
    pub max_layers: u32,
    /// Weight words per PE bank (all layers together).
    pub weight_bank_depth: u32,
    /// Multipliers mapped to DSP blocks; the rest are built from LUTs.
    pub max_dsp: u32,
    /// Requested clock.
    pub clock_mhz: f64,
    /// Device family/size, one of [`TARGETS`].
    pub target: String,
}

/// A configuration that cannot work, with the field and the reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("field `{field}` = {value}: {reason}")]
    Field {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("model does not fit this config: {0}")]
    ModelTooLarge(String),
}

fn field_err(field: &'static str, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn check_range(field: &'static str, v: u32, lo: u32, hi: u32) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return Err(field_err(
            field,
            v,
            format!("must be in {lo}..={hi} (what the hardware supports)"),
        ));
    }
    Ok(())
}

impl AccelConfig {
    /// A built-in preset by name.
    pub fn preset(name: &str) -> Option<AccelConfig> {
        PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| toml::from_str(text).expect("built-in preset parses"))
    }

    pub fn preset_names() -> Vec<&'static str> {
        PRESETS.iter().map(|(n, _)| *n).collect()
    }

    /// Loads a config from a TOML file, or a preset when `spec` names one and is not a file.
    pub fn load(spec: &str) -> anyhow::Result<AccelConfig> {
        use anyhow::Context;
        let path = Path::new(spec);
        let cfg: AccelConfig = if path.exists() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?
        } else if let Some(p) = Self::preset(spec) {
            p
        } else {
            anyhow::bail!(
                "config `{spec}` is neither a file nor a preset (presets: {})",
                Self::preset_names().join(", ")
            );
        };
        cfg.validate()
            .with_context(|| format!("config `{spec}` is invalid"))?;
        Ok(cfg)
    }

    /// Rejects configurations the hardware cannot implement.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.pe_count == 0 {
            return Err(field_err("pe_count", 0, "needs at least one PE"));
        }
        check_range("pe_count", self.pe_count, 1, 64)?;
        // Deltas of act_bits-wide values need act_bits + 1 bits; the PE multiplier is 16x16.
        check_range("act_bits", self.act_bits, 2, 8)?;
        check_range("weight_bits", self.weight_bits, 2, 8)?;
        check_range("acc_bits", self.acc_bits, 16, 32)?;
        check_range("rle_run_bits", self.rle_run_bits, 1, 16)?;
        check_range("nz_lanes", self.nz_lanes, 1, 32)?;
        check_range("max_in", self.max_in, 1, 4096)?;
        check_range("max_out", self.max_out, 1, 4096)?;
        check_range("max_layers", self.max_layers, 1, 64)?;
        check_range("weight_bank_depth", self.weight_bank_depth, 1, 1 << 20)?;
        check_range("max_dsp", self.max_dsp, 0, 4096)?;
        if !(self.clock_mhz.is_finite() && self.clock_mhz > 0.0 && self.clock_mhz <= 1000.0) {
            return Err(field_err(
                "clock_mhz",
                self.clock_mhz,
                "must be in (0, 1000]",
            ));
        }
        if !TARGETS.contains(&self.target.as_str()) {
            return Err(field_err(
                "target",
                &self.target,
                format!("unknown target; one of {}", TARGETS.join(", ")),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(field_err("name", "\"\"", "must not be empty"));
        }
        Ok(())
    }

    /// Rejects a model this configuration cannot hold or compute exactly.
    pub fn validate_model(&self, model: &Model) -> Result<(), ConfigError> {
        let tl = |s: String| ConfigError::ModelTooLarge(s);
        if model.layers.len() > self.max_layers as usize {
            return Err(tl(format!(
                "{} layers, config max_layers = {}",
                model.layers.len(),
                self.max_layers
            )));
        }
        if model.act_bits != self.act_bits {
            return Err(tl(format!(
                "model act_bits = {} but config act_bits = {}",
                model.act_bits, self.act_bits
            )));
        }
        if model.weight_bits > self.weight_bits {
            return Err(tl(format!(
                "model weight_bits = {} exceeds config weight_bits = {}",
                model.weight_bits, self.weight_bits
            )));
        }
        for (i, layer) in model.layers.iter().enumerate() {
            if layer.inputs() > self.max_in as usize {
                return Err(tl(format!(
                    "layer {i} has {} inputs, config max_in = {}",
                    layer.inputs(),
                    self.max_in
                )));
            }
            if layer.outputs() > self.max_out as usize {
                return Err(tl(format!(
                    "layer {i} has {} outputs, config max_out = {}",
                    layer.outputs(),
                    self.max_out
                )));
            }
        }
        let bound = model.worst_case_accumulator();
        let (_, acc_max) = crate::arith::signed_range(self.acc_bits);
        if bound.value > acc_max {
            return Err(tl(format!(
                "acc_bits = {} too small: layer {} can reach |Y| = {} (|B| + in*max|w|*max|x|), needs acc_bits >= {}",
                self.acc_bits,
                bound.layer,
                bound.value,
                bits_for_signed(bound.value)
            )));
        }
        let depth = self.weight_depth_needed(model);
        if depth > u64::from(self.weight_bank_depth) {
            return Err(tl(format!(
                "weights need {depth} words per PE bank (sum of in * ceil(out / pe_count)), config weight_bank_depth = {}",
                self.weight_bank_depth
            )));
        }
        Ok(())
    }

    /// Output chunks of a layer with `out` neurons: cycles one nonzero delta keeps the PE array busy.
    pub fn chunks(&self, out: usize) -> u64 {
        (out as u64).div_ceil(u64::from(self.pe_count))
    }

    /// Cycles one nonzero delta keeps the decoder: its chunks, at least two with
    /// `spaced_words`.
    pub fn word_cycles(&self, out: usize) -> u64 {
        self.chunks(out).max(1 + u64::from(self.spaced_words()))
    }

    /// Weight words per PE bank for a model: Σ_l in_l · ceil(out_l / P).
    pub fn weight_depth_needed(&self, model: &Model) -> u64 {
        model
            .layers
            .iter()
            .map(|l| l.inputs() as u64 * self.chunks(l.outputs()))
            .sum()
    }

    /// Raises the capacity fields (max_in, max_out, max_layers, weight_bank_depth) that are too
    /// small for `model`; none of them changes a cycle (`cycles.rs` reads none). Returns the
    /// fields raised as `field = value`. For measuring a preset's cycles on a model it cannot hold
    /// (`deltagen bench`); the raised config is not the preset's hardware.
    pub fn raise_capacity(&mut self, model: &Model) -> Vec<String> {
        let mut raised = Vec::new();
        let widest = |f: fn(&crate::model::Layer) -> usize| {
            model.layers.iter().map(f).max().unwrap_or(0) as u32
        };
        let mut raise = |field: &str, v: &mut u32, need: u32| {
            if need > *v {
                *v = need;
                raised.push(format!("{field} = {need}"));
            }
        };
        raise("max_in", &mut self.max_in, widest(|l| l.inputs()));
        raise("max_out", &mut self.max_out, widest(|l| l.outputs()));
        raise(
            "max_layers",
            &mut self.max_layers,
            model.layers.len() as u32,
        );
        let depth = self.weight_depth_needed(model);
        if depth > u64::from(self.weight_bank_depth) {
            let d = depth.next_power_of_two() as u32;
            raise("weight_bank_depth", &mut self.weight_bank_depth, d);
        }
        raised
    }

    /// One Y RAM per PE for every layer (iCE40, where block RAMs are scarce) instead of two
    /// alternating sets: a hidden layer's MACs then wait for its scan (`cycles::layer_run`).
    pub fn one_y_ram(&self) -> bool {
        self.is_ice40()
    }

    /// A nonzero RLE word takes the decoder at least two cycles (iCE40: the PEs then add without
    /// forwarding the op one ahead; `deltagen_hdl::params::HwParams::spaced_words`).
    pub fn spaced_words(&self) -> bool {
        self.is_ice40()
    }

    /// The config is made for an iCE40 (`target`): the hardware takes that family's form
    /// (`hw::hw_params`), whichever device `deltagen synth --target` then places it on.
    pub fn is_ice40(&self) -> bool {
        self.target.starts_with("ice40")
    }

    /// Largest zero run one RLE word holds.
    pub fn rle_max_run(&self) -> u32 {
        (1u32 << self.rle_run_bits) - 1
    }

    /// Short content hash of the config (echoed in generated RTL headers and reports).
    pub fn hash(&self) -> String {
        let text = toml::to_string(self).expect("config serializes");
        let digest = Sha256::digest(text.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serializes")
    }
}

/// Smallest signed width that holds ±v.
pub fn bits_for_signed(v: i64) -> u32 {
    let mut bits = 1;
    while crate::arith::signed_range(bits).1 < v {
        bits += 1;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_validate() {
        for name in AccelConfig::preset_names() {
            let cfg = AccelConfig::preset(name).unwrap();
            cfg.validate().unwrap();
            assert_eq!(cfg.name, name);
        }
    }

    #[test]
    fn preset_files_match_builtins() {
        for (name, text) in PRESETS {
            let path = format!("{}/configs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
            assert_eq!(std::fs::read_to_string(path).unwrap(), *text);
        }
    }

    /// `raise_capacity` makes a preset hold a model it cannot (wider, deeper and with more
    /// weights than the 8-PE UP5K preset), names every field it raised, and raises nothing a
    /// second time.
    #[test]
    fn raise_capacity_fits_the_model_once() {
        let (model, _) = crate::random::generate(&crate::random::RandomSpec::new(
            vec![256, 128, 64, 32, 16, 10],
            1,
            1,
            4,
        ));
        let mut cfg = AccelConfig::preset("ice40-up5k-8pe").unwrap();
        assert!(cfg.validate_model(&model).is_err());
        let raised = cfg.raise_capacity(&model);
        let fields: Vec<&str> = raised
            .iter()
            .map(|r| r.split(" = ").next().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["max_in", "max_out", "max_layers", "weight_bank_depth"],
            "{raised:?}"
        );
        assert!(raised.contains(&"max_in = 256".to_string()), "{raised:?}");
        // 256*16 + 128*8 + 64*4 + 32*2 + 16*2 = 5472 words per bank, to a power of two.
        assert_eq!(cfg.weight_bank_depth, 8192);
        cfg.validate().unwrap();
        cfg.validate_model(&model).unwrap();
        assert!(cfg.raise_capacity(&model).is_empty());
    }

    #[test]
    fn rejects_bad_fields() {
        let good = AccelConfig::preset("ice40-up5k-8pe").unwrap();
        let mut c = good.clone();
        c.pe_count = 0;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Field {
                field: "pe_count",
                ..
            })
        ));
        let mut c = good.clone();
        c.acc_bits = 40;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Field {
                field: "acc_bits",
                ..
            })
        ));
        let mut c = good.clone();
        c.target = "asic".into();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Field {
                field: "target",
                ..
            })
        ));
        let mut c = good;
        c.clock_mhz = f64::NAN;
        assert!(c.validate().is_err());
    }

    #[test]
    fn bits_for_signed_values() {
        assert_eq!(bits_for_signed(127), 8);
        assert_eq!(bits_for_signed(128), 9);
        assert_eq!(bits_for_signed(i64::from(i32::MAX)), 32);
    }
}
