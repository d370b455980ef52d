//! `deltagen bench`: efficiency and speedup of the RTL against delta density, measured in
//! Verilator (every point is a full `deltagen sim` run: bit-exact, cycles equal to the model).
//!
//! A random 256-128-64-10 model (by default) is fed random-walk inputs whose elements change
//! with probability `c` per frame; with the delta threshold θ this spans delta densities from
//! about 0.8 down to about 0.02. The density that sets the PE array's work is the MAC-weighted
//! one (nonzero deltas weighted by each layer's fan-out), so the speedup is compared with
//! 1 / that density, which is exactly dense_cycles / ideal_cycles.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::format;
use crate::random::{generate, RandomSpec};
use crate::sim::{self, SimOptions};
use crate::train::plot;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub configs: Vec<String>,
    pub widths: Vec<usize>,
    /// (input change probability, θ) per point.
    pub points: Vec<(f64, i32)>,
    pub sequences: usize,
    pub frames: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub cache_dir: PathBuf,
    pub force: bool,
    pub quiet: bool,
}

/// The default sweep: θ = 0 at full change, then θ = 2 from full change down to 1 %.
pub const DEFAULT_POINTS: [(f64, i32); 10] = [
    (1.0, 0),
    (1.0, 2),
    (0.5, 2),
    (0.3, 2),
    (0.2, 2),
    (0.1, 2),
    (0.05, 2),
    (0.03, 2),
    (0.02, 2),
    (0.01, 2),
];

#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub config: String,
    pub pe_count: u32,
    pub change_prob: f64,
    pub theta: i32,
    pub frames: u64,
    pub delta_density: f64,
    pub mac_weighted_density: f64,
    pub ideal_cycles: u64,
    pub dense_cycles: u64,
    pub rtl_cycles: u64,
    pub predicted_cycles: u64,
    pub mismatches: u64,
    pub efficiency: f64,
    pub speedup_vs_dense: f64,
    /// 1 / mac_weighted_density (= dense_cycles / ideal_cycles).
    pub ideal_speedup: f64,
    /// speedup_vs_dense / ideal_speedup (= efficiency).
    pub speedup_fraction_of_ideal: f64,
    pub rtl_cycles_per_frame: f64,
    pub sim_cycles_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub widths: Vec<usize>,
    pub sequences: usize,
    pub frames_per_sequence: usize,
    pub seed: u64,
    pub rows: Vec<BenchRow>,
    pub command: String,
    /// Configs whose capacity fields were raised to hold the bench model (cycles unchanged):
    /// the config and its `field = value`s.
    pub capacity_raised: Vec<(String, Vec<String>)>,
}

fn slug(x: f64) -> String {
    format!("{x}").replace('.', "p")
}

pub fn run(opts: &BenchOptions, command: &str) -> Result<BenchReport> {
    let files =
        ["bench.json", "bench.md", "bench.png", "bench_speedup.png"].map(|f| opts.out.join(f));
    for f in &files {
        format::check_writable(f, opts.force)?;
    }
    let mut rows = Vec::new();
    let mut capacity = Vec::new();
    let total = (opts.configs.len() * opts.points.len()) as u64;
    let pb = crate::cli::progress(total, "bench", opts.quiet);
    for config in &opts.configs {
        let mut cfg = crate::config::AccelConfig::load(config)?;
        let mut config_file = config.clone();
        for &(cp, theta) in &opts.points {
            let mut spec =
                RandomSpec::new(opts.widths.clone(), opts.sequences, opts.frames, opts.seed);
            spec.change_prob = cp;
            spec.theta = theta;
            spec.check().map_err(anyhow::Error::msg)?;
            let (model, inputs) = generate(&spec);
            // Capacity (widest layer, layer count, weight memory depth) does not change a
            // cycle: a preset too small for the bench model is measured with more of it
            // (recorded in the report).
            let raised = cfg.raise_capacity(&model);
            if !raised.is_empty() {
                let path = opts.out.join(format!("{}.toml", cfg.name));
                std::fs::create_dir_all(&opts.out)
                    .with_context(|| format!("creating {}", opts.out.display()))?;
                format::write_text(&path, &cfg.to_toml(), true)?;
                config_file = path.display().to_string();
                capacity.push((cfg.name.clone(), raised));
            }
            let dir = opts
                .out
                .join(&cfg.name)
                .join(format!("c{}-t{theta}", slug(cp)));
            let mdir = dir.join("model");
            model.save(&mdir, true)?;
            inputs.save(&mdir.join("inputs.npz"), true)?;
            let r = sim::run(&SimOptions {
                config: config_file.clone(),
                model: mdir.clone(),
                inputs: mdir.join("inputs.npz"),
                out: dir.join("sim"),
                stall_prob: 0.0,
                seed: opts.seed,
                vcd: None,
                expect: None,
                cache_dir: Some(opts.cache_dir.clone()),
                force: true,
                quiet: true,
            })
            .with_context(|| format!("bench point {} c={cp} θ={theta}", cfg.name))?;
            let ideal_speedup = r.dense_cycles as f64 / r.ideal_cycles.max(1) as f64;
            rows.push(BenchRow {
                config: cfg.name.clone(),
                pe_count: cfg.pe_count,
                change_prob: cp,
                theta,
                frames: r.frames,
                delta_density: r.delta_density,
                mac_weighted_density: r.mac_weighted_density,
                ideal_cycles: r.ideal_cycles,
                dense_cycles: r.dense_cycles,
                rtl_cycles: r.rtl_cycles,
                predicted_cycles: r.predicted_cycles,
                mismatches: r.mismatches,
                efficiency: r.efficiency,
                speedup_vs_dense: r.speedup_vs_dense,
                ideal_speedup,
                speedup_fraction_of_ideal: r.speedup_vs_dense / ideal_speedup,
                rtl_cycles_per_frame: r.rtl_cycles as f64 / r.frames.max(1) as f64,
                sim_cycles_per_second: r.sim_cycles_per_second,
            });
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let report = BenchReport {
        widths: opts.widths.clone(),
        sequences: opts.sequences,
        frames_per_sequence: opts.frames,
        seed: opts.seed,
        rows,
        command: command.to_string(),
        capacity_raised: capacity,
    };
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    format::write_text(
        &files[0],
        &(serde_json::to_string_pretty(&report)? + "\n"),
        true,
    )?;
    format::write_text(&files[1], &markdown(&report), true)?;
    plot::write_png(&files[2], &chart(&report))
        .with_context(|| format!("writing {}", files[2].display()))?;
    plot::write_png(&files[3], &speedup_chart(&report))
        .with_context(|| format!("writing {}", files[3].display()))?;
    Ok(report)
}

/// The table (also pasted into the README).
pub fn table(r: &BenchReport) -> String {
    let mut s = String::from(
        "| config | PEs | change prob | θ | delta density (pooled) | MAC-weighted density | rtl cycles/frame | efficiency | speedup vs dense | 1/density | speedup / (1/density) | Verilator cycles/s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in &r.rows {
        s += &format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.3} | {:.2}x | {:.2}x | {:.3} | {:.0} |\n",
            row.config,
            row.pe_count,
            row.change_prob,
            row.theta,
            row.delta_density,
            row.mac_weighted_density,
            row.rtl_cycles_per_frame,
            row.efficiency,
            row.speedup_vs_dense,
            row.ideal_speedup,
            row.speedup_fraction_of_ideal,
            row.sim_cycles_per_second,
        );
    }
    s
}

fn markdown(r: &BenchReport) -> String {
    let all_ok = r
        .rows
        .iter()
        .all(|x| x.mismatches == 0 && x.rtl_cycles == x.predicted_cycles);
    format!(
        "# Efficiency against delta density (Verilator)\n\n\
         Random {} model, {} sequences x {} frames per point, seed {}. Every point is a full\n\
         `deltagen sim` run: {}.\n\n\
         Command: `{}`\n\n{}\n\
         efficiency = ideal_cycles / rtl_cycles, ideal_cycles = Σ nonzero deltas · ceil(out/P)\n\
         (the PE array's zero-skipping limit); speedup vs dense = dense_cycles / rtl_cycles with\n\
         dense_cycles = Σ in · ceil(out/P); 1/density uses the MAC-weighted density\n\
         (= dense_cycles / ideal_cycles), so speedup / (1/density) equals the efficiency.\n\n\
         {}![efficiency](bench.png)\n![speedup](bench_speedup.png)\n",
        r.widths
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join("-"),
        r.sequences,
        r.frames_per_sequence,
        r.seed,
        if all_ok {
            "zero mismatches and rtl_cycles == predicted_cycles at every point"
        } else {
            "SOME POINTS FAILED (see bench.json)"
        },
        r.command,
        table(r),
        r.capacity_raised
            .iter()
            .map(|(c, d)| {
                format!(
                    "`{c}` ran with {} to hold the model (capacity changes no cycle).\n\n",
                    d.join(", ")
                )
            })
            .collect::<String>(),
    )
}

/// One series per config of `y(row)` against the MAC-weighted density, sorted by density.
fn per_config(r: &BenchReport, what: &str, y: impl Fn(&BenchRow) -> f64) -> Vec<plot::Series> {
    let mut configs: Vec<&str> = r.rows.iter().map(|x| x.config.as_str()).collect();
    configs.dedup();
    configs
        .iter()
        .map(|c| {
            let mut points: Vec<(f64, f64)> = r
                .rows
                .iter()
                .filter(|x| x.config == *c)
                .map(|x| (x.mac_weighted_density, y(x)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            plot::Series {
                name: format!("{c} {what}"),
                points,
                dashed: false,
            }
        })
        .collect()
}

fn chart(r: &BenchReport) -> plot::Image {
    let mut series = per_config(r, "efficiency", |x| x.efficiency);
    let (lo, hi) = r.rows.iter().fold((f64::INFINITY, 0.0f64), |(a, b), x| {
        (a.min(x.mac_weighted_density), b.max(x.mac_weighted_density))
    });
    if lo.is_finite() {
        series.push(plot::Series {
            name: "target 0.95".into(),
            points: vec![(lo, 0.95), (hi, 0.95)],
            dashed: true,
        });
    }
    plot::log_x_lines(
        "RTL efficiency (ideal / rtl cycles) vs delta density",
        "MAC-weighted delta density (log)",
        "efficiency",
        &series,
        (0.0, 1.0),
        false,
    )
}

/// Where `bench` writes by default.
pub fn default_out() -> PathBuf {
    Path::new("build").join("bench")
}

fn speedup_chart(r: &BenchReport) -> plot::Image {
    let mut series = per_config(r, "speedup vs dense", |x| x.speedup_vs_dense);
    let mut ideal: Vec<(f64, f64)> = r
        .rows
        .iter()
        .map(|x| {
            (
                x.mac_weighted_density,
                1.0 / x.mac_weighted_density.max(1e-9),
            )
        })
        .collect();
    ideal.sort_by(|a, b| a.0.total_cmp(&b.0));
    ideal.dedup_by(|a, b| a.0 == b.0);
    let top = ideal.iter().map(|p| p.1).fold(1.0f64, f64::max);
    series.push(plot::Series {
        name: "1 / density (ideal)".into(),
        points: ideal,
        dashed: true,
    });
    plot::log_x_lines(
        "Speedup vs dense against delta density",
        "MAC-weighted delta density (log)",
        "speedup (x)",
        &series,
        (0.0, (top * 1.1).ceil()),
        true,
    )
}
