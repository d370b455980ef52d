//! Corrupt or mismatched inputs give a clear error naming the file and field, and exit non-zero.

use std::fs::File;
use std::path::Path;

use assert_cmd::Command;
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::{NpzReader, NpzWriter};
use tempfile::TempDir;

fn deltagen() -> Command {
    Command::cargo_bin("deltagen").unwrap()
}

/// A random 12-8-3 model with inputs in a fresh directory.
fn fixture() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    deltagen()
        .args([
            "model",
            "random",
            "--layers",
            "12,8,3",
            "--sequences",
            "2",
            "--frames",
            "20",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    dir
}

fn golden(dir: &Path, config: &str) -> assert_cmd::assert::Assert {
    deltagen()
        .args(["--quiet", "golden", "--model"])
        .arg(dir)
        .arg("--inputs")
        .arg(dir.join("inputs.npz"))
        .args(["--config", config, "--out"])
        .arg(dir.join("out"))
        .assert()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// An array of model.npz: weights or biases.
enum Stored {
    Weight(Array2<i8>),
    Bias(Array1<i32>),
}

/// Rewrites model.npz, letting `edit` replace or drop arrays.
fn rewrite_model_npz(dir: &Path, edit: impl Fn(&str, &mut NpzWriter<File>) -> bool) {
    let path = dir.join("model.npz");
    let mut r = NpzReader::new(File::open(&path).unwrap()).unwrap();
    let names = r.names().unwrap();
    let arrays: Vec<(String, Stored)> = names
        .iter()
        .map(|n| {
            let n = n.trim_end_matches(".npy").to_string();
            let v = if n.ends_with("weight") {
                Stored::Weight(r.by_name(&n).unwrap())
            } else {
                Stored::Bias(r.by_name(&n).unwrap())
            };
            (n, v)
        })
        .collect();
    let mut w = NpzWriter::new(File::create(&path).unwrap());
    for (n, v) in arrays {
        if edit(&n, &mut w) {
            continue;
        }
        match v {
            Stored::Weight(a) => w.add_array(n.as_str(), &a).unwrap(),
            Stored::Bias(b) => w.add_array(n.as_str(), &b).unwrap(),
        }
    }
    w.finish().unwrap();
}

#[test]
fn happy_path_succeeds() {
    let dir = fixture();
    let a = golden(dir.path(), "tiny-2pe").success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("delta density"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/golden.json")).unwrap())
            .unwrap();
    for key in [
        "frames",
        "delta_density",
        "delta_density_per_layer",
        "mac_weighted_density",
        "ideal_cycles",
        "predicted_cycles",
        "dense_cycles",
    ] {
        assert!(json.get(key).is_some(), "golden.json lacks {key}");
    }
    assert_eq!(json["frames"], 40);
}

#[test]
fn wrong_dtype_names_array() {
    let dir = fixture();
    rewrite_model_npz(dir.path(), |n, w| {
        if n == "layer0.weight" {
            w.add_array(n, &Array2::<i16>::zeros((8, 12))).unwrap();
            true
        } else {
            false
        }
    });
    let a = golden(dir.path(), "tiny-2pe").failure();
    let e = stderr(&a);
    assert!(
        e.contains("model.npz") && e.contains("layer0.weight") && e.contains("int8"),
        "{e}"
    );
}

#[test]
fn wrong_shape_names_array_and_shape() {
    let dir = fixture();
    rewrite_model_npz(dir.path(), |n, w| {
        if n == "layer1.weight" {
            w.add_array(n, &Array2::<i8>::zeros((3, 9))).unwrap();
            true
        } else {
            false
        }
    });
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(
        e.contains("layer1.weight") && e.contains("[3, 9]") && e.contains("[3, 8]"),
        "{e}"
    );
}

#[test]
fn truncated_npz_is_reported() {
    let dir = fixture();
    let path = dir.path().join("model.npz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(e.contains("model.npz"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn missing_layer_is_reported() {
    let dir = fixture();
    rewrite_model_npz(dir.path(), |n, _| n.starts_with("layer1."));
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(e.contains("layer1.weight") && e.contains("missing"), "{e}");
}

#[test]
fn extra_layer_is_reported() {
    let dir = fixture();
    rewrite_model_npz(dir.path(), |n, w| {
        if n == "layer1.bias" {
            w.add_array("layer2.bias", &Array1::<i32>::zeros(3))
                .unwrap();
        }
        false
    });
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(e.contains("layer2.bias") && e.contains("2 layers"), "{e}");
}

#[test]
fn out_of_range_weight_is_reported_with_index() {
    let dir = fixture();
    let text = std::fs::read_to_string(dir.path().join("model.json")).unwrap();
    std::fs::write(
        dir.path().join("model.json"),
        text.replace("\"weight_bits\": 8", "\"weight_bits\": 4"),
    )
    .unwrap();
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(
        e.contains("layer0.weight") && e.contains("at index") && e.contains("[-8, 7]"),
        "{e}"
    );
}

#[test]
fn malformed_model_json_is_reported() {
    let dir = fixture();
    std::fs::write(
        dir.path().join("model.json"),
        "{\"format\": \"deltagen-model\", ",
    )
    .unwrap();
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(e.contains("model.json"), "{e}");
    let dir = fixture();
    let text = std::fs::read_to_string(dir.path().join("model.json")).unwrap();
    std::fs::write(
        dir.path().join("model.json"),
        text.replace("\"theta\"", "\"thetta\""),
    )
    .unwrap();
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(e.contains("model.json") && e.contains("thetta"), "{e}");
}

#[test]
fn inputs_of_wrong_width_and_dtype() {
    let dir = fixture();
    let path = dir.path().join("inputs.npz");
    let mut w = NpzWriter::new(File::create(&path).unwrap());
    w.add_array("frames", &Array3::<i8>::zeros((2, 5, 13)))
        .unwrap();
    w.finish().unwrap();
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(
        e.contains("inputs.npz") && e.contains("frames") && e.contains("[2, 5, 13]"),
        "{e}"
    );
    let mut w = NpzWriter::new(File::create(&path).unwrap());
    w.add_array("frames", &Array3::<f32>::zeros((2, 5, 12)))
        .unwrap();
    w.finish().unwrap();
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(e.contains("frames") && e.contains("int8"), "{e}");
}

#[test]
fn sequence_lengths_out_of_range() {
    let dir = fixture();
    let path = dir.path().join("inputs.npz");
    let mut r = NpzReader::new(File::open(&path).unwrap()).unwrap();
    let frames: Array3<i8> = r.by_name("frames").unwrap();
    let write = |lengths: &Array1<i64>| {
        let mut w = NpzWriter::new(File::create(&path).unwrap());
        w.add_array("frames", &frames).unwrap();
        w.add_array("lengths", lengths).unwrap();
        w.finish().unwrap();
    };
    write(&ndarray::arr1(&[20, 0]));
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(
        e.contains("lengths") && e.contains("index 1") && e.contains("[1, 20]"),
        "{e}"
    );
    write(&ndarray::arr1(&[20, 7]));
    golden(dir.path(), "tiny-2pe").success();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/golden.json")).unwrap())
            .unwrap();
    assert_eq!(json["frames"], 27);
}

#[test]
fn config_too_small_for_model() {
    let dir = fixture();
    let cfg = dir.path().join("small.toml");
    let base = deltagen::config::AccelConfig::preset("tiny-2pe").unwrap();
    let mut c = base.clone();
    c.max_in = 8;
    std::fs::write(&cfg, c.to_toml()).unwrap();
    let e = stderr(&golden(dir.path(), cfg.to_str().unwrap()).failure());
    assert!(e.contains("max_in") && e.contains("12 inputs"), "{e}");
    let mut c = base;
    c.acc_bits = 16;
    std::fs::write(&cfg, c.to_toml()).unwrap();
    let e = stderr(&golden(dir.path(), cfg.to_str().unwrap()).failure());
    assert!(e.contains("acc_bits = 16 too small"), "{e}");
}

#[test]
fn invalid_config_file_names_field() {
    let dir = fixture();
    let cfg = dir.path().join("bad.toml");
    let text = deltagen::config::AccelConfig::preset("tiny-2pe")
        .unwrap()
        .to_toml()
        .replace("pe_count = 2", "pe_count = 0");
    std::fs::write(&cfg, text).unwrap();
    let e = stderr(&golden(dir.path(), cfg.to_str().unwrap()).failure());
    assert!(
        e.contains("pe_count") && e.contains("at least one PE"),
        "{e}"
    );
    std::fs::write(&cfg, "pe_count = \"eight\"\n").unwrap();
    let e = stderr(&golden(dir.path(), cfg.to_str().unwrap()).failure());
    assert!(e.contains("bad.toml"), "{e}");
    let e = stderr(&golden(dir.path(), "no-such-preset").failure());
    assert!(e.contains("ice40-up5k-8pe"), "{e}");
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = fixture();
    golden(dir.path(), "tiny-2pe").success();
    let e = stderr(&golden(dir.path(), "tiny-2pe").failure());
    assert!(e.contains("--force"), "{e}");
    deltagen()
        .args(["model", "random", "--layers", "12,8,3", "--out"])
        .arg(dir.path())
        .assert()
        .failure();
}

#[test]
fn expected_traces_are_compared() {
    let dir = fixture();
    golden(dir.path(), "tiny-2pe").success();
    let good = dir.path().join("out/golden.npz");
    let run = |expect: &Path, out: &str| {
        deltagen()
            .args(["--quiet", "golden", "--model"])
            .arg(dir.path())
            .arg("--inputs")
            .arg(dir.path().join("inputs.npz"))
            .args(["--config", "tiny-2pe", "--out"])
            .arg(dir.path().join(out))
            .arg("--expect")
            .arg(expect)
            .assert()
    };
    run(&good, "again").success();
    // Flip one logit: the comparison must fail and say where.
    let mut r = NpzReader::new(File::open(&good).unwrap()).unwrap();
    let mut logits: Array3<i32> = r.by_name("logits").unwrap();
    let act0: Array3<i8> = r.by_name("layer0.act").unwrap();
    logits[(1, 7, 2)] += 1;
    let bad = dir.path().join("bad.npz");
    let mut w = NpzWriter::new(File::create(&bad).unwrap());
    w.add_array("logits", &logits).unwrap();
    w.add_array("layer0.act", &act0).unwrap();
    w.finish().unwrap();
    let e = stderr(&run(&bad, "third").failure());
    assert!(
        e.contains("logits") && e.contains("sequence 1, frame 7, index 2"),
        "{e}"
    );
}
