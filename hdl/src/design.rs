//! Verilog and memory files of one accelerator instance.

use crate::mem::hex_lines;
use crate::params::{build_image, HwError, HwParams, Image, LayerSpec, DESC_FIELDS};
use crate::top::DeltaTop;
use rust_hdl::prelude::*;

/// Name of the generated top module.
pub const TOP_NAME: &str = "deltagen_top";

pub struct Design {
    /// All modules, top first; `$readmemh` file names are relative to the simulator's or
    /// synthesis tool's working directory.
    pub verilog: String,
    /// (file name, contents) of every `$readmemh` file.
    pub hex_files: Vec<(String, String)>,
    pub image: Image,
    /// Multipliers in the design: (on DSP blocks, in LUTs).
    pub multipliers: (usize, usize),
}

/// rust-hdl names the top module `top` and every submodule `top$path`; give them our name.
fn rename_top(v: &str) -> String {
    rename_top_as(v, TOP_NAME)
}

/// Memory images, the top block, its Verilog and hex files for `layers` on `params`.
pub fn build_design(params: &HwParams, layers: &[LayerSpec]) -> Result<Design, HwError> {
    let image = build_image(params, layers)?;
    let mut top = DeltaTop::new(params, &image, "")?;
    top.connect_all();
    let verilog = rename_top(&generate_verilog(&top));
    let geo = image.geometry;
    let mut hex_files = Vec::new();
    for b in 0..params.p() {
        let mut w = image.weights[b].clone();
        w.resize(geo.weight_depth, 0);
        hex_files.push((format!("pe{b}_w.hex"), hex_lines(&w, 8)));
        hex_files.push((
            format!("pe{b}_bias_a.hex"),
            hex_lines(&image.bias[0][b], 32),
        ));
        hex_files.push((
            format!("pe{b}_bias_b.hex"),
            hex_lines(&image.bias[1][b], 32),
        ));
    }
    for (f, (name, width)) in DESC_FIELDS.iter().enumerate() {
        let mut words: Vec<u64> = image.descriptors.iter().map(|d| d.field(f)).collect();
        words.resize(geo.desc_depth, 0);
        hex_files.push((format!("desc_{name}.hex"), hex_lines(&words, *width)));
    }
    let p = params.p();
    let g = params.g();
    let rq_dsp = params.rq_lanes_on_dsp();
    let dsp = params.pe_dsp_blocks() + 2 * rq_dsp;
    let lut = (p - params.pes_on_dsp()) + 2 * (g - rq_dsp);
    Ok(Design {
        verilog,
        hex_files,
        image,
        multipliers: (dsp, lut),
    })
}

/// Verilog and memory files of the board top (`deltagen_board`) around one accelerator.
pub struct BoardDesign {
    /// All modules, board top first (the accelerator's modules under `deltagen_board$accel$`),
    /// so the file synthesizes on its own.
    pub verilog: String,
    /// The accelerator's `$readmemh` files plus the bridge's `board_desc.hex`.
    pub hex_files: Vec<(String, String)>,
    /// The accelerator alone (its Verilog, image and multiplier split).
    pub core: Design,
}

/// rust-hdl's `top` and `top$path` module names as `name` and `name$path`.
fn rename_top_as(v: &str, name: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4096);
    for line in v.lines() {
        let l = line
            .replace("module top(", &format!("module {name}("))
            .replace("endmodule // top", &format!("endmodule // {name}"))
            .replace("module top$", &format!("module {name}$"));
        let trimmed = l.trim_start();
        let l = match trimmed.strip_prefix("top$") {
            Some(rest) => format!("{}{name}${rest}", &l[..l.len() - trimmed.len()]),
            None => l.clone(),
        };
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The accelerator for `layers` on `params` (as `build_design`) and the board top around it.
pub fn build_board_design(
    params: &HwParams,
    layers: &[LayerSpec],
    board: &crate::board::BoardConfig,
) -> Result<BoardDesign, HwError> {
    use crate::board::board_top::DeltaBoard;
    use crate::board::bridge::{desc_word, DESC_FILE};
    let core = build_design(params, layers)?;
    let mut top = DeltaBoard::new(params, &core.image, "", board)?;
    top.connect_all();
    let verilog = rename_top_as(&generate_verilog(&top), crate::board::BOARD_TOP_NAME);
    // build_design refused an empty model.
    let (n_in, n_out) = (layers[0].in_dim, layers[layers.len() - 1].out_dim);
    let mut hex_files = core.hex_files.clone();
    hex_files.push((
        DESC_FILE.to_string(),
        hex_lines(&[desc_word(n_in as u16, n_out as u16)], 32),
    ));
    Ok(BoardDesign {
        verilog,
        hex_files,
        core,
    })
}
