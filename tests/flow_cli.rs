//! `deltagen flow` on the tiny preset: every existing step end to end, a rerun that skips them
//! all, a failing step that keeps the earlier outputs and a rerun that resumes, and a method
//! change that reruns from `train`. Needs the BasicMotions files in data/ (tools/setup.sh, or
//! the flow's own fetch-data step, fetch them).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn flow(preset: &str, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("deltagen")
        .unwrap()
        .args(["--quiet", "flow", "--preset", preset, "--out"])
        .arg(out)
        .arg("--data-dir")
        .arg(data_dir())
        .args(extra)
        .assert()
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).to_string()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

fn record(root: &Path, step: &str) -> Value {
    let p = root.join(step).join("step.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn tiny_text() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/flows/tiny-ice40.toml"),
    )
    .unwrap()
}

/// Writes a modified copy of the tiny preset (same name, so the same build directory).
fn tiny_copy(dir: &Path, file: &str, from: &str, to: &str) -> String {
    let text = tiny_text();
    assert!(text.contains(from), "tiny preset lacks {from}");
    let p = dir.join(file);
    std::fs::write(&p, text.replace(from, to)).unwrap();
    p.display().to_string()
}

const STEPS: [&str; 8] = [
    "fetch-data",
    "train",
    "export",
    "golden",
    "generate",
    "sim",
    "synth",
    "report",
];

#[test]
fn tiny_preset_runs_caches_fails_resumes_and_reruns_from_train() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("build");
    let root = out.join("tiny-ice40");

    // 1. Everything that exists, end to end.
    let a = flow("tiny-ice40", &out, &[]).success();
    let s = stdout(&a);
    for (k, step) in STEPS.iter().enumerate() {
        assert!(s.contains(&format!("{step}: done in")), "{step}: {s}");
        let r = record(&root, step);
        assert_eq!(r["step"], *step);
        assert_eq!(r["inputs_hash"].as_str().unwrap().len(), 64);
        assert!(r["duration_seconds"].as_f64().unwrap() >= 0.0);
        assert!(!r["outputs"].as_object().unwrap().is_empty(), "{step}");
        assert!(root.join(step).join("step.md").is_file());
        let tag = k + 1;
        assert!(s.contains(&format!("[{tag}/8] {step}")), "{s}");
    }
    // iCE40 synthesis of the 2-PE config: resources, Fmax over seeds, a timing verdict.
    let synth = record(&root, "synth");
    assert_eq!(synth["target"], "ice40-up5k");
    assert!(synth["luts"].as_u64().unwrap() > 0);
    assert!(synth["fmax_mhz"]["median"].as_f64().unwrap() > 0.0);
    assert!(synth["meets_timing"].is_boolean());
    let export = record(&root, "export");
    let golden = record(&root, "golden");
    assert_eq!(export["sequences"], 8);
    assert_eq!(export["layers"], serde_json::json!([60, 16, 8, 4]));
    assert_eq!(golden["mismatches"], 0);
    assert_eq!(golden["frames"], export["frames"]);
    // The exported frames went through the RTL with back-pressure, bit-exact and cycle-exact.
    let sim = record(&root, "sim");
    assert_eq!(sim["mismatches"], 0);
    assert_eq!(sim["frames"], export["frames"]);
    assert_eq!(sim["rtl_cycles"], golden["predicted_cycles"]);
    let (ideal, predicted, dense) = (
        golden["ideal_cycles"].as_u64().unwrap(),
        golden["predicted_cycles"].as_u64().unwrap(),
        golden["dense_cycles"].as_u64().unwrap(),
    );
    assert!(ideal <= predicted && ideal < dense, "{golden}");
    assert!(root.join("generate/rtl/deltagen_top.v").is_file());
    let schedule: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("golden/schedule.json")).unwrap())
            .unwrap();
    assert_eq!(
        schedule["predicted_cycles"].as_array().unwrap().len(),
        schedule["length"].as_u64().unwrap() as usize
    );
    let md = std::fs::read_to_string(root.join("report.md")).unwrap();
    let html = std::fs::read_to_string(root.join("report.html")).unwrap();
    for needle in [
        "## Accuracy: float vs integer",
        "Fmax",
        "![delta density per layer input and pooled](report/density.png)",
        "deltagen train --dataset basicmotions --method delta-lsq --seed 1 --epochs 30",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle}:\n{md}");
    }
    assert!(
        md.contains("GOp/s"),
        "throughput at the achieved Fmax:\n{md}"
    );
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 2);
    assert!(root.join("report/cycles.png").is_file());
    let report_md = md;

    // 2. A rerun skips every step and rewrites nothing.
    let a = flow("tiny-ice40", &out, &[]).success();
    let s = stdout(&a);
    for step in STEPS {
        assert!(s.contains(&format!("{step}: skipped (up to date)")), "{s}");
    }
    assert!(!s.contains("running"), "{s}");
    assert_eq!(
        std::fs::read_to_string(root.join("report.md")).unwrap(),
        report_md
    );

    // An interrupted step (no step.json) and a changed output rerun just that step; the steps
    // after it see byte-identical outputs and stay skipped.
    std::fs::remove_file(root.join("golden/step.json")).unwrap();
    let model_json = root.join("export/model.json");
    let text = std::fs::read_to_string(&model_json).unwrap();
    std::fs::write(&model_json, format!("{text}\n")).unwrap();
    let s = stdout(&flow("tiny-ice40", &out, &[]).success());
    assert!(
        s.contains("export: running (output export/model.json changed)"),
        "{s}"
    );
    assert!(s.contains("golden: running (no previous run)"), "{s}");
    for step in ["train", "generate", "report"] {
        assert!(s.contains(&format!("{step}: skipped (up to date)")), "{s}");
    }
    assert_eq!(std::fs::read_to_string(&model_json).unwrap(), text);

    // --from/--to select, --force reruns the selection only.
    let a = flow(
        "tiny-ice40",
        &out,
        &["--from", "golden", "--to", "golden", "--force"],
    )
    .success();
    let s = stdout(&a);
    assert!(s.contains("[1/1] golden: running (--force)"), "{s}");
    assert!(!s.contains("train"), "{s}");

    // 3. A config the model does not fit: `export` fails, names itself, keeps train's outputs.
    let small = tmp.path().join("small.toml");
    let cfg = Command::cargo_bin("deltagen")
        .unwrap()
        .args(["config", "tiny-2pe"])
        .output()
        .unwrap();
    let cfg = String::from_utf8_lossy(&cfg.stdout).replace("max_in = 64", "max_in = 32");
    std::fs::write(&small, cfg).unwrap();
    let bad = tiny_copy(
        tmp.path(),
        "bad.toml",
        "accelerator = \"tiny-2pe\"",
        &format!("accelerator = \"{}\"", small.display()),
    );
    let a = flow(&bad, &out, &[]).failure();
    let (s, e) = (stdout(&a), stderr(&a));
    assert!(e.contains("step `export` failed"), "{e}");
    assert!(e.contains("max_in = 32"), "{e}");
    assert!(s.contains("train: skipped (up to date)"), "{s}");
    assert!(!root.join("export/step.json").exists());
    assert!(root.join("train/step.json").is_file() && root.join("train/model.npz").is_file());
    assert!(root.join("golden/step.json").is_file());
    let flow_json: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("flow.json")).unwrap()).unwrap();
    assert_eq!(flow_json["states"]["export"], "failed");

    // The rerun with the right config resumes at export; golden sees the same package again.
    let a = flow("tiny-ice40", &out, &[]).success();
    let s = stdout(&a);
    assert!(s.contains("train: skipped (up to date)"), "{s}");
    assert!(s.contains("export: running (no previous run)"), "{s}");
    assert!(s.contains("golden: skipped (up to date)"), "{s}");

    // 4. Another method reruns from train on.
    let other = tiny_copy(
        tmp.path(),
        "other.toml",
        "method = \"delta-lsq\"",
        "method = \"baseline\"",
    );
    let a = flow(&other, &out, &[]).success();
    let s = stdout(&a);
    assert!(s.contains("fetch-data: skipped (up to date)"), "{s}");
    assert!(
        s.contains("train: running (inputs changed: params.method)"),
        "{s}"
    );
    for step in ["export", "golden", "generate", "report"] {
        assert!(s.contains(&format!("{step}: done in")), "{step}: {s}");
    }
    assert_eq!(record(&root, "train")["method"], "baseline");
}

#[test]
fn missing_dataset_fails_in_fetch_data() {
    let tmp = tempfile::tempdir().unwrap();
    let preset = tiny_copy(
        tmp.path(),
        "p.toml",
        "dataset = \"basicmotions\"",
        "dataset = \"nowhere/Nope_TRAIN.ts\"",
    );
    let a = flow(&preset, &tmp.path().join("b"), &[]).failure();
    let e = stderr(&a);
    assert!(e.contains("step `fetch-data` failed"), "{e}");
    assert!(e.contains("Nope_TRAIN.ts not found"), "{e}");
}

#[test]
fn bad_presets_and_foreign_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let p = tiny_copy(
        tmp.path(),
        "p.toml",
        "[export]",
        "colour = \"red\"\n[export]",
    );
    let e = stderr(&flow(&p, &out, &[]).failure());
    assert!(
        e.contains("p.toml") && e.contains("unknown field `colour`"),
        "{e}"
    );
    let p = tiny_copy(tmp.path(), "q.toml", "epochs = 30", "epochs = 0");
    let e = stderr(&flow(&p, &out, &[]).failure());
    assert!(e.contains("q.toml: field `train.epochs` = 0"), "{e}");
    assert!(!out.exists(), "a bad preset wrote {}", out.display());
    let e = stderr(&flow("tiny-ice40", &out, &["--from", "golden", "--to", "train"]).failure());
    assert!(e.contains("--from golden comes after --to train"), "{e}");
    let e = stderr(&flow("tiny-ice40", &out, &["--from", "lint"]).failure());
    assert!(e.contains("--from lint: unknown step"), "{e}");
    // A directory the flow did not write is not cleared without --force.
    std::fs::create_dir_all(out.join("tiny-ice40")).unwrap();
    std::fs::write(out.join("tiny-ice40/notes.txt"), "mine").unwrap();
    let e = stderr(&flow("tiny-ice40", &out, &[]).failure());
    assert!(e.contains("not written by `deltagen flow`"), "{e}");
    // Steps after a missing one cannot start.
    let e = stderr(&flow("tiny-ice40", &out, &["--from", "golden", "--force"]).failure());
    assert!(e.contains("needs the outputs of export"), "{e}");
    assert_eq!(
        std::fs::read_to_string(out.join("tiny-ice40/notes.txt")).unwrap(),
        "mine"
    );
}
