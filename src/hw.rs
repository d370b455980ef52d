//! The one place where the accelerator config and the model package become the plain
//! parameters of the Rust-HDL crate (`deltagen-hdl` does not depend on this crate).

use deltagen_hdl::params::{HwError, HwParams, LayerSpec};

use crate::config::AccelConfig;
use crate::model::Model;

pub fn hw_params(cfg: &AccelConfig) -> HwParams {
    HwParams {
        pe_count: cfg.pe_count,
        act_bits: cfg.act_bits,
        weight_bits: cfg.weight_bits,
        acc_bits: cfg.acc_bits,
        rle_run_bits: cfg.rle_run_bits,
        nz_lanes: cfg.nz_lanes,
        max_in: cfg.max_in,
        max_out: cfg.max_out,
        max_layers: cfg.max_layers,
        weight_bank_depth: cfg.weight_bank_depth,
        max_dsp: cfg.max_dsp,
        // The family the config is made for, not `deltagen synth --target`: a config synthesized
        // for another family keeps its own form (same function and latency, other area/Fmax).
        replicate: !cfg.is_ice40(),
        one_y_ram: cfg.one_y_ram(),
        dual_mac: cfg.is_ice40(),
        spaced_words: cfg.spaced_words(),
    }
}

/// The model's layers in plain integers; refuses what the hardware does not implement.
pub fn layer_specs(model: &Model) -> Result<Vec<LayerSpec>, HwError> {
    let n = model.layers.len();
    model
        .layers
        .iter()
        .enumerate()
        .map(|(l, ly)| {
            if ly.wta_k.is_some() {
                return Err(HwError {
                    field: format!("layer{l}.wta_k"),
                    reason: "winners-take-all is not implemented by the accelerator".into(),
                });
            }
            let rq = ly.requant;
            if l + 1 < n && rq.is_none() {
                return Err(HwError {
                    field: format!("layer{l}.requant"),
                    reason: "hidden layer without requantization".into(),
                });
            }
            Ok(LayerSpec {
                in_dim: ly.inputs(),
                out_dim: ly.outputs(),
                weight: ly.weight.iter().copied().collect(),
                bias: ly.bias.to_vec(),
                theta: ly.theta,
                multiplier: rq.map_or(0, |r| r.multiplier),
                shift: rq.map_or(0, |r| r.shift),
                tau: ly.tau,
            })
        })
        .collect()
}
