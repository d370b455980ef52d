//! `deltagen generate`: both hardware presets give lint-clean Verilog that Yosys and Icarus
//! read; a model the config cannot hold and existing outputs give clear errors.

use std::path::Path;

use assert_cmd::Command;
use deltagen_hdl::tools;

fn deltagen() -> Command {
    Command::cargo_bin("deltagen").unwrap()
}

fn random_model(dir: &Path, layers: &str) {
    deltagen()
        .args(["--quiet", "model", "random", "--layers", layers])
        .args(["--sequences", "1", "--frames", "4", "--out"])
        .arg(dir)
        .assert()
        .success();
}

fn generate(config: &str, model: &Path, out: &Path) -> assert_cmd::assert::Assert {
    deltagen()
        .args(["generate", "--config", config, "--model"])
        .arg(model)
        .arg("--out")
        .arg(out)
        .assert()
}

fn check_outputs(out: &Path, config_name: &str) {
    let rtl = out.join("rtl");
    let v = std::fs::read_to_string(rtl.join("deltagen_top.v")).unwrap();
    assert!(v.contains(&format!("Config `{config_name}` (hash ")));
    assert!(v.contains("module deltagen_top("));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("generate.json")).unwrap()).unwrap();
    for key in ["config", "config_hash", "memories", "multipliers", "files"] {
        assert!(json.get(key).is_some(), "generate.json lacks {key}");
    }
    assert_eq!(json["config"]["name"], config_name);
    for f in json["files"].as_array().unwrap() {
        assert!(
            out.join(f.as_str().unwrap()).exists(),
            "{f} listed but missing"
        );
    }
    tools::verilator_lint(&rtl, "deltagen_top.v", "deltagen_top").unwrap();
    tools::yosys_check(&rtl, "deltagen_top.v", "deltagen_top").unwrap();
    tools::iverilog_check(&rtl, "deltagen_top.v", "deltagen_top").unwrap();
}

#[test]
fn generate_presets_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    // The 8-PE preset's default synth model (64-32-32-4 fits both presets).
    random_model(&model, "64,32,32,4");
    for (file, name) in [
        ("configs/ice40-up5k-8pe.toml", "ice40-up5k-8pe"),
        ("configs/ecp5-16pe.toml", "ecp5-16pe"),
    ] {
        let out = dir.path().join(name);
        generate(file, &model, &out).success();
        check_outputs(&out, name);
        // A second run needs --force.
        let a = generate(file, &model, &out).failure();
        assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("--force"));
        deltagen()
            .args(["generate", "--force", "--config", file, "--model"])
            .arg(&model)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
    }
}

#[test]
fn generate_refuses_a_model_too_big_for_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    // 100 inputs exceed tiny-2pe's max_in = 64.
    random_model(&model, "100,8,3");
    let a = generate("tiny-2pe", &model, &dir.path().join("out")).failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("max_in"), "{err}");
    assert!(!dir.path().join("out").join("generate.json").exists());
}
