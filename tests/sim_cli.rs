//! Verilator co-simulation of the generated RTL (`deltagen sim`) against the golden model.
//!
//! The matrix covers PE counts 1, 3, 8 and 16, widths that are not multiples of P, layers of
//! width 1, θ = 0 and θ > 0, τ > 0, requantization shifts 0 and large, several sequences per
//! run (resets), and stall probabilities 0 and 0.3: more than 10,000 frames in all, every
//! logit and hidden activation compared, and `rtl_cycles == predicted_cycles` everywhere.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use assert_cmd::Command;
use deltagen::config::AccelConfig;
use deltagen::model::Requant;
use deltagen::random::{generate, RandomSpec};
use deltagen::sim::{run, SimOptions, SimReport};

/// Frames simulated by this test binary (printed, so the matrix size is visible in the log).
static FRAMES: AtomicU64 = AtomicU64::new(0);

/// One verilated build per config, shared by the tests of this binary.
fn cache_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verilator-cache");
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Case {
    widths: &'static [usize],
    theta: i32,
    tau: i32,
    change_prob: f64,
    stall: f64,
    /// Override every hidden layer's requantization (multiplier, shift).
    requant: Option<(u32, u32)>,
}

fn config(dir: &Path, pe: u32, lanes: u32, run_bits: u32) -> String {
    let mut cfg = AccelConfig::preset("tiny-2pe").unwrap();
    cfg.name = format!("test-{pe}pe-{lanes}l");
    cfg.pe_count = pe;
    cfg.nz_lanes = lanes;
    cfg.rle_run_bits = run_bits;
    cfg.max_dsp = pe;
    let path = dir.join(format!("{}.toml", cfg.name));
    std::fs::write(&path, cfg.to_toml()).unwrap();
    path.display().to_string()
}

fn sim_case(config: &str, case: &Case, seed: u64, sequences: usize, frames: usize) -> SimReport {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = RandomSpec::new(case.widths.to_vec(), sequences, frames, seed);
    spec.theta = case.theta;
    spec.tau = case.tau;
    spec.change_prob = case.change_prob;
    let (mut model, inputs) = generate(&spec);
    if let Some((multiplier, shift)) = case.requant {
        let n = model.layers.len();
        for l in &mut model.layers[..n - 1] {
            l.requant = Some(Requant { multiplier, shift });
        }
    }
    let mdir = dir.path().join("model");
    model.save(&mdir, false).unwrap();
    inputs.save(&mdir.join("inputs.npz"), false).unwrap();
    let opts = SimOptions {
        config: config.to_string(),
        model: mdir.clone(),
        inputs: mdir.join("inputs.npz"),
        out: dir.path().join("sim"),
        stall_prob: case.stall,
        seed,
        vcd: None,
        expect: None,
        cache_dir: Some(cache_dir()),
        force: false,
        quiet: true,
    };
    let r = run(&opts).unwrap();
    let what = format!("{config} {:?} seed {seed}", case.widths);
    assert_eq!(r.mismatches, 0, "{what}: {:?}", r.first_mismatch);
    assert_eq!(r.frames, (sequences * frames) as u64, "{what}");
    assert_eq!(r.rtl_cycles, r.predicted_cycles, "{what}");
    assert_eq!(r.frames_off_cycle_model, 0, "{what}");
    let hidden: usize = case.widths[1..case.widths.len() - 1].iter().sum();
    assert_eq!(r.activations_compared, (hidden * sequences * frames) as u64);
    assert_eq!(
        r.logits_compared,
        r.frames * *case.widths.last().unwrap() as u64
    );
    // The report on disk is the one returned.
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(opts.out.join("sim.json")).unwrap()).unwrap();
    for k in [
        "frames",
        "mismatches",
        "rtl_cycles",
        "predicted_cycles",
        "ideal_cycles",
        "dense_cycles",
        "efficiency",
        "speedup_vs_dense",
        "delta_density",
        "sim_cycles_per_second",
    ] {
        assert!(!j[k].is_null(), "sim.json lacks {k}");
    }
    assert_eq!(j["rtl_cycles"], r.rtl_cycles);
    if case.stall > 0.0 {
        // Stalls cost wall-clock cycles, never accelerator cycles.
        assert!(r.sim_cycles > r.rtl_cycles);
    }
    let n = FRAMES.fetch_add(r.frames, Ordering::Relaxed) + r.frames;
    eprintln!(
        "{what}: {} frames ({n} so far), efficiency {:.3}, {:.0} cycles/s",
        r.frames, r.efficiency, r.sim_cycles_per_second
    );
    r
}

const SEQ: usize = 4;
const T: usize = 320;

#[test]
fn one_pe() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1, 1, 2);
    // Output layer of width 1, then a hidden layer of width 1; shift 0 saturates often.
    let cases = [
        Case {
            widths: &[9, 5, 1],
            theta: 0,
            tau: 0,
            change_prob: 0.3,
            stall: 0.0,
            requant: None,
        },
        Case {
            widths: &[7, 1, 3],
            theta: 2,
            tau: 1,
            change_prob: 0.5,
            stall: 0.3,
            requant: Some((1, 0)),
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        sim_case(&cfg, c, 10 + i as u64, SEQ, T);
    }
}

#[test]
fn three_pes() {
    let dir = tempfile::tempdir().unwrap();
    let wide = config(dir.path(), 3, 3, 3);
    let narrow = config(dir.path(), 3, 1, 2);
    sim_case(
        &wide,
        &Case {
            widths: &[17, 10, 4],
            theta: 0,
            tau: 1,
            change_prob: 0.2,
            stall: 0.3,
            requant: Some((1, 0)),
        },
        20,
        SEQ,
        T,
    );
    sim_case(
        &narrow,
        &Case {
            widths: &[8, 7, 6, 2],
            theta: 2,
            tau: 0,
            change_prob: 0.4,
            stall: 0.0,
            // A large shift with a full-range multiplier: most activations round to 0 or 1.
            requant: Some((65535, 30)),
        },
        21,
        SEQ,
        T,
    );
}

#[test]
fn eight_pes_ice40_preset() {
    for (i, stall) in [0.0, 0.3].into_iter().enumerate() {
        sim_case(
            "ice40-up5k-8pe",
            &Case {
                widths: &[40, 20, 10],
                theta: i as i32,
                tau: 2 * i as i32,
                change_prob: 0.2,
                stall,
                requant: None,
            },
            30 + i as u64,
            SEQ,
            T,
        );
    }
}

#[test]
fn sixteen_pes_ecp5_preset() {
    let cases = [
        Case {
            widths: &[100, 37, 5],
            theta: 0,
            tau: 2,
            change_prob: 0.1,
            stall: 0.3,
            requant: None,
        },
        Case {
            widths: &[33, 17, 3],
            theta: 3,
            tau: 0,
            change_prob: 0.5,
            stall: 0.0,
            requant: Some((40000, 40)),
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        sim_case("ecp5-16pe", c, 40 + i as u64, SEQ, T);
    }
}

fn deltagen() -> Command {
    Command::cargo_bin("deltagen").unwrap()
}

/// Where fetched datasets live: the project's data/ (tools/fetch-data.sh) or, in this
/// workplace, ../shared/data.
fn data_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for d in [root.join("data"), root.join("../shared/data")] {
        if d.join("uea").exists() {
            return d;
        }
    }
    panic!("no datasets: run tools/fetch-data.sh (tools/test.sh does)");
}

/// A model trained on BasicMotions: its exported test-set traces go through the RTL with
/// back-pressure, and the CLI reports zero mismatches.
#[test]
fn trained_model_traces_through_the_rtl() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bm");
    deltagen()
        .args([
            "--quiet",
            "train",
            "--dataset",
            "basicmotions",
            "--method",
            "delta-lsq",
            // 6-32-32-4: 184 weight words per PE bank (the preset holds 512).
            "--hidden",
            "32,32",
            "--data-dir",
        ])
        .arg(data_dir())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let a = deltagen()
        .args(["--quiet", "sim", "--config", "ice40-up5k-8pe", "--model"])
        .arg(&out)
        .arg("--inputs")
        .arg(out.join("inputs.npz"))
        .arg("--expect")
        .arg(out.join("traces.npz"))
        .args(["--stall-prob", "0.3", "--seed", "3", "--cache-dir"])
        .arg(cache_dir())
        .arg("--out")
        .arg(dir.path().join("sim"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(stdout.contains("0 mismatches"), "{stdout}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sim/sim.json")).unwrap())
            .unwrap();
    assert_eq!(j["mismatches"], 0);
    assert_eq!(j["rtl_cycles"], j["predicted_cycles"]);
    assert!(j["frames"].as_u64().unwrap() > 100);
    FRAMES.fetch_add(j["frames"].as_u64().unwrap(), Ordering::Relaxed);
}

/// Bad options and bad files fail with a message naming what to fix, and nothing is
/// overwritten without --force.
#[test]
fn sim_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mdir = dir.path().join("m");
    deltagen()
        .args([
            "--quiet", "model", "random", "--layers", "6,4,2", "--frames", "3", "--out",
        ])
        .arg(&mdir)
        .assert()
        .success();
    let sim_cfg = |config: &str, extra: &[&str], out: &Path| {
        let mut c = deltagen();
        c.args(["--quiet", "sim", "--config", config, "--model"])
            .arg(&mdir)
            .arg("--inputs")
            .arg(mdir.join("inputs.npz"))
            .arg("--cache-dir")
            .arg(cache_dir())
            .arg("--out")
            .arg(out)
            .args(extra);
        c.assert()
    };
    let sim = |extra: &[&str], out: &Path| sim_cfg("tiny-2pe", extra, out);
    let err = |a: assert_cmd::assert::Assert| {
        String::from_utf8_lossy(&a.failure().get_output().stderr).to_string()
    };
    let e = err(sim(&["--stall-prob", "1.5"], &dir.path().join("s0")));
    assert!(e.contains("--stall-prob"), "{e}");
    let e = err(sim_cfg("nope", &[], &dir.path().join("s1")));
    assert!(e.contains("nope"), "{e}");
    // Traces that do not belong to the model: refused before the RTL runs.
    let other = dir.path().join("o");
    deltagen()
        .args([
            "--quiet", "model", "random", "--layers", "6,4,2", "--frames", "3",
        ])
        .args(["--seed", "99", "--out"])
        .arg(&other)
        .assert()
        .success();
    deltagen()
        .args(["--quiet", "golden", "--config", "tiny-2pe", "--model"])
        .arg(&other)
        .arg("--inputs")
        .arg(other.join("inputs.npz"))
        .arg("--out")
        .arg(other.join("g"))
        .assert()
        .success();
    let e = err(sim(
        &["--expect", other.join("g/golden.npz").to_str().unwrap()],
        &dir.path().join("s2"),
    ));
    assert!(e.contains("does not reproduce"), "{e}");
    // A good run, then the same --out again without --force.
    let out = dir.path().join("s3");
    sim(&[], &out).success();
    let e = err(sim(&[], &out));
    assert!(e.contains("--force"), "{e}");
    sim(&["--force"], &out).success();
}

/// `deltagen bench` on a small model: every density point simulated, tables and charts written.
#[test]
fn bench_writes_table_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    let a = deltagen()
        .args([
            "--quiet",
            "bench",
            "--configs",
            "tiny-2pe",
            "--layers",
            "12,6,3",
        ])
        .args(["--sequences", "1", "--frames", "6", "--cache-dir"])
        .arg(cache_dir())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let table = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("| tiny-2pe"))
            .count(),
        10
    );
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap()).unwrap();
    for row in j["rows"].as_array().unwrap() {
        assert_eq!(row["mismatches"], 0);
        assert_eq!(row["rtl_cycles"], row["predicted_cycles"]);
        let e = row["efficiency"].as_f64().unwrap();
        assert!(e > 0.0 && e <= 1.0, "{row}");
    }
    for f in ["bench.md", "bench.png", "bench_speedup.png"] {
        assert!(out.join(f).metadata().unwrap().len() > 100, "{f}");
    }
}
