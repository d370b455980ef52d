//! The steps: fetch-data, train, export, golden, generate, sim, synth and report.
//!
//! Each reuses the library code of the matching command (`deltagen train`, `golden`,
//! `generate`, `sim`, `synth`) instead of spawning `deltagen`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{s, Axis};
use serde_json::{json, Map, Value};

use super::{Ctx, Outcome, Step};
use crate::io::{Inputs, Traces};
use crate::model::Model;

fn figures(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn num(m: &Map<String, Value>, k: &str) -> f64 {
    m.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// A spinner for a step without its own progress bar (hidden with --quiet).
fn spinner(ctx: &Ctx, msg: &str) -> ProgressBar {
    if ctx.quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// The files a dataset needs under the data root (named sets) or beside its path.
pub fn dataset_files(spec: &str, data_dir: &Path) -> Result<Vec<PathBuf>> {
    let uea = |n: &str| {
        let d = data_dir.join("uea").join(n);
        vec![
            d.join(format!("{n}_TRAIN.ts")),
            d.join(format!("{n}_TEST.ts")),
        ]
    };
    Ok(match spec {
        "basicmotions" => uea("BasicMotions"),
        "japanesevowels" => uea("JapaneseVowels"),
        "gunpoint" => uea("GunPoint"),
        "moving-digits" => vec![data_dir.join("digits").join("digits.csv.gz")],
        path => {
            let train = PathBuf::from(path);
            let test = path
                .strip_suffix("_TRAIN.ts")
                .map(|stem| PathBuf::from(format!("{stem}_TEST.ts")))
                .ok_or_else(|| anyhow!("dataset {path}: not a *_TRAIN.ts path"))?;
            vec![train, test]
        }
    })
}

fn is_named(spec: &str) -> bool {
    super::preset::DATASETS.contains(&spec)
}

/// tools/fetch-data.sh of the source tree this binary was built from, or of the working
/// directory.
fn fetch_script() -> Option<PathBuf> {
    [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fetch-data.sh"),
        PathBuf::from("tools/fetch-data.sh"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Makes sure the dataset's files are in the data directory (running tools/fetch-data.sh for the
/// named sets when they are not) and records their hashes.
pub struct FetchData;

impl Step for FetchData {
    fn name(&self) -> &'static str {
        "fetch-data"
    }
    fn upstream(&self) -> Vec<&'static str> {
        vec![]
    }
    fn params(&self, ctx: &Ctx) -> Result<Value> {
        Ok(json!({
            "dataset": ctx.preset.dataset_spec,
            "data_dir": ctx.data_dir.display().to_string(),
        }))
    }
    fn run(&self, ctx: &Ctx, _dir: &Path) -> Result<Outcome> {
        let spec = &ctx.preset.dataset_spec;
        let files = dataset_files(spec, &ctx.data_dir)?;
        let missing = |f: &[PathBuf]| f.iter().find(|p| !p.is_file()).cloned();
        let mut fetched = false;
        let mut command = String::from("(dataset files given by path)");
        if is_named(spec) {
            command = format!("tools/fetch-data.sh {}", ctx.data_dir.display());
        }
        if let Some(m) = missing(&files) {
            if !is_named(spec) {
                bail!("dataset file {} not found", m.display());
            }
            let script = fetch_script().ok_or_else(|| {
                anyhow!(
                    "{} not found and tools/fetch-data.sh is not at hand; fetch the data with it (or pass --data-dir)",
                    m.display()
                )
            })?;
            println!(
                "fetch-data: {} missing; running {} {}",
                m.display(),
                script.display(),
                ctx.data_dir.display()
            );
            let status = std::process::Command::new("bash")
                .arg(&script)
                .arg(&ctx.data_dir)
                .status()
                .with_context(|| format!("running {}", script.display()))?;
            if !status.success() {
                bail!(
                    "{} {} failed ({status})",
                    script.display(),
                    ctx.data_dir.display()
                );
            }
            if let Some(m) = missing(&files) {
                bail!("{} still missing after {}", m.display(), script.display());
            }
            fetched = true;
        }
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum();
        Ok(Outcome {
            outputs: files.clone(),
            figures: figures(json!({
                "dataset": spec,
                "data_dir": ctx.data_dir.display().to_string(),
                "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                "bytes": bytes,
                "fetched": fetched,
                "command": command,
            })),
        })
    }
    fn summary(&self, f: &Map<String, Value>) -> String {
        format!(
            "{} files, {:.1} kB{}",
            f.get("files").and_then(Value::as_array).map_or(0, Vec::len),
            num(f, "bytes") / 1e3,
            if f.get("fetched") == Some(&json!(true)) {
                " (fetched)"
            } else {
                " (already there)"
            }
        )
    }
}

/// `deltagen train`: trains, exports the integer package and its test-set traces.
pub struct Train;

fn train_args(ctx: &Ctx, out: &Path) -> crate::train::cli::TrainArgs {
    let p = &ctx.preset;
    let t = &p.train;
    crate::train::cli::TrainArgs {
        dataset: p.dataset_spec.clone(),
        method: p.method.clone(),
        compare: false,
        epochs: t.epochs,
        seed: t.seed.unwrap_or(1),
        out: out.to_path_buf(),
        data_dir: ctx.data_dir.clone(),
        window: t.window,
        hidden: t.hidden.clone(),
        lambda: t.lambda,
        wta_gamma: t.wta_gamma,
        star_tau: t.star_tau,
        theta_bound: t.theta_bound,
        theta_frame_bound: t.theta_frame_bound,
        input_density_target: t.input_density_target,
        warmup: t.warmup,
        no_theta_search: t.theta_search == Some(false),
        force: true,
    }
}

/// The `deltagen train` command of `a`, writing into `out`.
fn train_command(a: &crate::train::cli::TrainArgs, out: &Path) -> String {
    let mut c = format!(
        "deltagen train --dataset {} --method {} --seed {}",
        a.dataset, a.method, a.seed
    );
    let mut opt = |flag: &str, v: Option<String>| {
        if let Some(v) = v {
            c += &format!(" --{flag} {v}");
        }
    };
    opt("epochs", a.epochs.map(|v| v.to_string()));
    opt(
        "hidden",
        a.hidden.as_ref().map(|h| {
            h.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }),
    );
    opt("window", a.window.map(|v| v.to_string()));
    opt("lambda", a.lambda.map(|v| v.to_string()));
    opt("wta-gamma", a.wta_gamma.map(|v| v.to_string()));
    opt("star-tau", a.star_tau.map(|v| v.to_string()));
    opt("theta-bound", a.theta_bound.map(|v| v.to_string()));
    opt(
        "theta-frame-bound",
        a.theta_frame_bound.map(|v| v.to_string()),
    );
    opt(
        "input-density-target",
        a.input_density_target.map(|v| v.to_string()),
    );
    opt("warmup", a.warmup.map(|v| v.to_string()));
    if a.no_theta_search {
        c += " --no-theta-search";
    }
    format!(
        "{c} --data-dir {} --out {} --force",
        a.data_dir.display(),
        out.display()
    )
}

/// train.json keys copied into the step record.
const TRAIN_FIGURES: &[&str] = &[
    "dataset",
    "method",
    "seed",
    "epochs",
    "window",
    "train_seconds",
    "float_unquantized_accuracy",
    "float_accuracy",
    "int_accuracy_before_search",
    "int_accuracy",
    "delta_density_before_search",
    "delta_density",
    "delta_density_per_layer",
    "mac_weighted_density",
    "activation_density",
    "theta",
    "tau",
    "wta_k",
    "test_sequences",
    "test_frames",
];

impl Step for Train {
    fn name(&self) -> &'static str {
        "train"
    }
    fn upstream(&self) -> Vec<&'static str> {
        vec!["fetch-data"]
    }
    fn params(&self, ctx: &Ctx) -> Result<Value> {
        let p = &ctx.preset;
        Ok(json!({
            "dataset": p.dataset_spec,
            "method": p.method,
            "train": p.train,
            "deltagen": crate::version(),
        }))
    }
    fn run(&self, ctx: &Ctx, dir: &Path) -> Result<Outcome> {
        let args = train_args(ctx, dir);
        crate::train::cli::run(&args, ctx.quiet)?;
        let tj = dir.join("train.json");
        let t: Value = serde_json::from_str(
            &std::fs::read_to_string(&tj).with_context(|| format!("reading {}", tj.display()))?,
        )
        .with_context(|| format!("parsing {}", tj.display()))?;
        let mut f = Map::new();
        for k in TRAIN_FIGURES {
            if let Some(v) = t.get(*k) {
                f.insert(k.to_string(), v.clone());
            }
        }
        f.insert("hidden".into(), t["config"]["hidden"].clone());
        f.insert(
            "command".into(),
            json!(train_command(&args, &ctx.reproduce_dir("train"))),
        );
        Ok(Outcome {
            outputs: [
                "model.json",
                "model.npz",
                "inputs.npz",
                "traces.npz",
                "train.json",
            ]
            .iter()
            .map(|n| dir.join(n))
            .collect(),
            figures: f,
        })
    }
    fn summary(&self, f: &Map<String, Value>) -> String {
        format!(
            "accuracy float {:.2}%, integer {:.2}%; delta density {:.4}",
            num(f, "float_unquantized_accuracy"),
            num(f, "int_accuracy"),
            num(f, "delta_density")
        )
    }
}

/// Checks the integer package against the accelerator and copies it with its stimulus.
///
/// `deltagen train` trains and exports in one process (export needs the float network, which is
/// not saved), so this step does not re-export: it validates the package `train` wrote (format,
/// fit to the accelerator config, inputs and traces against the model), copies it, and keeps
/// the preset's `export.sequences` evenly spaced test sequences as the hardware stimulus.
pub struct Export;

/// `n` evenly spaced indices out of `total` (all when n >= total).
pub fn spaced(total: usize, n: Option<usize>) -> Vec<usize> {
    match n {
        Some(n) if n < total => (0..n).map(|k| k * total / n).collect(),
        _ => (0..total).collect(),
    }
}

fn subset(inputs: &Inputs, traces: &Traces, idx: &[usize]) -> (Inputs, Traces) {
    let lengths = inputs.lengths.as_ref().map(|l| l.select(Axis(0), idx));
    // Trim the padding to the longest kept sequence.
    let t = lengths.as_ref().map_or(inputs.frames_per_sequence(), |l| {
        l.iter().copied().max().unwrap_or(1) as usize
    });
    let frames = inputs
        .frames
        .select(Axis(0), idx)
        .slice(s![.., ..t, ..])
        .to_owned();
    let new_inputs = Inputs {
        frames,
        labels: inputs.labels.as_ref().map(|l| l.select(Axis(0), idx)),
        lengths,
    };
    let new_traces = Traces {
        logits: traces
            .logits
            .select(Axis(0), idx)
            .slice(s![.., ..t, ..])
            .to_owned(),
        acts: traces
            .acts
            .iter()
            .map(|a| a.select(Axis(0), idx).slice(s![.., ..t, ..]).to_owned())
            .collect(),
        deltas: traces
            .deltas
            .iter()
            .map(|a| a.select(Axis(0), idx).slice(s![.., ..t, ..]).to_owned())
            .collect(),
    };
    (new_inputs, new_traces)
}

impl Step for Export {
    fn name(&self) -> &'static str {
        "export"
    }
    fn upstream(&self) -> Vec<&'static str> {
        vec!["train"]
    }
    fn params(&self, ctx: &Ctx) -> Result<Value> {
        Ok(json!({
            "config": ctx.preset.config,
            "export": ctx.preset.export,
            "deltagen": crate::version(),
        }))
    }
    fn run(&self, ctx: &Ctx, dir: &Path) -> Result<Outcome> {
        let src = ctx.dir("train");
        let cfg = &ctx.preset.config;
        let model = Model::load(&src)
            .with_context(|| format!("loading the model package {}", src.display()))?;
        cfg.validate_model(&model).with_context(|| {
            format!(
                "the model in {} does not fit accelerator config `{}` ({})",
                src.display(),
                cfg.name,
                ctx.preset.accelerator_spec
            )
        })?;
        crate::hw::layer_specs(&model).map_err(|e| anyhow!("{}/model.json: {e}", src.display()))?;
        let inputs = Inputs::load(&src.join("inputs.npz"), &model)?;
        let traces = Traces::load(
            &src.join("traces.npz"),
            &model,
            inputs.sequences(),
            inputs.frames_per_sequence(),
        )?;
        if traces.deltas.is_empty() {
            bail!(
                "{}: no `layer{{l}}.delta` arrays (the cycle model needs the delta maps)",
                src.join("traces.npz").display()
            );
        }
        let total = inputs.sequences();
        let idx = spaced(total, ctx.preset.export.sequences);
        for f in ["model.json", "model.npz"] {
            std::fs::copy(src.join(f), dir.join(f)).with_context(|| {
                format!("copying {} to {}", src.join(f).display(), dir.display())
            })?;
        }
        let inputs = if idx.len() == total {
            for f in ["inputs.npz", "traces.npz"] {
                std::fs::copy(src.join(f), dir.join(f)).with_context(|| {
                    format!("copying {} to {}", src.join(f).display(), dir.display())
                })?;
            }
            inputs
        } else {
            let (i, t) = subset(&inputs, &traces, &idx);
            i.save(&dir.join("inputs.npz"), true)?;
            t.save(&dir.join("traces.npz"), true)?;
            i
        };
        let dense_macs: usize = model.layers.iter().map(|l| l.inputs() * l.outputs()).sum();
        let mut widths = vec![model.input_size()];
        widths.extend(model.layers.iter().map(|l| l.outputs()));
        let bound = model.worst_case_accumulator();
        let f = json!({
            "classes": model.class_names,
            "layers": widths,
            "dense_macs_per_frame": dense_macs,
            "weight_words_per_bank": cfg.weight_depth_needed(&model),
            "weight_bank_depth": cfg.weight_bank_depth,
            "acc_bits_needed": crate::config::bits_for_signed(bound.value),
            "acc_bits": cfg.acc_bits,
            "theta": model.layers.iter().map(|l| l.theta).collect::<Vec<_>>(),
            "tau": model.layers.iter().map(|l| l.tau).collect::<Vec<_>>(),
            "sequences": inputs.sequences(),
            "sequences_total": total,
            "sequence_indices": idx,
            "frames": inputs.total_frames(),
            "config": cfg.name,
            "config_hash": cfg.hash(),
            "command": format!(
                "{} --from export --to export (copies model.json, model.npz, inputs.npz, traces.npz from {} after checking them; `deltagen inspect {}` prints the package)",
                ctx.flow_command,
                src.display(),
                dir.display()
            ),
        });
        Ok(Outcome {
            outputs: ["model.json", "model.npz", "inputs.npz", "traces.npz"]
                .iter()
                .map(|n| dir.join(n))
                .collect(),
            figures: figures(f),
        })
    }
    fn summary(&self, f: &Map<String, Value>) -> String {
        format!(
            "layers {}, {} dense MACs/frame, {} of {} weight words per PE bank, {} of {} test sequences ({} frames)",
            super::report::compact(f.get("layers").unwrap_or(&Value::Null)),
            num(f, "dense_macs_per_frame"),
            num(f, "weight_words_per_bank"),
            num(f, "weight_bank_depth"),
            num(f, "sequences"),
            num(f, "sequences_total"),
            num(f, "frames")
        )
    }
}

/// The golden model on the exported stimulus: bit-exact against the exported traces, integer
/// accuracy, sparsity statistics and the cycle model (with the per-frame schedule the report
/// plots).
pub struct Golden;

impl Step for Golden {
    fn name(&self) -> &'static str {
        "golden"
    }
    fn upstream(&self) -> Vec<&'static str> {
        vec!["export"]
    }
    fn params(&self, ctx: &Ctx) -> Result<Value> {
        Ok(json!({"config": ctx.preset.config, "deltagen": crate::version()}))
    }
    fn run(&self, ctx: &Ctx, dir: &Path) -> Result<Outcome> {
        let ex = ctx.dir("export");
        let inputs_path = ex.join("inputs.npz");
        let traces_path = ex.join("traces.npz");
        let g = crate::cli::golden_run(&ex, &inputs_path, &ctx.preset.accelerator_spec, ctx.quiet)?;
        let (mismatches, first) = g.compare_expected(&traces_path)?;
        if let Some(m) = first {
            bail!(
                "the golden model differs from {} in {mismatches} values; first: {m}",
                traces_path.display()
            );
        }
        let lengths = g.inputs.lengths_vec();
        let accuracy = g.inputs.labels.as_ref().map(|labels| {
            let ok = (0..g.inputs.sequences())
                .filter(|&si| {
                    let lg = g.traces.logits.slice(s![si, ..lengths[si], ..]).to_owned();
                    crate::data::decide(&lg) as i64 == labels[si]
                })
                .count();
            100.0 * ok as f64 / g.inputs.sequences().max(1) as f64
        });
        // Per-frame schedule of a typical sequence: the median by cycles per frame.
        let cfg = &g.config;
        let mut order: Vec<usize> = (0..lengths.len()).collect();
        let per_frame = |i: usize| g.cycles.per_sequence[i].total as f64 / lengths[i].max(1) as f64;
        order.sort_by(|&a, &b| per_frame(a).total_cmp(&per_frame(b)).then(a.cmp(&b)));
        let seq = order.get(order.len() / 2).copied().unwrap_or(0);
        let done = &g.cycles.per_sequence[seq].frame_done;
        let predicted = g.cycles.per_sequence[seq].frame_cycles();
        let chunks: Vec<u64> = g
            .model
            .layers
            .iter()
            .map(|l| cfg.chunks(l.outputs()))
            .collect();
        let ideal: Vec<u64> = (0..lengths[seq])
            .map(|t| {
                g.traces
                    .deltas
                    .iter()
                    .zip(&chunks)
                    .map(|(d, c)| {
                        d.slice(s![seq, t, ..]).iter().filter(|v| **v != 0).count() as u64 * c
                    })
                    .sum()
            })
            .collect();
        let dense_per_frame: u64 = g
            .model
            .layers
            .iter()
            .zip(&chunks)
            .map(|(l, c)| l.inputs() as u64 * c)
            .sum();
        let schedule = json!({
            "sequence": seq,
            "length": lengths[seq],
            "predicted_cycles": predicted,
            "ideal_cycles": ideal,
            "dense_cycles_per_frame": dense_per_frame,
            "frame_done": done,
            "note": "the sequence with the median cycles per frame; cycles per frame from the cycle model (cycles::frame_cycles, the first frame includes the sequence-start initialisation); ideal = sum over layers of nonzero deltas * ceil(out / P); dense = sum of in * ceil(out / P)",
        });
        let s = &g.sparsity;
        let c = &g.cycles;
        let frames = s.frames.max(1) as f64;
        let f = json!({
            "mismatches": mismatches,
            "int_accuracy": accuracy,
            "predicted_cycles_per_frame": c.predicted_cycles as f64 / frames,
            "dense_cycles_per_frame": dense_per_frame,
            "command": format!(
                "deltagen golden --model {ex} --inputs {i} --config {cfgspec} --expect {t} --out {out} --force",
                ex = ex.display(),
                i = inputs_path.display(),
                cfgspec = ctx.preset.accelerator_spec,
                t = traces_path.display(),
                out = ctx.reproduce_dir("golden").display()
            ),
        });
        let gj = dir.join("golden.json");
        let sj = dir.join("schedule.json");
        std::fs::write(&gj, serde_json::to_string_pretty(&f)? + "\n")
            .with_context(|| format!("writing {}", gj.display()))?;
        std::fs::write(&sj, serde_json::to_string_pretty(&schedule)? + "\n")
            .with_context(|| format!("writing {}", sj.display()))?;
        Ok(Outcome {
            outputs: vec![gj, sj],
            figures: {
                let mut all = g.figures();
                all.extend(figures(f));
                all
            },
        })
    }
    fn summary(&self, f: &Map<String, Value>) -> String {
        let acc = f
            .get("int_accuracy")
            .and_then(Value::as_f64)
            .map_or(String::new(), |a| format!("integer accuracy {a:.2}%, "));
        format!(
            "{} frames bit-exact ({} mismatches), {acc}delta density {:.4}, cycles predicted {} / dense {} (efficiency {:.3}, speedup {:.2}x)",
            num(f, "frames"),
            num(f, "mismatches"),
            num(f, "delta_density"),
            num(f, "predicted_cycles"),
            num(f, "dense_cycles"),
            num(f, "predicted_efficiency"),
            num(f, "predicted_speedup_vs_dense")
        )
    }
}

/// `deltagen generate`: the accelerator's Verilog and memory images for the exported model.
pub struct Generate;

impl Step for Generate {
    fn name(&self) -> &'static str {
        "generate"
    }
    fn upstream(&self) -> Vec<&'static str> {
        vec!["export"]
    }
    fn params(&self, ctx: &Ctx) -> Result<Value> {
        Ok(json!({"config": ctx.preset.config, "deltagen": crate::version()}))
    }
    fn run(&self, ctx: &Ctx, dir: &Path) -> Result<Outcome> {
        let ex = ctx.dir("export");
        let pb = spinner(
            ctx,
            "generate: building the Rust-HDL design and its Verilog",
        );
        let res = crate::generate::generate(&ctx.preset.accelerator_spec, &ex, dir, true);
        pb.finish_and_clear();
        let g = res?;
        let gj = dir.join("generate.json");
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(&gj).with_context(|| format!("reading {}", gj.display()))?,
        )
        .with_context(|| format!("parsing {}", gj.display()))?;
        let files: Vec<PathBuf> = report["files"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|f| dir.join(f))
                    .collect()
            })
            .unwrap_or_default();
        let top = dir.join(report["verilog"].as_str().unwrap_or("rtl/deltagen_top.v"));
        let lines = std::fs::read_to_string(&top)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        let mem_bits: u64 = [
            "weights",
            "accumulators",
            "biases",
            "references",
            "rle_buffer",
        ]
        .iter()
        .filter_map(|k| report["memories"][k]["bits"].as_u64())
        .sum();
        let mut outputs = files.clone();
        outputs.push(gj);
        let f = json!({
            "config": g.config.name,
            "pe_count": g.config.pe_count,
            "nz_lanes": g.config.nz_lanes,
            "multipliers_dsp": g.design.multipliers.0,
            "multipliers_lut": g.design.multipliers.1,
            "verilog": top.display().to_string(),
            "verilog_lines": lines,
            "files": files.len(),
            "memory_bits": mem_bits,
            "generate_seconds": g.seconds,
            "command": format!(
                "deltagen generate --config {} --model {} --out {} --force",
                ctx.preset.accelerator_spec,
                ex.display(),
                ctx.reproduce_dir("generate").display()
            ),
        });
        Ok(Outcome {
            outputs,
            figures: figures(f),
        })
    }
    fn summary(&self, f: &Map<String, Value>) -> String {
        format!(
            "{} PEs ({} multipliers on DSP, {} in LUTs), {} lines of Verilog, {} files",
            num(f, "pe_count"),
            num(f, "multipliers_dsp"),
            num(f, "multipliers_lut"),
            num(f, "verilog_lines"),
            num(f, "files")
        )
    }
}

/// Stall probability of the flow's RTL co-simulation: random back-pressure on both streams
/// proves no data is lost, and the accelerator cycles must still equal the cycle model.
pub const SIM_STALL_PROB: f64 = 0.3;
pub const SIM_SEED: u64 = 1;

/// `deltagen sim`: the exported test-set frames through the generated RTL in Verilator,
/// compared bit for bit with the golden model (which must reproduce the exported traces).
pub struct Sim;

impl Step for Sim {
    fn name(&self) -> &'static str {
        "sim"
    }
    fn upstream(&self) -> Vec<&'static str> {
        vec!["export", "generate"]
    }
    fn params(&self, ctx: &Ctx) -> Result<Value> {
        Ok(json!({
            "config": ctx.preset.config,
            "stall_prob": SIM_STALL_PROB,
            "seed": SIM_SEED,
            "deltagen": crate::version(),
            "verilator": deltagen_testbenches::verilator_version().unwrap_or_default(),
        }))
    }
    fn run(&self, ctx: &Ctx, dir: &Path) -> Result<Outcome> {
        let ex = ctx.dir("export");
        let cache = ctx.root.parent().map_or_else(
            || PathBuf::from("verilator-cache"),
            |p| p.join("verilator-cache"),
        );
        let opts = crate::sim::SimOptions {
            config: ctx.preset.accelerator_spec.clone(),
            model: ex.clone(),
            inputs: ex.join("inputs.npz"),
            out: dir.to_path_buf(),
            stall_prob: SIM_STALL_PROB,
            seed: SIM_SEED,
            vcd: None,
            expect: Some(ex.join("traces.npz")),
            cache_dir: Some(cache.clone()),
            force: true,
            quiet: ctx.quiet,
        };
        let r = crate::sim::run(&opts)?;
        if let Some(m) = &r.first_mismatch {
            bail!("the RTL differs from the golden model at {m}");
        }
        if r.rtl_cycles != r.predicted_cycles {
            bail!(
                "the RTL took {} cycles, the cycle model predicts {}",
                r.rtl_cycles,
                r.predicted_cycles
            );
        }
        let mut f = figures(serde_json::to_value(&r)?);
        f.insert(
            "command".into(),
            json!(format!(
                "deltagen sim --config {} --model {e} --inputs {e}/inputs.npz --expect {e}/traces.npz --stall-prob {SIM_STALL_PROB} --seed {SIM_SEED} --cache-dir {} --out {} --force",
                ctx.preset.accelerator_spec,
                cache.display(),
                ctx.reproduce_dir("sim").display(),
                e = ex.display(),
            )),
        );
        Ok(Outcome {
            outputs: vec![dir.join("sim.json"), dir.join("sim.md")],
            figures: f,
        })
    }
    fn summary(&self, f: &Map<String, Value>) -> String {
        format!(
            "{} frames through the RTL, {} mismatches, rtl_cycles {} = predicted, efficiency {:.3}, speedup {:.2}x, {:.0} sim cycles/s",
            num(f, "frames"),
            num(f, "mismatches"),
            num(f, "rtl_cycles"),
            num(f, "efficiency"),
            num(f, "speedup_vs_dense"),
            num(f, "sim_cycles_per_second")
        )
    }
}

/// Place-and-route seeds of the flow's synthesis (median, min and max Fmax are reported).
pub const SYNTH_SEEDS: u32 = 3;

/// `deltagen synth`: Yosys and nextpnr for the preset's target; resources and Fmax.
pub struct Synth;

impl Step for Synth {
    fn name(&self) -> &'static str {
        "synth"
    }
    fn upstream(&self) -> Vec<&'static str> {
        vec!["export", "generate"]
    }
    fn params(&self, ctx: &Ctx) -> Result<Value> {
        Ok(json!({
            "config": ctx.preset.config,
            "target": ctx.preset.target,
            "seeds": SYNTH_SEEDS,
            "deltagen": crate::version(),
        }))
    }
    fn run(&self, ctx: &Ctx, dir: &Path) -> Result<Outcome> {
        let ex = ctx.dir("export");
        let opts = crate::synth::SynthOptions {
            seeds: SYNTH_SEEDS,
            force: true,
            quiet: ctx.quiet,
            ..crate::synth::SynthOptions::new(
                &ctx.preset.accelerator_spec,
                Some(ex.clone()),
                &ctx.preset.target,
                dir.to_path_buf(),
            )
        };
        // A design too big for the device is a result, not a broken flow: synth writes its
        // reports (resources, what exceeds the device) before it refuses to place and route, and
        // the flow report shows them.
        let r: Value = match crate::synth::synth(&opts) {
            Ok(r) => serde_json::to_value(&r)?,
            Err(e) => {
                let j = dir.join("synth.json");
                let v: Option<Value> = std::fs::read_to_string(&j)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                match v {
                    Some(v) if v["fits"] == json!(false) => v,
                    _ => return Err(e),
                }
            }
        };
        let f = json!({
            "target": r["target"],
            "device": r["device"],
            "luts": r["luts"],
            "ffs": r["ffs"],
            "brams": r["brams"],
            "dsps": r["dsps"],
            "fits": r["fits"],
            "over_capacity": r["over_capacity"],
            "fmax_mhz": r["fmax_mhz"],
            "clock_mhz_requested": r["clock_mhz_requested"],
            "meets_timing": r["meets_timing"],
            "command": format!(
                "deltagen synth --config {} --model {} --target {} --seeds {SYNTH_SEEDS} --out {} --force",
                ctx.preset.accelerator_spec,
                ex.display(),
                ctx.preset.target,
                ctx.reproduce_dir("synth").display()
            ),
        });
        Ok(Outcome {
            outputs: vec![dir.join("synth.json"), dir.join("synth.md")],
            figures: figures(f),
        })
    }
    fn summary(&self, f: &Map<String, Value>) -> String {
        let fmax = f
            .get("fmax_mhz")
            .and_then(|v| v.get("median"))
            .and_then(Value::as_f64)
            .map_or("no Fmax (no place and route)".to_string(), |m| {
                format!("Fmax median {m:.1} MHz")
            });
        let fit = match f.get("over_capacity").and_then(Value::as_array) {
            Some(over) if !over.is_empty() => format!(
                "DOES NOT FIT ({}), ",
                over.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        format!(
            "{} on {}: {fit}{} LCs, {} FFs, {} BRAMs, {} DSPs, {fmax} (requested {} MHz)",
            f.get("target").and_then(Value::as_str).unwrap_or("?"),
            f.get("device").and_then(Value::as_str).unwrap_or("?"),
            num(f, "luts"),
            num(f, "ffs"),
            num(f, "brams"),
            num(f, "dsps"),
            num(f, "clock_mhz_requested")
        )
    }
}

/// `report.md` and the self-contained `report.html` from every step's record.
pub struct Report;

impl Step for Report {
    fn name(&self) -> &'static str {
        "report"
    }
    fn upstream(&self) -> Vec<&'static str> {
        super::STEP_NAMES
            .iter()
            .copied()
            .filter(|s| *s != "report")
            .collect()
    }
    fn upstream_optional(&self) -> bool {
        true
    }
    fn params(&self, ctx: &Ctx) -> Result<Value> {
        // Staleness of the other steps is part of what the report says (its own is not).
        let fresh: std::collections::BTreeMap<&String, &Option<bool>> =
            ctx.fresh.iter().filter(|(k, _)| *k != "report").collect();
        Ok(json!({
            "preset": ctx.preset,
            "fresh": fresh,
            "deltagen": crate::version(),
        }))
    }
    fn run(&self, ctx: &Ctx, dir: &Path) -> Result<Outcome> {
        let pb = spinner(ctx, "report: charts and pages");
        let res = super::report::write(ctx, dir);
        pb.finish_and_clear();
        let outputs = res?;
        let f = json!({
            "markdown": ctx.root.join("report.md").display().to_string(),
            "html": ctx.root.join("report.html").display().to_string(),
            "command": format!("{} --from report", ctx.flow_command),
        });
        Ok(Outcome {
            outputs,
            figures: figures(f),
        })
    }
    fn summary(&self, f: &Map<String, Value>) -> String {
        format!(
            "{} and {}",
            f.get("markdown").and_then(Value::as_str).unwrap_or("?"),
            f.get("html").and_then(Value::as_str).unwrap_or("?")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_indices() {
        assert_eq!(spaced(10, Some(4)), vec![0, 2, 5, 7]);
        assert_eq!(spaced(3, Some(8)), vec![0, 1, 2]);
        assert_eq!(spaced(3, None), vec![0, 1, 2]);
    }

    #[test]
    fn dataset_file_names() {
        let d = Path::new("data");
        assert_eq!(
            dataset_files("basicmotions", d).unwrap()[1],
            Path::new("data/uea/BasicMotions/BasicMotions_TEST.ts")
        );
        assert_eq!(
            dataset_files("/x/Syn_TRAIN.ts", d).unwrap(),
            vec![
                PathBuf::from("/x/Syn_TRAIN.ts"),
                PathBuf::from("/x/Syn_TEST.ts")
            ]
        );
        assert!(dataset_files("/x/Syn.ts", d).is_err());
    }
}
