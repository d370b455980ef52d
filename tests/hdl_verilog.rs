//! The generated Verilog of every preset passes Verilator lint (-Wall, waiver file), Yosys and
//! Icarus Verilog.

use deltagen::config::AccelConfig;
use deltagen::hw;
use deltagen::random::{generate, RandomSpec};
use deltagen_hdl::design::{build_design, TOP_NAME};
use deltagen_hdl::tools;

fn check_preset(name: &str, widths: Vec<usize>) {
    let cfg = AccelConfig::preset(name).unwrap();
    let (model, _) = generate(&RandomSpec::new(widths, 1, 2, 3));
    let design = build_design(&hw::hw_params(&cfg), &hw::layer_specs(&model).unwrap()).unwrap();
    let tmp = tempfile::Builder::new()
        .prefix(&format!("deltagen_verilog_{name}"))
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    tools::write_design(&dir, &design.verilog, &design.hex_files).unwrap();
    tools::verilator_lint(&dir, "top.v", TOP_NAME).unwrap();
    tools::yosys_check(&dir, "top.v", TOP_NAME).unwrap();
    tools::iverilog_check(&dir, "top.v", TOP_NAME).unwrap();
}

#[test]
fn verilog_ice40_preset_is_clean() {
    check_preset("ice40-up5k-8pe", vec![64, 32, 10]);
}

#[test]
fn verilog_ecp5_preset_is_clean() {
    check_preset("ecp5-16pe", vec![96, 64, 32, 4]);
}

#[test]
fn verilog_tiny_preset_is_clean() {
    check_preset("tiny-2pe", vec![16, 8, 3]);
}
