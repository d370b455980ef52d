//! `deltagen synth`: the iCE40 flow end to end on a small config (Yosys, nextpnr-ice40, one seed)
//! with the random model synth makes itself, the iCEBreaker board top to a bitstream (and no
//! bitstream when timing fails), the report's keys and figures, and the errors for a missing or
//! unknown target or board, a board of another target, a clock the PLL cannot make and a random
//! model too big for the config.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn deltagen() -> Command {
    Command::cargo_bin("deltagen").unwrap()
}

/// tiny-2pe with a clock every UP5K placement reaches (so `meets_timing` can honestly pass).
const SLOW_TINY: &str = r#"name = "tiny-2pe-12mhz"
pe_count = 2
act_bits = 8
weight_bits = 8
acc_bits = 32
rle_run_bits = 4
nz_lanes = 2
max_in = 64
max_out = 64
max_layers = 4
weight_bank_depth = 2048
max_dsp = 2
clock_mhz = 12.0
target = "ice40-up5k"
"#;

fn random_model(dir: &Path) {
    deltagen()
        .args(["--quiet", "model", "random", "--layers", "16,8,3"])
        .args(["--sequences", "1", "--frames", "4", "--out"])
        .arg(dir)
        .assert()
        .success();
}

fn synth(config: &Path, model: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    deltagen()
        .args(["--quiet", "synth", "--config"])
        .arg(config)
        .arg("--model")
        .arg(model)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// The blocks of one side (`core` or `wrapper`) add up to it, and core + wrapper to the
/// flattened netlist, for every resource.
fn add_up(r: &Value, blocks: &serde_json::Map<String, Value>, side: &str, wrapper_name: &str) {
    for k in ["luts", "carries", "ffs", "brams", "dsps"] {
        let sum: u64 = blocks.values().map(|v| res(v, k)).sum();
        assert_eq!(sum, res(&r[side], k), "{k}: blocks vs {side}");
        assert_eq!(
            res(&r["core"], k) + res(&r["wrapper"], k),
            res(&r["yosys_flat"], k),
            "{k}: core + {wrapper_name} vs flattened"
        );
    }
}

fn res(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn report(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("synth.json")).unwrap()).unwrap()
}

#[test]
fn ice40_flow_end_to_end() {
    // No --model (synth makes a random 16-8-3 one) and no --out (the default directory, under
    // the working directory).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("slow.toml");
    std::fs::write(&config, SLOW_TINY).unwrap();
    let run = |extra: &[&str]| {
        deltagen()
            .current_dir(dir.path())
            .args(["--quiet", "synth", "--config", "slow.toml"])
            .args(["--target", "ice40-up5k", "--layers", "16,8,3"])
            .args(extra)
            .assert()
    };
    let a = run(&["--seeds", "1"]).success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(stdout.contains("random model 16-8-3"), "{stdout}");
    let out = dir.path().join("build/synth/tiny-2pe-12mhz-ice40-up5k");
    assert!(out.join("synth.json").exists(), "default --out not used");
    // The model synth made, like `deltagen model random` would.
    for f in ["model/model.json", "model/model.npz", "model/inputs.npz"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    assert!(!out.join("bitstream.bin").exists());

    let r = report(&out);
    assert_eq!(r["model_layers"], "16-8-3");
    assert!(r["model_origin"]
        .as_str()
        .unwrap()
        .starts_with("random: deltagen model random --layers 16,8,3"));
    assert_eq!(r["board"], Value::Null);
    assert_eq!(r["bitstream"], Value::Null);
    assert_eq!(r["top_kind"], "harness");
    for key in [
        "target",
        "device",
        "luts",
        "ffs",
        "brams",
        "dsps",
        "fmax_mhz",
        "clock_mhz_requested",
        "meets_timing",
        "per_module",
        "tool_versions",
        "core",
        "wrapper",
        "per_pe",
        "capacity",
        "utilisation",
        "critical_path",
    ] {
        assert!(r.get(key).is_some(), "synth.json lacks {key}");
    }
    assert_eq!(r["target"], "ice40-up5k");
    assert_eq!(r["device"], "iCE40UP5K-SG48");
    assert_eq!(r["clock_mhz_requested"].as_f64(), Some(12.0));
    assert_eq!(r["clock_mhz"].as_f64(), Some(12.0));
    assert_eq!(r["fits"], true);
    let f = &r["fmax_mhz"];
    let (med, min, max) = (
        f["median"].as_f64().unwrap(),
        f["min"].as_f64().unwrap(),
        f["max"].as_f64().unwrap(),
    );
    assert!(min <= med && med <= max, "{f}");
    // One seed: the three agree; 12 MHz is far below what this design reaches on a UP5K.
    assert_eq!(min, max);
    assert!(med > 12.0, "Fmax {med} MHz");
    assert_eq!(r["meets_timing"], true);
    assert_eq!(r["seeds"].as_array().unwrap().len(), 1);
    assert!(r["tool_versions"]["yosys"]
        .as_str()
        .unwrap()
        .starts_with("Yosys"));
    assert!(r["tool_versions"]["nextpnr-ice40"].is_string());

    // Two PEs on the two DSP blocks, memories in EBR, logic cells from nextpnr.
    assert_eq!(res(&r, "dsps"), 2);
    assert!(res(&r, "brams") > 0 && res(&r, "brams") <= 30);
    assert!(res(&r, "luts") > 500 && res(&r, "luts") <= 5280);
    assert!(res(&r, "ffs") > 0);
    assert_eq!(r["luts_source"], "nextpnr ICESTORM_LC");

    // The blocks add up to the placed netlist: core + harness = flattened design.
    let blocks = r["per_module"].as_object().unwrap();
    for b in [
        "compactor",
        "decoder",
        "encoder",
        "rle",
        "pes.0",
        "pes.1",
        "rq.0",
    ] {
        assert!(blocks.contains_key(b), "per_module lacks {b}: {blocks:?}");
    }
    add_up(&r, blocks, "core", "harness");
    assert_eq!(res(&r["per_pe"], "dsps"), 1);
    assert!(res(&r["per_pe"], "brams") > 0);
    // The harness holds shift registers only: flip-flops, hardly any logic, no memory.
    assert!(res(&r["wrapper"], "ffs") > 0);
    assert_eq!(res(&r["wrapper"], "brams"), 0);
    assert!(!r["critical_path"]["blocks"].as_array().unwrap().is_empty());

    let md = std::fs::read_to_string(out.join("synth.md")).unwrap();
    assert!(md.contains("| Fmax |") && md.contains("pes.0") && md.contains("harness"));
    for f in [
        "logs/yosys.log",
        "logs/nextpnr_seed1.log",
        "synth/netlist.json",
        "synth/pnr_seed1.json",
        "generate/generate.json",
        "generate/rtl/deltagen_synth_wrap.v",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }

    // The generated harness stays Verilator-lint clean together with the core.
    let rtl = out.join("generate/rtl");
    let lint = std::process::Command::new("verilator")
        .current_dir(&rtl)
        .args([
            "--lint-only",
            "-Wall",
            "--top-module",
            "deltagen_synth_wrap",
            "verilator_waivers.vlt",
            "deltagen_top.v",
            "deltagen_synth_wrap.v",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&lint.stderr);
    assert!(
        lint.status.success() && !text.contains("%Warning"),
        "{text}"
    );

    // Nothing is overwritten without --force.
    let a = run(&[]).failure();
    assert!(stderr(&a).contains("--force"), "{}", stderr(&a));
}

/// The iCEBreaker board top from a model package at 20 MHz (the PLL makes 19.875 from 12):
/// bitstream, board and clock in the report, core vs board wrapper. Then the same at 100 MHz,
/// which no placement of the UP5K reaches: reports, no bitstream (the earlier one removed), a
/// non-zero exit that says so.
#[test]
fn icebreaker_bitstream() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    random_model(&model);
    let config = dir.path().join("slow.toml");
    std::fs::write(&config, SLOW_TINY).unwrap();
    let out = dir.path().join("s");
    let board = [
        "--target",
        "ice40-up5k",
        "--board",
        "icebreaker",
        "--seeds",
        "1",
    ];
    synth(
        &config,
        &model,
        &out,
        &[&board[..], &["--clock", "20"]].concat(),
    )
    .success();

    let bit = std::fs::read(out.join("bitstream.bin")).unwrap();
    // icepack's output carries the iCE40 synchronisation word.
    assert!(
        bit.len() > 50_000 && bit.windows(4).any(|w| w == [0x7e, 0xaa, 0x99, 0x7e]),
        "bitstream.bin: {} bytes",
        bit.len()
    );
    let r = report(&out);
    assert_eq!(r["bitstream"], "bitstream.bin");
    assert_eq!(r["bitstream_seed"], 1);
    assert_eq!(r["bitstream_bytes"].as_u64(), Some(bit.len() as u64));
    assert_eq!(r["top"], "deltagen_board");
    assert_eq!(r["top_kind"], "board");
    assert_eq!(r["model_origin"], "package");
    let b = &r["board"];
    assert_eq!(b["name"], "icebreaker");
    assert!(b["pll"].as_str().unwrap().contains("SB_PLL40_PAD"), "{b}");
    assert_eq!(b["constraints"], "generate/rtl/icebreaker.pcf");
    assert!(out.join("generate/rtl/icebreaker.pcf").exists());
    assert_eq!(r["clock_mhz_requested"].as_f64(), Some(20.0));
    assert_eq!(r["clock_mhz"].as_f64(), Some(19.875));
    assert_eq!(b["clock_mhz"].as_f64(), Some(19.875));
    assert_eq!(r["meets_timing"], true);
    assert!(r["fmax_mhz"]["max"].as_f64().unwrap() >= 19.875);

    // Core blocks and board parts add up to the placed netlist; the bridge holds the receive
    // FIFO's block RAM, the PEs their DSPs.
    let blocks = r["per_module"].as_object().unwrap();
    assert!(blocks.contains_key("pes.0") && blocks.contains_key("compactor"));
    let parts = r["wrapper_per_module"].as_object().unwrap();
    for p in ["bridge", "rx", "tx", "clock_gen", "board top"] {
        assert!(
            parts.contains_key(p),
            "wrapper_per_module lacks {p}: {parts:?}"
        );
    }
    add_up(&r, parts, "wrapper", "board top");
    assert_eq!(res(&parts["bridge"], "brams"), 1);
    assert_eq!(res(&r["wrapper"], "dsps"), 0);
    assert_eq!(res(&r["core"], "dsps"), 2);
    assert!(res(&parts["rx"], "ffs") > 0 && res(&parts["tx"], "ffs") > 0);
    let md = std::fs::read_to_string(out.join("synth.md")).unwrap();
    assert!(md.contains("| bitstream | `bitstream.bin`") && md.contains("board part: bridge"));

    // 100 MHz: timing fails, the reports stay, the earlier bitstream goes. (The limit keeps a
    // router that does not converge from hanging the suite; it finishes in about a minute.)
    let a = synth(
        &config,
        &model,
        &out,
        &[
            &board[..],
            &["--clock", "100", "--force", "--seed-timeout", "10"],
        ]
        .concat(),
    )
    .failure();
    let e = stderr(&a);
    assert!(
        e.contains("timing not met on icebreaker") && e.contains("no bitstream written"),
        "{e}"
    );
    assert!(!out.join("bitstream.bin").exists());
    let r = report(&out);
    assert_eq!(r["bitstream"], Value::Null);
    assert_eq!(r["meets_timing"], false);
    assert_eq!(r["seeds_meeting_timing"], 0);
    assert!(r["board"]["note"]
        .as_str()
        .unwrap()
        .contains("no seed meets"));

    // A seed over its wall-clock limit is stopped and named, with its log.
    let a = synth(
        &config,
        &model,
        &out,
        &[
            &board[..],
            &["--clock", "20", "--force", "--seed-timeout", "0.002"],
        ]
        .concat(),
    )
    .failure();
    let e = stderr(&a);
    assert!(
        e.contains("nextpnr-ice40 seed 1 did not finish within 0.1 s (--seed-timeout)")
            && e.contains("nextpnr_seed1.log"),
        "{e}"
    );
    assert!(!out.join("bitstream.bin").exists());
    let a = synth(
        &config,
        &model,
        &out,
        &["--target", "ice40-up5k", "--seed-timeout", "0"],
    )
    .failure();
    assert!(
        stderr(&a).contains("positive number of minutes"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn target_and_board_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    random_model(&model);
    let config = dir.path().join("slow.toml");
    std::fs::write(&config, SLOW_TINY).unwrap();
    let out = dir.path().join("s");

    let a = synth(&config, &model, &out, &[]).failure();
    assert!(stderr(&a).contains("--target"), "{}", stderr(&a));

    let a = synth(&config, &model, &out, &["--target", "ice40-lp1k"]).failure();
    let e = stderr(&a);
    assert!(
        e.contains("unknown target `ice40-lp1k`") && e.contains("ecp5-25k"),
        "{e}"
    );

    // (arguments, what the error must say). The iCE40 PLL makes 16..=275 MHz: the 12 MHz
    // config is refused with --board icebreaker before anything is written. --baud belongs to
    // --board; --layers to the random model made without --model.
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--target", "ice40-up5k", "--board", "nexys"],
            &["unknown board `nexys`"],
        ),
        (
            &["--target", "ice40-up5k", "--board", "ulx3s"],
            &["--target ecp5-85k"],
        ),
        (
            &["--target", "ecp5-85k", "--board", "icebreaker"],
            &["carries a ice40-up5k", "--target ice40-up5k"],
        ),
        (
            &["--target", "ice40-up5k", "--board", "icebreaker"],
            &["16..=275 MHz"],
        ),
        (&["--target", "ice40-up5k", "--baud", "9600"], &["--board"]),
        (
            &["--target", "ice40-up5k", "--layers", "4,3"],
            &["--layers"],
        ),
    ];
    for (args, needles) in cases {
        let a = synth(&config, &model, &out, args).failure();
        let e = stderr(&a);
        for n in *needles {
            assert!(e.contains(n), "{args:?}: {e}");
        }
    }

    // Without --model and --layers synth takes the first default random model the config
    // holds (64-32-32-4 here, as the acceptance run of ice40-up5k-8pe does); a config that holds
    // none of them (8 inputs at most) is refused with what to pass.
    let narrow = dir.path().join("narrow.toml");
    std::fs::write(&narrow, SLOW_TINY.replace("max_in = 64", "max_in = 8")).unwrap();
    let a = deltagen()
        .args(["--quiet", "synth", "--config"])
        .arg(&narrow)
        .args(["--target", "ice40-up5k", "--out"])
        .arg(&out)
        .assert()
        .failure();
    let e = stderr(&a);
    assert!(
        e.contains("holds none of the default random models")
            && e.contains("96-64-32-4, 64-32-32-4, 16-8-3")
            && e.contains("--layers"),
        "{e}"
    );

    let a = synth(
        &config,
        &model,
        &out,
        &["--target", "ice40-up5k", "--seeds", "0"],
    )
    .failure();
    assert!(stderr(&a).contains("--seeds 0"), "{}", stderr(&a));

    // Nothing was written by the refused runs.
    assert!(!out.exists(), "{} was created", out.display());
}
