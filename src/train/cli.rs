//! `deltagen train`: train, export the integer model package, run the golden model, report.

use super::export::{self, IntEval};
use super::{train, Method, QSeqs, TrainConfig, Trained};
use crate::data::{self, DataOptions, Dataset};
use crate::format;
use crate::model::Model;
use anyhow::{bail, Context, Result};
use clap::Args;
use ndarray::Array2;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// basicmotions, japanesevowels, gunpoint, moving-digits, or a path to a *_TRAIN.ts file
    /// (its *_TEST.ts beside it).
    #[arg(long)]
    pub dataset: String,
    /// baseline, delta-fxp, delta-lsq, star, wta, or a '+'-joined combination (delta-lsq+star).
    #[arg(long, default_value = "delta-lsq")]
    pub method: String,
    /// Train every method and write compare.md and compare.png (one package per method).
    #[arg(long)]
    pub compare: bool,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Directory with uea/ and digits/ as written by tools/fetch-data.sh.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Window length W (samples per frame) for time series.
    #[arg(long)]
    pub window: Option<usize>,
    /// Hidden layer widths, e.g. 64,64.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// λ of the delta-map L1 penalty.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// DASNet cumulative-energy threshold γ.
    #[arg(long)]
    pub wta_gamma: Option<f64>,
    /// STAR activation threshold τ (integer steps).
    #[arg(long)]
    pub star_tau: Option<u32>,
    /// θ search: largest training-set accuracy drop allowed (points).
    #[arg(long)]
    pub theta_bound: Option<f64>,
    /// θ search: largest share (%) of training frames whose own argmax class may change.
    #[arg(long)]
    pub theta_frame_bound: Option<f64>,
    /// Delta methods: input delta density the trained input threshold θ₀ aims at.
    #[arg(long)]
    pub input_density_target: Option<f64>,
    /// Epochs of float training before quantization is switched on, as a fraction.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Keep θ = 0 on every layer (no search).
    #[arg(long)]
    pub no_theta_search: bool,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Everything one training run reports (the body of train.json).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub dataset: String,
    pub method: String,
    pub seed: u64,
    pub epochs: usize,
    pub seconds: f64,
    pub train_seconds: f64,
    pub float_unquantized_accuracy: f64,
    pub float_accuracy: f64,
    pub int_accuracy_before_search: f64,
    pub int_accuracy: f64,
    pub train_int_accuracy_before_search: f64,
    pub train_int_accuracy: f64,
    pub delta_density_before_search: f64,
    pub delta_density: f64,
    pub delta_density_per_layer: Vec<f64>,
    pub mac_weighted_density: f64,
    pub activation_density: f64,
    pub input_theta_trained: i32,
    pub theta: Vec<i32>,
    pub tau: Vec<i32>,
    pub wta_k: Vec<Option<usize>>,
    pub act_steps: Vec<f32>,
    pub input_scale: f64,
    pub window: Option<usize>,
    pub test_sequences: usize,
    pub test_frames: u64,
}

fn config_for(a: &TrainArgs, method: Method, ds: &Dataset) -> TrainConfig {
    let mut c = TrainConfig::new(method);
    c.seed = a.seed;
    if let Some(e) = a.epochs {
        c.epochs = e;
    }
    // The video-like set needs wider layers: a drifting digit activates many pixels.
    if ds.window.is_none() && a.hidden.is_none() {
        c.hidden = vec![128, 64];
    }
    if let Some(h) = &a.hidden {
        c.hidden = h.clone();
    }
    if let Some(l) = a.lambda {
        c.lambda = l;
    }
    if let Some(g) = a.wta_gamma {
        c.wta_gamma = g;
    }
    if let Some(t) = a.star_tau {
        c.star_tau = t;
    }
    if let Some(t) = a.input_density_target {
        c.input_density_target = t;
    }
    if let Some(b) = a.theta_frame_bound {
        c.theta_frame_bound = b;
    }
    if let Some(w) = a.warmup {
        c.warmup_frac = w;
    }
    if let Some(b) = a.theta_bound {
        c.theta_bound = b;
    }
    c
}

pub fn run(a: &TrainArgs, quiet: bool) -> Result<()> {
    let opts = DataOptions {
        data_dir: a.data_dir.clone(),
        window: a.window,
    };
    let ds = data::load_dataset(&a.dataset, &opts)
        .with_context(|| format!("loading dataset {}", a.dataset))?;
    if !quiet {
        eprintln!(
            "{}: {} classes, {} inputs per frame, train {} sequences / {} frames, test {} / {}",
            ds.name,
            ds.n_classes(),
            ds.in_dim,
            ds.train.seqs.len(),
            ds.train.frames(),
            ds.test.seqs.len(),
            ds.test.frames()
        );
    }
    if ds.test.seqs.is_empty() {
        bail!("{}: the test set holds no sequence", ds.name);
    }
    if a.compare {
        let md = a.out.join("compare.md");
        let png = a.out.join("compare.png");
        format::check_writable(&md, a.force)?;
        format::check_writable(&png, a.force)?;
        // Refuse before hours of training, not at the last method.
        for m in Method::ALL {
            for f in OUTPUTS {
                format::check_writable(&a.out.join(m).join(f), a.force)?;
            }
        }
        let mut rows = vec![];
        for m in Method::ALL {
            let method = Method::parse(m)?;
            let cfg = config_for(a, method, &ds);
            let s = run_one(&ds, &cfg, a, &a.out.join(m), quiet)?;
            rows.push(s);
        }
        format::write_text(&md, &compare_markdown(&ds, &rows), a.force)?;
        let mut pts: Vec<(String, f64, f64)> = rows
            .iter()
            .filter(|r| r.method == "baseline")
            .map(|r| {
                (
                    "baseline theta=0".to_string(),
                    r.delta_density_before_search,
                    r.int_accuracy_before_search,
                )
            })
            .collect();
        pts.extend(
            rows.iter()
                .map(|r| (r.method.clone(), r.delta_density, r.int_accuracy)),
        );
        let img = super::plot::scatter(
            &format!("{}: integer accuracy vs pooled delta density", ds.name),
            "delta density (nonzero deltas / elements, t>0)",
            "accuracy %",
            &pts,
        );
        super::plot::write_png(&png, &img).with_context(|| format!("writing {}", png.display()))?;
        println!("wrote {} and {}", md.display(), png.display());
        return Ok(());
    }
    let method = Method::parse(&a.method)?;
    let cfg = config_for(a, method, &ds);
    run_one(&ds, &cfg, a, &a.out, quiet)?;
    Ok(())
}

fn train_subset(tr: &QSeqs, max_frames: usize) -> (Vec<Array2<i8>>, Vec<usize>) {
    // Evenly spaced sequences so every class stays represented.
    let total: usize = tr.int.iter().map(|s| s.nrows()).sum();
    let step = total.div_ceil(max_frames).max(1);
    let mut s = vec![];
    let mut l = vec![];
    for i in (0..tr.int.len()).step_by(step) {
        s.push(tr.int[i].clone());
        l.push(tr.labels[i]);
    }
    (s, l)
}

/// Files one training run writes.
const OUTPUTS: [&str; 5] = [
    "model.json",
    "model.npz",
    "inputs.npz",
    "traces.npz",
    "train.json",
];

/// Train one method and write its package, inputs, traces and train.json under `out`.
pub fn run_one(
    ds: &Dataset,
    cfg: &TrainConfig,
    a: &TrainArgs,
    out: &Path,
    quiet: bool,
) -> Result<Summary> {
    let files = OUTPUTS.map(|f| out.join(f));
    for f in &files {
        format::check_writable(f, a.force)?;
    }
    let t0 = Instant::now();
    let trained: Trained = train(ds, cfg, !quiet)
        .with_context(|| format!("training {} on {}", cfg.method.name, ds.name))?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let te = QSeqs::new(&ds.test, &trained.input);
    let tr = QSeqs::new(&ds.train, &trained.input);
    let provenance = json!({
        "tool": "deltagen train",
        "version": crate::version(),
        "dataset": ds.name,
        "method": cfg.method,
        "seed": cfg.seed,
        "window": ds.window,
        "config": cfg,
        "decision_rule": "argmax over classes of the sum of the frames' int32 logits, ties to the lower class",
    });
    let nl = trained.net.n_layers();
    // Before the search: the input θ training used, θ = 0 elsewhere.
    let mut floor = vec![0; nl];
    floor[0] = trained.input_theta;
    let mut model: Model = export::to_model(&trained, &ds.class_names, &floor, provenance)?;
    let eval0: IntEval = export::evaluate(&model, &te.int, &te.labels)?;
    let (sub_s, sub_l) = train_subset(&tr, 6000);
    let (thetas, train_acc0, train_acc) = if a.no_theta_search {
        for (l, th) in model.layers.iter_mut().zip(&floor) {
            l.theta = *th;
        }
        let acc = export::evaluate(&model, &sub_s, &sub_l)?.accuracy;
        (floor.clone(), acc, acc)
    } else {
        let r = export::search_theta(
            &mut model,
            &sub_s,
            &sub_l,
            &floor,
            cfg.theta_bound,
            cfg.theta_frame_bound,
        )?;
        (r.theta, r.reference.0, r.chosen.0)
    };
    for (l, th) in model.layers.iter_mut().zip(&thetas) {
        l.theta = *th;
    }
    let eval = export::evaluate(&model, &te.int, &te.labels)?;
    let inputs = export::padded_inputs(&te.int, &te.labels);
    let traces = export::traces(&model, &inputs)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    model.save(out, a.force)?;
    // `lengths` records each sequence's real length (variable-length datasets are padded).
    inputs.save(&files[2], a.force)?;
    traces.save(&files[3], a.force)?;
    let s = Summary {
        dataset: ds.name.clone(),
        method: cfg.method.name.clone(),
        seed: cfg.seed,
        epochs: trained.epochs,
        seconds: t0.elapsed().as_secs_f64(),
        train_seconds,
        float_unquantized_accuracy: trained.float_unquantized_accuracy,
        float_accuracy: trained.float_accuracy,
        int_accuracy_before_search: eval0.accuracy,
        int_accuracy: eval.accuracy,
        train_int_accuracy_before_search: train_acc0,
        train_int_accuracy: train_acc,
        delta_density_before_search: eval0.sparsity.delta_density,
        delta_density: eval.sparsity.delta_density,
        delta_density_per_layer: eval.sparsity.delta_density_per_layer.clone(),
        mac_weighted_density: eval.sparsity.mac_weighted_density,
        activation_density: eval.sparsity.activation_density,
        input_theta_trained: trained.input_theta,
        theta: thetas,
        tau: model.layers.iter().map(|l| l.tau).collect(),
        wta_k: model.layers.iter().map(|l| l.wta_k).collect(),
        act_steps: trained.act_steps.clone(),
        input_scale: model.input_scale,
        window: ds.window,
        test_sequences: te.int.len(),
        test_frames: eval.sparsity.frames,
    };
    let mut j = serde_json::to_value(&s)?;
    j["config"] = serde_json::to_value(cfg)?;
    j["loss_history"] = json!(trained.loss_history);
    j["decision_rule"] = json!(
        "argmax over classes of the sum of the frames' logits (ties to the lower class index)"
    );
    j["statistics_note"] = json!("densities and accuracies over each test sequence's real frames; inputs.npz pads variable-length sequences to the longest by repeating the last frame (see `lengths`)");
    format::write_text(
        &files[4],
        &(serde_json::to_string_pretty(&j)? + "\n"),
        a.force,
    )?;
    if (s.int_accuracy_before_search - s.float_accuracy).abs() > 0.5 + 1e-9 && !quiet {
        eprintln!(
            "warning: integer accuracy before the θ search ({:.2}%) differs from the fake-quantized float accuracy ({:.2}%) by more than 0.5 points",
            s.int_accuracy_before_search, s.float_accuracy
        );
    }
    println!(
        "{} {}: float {:.2}% (fake-quant {:.2}%), int {:.2}% (before θ search: {:.2}%), delta density {:.4} (before θ search: {:.4}), MAC-weighted {:.4}, activation density {:.4}, θ {:?}, {:.1}s -> {}",
        s.dataset,
        s.method,
        s.float_unquantized_accuracy,
        s.float_accuracy,
        s.int_accuracy,
        s.int_accuracy_before_search,
        s.delta_density,
        s.delta_density_before_search,
        s.mac_weighted_density,
        s.activation_density,
        s.theta,
        s.seconds,
        out.display()
    );
    Ok(s)
}

/// The command as typed (program name shortened to `deltagen`), for the record in compare.md.
fn command_line() -> String {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    args.insert(0, "deltagen".into());
    args.join(" ")
}

fn compare_markdown(ds: &Dataset, rows: &[Summary]) -> String {
    let base = rows.iter().find(|r| r.method == "baseline");
    let mut md = format!(
        "# {}: baseline vs temporal delta layer (fixed point, LSQ), STAR, WTA\n\n\
         Command (after `tools/fetch-data.sh`): `{}`\n\n\
         Test set: {} sequences, {} frames (window W = {}). Accuracy is per sequence (argmax of the summed frame logits), \
         from the integer golden model with the searched θ; \"fake-quant\" is the float network with the same quantization at θ = 0. \
         Delta density = nonzero deltas / elements over all layer inputs, t = 0 excluded (pooled); reduction is baseline density / method density.\n\n",
        ds.name,
        command_line(),
        rows.first().map_or(0, |r| r.test_sequences),
        rows.first().map_or(0, |r| r.test_frames),
        ds.window.map_or("-".to_string(), |w| w.to_string()),
    );
    md += "| method | float acc % | fake-quant acc % | int acc % before θ search | delta density before θ search | int acc % | Δ acc vs baseline (θ=0) | delta density | reduction vs baseline (θ=0) | reduction vs baseline (searched θ) | MAC-weighted density | activation density | θ per layer | seconds |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in rows {
        let (dacc, red0, red) = match base {
            Some(b) => (
                format!("{:+.2}", r.int_accuracy - b.int_accuracy_before_search),
                format!(
                    "{:.2}x",
                    b.delta_density_before_search / r.delta_density.max(1e-12)
                ),
                format!("{:.2}x", b.delta_density / r.delta_density.max(1e-12)),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        md += &format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.4} | {:.2} | {} | {:.4} | {} | {} | {:.4} | {:.4} | {:?} | {:.1} |\n",
            r.method,
            r.float_unquantized_accuracy,
            r.float_accuracy,
            r.int_accuracy_before_search,
            r.delta_density_before_search,
            r.int_accuracy,
            dacc,
            r.delta_density,
            red0,
            red,
            r.mac_weighted_density,
            r.activation_density,
            r.theta,
            r.seconds
        );
    }
    md += "\nPer-layer delta density:\n\n| method | per layer |\n|---|---|\n";
    for r in rows {
        md += &format!(
            "| {} | {} |\n",
            r.method,
            r.delta_density_per_layer
                .iter()
                .map(|d| format!("{d:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    md
}
