//! `deltagen train` end to end on a small synthetic `.ts` dataset: the exported package is
//! reproduced bit for bit by `deltagen golden`, and bad input fails with clear errors.

use std::fmt::Write as _;
use std::path::Path;

use assert_cmd::Command;

fn deltagen() -> Command {
    Command::cargo_bin("deltagen").unwrap()
}

/// Two-class, 2-channel, variable-length series (class 0 rises, class 1 falls) in `.ts` format.
fn write_ts(dir: &Path, name: &str, n: usize, seed: u64) {
    let mut s = String::from(
        "# synthetic\n@problemName Syn\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true up down\n@data\n",
    );
    let mut state = seed;
    let mut rnd = || {
        // xorshift: deterministic noise without another dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1000) as f64 / 1000.0 - 0.5
    };
    for i in 0..n {
        let up = i % 2 == 0;
        let len = 14 + i % 6;
        let mut dims = vec![];
        for c in 0..2 {
            let mut v = 0.0;
            let mut vals = vec![];
            for _ in 0..len {
                v += if up { 0.3 } else { -0.3 } * (c as f64 + 1.0) + 0.2 * rnd();
                vals.push(format!("{v:.4}"));
            }
            dims.push(vals.join(","));
        }
        writeln!(s, "{}:{}", dims.join(":"), if up { "up" } else { "down" }).unwrap();
    }
    std::fs::write(dir.join(name), s).unwrap();
}

fn dataset(dir: &Path) -> String {
    write_ts(dir, "Syn_TRAIN.ts", 16, 1);
    write_ts(dir, "Syn_TEST.ts", 8, 2);
    dir.join("Syn_TRAIN.ts").display().to_string()
}

/// The small delta-lsq+star training run the agreement and determinism checks repeat.
fn small_run(ts: &str, out: &Path) -> assert_cmd::assert::Assert {
    deltagen()
        .args([
            "--quiet",
            "train",
            "--dataset",
            ts,
            "--method",
            "delta-lsq+star",
            "--epochs",
            "4",
            "--window",
            "3",
            "--hidden",
            "8,8",
            "--seed",
            "5",
            "--out",
        ])
        .arg(out)
        .assert()
}

#[test]
fn train_then_golden_reproduces_traces() {
    let dir = tempfile::tempdir().unwrap();
    let ts = dataset(dir.path());
    let out = dir.path().join("out");
    let assert = small_run(&ts, &out).success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("Syn delta-lsq+star"), "{stdout}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train.json")).unwrap()).unwrap();
    for k in [
        "float_accuracy",
        "int_accuracy",
        "delta_density",
        "delta_density_per_layer",
        "mac_weighted_density",
        "activation_density",
        "epochs",
        "seconds",
    ] {
        assert!(!j[k].is_null(), "train.json lacks {k}");
    }
    assert_eq!(j["epochs"], 4);
    assert_eq!(j["delta_density_per_layer"].as_array().unwrap().len(), 3);
    assert_eq!(j["tau"][0], 2); // STAR threshold exported on hidden layers
    let g = deltagen()
        .args(["--quiet", "golden", "--config", "ecp5-16pe", "--model"])
        .arg(&out)
        .arg("--inputs")
        .arg(out.join("inputs.npz"))
        .arg("--expect")
        .arg(out.join("traces.npz"))
        .arg("--out")
        .arg(out.join("golden"))
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&g.get_output().stdout).contains("bit for bit"));

    // Same seed, same result; existing files are not overwritten without --force.
    let again = small_run(&ts, &out).failure();
    let err = String::from_utf8_lossy(&again.get_output().stderr).to_string();
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    let out2 = dir.path().join("out2");
    small_run(&ts, &out2).success();
    for f in ["model.npz", "traces.npz", "inputs.npz"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(out2.join(f)).unwrap(),
            "{f} differs between identical runs"
        );
    }
}

#[test]
fn compare_writes_table_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let ts = dataset(dir.path());
    let out = dir.path().join("cmp");
    deltagen()
        .args([
            "--quiet",
            "train",
            "--dataset",
            &ts,
            "--compare",
            "--epochs",
            "3",
            "--window",
            "3",
            "--hidden",
            "8",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    for m in ["baseline", "delta-fxp", "delta-lsq", "star", "wta"] {
        assert!(md.contains(&format!("| {m} |")), "{md}");
        assert!(out.join(m).join("model.json").exists());
    }
    let png = std::fs::read(out.join("compare.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn bad_datasets_fail_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let a = deltagen()
        .args([
            "--quiet",
            "train",
            "--dataset",
            "basicmotions",
            "--data-dir",
        ])
        .arg(dir.path().join("nodata"))
        .arg("--out")
        .arg(&out)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("BasicMotions_TRAIN.ts") && err.contains("fetch-data.sh"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("Bad_TRAIN.ts"),
        "@classLabel true a b\n@data\n1,2,x:a\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Bad_TEST.ts"),
        "@classLabel true a b\n@data\n1,2,3:a\n",
    )
    .unwrap();
    let a = deltagen()
        .args(["--quiet", "train", "--dataset"])
        .arg(dir.path().join("Bad_TRAIN.ts"))
        .arg("--out")
        .arg(&out)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("Bad_TRAIN.ts:3:") && err.contains("\"x\" is not a number"),
        "{err}"
    );

    let ts = dataset(dir.path());
    let a = deltagen()
        .args([
            "--quiet",
            "train",
            "--dataset",
            &ts,
            "--method",
            "magic",
            "--out",
        ])
        .arg(&out)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains("unknown method \"magic\""), "{err}");
    assert!(!out.exists(), "nothing is written on error");
}
