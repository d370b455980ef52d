//! The flow report: `report.md` and a self-contained `report.html` (charts embedded as base64
//! PNG data URIs), built from the steps' records, `golden/schedule.json`, and `sim/sim.json` and
//! `synth/synth.json` when those steps have run. Figures a step that has not run would give
//! are absent, and the report says which steps have not run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use plotters::style::RGBColor;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{available_steps, charts, Ctx, State, STEP_NAMES};

/// `sim/sim.json` as `deltagen sim` writes it (keys the report reads; others are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SimJson {
    pub frames: Option<u64>,
    pub mismatches: Option<u64>,
    pub rtl_cycles: Option<u64>,
    pub predicted_cycles: Option<u64>,
    pub ideal_cycles: Option<u64>,
    pub dense_cycles: Option<u64>,
    pub efficiency: Option<f64>,
    pub speedup_vs_dense: Option<f64>,
    pub delta_density: Option<f64>,
    pub sim_cycles_per_second: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Fmax {
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// `synth/synth.json` as `deltagen synth` writes it (keys the report reads).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SynthJson {
    pub target: Option<String>,
    pub device: Option<String>,
    pub luts: Option<u64>,
    pub ffs: Option<u64>,
    pub brams: Option<u64>,
    pub dsps: Option<u64>,
    pub fmax_mhz: Option<Fmax>,
    pub clock_mhz_requested: Option<f64>,
    pub meets_timing: Option<bool>,
    pub fits: Option<bool>,
    #[serde(default)]
    pub over_capacity: Vec<String>,
    #[serde(default)]
    pub per_module: Value,
    #[serde(default)]
    pub tool_versions: Value,
}

/// Logic cells, flip-flops, block RAMs and DSP/multiplier blocks of a target's device, from the
/// vendors' data sheets (iCE40 UltraPlus, iCE40 LP/HX, ECP5 families).
pub struct Capacity {
    pub device: &'static str,
    pub luts: u64,
    pub ffs: u64,
    pub brams: u64,
    pub dsps: u64,
}

pub fn capacity(target: &str) -> Option<Capacity> {
    let c = |device, luts, brams, dsps| Capacity {
        device,
        luts,
        ffs: luts,
        brams,
        dsps,
    };
    match target {
        "ice40-up5k" => Some(c("iCE40UP5K", 5280, 30, 8)),
        "ice40-hx8k" => Some(c("iCE40HX8K", 7680, 32, 0)),
        "ecp5-25k" => Some(c("LFE5U-25F", 24_288, 56, 28)),
        "ecp5-85k" => Some(c("LFE5U-85F", 83_640, 208, 156)),
        // Xilinx 7-series: a resource estimate without a device.
        _ => None,
    }
}

/// Per-frame cycles of one sequence, as the golden step writes them (`schedule.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Schedule {
    pub sequence: usize,
    pub length: usize,
    pub predicted_cycles: Vec<u64>,
    pub ideal_cycles: Vec<u64>,
    pub dense_cycles_per_frame: u64,
}

/// One row of the step table.
#[derive(Debug, Clone)]
pub struct StepLine {
    pub name: String,
    pub status: String,
    pub finished: String,
    pub seconds: Option<f64>,
    pub summary: String,
    pub command: String,
}

/// Everything the report shows, gathered from disk (or built by hand in tests).
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    pub name: String,
    pub source: String,
    pub dataset: String,
    pub method: String,
    pub accelerator: String,
    pub pe_count: u32,
    pub nz_lanes: u32,
    pub clock_mhz: f64,
    pub config_hash: String,
    pub target: String,
    pub flow_command: String,
    pub written_utc: String,
    pub machine: String,
    pub steps: Vec<StepLine>,
    pub train: Option<Map<String, Value>>,
    pub export: Option<Map<String, Value>>,
    pub golden: Option<Map<String, Value>>,
    pub generate: Option<Map<String, Value>>,
    pub schedule: Option<Schedule>,
    pub sim: Option<SimJson>,
    pub synth: Option<SynthJson>,
}

/// A JSON value in a table cell: numbers to 4 decimals at most, arrays inline.
pub fn compact(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => fmt_f(f, 4),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(compact).collect::<Vec<_>>().join(", ")),
        Value::Bool(b) => b.to_string(),
        Value::Object(_) => v.to_string(),
    }
}

/// Fixed decimals with trailing zeros dropped (12.5000 → 12.5).
pub fn fmt_f(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn get_f(m: &Option<Map<String, Value>>, k: &str) -> Option<f64> {
    m.as_ref()?.get(k)?.as_f64()
}

fn get_u(m: &Option<Map<String, Value>>, k: &str) -> Option<u64> {
    m.as_ref()?.get(k)?.as_u64()
}

fn get_v<'a>(m: &'a Option<Map<String, Value>>, k: &str) -> Option<&'a Value> {
    m.as_ref()?.get(k).filter(|v| !v.is_null())
}

fn opt_f(v: Option<f64>, d: usize) -> String {
    v.map_or("-".into(), |v| fmt_f(v, d))
}

fn opt_u(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// A piece of the report, rendered both as Markdown and HTML. Inline text may hold `code`.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Title(String),
    Heading(String),
    Para(String),
    Table(Vec<String>, Vec<Vec<String>>),
    /// Alt text, path relative to the flow directory, PNG bytes.
    Image(String, String, Vec<u8>),
    Code(Vec<String>),
}

/// Reads a JSON file if it exists; a malformed one is an error naming it.
fn read_opt<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some(v))
}

/// Collects the report's input from the flow directory and the run's states.
pub fn gather(ctx: &Ctx) -> Result<ReportInput> {
    let p = &ctx.preset;
    let steps = available_steps();
    let mut lines = vec![];
    for name in STEP_NAMES {
        if name == "report" {
            continue;
        }
        let state = ctx.states.get(name).copied().unwrap_or(State::NotSelected);
        let step = steps.iter().find(|s| s.name() == name);
        let rec = ctx.record(name);
        let status = match (state, rec, step) {
            (State::NotAvailable, _, _) | (_, _, None) => {
                "not available in this version".to_string()
            }
            (State::Failed, _, _) => "failed in this run".to_string(),
            (_, None, _) => "not run".to_string(),
            (_, Some(_), _) if ctx.fresh.get(name) == Some(&Some(false)) => {
                "stale: its inputs changed since it ran".to_string()
            }
            (State::Ran, Some(_), _) => "ran".to_string(),
            (State::Skipped, Some(_), _) => "up to date (skipped)".to_string(),
            (_, Some(_), _) => "up to date (not selected)".to_string(),
        };
        lines.push(StepLine {
            name: name.to_string(),
            status,
            finished: rec.map_or(String::new(), |r| r.finished_utc.clone()),
            seconds: rec.map(|r| r.duration_seconds),
            summary: match (rec, step) {
                (Some(r), Some(s)) => s.summary(&r.figures),
                _ => String::new(),
            },
            command: rec.map_or(String::new(), |r| r.command.clone()),
        });
    }
    let figs = |s: &str| ctx.record(s).map(|r| r.figures.clone());
    let schedule = match ctx.record("golden") {
        Some(_) => read_opt::<Schedule>(&ctx.dir("golden").join("schedule.json"))?,
        None => None,
    };
    Ok(ReportInput {
        name: p.name.clone(),
        source: p.source.clone(),
        dataset: p.dataset.clone(),
        method: p.method.clone(),
        accelerator: p.config.name.clone(),
        pe_count: p.config.pe_count,
        nz_lanes: p.config.nz_lanes,
        clock_mhz: p.config.clock_mhz,
        config_hash: p.config.hash(),
        target: p.target.clone(),
        flow_command: ctx.flow_command.clone(),
        written_utc: super::utc_now(),
        machine: ctx
            .record("train")
            .map_or_else(super::machine, |r| r.machine.clone()),
        steps: lines,
        train: figs("train"),
        export: figs("export"),
        golden: figs("golden"),
        generate: figs("generate"),
        schedule,
        sim: read_opt(&ctx.dir("sim").join("sim.json"))?,
        synth: read_opt(&ctx.dir("synth").join("synth.json"))?,
    })
}

/// Draws the charts into `dir` (report/), returning (file relative to the flow directory, path).
pub fn draw_charts(r: &ReportInput, dir: &Path) -> Result<(Option<PathBuf>, Option<PathBuf>)> {
    let mut density = None;
    let src = if r.golden.is_some() {
        &r.golden
    } else {
        &r.train
    };
    if let Some(per_layer) = get_v(src, "delta_density_per_layer").and_then(Value::as_array) {
        let mut labels: Vec<String> = (0..per_layer.len())
            .map(|l| {
                if l == 0 {
                    "layer 0 (input)".to_string()
                } else {
                    format!("layer {l}")
                }
            })
            .collect();
        let mut values: Vec<f64> = per_layer.iter().filter_map(Value::as_f64).collect();
        labels.push("pooled".into());
        values.push(get_f(src, "delta_density").unwrap_or(f64::NAN));
        let path = dir.join("density.png");
        charts::bars(
            &path,
            &format!("{}: delta density per layer input (t > 0)", r.name),
            "nonzero deltas / elements",
            &labels,
            &values,
        )?;
        density = Some(path);
    }
    let mut cycles = None;
    if let Some(s) = &r.schedule {
        let path = dir.join("cycles.png");
        let f = |v: &[u64]| v.iter().map(|&c| c as f64).collect::<Vec<_>>();
        charts::lines(
            &path,
            &format!(
                "{}: cycles per frame of sequence {} ({} frames), {} PEs",
                r.name, s.sequence, s.length, r.pe_count
            ),
            "frame",
            "cycles",
            &[
                (
                    "dense (every delta)".to_string(),
                    RGBColor(200, 50, 40),
                    vec![s.dense_cycles_per_frame as f64; s.length],
                ),
                (
                    "cycle model (RTL schedule)".to_string(),
                    RGBColor(46, 110, 180),
                    f(&s.predicted_cycles),
                ),
                (
                    "ideal (nonzero deltas only)".to_string(),
                    RGBColor(60, 160, 80),
                    f(&s.ideal_cycles),
                ),
            ],
        )?;
        cycles = Some(path);
    }
    Ok((density, cycles))
}

/// The report's blocks; `charts` are (alt, file relative to the flow dir, PNG bytes).
pub fn build(r: &ReportInput, charts: &[(String, String, Vec<u8>)]) -> Vec<Block> {
    let mut b = vec![Block::Title(format!("deltagen flow: {}", r.name))];
    b.push(Block::Para(format!(
        "Preset `{}` ({}): dataset `{}`, method `{}`, accelerator `{}` ({} PEs, {} delta lanes, {} MHz requested, config hash `{}`), target `{}`. Report written {} by deltagen {}; durations measured on {}.",
        r.name,
        r.source,
        r.dataset,
        r.method,
        r.accelerator,
        r.pe_count,
        r.nz_lanes,
        fmt_f(r.clock_mhz, 1),
        r.config_hash,
        r.target,
        r.written_utc,
        crate::version(),
        r.machine
    )));

    // Steps.
    b.push(Block::Heading("Steps".into()));
    let rows = r
        .steps
        .iter()
        .map(|s| {
            vec![
                format!("`{}`", s.name),
                s.status.clone(),
                s.finished.clone(),
                s.seconds.map_or(String::new(), |v| fmt_f(v, 1)),
                s.summary.clone(),
            ]
        })
        .collect();
    b.push(Block::Table(
        vec![
            "step".into(),
            "status".into(),
            "finished (UTC)".into(),
            "seconds".into(),
            "key figures".into(),
        ],
        rows,
    ));
    let not_run: Vec<&str> = r
        .steps
        .iter()
        .filter(|s| s.status != "ran" && !s.status.starts_with("up to date"))
        .map(|s| s.name.as_str())
        .collect();
    if !not_run.is_empty() {
        b.push(Block::Para(format!(
            "Not run or not current: {}. Figures that need them are absent below (no RTL cycles without `sim`, no resources, Fmax or throughput without `synth`).",
            not_run
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    // Dataset and method.
    b.push(Block::Heading("Dataset and method".into()));
    if r.train.is_some() {
        let classes = get_v(&r.export, "classes")
            .and_then(Value::as_array)
            .map(|a| {
                format!(
                    "{} classes ({})",
                    a.len(),
                    a.iter().map(compact).collect::<Vec<_>>().join(", ")
                )
            })
            .unwrap_or_else(|| "classes: export has not run".into());
        let layers = get_v(&r.export, "layers").map_or("-".into(), compact);
        b.push(Block::Para(format!(
            "Dataset {}: {classes}; test set {} sequences, {} frames{}. Method `{}` (seed {}, {} epochs, hidden layers {}); integer network {layers} (inputs, hidden, classes), delta thresholds θ per layer input {}, STAR τ per layer {}.",
            get_v(&r.train, "dataset").map_or("-".into(), compact),
            opt_u(get_u(&r.train, "test_sequences")),
            opt_u(get_u(&r.train, "test_frames")),
            get_u(&r.train, "window").map_or(String::new(), |w| format!(" (frames are windows of {w} samples)")),
            get_v(&r.train, "method").map_or("-".into(), compact),
            opt_u(get_u(&r.train, "seed")),
            opt_u(get_u(&r.train, "epochs")),
            get_v(&r.train, "hidden").map_or("-".into(), compact),
            get_v(&r.train, "theta").map_or("-".into(), compact),
            get_v(&r.train, "tau").map_or("-".into(), compact),
        )));
    } else {
        b.push(Block::Para("`train` has not run.".into()));
    }

    // Accuracy.
    b.push(Block::Heading("Accuracy: float vs integer".into()));
    if r.train.is_some() {
        let mut rows = vec![
            vec![
                "float network, no quantization".into(),
                opt_f(get_f(&r.train, "float_unquantized_accuracy"), 2),
                "train".into(),
            ],
            vec![
                "float, fake-quantized (int8 weights and activations, input θ₀)".into(),
                opt_f(get_f(&r.train, "float_accuracy"), 2),
                "train".into(),
            ],
            vec![
                "integer golden model before the θ search".into(),
                opt_f(get_f(&r.train, "int_accuracy_before_search"), 2),
                "train".into(),
            ],
            vec![
                "integer golden model, exported θ (what the hardware computes)".into(),
                opt_f(get_f(&r.train, "int_accuracy"), 2),
                "train".into(),
            ],
        ];
        if let Some(a) = get_f(&r.golden, "int_accuracy") {
            rows.push(vec![
                format!(
                    "integer, golden step on the {} exported sequences",
                    opt_u(get_u(&r.golden, "sequences"))
                ),
                fmt_f(a, 2),
                "golden".into(),
            ]);
        }
        b.push(Block::Table(
            vec!["model".into(), "test accuracy %".into(), "step".into()],
            rows,
        ));
        b.push(Block::Para(
            "Sequence accuracy: a sequence's class is the argmax of the sum of its frames' logits."
                .into(),
        ));
    } else {
        b.push(Block::Para("`train` has not run.".into()));
    }

    // Delta density.
    b.push(Block::Heading("Delta density".into()));
    let (src, what) = if r.golden.is_some() {
        (
            &r.golden,
            format!(
                "golden model on the {} exported sequences ({} frames)",
                opt_u(get_u(&r.golden, "sequences")),
                opt_u(get_u(&r.golden, "frames"))
            ),
        )
    } else {
        (&r.train, "training run's test set".to_string())
    };
    if let Some(per_layer) = get_v(src, "delta_density_per_layer").and_then(Value::as_array) {
        let widths = get_v(&r.export, "layers").and_then(Value::as_array);
        let mut rows: Vec<Vec<String>> = per_layer
            .iter()
            .enumerate()
            .map(|(l, d)| {
                vec![
                    if l == 0 {
                        "0 (input)".to_string()
                    } else {
                        l.to_string()
                    },
                    widths.and_then(|w| w.get(l)).map_or("-".into(), compact),
                    compact(d),
                ]
            })
            .collect();
        rows.push(vec![
            "pooled".into(),
            String::new(),
            opt_f(get_f(src, "delta_density"), 4),
        ]);
        rows.push(vec![
            "MAC-weighted".into(),
            String::new(),
            opt_f(get_f(src, "mac_weighted_density"), 4),
        ]);
        b.push(Block::Para(format!(
            "Nonzero deltas / elements at each layer input, first frame of each sequence excluded, from the {what}. The accelerator does work only for nonzero deltas."
        )));
        b.push(Block::Table(
            vec!["layer input".into(), "width".into(), "delta density".into()],
            rows,
        ));
    } else {
        b.push(Block::Para("No densities: `train` has not run.".into()));
    }
    if let Some((alt, file, png)) = charts.iter().find(|c| c.1.ends_with("density.png")) {
        b.push(Block::Image(alt.clone(), file.clone(), png.clone()));
    }

    // Cycles.
    b.push(Block::Heading(
        "Cycles, efficiency and speedup vs dense".into(),
    ));
    if r.golden.is_some() || r.sim.is_some() {
        let sim = r.sim.clone();
        let s = |f: &dyn Fn(&SimJson) -> String| sim.as_ref().map_or("not run".into(), f);
        let cycles_sim = sim.as_ref().and_then(|x| x.rtl_cycles);
        let frames_sim = sim.as_ref().and_then(|x| x.frames);
        let rows = vec![
            vec![
                "frames".into(),
                opt_u(get_u(&r.golden, "frames")),
                s(&|x| opt_u(x.frames)),
            ],
            vec![
                "cycles".into(),
                opt_u(get_u(&r.golden, "predicted_cycles")),
                s(&|x| opt_u(x.rtl_cycles)),
            ],
            vec![
                "ideal cycles (nonzero deltas × ⌈out/P⌉)".into(),
                opt_u(get_u(&r.golden, "ideal_cycles")),
                s(&|x| opt_u(x.ideal_cycles)),
            ],
            vec![
                "dense cycles (every delta)".into(),
                opt_u(get_u(&r.golden, "dense_cycles")),
                s(&|x| opt_u(x.dense_cycles)),
            ],
            vec![
                "cycles per frame".into(),
                opt_f(get_f(&r.golden, "predicted_cycles_per_frame"), 1),
                s(&|_| match (cycles_sim, frames_sim) {
                    (Some(c), Some(f)) if f > 0 => fmt_f(c as f64 / f as f64, 1),
                    _ => "-".into(),
                }),
            ],
            vec![
                "efficiency (ideal / cycles)".into(),
                opt_f(get_f(&r.golden, "predicted_efficiency"), 3),
                s(&|x| opt_f(x.efficiency, 3)),
            ],
            vec![
                "speedup vs dense (dense / cycles)".into(),
                opt_f(get_f(&r.golden, "predicted_speedup_vs_dense"), 2)
                    + if r.golden.is_some() { "x" } else { "" },
                s(&|x| opt_f(x.speedup_vs_dense, 2) + "x"),
            ],
            vec![
                "mismatches".into(),
                get_u(&r.golden, "mismatches")
                    .map_or("-".into(), |m| format!("{m} (vs the exported traces)")),
                s(&|x| opt_u(x.mismatches)),
            ],
            vec![
                "simulation speed".into(),
                "-".into(),
                s(&|x| {
                    x.sim_cycles_per_second
                        .map_or("-".into(), |v| format!("{} cycles/s", fmt_f(v, 0)))
                }),
            ],
        ];
        b.push(Block::Table(
            vec![
                "".into(),
                "cycle model (golden)".into(),
                "RTL in Verilator (sim)".into(),
            ],
            rows,
        ));
        if let Some(x) = &r.sim {
            let pred = get_u(&r.golden, "predicted_cycles").or(x.predicted_cycles);
            match (x.rtl_cycles, pred) {
                (Some(a), Some(p)) if a == p => b.push(Block::Para(format!(
                    "The RTL took exactly the {p} cycles the cycle model predicts."
                ))),
                (Some(a), Some(p)) => b.push(Block::Para(format!(
                    "The RTL took {a} cycles, the cycle model predicts {p}."
                ))),
                _ => {}
            }
        }
    } else {
        b.push(Block::Para("`golden` has not run.".into()));
    }
    if let Some((alt, file, png)) = charts.iter().find(|c| c.1.ends_with("cycles.png")) {
        b.push(Block::Image(alt.clone(), file.clone(), png.clone()));
        b.push(Block::Para("Cycles per frame of the exported sequence with the median cycles per frame, from the cycle model: the first frame includes the sequence-start initialisation and every input element is a delta; dense is the cost with every delta processed.".into()));
    }

    // Resources.
    b.push(Block::Heading("Resources and Fmax".into()));
    let fmax = r
        .synth
        .as_ref()
        .and_then(|s| s.fmax_mhz.as_ref())
        .and_then(|f| f.median);
    match &r.synth {
        None => b.push(Block::Para(
            "`synth` has not run: no resource or Fmax figures.".into(),
        )),
        Some(s) => {
            let target = s.target.clone().unwrap_or_else(|| r.target.clone());
            let cap = capacity(&target);
            let row = |what: &str, used: Option<u64>, avail: Option<u64>| {
                vec![
                    what.to_string(),
                    opt_u(used),
                    opt_u(avail),
                    match (used, avail) {
                        (Some(u), Some(a)) if a > 0 => {
                            format!("{}%", fmt_f(100.0 * u as f64 / a as f64, 1))
                        }
                        _ => "-".into(),
                    },
                ]
            };
            let device = s
                .device
                .clone()
                .or_else(|| cap.as_ref().map(|c| c.device.to_string()))
                .unwrap_or_else(|| target.clone());
            b.push(Block::Para(format!(
                "Target `{target}`, device {device}; capacities from the vendor's data sheet."
            )));
            b.push(Block::Table(
                vec![
                    "resource".into(),
                    "used".into(),
                    "available".into(),
                    "share".into(),
                ],
                vec![
                    row("logic cells (LUTs)", s.luts, cap.as_ref().map(|c| c.luts)),
                    row("flip-flops", s.ffs, cap.as_ref().map(|c| c.ffs)),
                    row("block RAMs", s.brams, cap.as_ref().map(|c| c.brams)),
                    row(
                        "DSP / multiplier blocks",
                        s.dsps,
                        cap.as_ref().map(|c| c.dsps),
                    ),
                ],
            ));
            if s.fits == Some(false) {
                b.push(Block::Para(format!(
                    "**The design does not fit the device** ({}): it was not placed and routed, so there is no Fmax.",
                    s.over_capacity.join(", ")
                )));
            }
            let f = s.fmax_mhz.clone().unwrap_or_default();
            b.push(Block::Para(format!(
                "Fmax after place and route: median {} MHz (min {}, max {} over the seeds), requested clock {} MHz: {}.",
                opt_f(f.median, 2),
                opt_f(f.min, 2),
                opt_f(f.max, 2),
                opt_f(s.clock_mhz_requested, 1),
                match s.meets_timing {
                    Some(true) => "meets timing",
                    Some(false) => "does NOT meet timing",
                    None => "timing not reported",
                }
            )));
            if let Some(m) = s.per_module.as_object() {
                let mut keys: Vec<String> = vec![];
                for v in m.values() {
                    if let Some(o) = v.as_object() {
                        for (k, x) in o {
                            if x.is_number() && !keys.contains(k) && keys.len() < 6 {
                                keys.push(k.clone());
                            }
                        }
                    }
                }
                if !keys.is_empty() {
                    let mut head = vec!["module".to_string()];
                    head.extend(keys.iter().cloned());
                    let rows = m
                        .iter()
                        .map(|(name, v)| {
                            let mut row = vec![format!("`{name}`")];
                            row.extend(keys.iter().map(|k| v.get(k).map_or("-".into(), compact)));
                            row
                        })
                        .collect();
                    b.push(Block::Table(head, rows));
                }
            }
            if let Some(t) = s.tool_versions.as_object() {
                b.push(Block::Para(format!(
                    "Tools: {}.",
                    t.iter()
                        .map(|(k, v)| format!("{k} {}", compact(v)))
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
        }
    }

    // Throughput.
    b.push(Block::Heading("Effective throughput".into()));
    let macs = get_u(&r.export, "dense_macs_per_frame");
    let (cycles, frames, from) = match &r.sim {
        Some(s) if s.rtl_cycles.is_some() && s.frames.is_some() => {
            (s.rtl_cycles, s.frames, "RTL cycles (sim)")
        }
        _ => (
            get_u(&r.golden, "predicted_cycles"),
            get_u(&r.golden, "frames"),
            "cycle-model cycles (golden)",
        ),
    };
    match (fmax, macs, cycles, frames) {
        (Some(f), Some(m), Some(c), Some(n)) if c > 0 => {
            let hz = f * 1e6;
            let ops_per_frame = 2.0 * m as f64;
            let frames_per_s = hz * n as f64 / c as f64;
            let eff = ops_per_frame * frames_per_s / 1e9;
            let peak = 2.0 * r.pe_count as f64 * hz / 1e9;
            b.push(Block::Table(
                vec!["".into(), "value".into()],
                vec![
                    vec![
                        "dense-equivalent ops per frame (2 × MACs)".into(),
                        fmt_f(ops_per_frame, 0),
                    ],
                    vec![
                        "frames per second at the median Fmax".into(),
                        fmt_f(frames_per_s, 0),
                    ],
                    vec![
                        "effective throughput (dense-equivalent)".into(),
                        format!("{} GOp/s", fmt_f(eff, 3)),
                    ],
                    vec![
                        format!("peak ({} PEs × 2 ops × Fmax)", r.pe_count),
                        format!("{} GOp/s", fmt_f(peak, 3)),
                    ],
                    vec!["effective / peak".into(), fmt_f(eff / peak, 2)],
                ],
            ));
            b.push(Block::Para(format!(
                "From the {from} over {n} frames at the median Fmax of {} MHz. Skipping zero deltas lets the effective figure exceed the peak of a dense engine.",
                fmt_f(f, 2)
            )));
        }
        _ => b.push(Block::Para(
            "Needs an Fmax from `synth` (and cycles from `golden` or `sim`): not available.".into(),
        )),
    }

    // Reproduce.
    b.push(Block::Heading("Reproduce".into()));
    b.push(Block::Para(
        "The whole flow (steps already up to date are skipped; `--force` reruns them):".into(),
    ));
    b.push(Block::Code(vec![r.flow_command.clone()]));
    let mut cmds = vec![];
    for s in &r.steps {
        if !s.command.is_empty() {
            cmds.push(format!("# {}", s.name));
            cmds.push(s.command.clone());
        }
    }
    if !cmds.is_empty() {
        b.push(Block::Para("Each step on its own:".into()));
        b.push(Block::Code(cmds));
    }
    b.push(Block::Para("Where each number comes from: accuracies and the training settings from `train/train.json`; network shape and MACs from `export/step.json`; densities, cycles, efficiency and speedup from `golden/golden.json` (per-frame cycles in `golden/schedule.json`); RTL cycles and mismatches from `sim/sim.json`; resources and Fmax from `synth/synth.json`. Every step's `step.json` holds its inputs hash, output hashes, duration and command.".into()));
    b
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(blocks: &[Block]) -> String {
    let mut md = String::new();
    for b in blocks {
        match b {
            Block::Title(t) => md += &format!("# {t}\n\n"),
            Block::Heading(t) => md += &format!("## {t}\n\n"),
            Block::Para(t) => md += &format!("{t}\n\n"),
            Block::Table(head, rows) => {
                md += &format!(
                    "| {} |\n|{}|\n",
                    head.iter()
                        .map(|h| md_cell(h))
                        .collect::<Vec<_>>()
                        .join(" | "),
                    head.iter().map(|_| "---").collect::<Vec<_>>().join("|")
                );
                for r in rows {
                    md += &format!(
                        "| {} |\n",
                        r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                    );
                }
                md += "\n";
            }
            Block::Image(alt, file, _) => md += &format!("![{alt}]({file})\n\n"),
            Block::Code(lines) => md += &format!("```sh\n{}\n```\n\n", lines.join("\n")),
        }
    }
    md
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escaped text with `code` spans.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            out += &format!("<code>{}</code>", esc(part));
        } else {
            out += &esc(part);
        }
    }
    out
}

pub fn html(blocks: &[Block], title: &str) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\nbody{{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}}\ntable{{border-collapse:collapse;margin:0.8em 0}}\nth,td{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}\nth{{background:#f0f0f0}}\ncode{{background:#f4f4f4;padding:0 2px}}\npre{{background:#f4f4f4;padding:8px;overflow-x:auto}}\nimg{{max-width:100%;border:1px solid #ddd}}\n</style>\n</head>\n<body>\n",
        esc(title)
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    for b in blocks {
        match b {
            Block::Title(t) => h += &format!("<h1>{}</h1>\n", inline(t)),
            Block::Heading(t) => h += &format!("<h2>{}</h2>\n", inline(t)),
            Block::Para(t) => h += &format!("<p>{}</p>\n", inline(t)),
            Block::Table(head, rows) => {
                h += "<table>\n<tr>";
                for c in head {
                    h += &format!("<th>{}</th>", inline(c));
                }
                h += "</tr>\n";
                for r in rows {
                    h += "<tr>";
                    for c in r {
                        h += &format!("<td>{}</td>", inline(c));
                    }
                    h += "</tr>\n";
                }
                h += "</table>\n";
            }
            Block::Image(alt, _, png) => {
                h += &format!(
                    "<p><img alt=\"{}\" src=\"data:image/png;base64,{}\"></p>\n",
                    esc(alt),
                    b64.encode(png)
                )
            }
            Block::Code(lines) => {
                h += &format!("<pre><code>{}</code></pre>\n", esc(&lines.join("\n")))
            }
        }
    }
    h + "</body>\n</html>\n"
}

/// Writes report/ charts, report.md and report.html; returns the files written.
pub fn write(ctx: &Ctx, dir: &Path) -> Result<Vec<PathBuf>> {
    let input = gather(ctx)?;
    let (density, cycles) = draw_charts(&input, dir)?;
    let mut charts = vec![];
    let mut outputs = vec![];
    for (path, alt) in [
        (density, "delta density per layer input and pooled"),
        (cycles, "cycles per frame against the dense cost"),
    ] {
        if let Some(p) = path {
            let png = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            charts.push((alt.to_string(), super::output_key(&ctx.root, &p), png));
            outputs.push(p);
        }
    }
    let blocks = build(&input, &charts);
    let md_path = ctx.root.join("report.md");
    let html_path = ctx.root.join("report.html");
    std::fs::write(&md_path, markdown(&blocks))
        .with_context(|| format!("writing {}", md_path.display()))?;
    std::fs::write(
        &html_path,
        html(&blocks, &format!("deltagen flow: {}", input.name)),
    )
    .with_context(|| format!("writing {}", html_path.display()))?;
    outputs.push(md_path);
    outputs.push(html_path);
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Option<Map<String, Value>> {
        v.as_object().cloned()
    }

    /// A report input as the steps that exist write it (hand-made figures).
    fn base() -> ReportInput {
        ReportInput {
            name: "t".into(),
            source: "t.toml".into(),
            dataset: "basicmotions".into(),
            method: "delta-lsq".into(),
            accelerator: "ice40-up5k-8pe".into(),
            pe_count: 8,
            nz_lanes: 4,
            clock_mhz: 70.0,
            config_hash: "abcd".into(),
            target: "ice40-up5k".into(),
            flow_command: "deltagen flow --preset t".into(),
            written_utc: "2026-01-01T00:00:00Z".into(),
            machine: "2 cores".into(),
            steps: STEP_NAMES[..7]
                .iter()
                .map(|s| StepLine {
                    name: s.to_string(),
                    status: if *s == "sim" || *s == "synth" {
                        "not available in this version".into()
                    } else {
                        "ran".into()
                    },
                    finished: String::new(),
                    seconds: Some(1.0),
                    summary: String::new(),
                    command: format!("cmd-{s}"),
                })
                .collect(),
            train: obj(
                json!({"dataset": "BasicMotions", "method": "delta-lsq", "float_unquantized_accuracy": 97.5,
                "float_accuracy": 95.0, "int_accuracy_before_search": 95.0, "int_accuracy": 92.5,
                "delta_density": 0.3, "delta_density_per_layer": [0.4, 0.2, 0.1], "theta": [2, 0, 0]}),
            ),
            export: obj(
                json!({"layers": [60, 64, 64, 4], "dense_macs_per_frame": 8192, "classes": ["a", "b"]}),
            ),
            golden: obj(
                json!({"frames": 1000, "sequences": 10, "mismatches": 0, "int_accuracy": 90.0,
                "delta_density": 0.25, "delta_density_per_layer": [0.4, 0.2, 0.1],
                "ideal_cycles": 100_000, "predicted_cycles": 200_000, "dense_cycles": 1_000_000,
                "predicted_efficiency": 0.5, "predicted_speedup_vs_dense": 5.0, "predicted_cycles_per_frame": 200.0}),
            ),
            generate: None,
            schedule: None,
            sim: None,
            synth: None,
        }
    }

    #[test]
    fn absent_stages_are_absent() {
        let md = markdown(&build(&base(), &[]));
        assert!(
            md.contains(
                "| integer golden model, exported θ (what the hardware computes) | 92.5 | train |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| efficiency (ideal / cycles) | 0.5 | not run |"),
            "{md}"
        );
        assert!(md.contains("`synth` has not run: no resource or Fmax figures."));
        assert!(md.contains("Needs an Fmax from `synth`"));
        assert!(
            md.contains("Not run or not current: `sim`, `synth`."),
            "{md}"
        );
        assert!(!md.contains("GOp/s"));
        assert!(md.contains("cmd-golden"));
    }

    #[test]
    fn sim_and_synth_figures_are_read_when_present() {
        let mut r = base();
        r.sim = serde_json::from_value(
            json!({"frames": 1000, "mismatches": 0, "rtl_cycles": 200_000,
            "predicted_cycles": 200_000, "ideal_cycles": 100_000, "dense_cycles": 1_000_000,
            "efficiency": 0.5, "speedup_vs_dense": 5.0, "delta_density": 0.25,
            "sim_cycles_per_second": 1.5e6, "extra_key": [1]}),
        )
        .unwrap();
        r.synth = serde_json::from_value(json!({"target": "ice40-up5k", "device": "up5k", "luts": 2640,
            "ffs": 1000, "brams": 15, "dsps": 8, "fmax_mhz": {"median": 50.0, "min": 48.0, "max": 52.0},
            "clock_mhz_requested": 70.0, "meets_timing": false,
            "per_module": {"pe": {"luts": 100, "ffs": 20}}, "tool_versions": {"yosys": "0.23"}}))
        .unwrap();
        let md = markdown(&build(&r, &[]));
        assert!(
            md.contains("| mismatches | 0 (vs the exported traces) | 0 |"),
            "{md}"
        );
        assert!(
            md.contains("| simulation speed | - | 1500000 cycles/s |"),
            "{md}"
        );
        assert!(md.contains("exactly the 200000 cycles"), "{md}");
        assert!(
            md.contains("| logic cells (LUTs) | 2640 | 5280 | 50% |"),
            "{md}"
        );
        assert!(
            md.contains("| DSP / multiplier blocks | 8 | 8 | 100% |"),
            "{md}"
        );
        assert!(md.contains("median 50 MHz (min 48, max 52"), "{md}");
        assert!(md.contains("does NOT meet timing"), "{md}");
        assert!(
            md.contains("| module | ffs | luts |\n|---|---|---|\n| `pe` | 20 | 100 |"),
            "{md}"
        );
        // 2 × 8192 ops per frame, 1000 frames in 200000 cycles at 50 MHz: 250000 frames/s,
        // 4.096 GOp/s; peak 2 × 8 × 50 MHz = 0.8 GOp/s.
        assert!(
            md.contains("| frames per second at the median Fmax | 250000 |"),
            "{md}"
        );
        assert!(
            md.contains("| effective throughput (dense-equivalent) | 4.096 GOp/s |"),
            "{md}"
        );
        assert!(
            md.contains("| peak (8 PEs × 2 ops × Fmax) | 0.8 GOp/s |"),
            "{md}"
        );
        assert!(md.contains("From the RTL cycles (sim)"), "{md}");
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let blocks = vec![
            Block::Para("a <b> & `x<y`".into()),
            Block::Image("chart".into(), "report/c.png".into(), vec![1, 2, 3]),
        ];
        let h = html(&blocks, "t");
        assert!(
            h.contains("<p>a &lt;b&gt; &amp; <code>x&lt;y</code></p>"),
            "{h}"
        );
        assert!(h.contains("src=\"data:image/png;base64,AQID\""), "{h}");
        assert!(!h.contains("report/c.png"));
        assert!(markdown(&blocks).contains("![chart](report/c.png)"));
    }

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_f(12.5, 4), "12.5");
        assert_eq!(fmt_f(3.0, 2), "3");
        assert_eq!(compact(&json!([0.123456, 2])), "[0.1235, 2]");
        assert_eq!(compact(&Value::Null), "-");
    }
}
