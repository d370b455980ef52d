//! The `deltagen` command line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::config::AccelConfig;
use crate::format;
use crate::io::{Inputs, Traces};
use crate::model::Model;
use crate::random::{self, RandomSpec};
use crate::{cycles, golden, stats};

#[derive(Parser, Debug)]
#[command(
    name = "deltagen",
    version,
    about = "Generate FPGA accelerators that exploit temporal activation sparsity (delta inference)",
    long_about = "deltagen trains networks whose activations change little from frame to frame, \
                  models the accelerator's integer arithmetic bit for bit, generates the RTL, \
                  verifies it and synthesizes it with open tools.\n\n\
                  Arithmetic contract: docs/arithmetic.md. Accelerator presets: `deltagen config`."
)]
pub struct Cli {
    /// No progress bars.
    #[arg(long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create model packages (random quantized models with temporally-correlated inputs).
    #[command(subcommand)]
    Model(ModelCmd),
    /// Run the bit-accurate golden model: outputs, sparsity statistics and cycle model.
    Golden(GoldenArgs),
    /// Print a model package's layers, shapes and thresholds.
    Inspect(InspectArgs),
    /// List the accelerator presets, or print one (or a config file) after validating it.
    Config(ConfigArgs),
    /// Write the accelerator's Verilog (rtl/deltagen_top.v), memory images and generate.json.
    Generate(GenerateArgs),
    /// Train a delta-sparse network on a dataset and export the integer model package.
    Train(crate::train::cli::TrainArgs),
    /// Run the generated RTL in Verilator on every input frame and compare it bit for bit with
    /// the golden model (logits and hidden activations); writes sim.json and sim.md.
    Sim(SimArgs),
    /// Sweep delta density on a random model through the RTL (Verilator) and tabulate
    /// efficiency, speedup vs dense and simulation speed (bench.json, bench.md, PNG charts).
    Bench(BenchArgs),
    /// Run the whole job as cached steps (data, training, export, golden, Verilog, RTL
    /// simulation, synthesis, report).
    Flow(crate::flow::FlowArgs),
    /// Run frames through a board over its serial port and compare the logits with the golden
    /// model (protocol: docs/board.md).
    Host(crate::host::HostArgs),
    /// Synthesize with Yosys and nextpnr: resources, Fmax over seeds (synth.json, synth.md);
    /// with --board the board top and its bitstream.
    Synth(crate::synth::SynthArgs),
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Accelerator configs (files or presets), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ice40-up5k-8pe,ecp5-16pe"
    )]
    pub configs: Vec<String>,
    /// Layer widths of the random model, input first.
    #[arg(long, value_delimiter = ',', default_value = "256,128,64,10")]
    pub layers: Vec<usize>,
    /// Sequences per density point.
    #[arg(long, default_value_t = 2)]
    pub sequences: usize,
    /// Frames per sequence.
    #[arg(long, default_value_t = 100)]
    pub frames: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cache of verilated models.
    #[arg(long, default_value = "build/verilator-cache")]
    pub cache_dir: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "build/bench")]
    pub out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Accelerator config: a TOML file or a preset name.
    #[arg(long)]
    pub config: String,
    /// Model package directory (model.json + model.npz).
    #[arg(long)]
    pub model: PathBuf,
    /// Input frames (inputs.npz).
    #[arg(long)]
    pub inputs: PathBuf,
    /// Probability of holding the input tvalid / output tready low in a cycle (back-pressure).
    #[arg(long, default_value_t = 0.0)]
    pub stall_prob: f64,
    /// Seed of the stall pattern.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write a VCD waveform of the whole run (large for long runs).
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// Traces exported with the model (e.g. by `deltagen train`): the golden model must
    /// reproduce them before the RTL is compared with it.
    #[arg(long)]
    pub expect: Option<PathBuf>,
    /// Cache of verilated models (keyed by the RTL's content hash).
    #[arg(long, default_value = "build/verilator-cache")]
    pub cache_dir: PathBuf,
    /// Output directory (sim.json, sim.md, generate/).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Accelerator config: a TOML file or a preset name.
    #[arg(long)]
    pub config: String,
    /// Model package directory (model.json + model.npz).
    #[arg(long)]
    pub model: PathBuf,
    /// Output directory (rtl/, generate.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Also write the board top rtl/deltagen_board.v for a board: icebreaker, ulx3s, arty-a7
    /// (docs/board.md).
    #[arg(long)]
    pub board: Option<String>,
    /// UART rate of the board top (with --board).
    #[arg(long, default_value_t = deltagen_hdl::board::boards::DEFAULT_BAUD, requires = "board")]
    pub baud: u32,
}

#[derive(Subcommand, Debug)]
pub enum ModelCmd {
    /// Write a random quantized model package and random-walk inputs (inputs.npz).
    Random(RandomArgs),
}

#[derive(Args, Debug)]
pub struct RandomArgs {
    /// Layer widths, input first: e.g. 96,64,32,4.
    #[arg(long, value_delimiter = ',', required = true)]
    pub layers: Vec<usize>,
    /// Sequences in inputs.npz.
    #[arg(long, default_value_t = 8)]
    pub sequences: usize,
    /// Frames per sequence.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Delta threshold θ of every layer input.
    #[arg(long, default_value_t = 0)]
    pub theta: i32,
    /// STAR activation threshold τ of every hidden layer.
    #[arg(long, default_value_t = 0)]
    pub tau: i32,
    /// Probability that an input element changes between frames.
    #[arg(long, default_value_t = 0.1)]
    pub change_prob: f64,
    /// Output directory (model.json, model.npz, inputs.npz).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct GoldenArgs {
    /// Model package directory (model.json + model.npz).
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs file (inputs.npz: int8 `frames` [sequences, T, in]).
    #[arg(long)]
    pub inputs: PathBuf,
    /// Accelerator config: a TOML file or a preset name.
    #[arg(long, default_value = "ice40-up5k-8pe")]
    pub config: String,
    /// Output directory (golden.npz, golden.json, golden.md).
    #[arg(long)]
    pub out: PathBuf,
    /// Expected traces (e.g. a producer's traces.npz) to compare against; mismatches fail.
    #[arg(long)]
    pub expect: Option<PathBuf>,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Model package directory.
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Preset name or TOML file to print; without it, list the presets.
    pub name: Option<String>,
}

/// Parses the arguments, runs the command, prints errors; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Model(ModelCmd::Random(a)) => model_random(&a),
        Command::Golden(a) => run_golden(&a, quiet),
        Command::Inspect(a) => inspect(&a.dir),
        Command::Config(a) => config_cmd(a.name.as_deref()),
        Command::Generate(a) => {
            let board = a.board.as_deref().map(|b| (b, a.baud));
            let g = crate::generate::generate_for(&a.config, &a.model, &a.out, a.force, board)?;
            if let Some(p) = &g.board {
                println!(
                    "board {}: {}, UART {} baud ({} cycles per bit, {:+.3} %)",
                    p.board.name,
                    p.clock.describe(),
                    p.baud,
                    p.divisor,
                    p.baud_error * 100.0
                );
            }
            println!(
                "wrote {} ({}: {} PEs, multipliers {} DSP / {} LUT) in {:.2} s",
                a.out.display(),
                g.config.name,
                g.config.pe_count,
                g.design.multipliers.0,
                g.design.multipliers.1,
                g.seconds
            );
            Ok(())
        }
        Command::Train(a) => crate::train::cli::run(&a, quiet),
        Command::Sim(a) => run_sim(a, quiet),
        Command::Bench(a) => run_bench(a, quiet),
        Command::Flow(a) => crate::flow::run(&a, quiet),
        Command::Host(a) => crate::host::run(&a, quiet),
        Command::Synth(a) => crate::synth::run_cli(&a, quiet),
    }
}

/// A progress bar on stderr (hidden when quiet or not a terminal).
pub fn progress(len: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn model_random(a: &RandomArgs) -> Result<()> {
    let mut spec = RandomSpec::new(a.layers.clone(), a.sequences, a.frames, a.seed);
    spec.theta = a.theta;
    spec.tau = a.tau;
    spec.change_prob = a.change_prob;
    spec.check().map_err(anyhow::Error::msg)?;
    let inputs_path = a.out.join("inputs.npz");
    for f in ["model.json", "model.npz", "inputs.npz"] {
        format::check_writable(&a.out.join(f), a.force)?;
    }
    let (model, inputs) = random::generate(&spec);
    model.save(&a.out, a.force)?;
    inputs.save(&inputs_path, a.force)?;
    println!(
        "wrote {} ({} layers: {}) and {} ({} sequences x {} frames)",
        a.out.display(),
        model.layers.len(),
        a.layers
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join("-"),
        inputs_path.display(),
        a.sequences,
        a.frames
    );
    Ok(())
}

/// Everything `golden` computes, for reuse by later flow steps.
pub struct GoldenRun {
    pub model: Model,
    pub inputs: Inputs,
    pub config: AccelConfig,
    pub traces: Traces,
    pub sparsity: stats::Sparsity,
    pub cycles: cycles::CycleReport,
}

impl GoldenRun {
    /// Compares the golden traces with a producer's exported ones (delta maps only when the
    /// file has them): the number of differing values and the first difference.
    pub fn compare_expected(&self, path: &Path) -> Result<(u64, Option<crate::io::Mismatch>)> {
        let expected = Traces::load(
            path,
            &self.model,
            self.inputs.sequences(),
            self.inputs.frames_per_sequence(),
        )
        .with_context(|| format!("loading expected traces {}", path.display()))?;
        if expected.deltas.is_empty() {
            let mut actual = self.traces.clone();
            actual.deltas.clear();
            return Ok(expected.compare(&actual));
        }
        Ok(expected.compare(&self.traces))
    }

    /// Sparsity and cycle-model figures shared by `golden.json` and the flow's golden step.
    pub fn figures(&self) -> serde_json::Map<String, serde_json::Value> {
        let (s, c) = (&self.sparsity, &self.cycles);
        let v = json!({
            "config": self.config.name,
            "config_hash": self.config.hash(),
            "sequences": self.inputs.sequences(),
            "frames": s.frames,
            "delta_density": s.delta_density,
            "delta_density_per_layer": s.delta_density_per_layer,
            "mac_weighted_density": s.mac_weighted_density,
            "activation_density": s.activation_density,
            "nnz_per_layer": s.nnz_per_layer,
            "ideal_cycles": c.ideal_cycles,
            "predicted_cycles": c.predicted_cycles,
            "dense_cycles": c.dense_cycles,
            "predicted_efficiency": c.efficiency(),
            "predicted_speedup_vs_dense": c.speedup_vs_dense(),
        });
        match v {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }
}

/// Loads model, inputs and config, checks they fit together, runs the golden and cycle models.
pub fn golden_run(model_dir: &Path, inputs: &Path, config: &str, quiet: bool) -> Result<GoldenRun> {
    let config = AccelConfig::load(config)?;
    let model = Model::load(model_dir)
        .with_context(|| format!("loading model package {}", model_dir.display()))?;
    config.validate_model(&model).with_context(|| {
        format!(
            "config `{}` cannot run model {}",
            config.name,
            model_dir.display()
        )
    })?;
    let inputs_data = Inputs::load(inputs, &model).context("loading inputs")?;
    let pb = progress(inputs_data.sequences() as u64, "golden", quiet);
    let traces = golden::run_all(&model, &inputs_data, |_| pb.inc(1))?;
    pb.finish_and_clear();
    let lengths = inputs_data.lengths_vec();
    let sparsity = stats::sparsity(&model, &traces, &lengths);
    let cycles = cycles::cycle_report(&config, &model, &traces, &lengths);
    Ok(GoldenRun {
        model,
        inputs: inputs_data,
        config,
        traces,
        sparsity,
        cycles,
    })
}

fn run_golden(a: &GoldenArgs, quiet: bool) -> Result<()> {
    let outputs = ["golden.npz", "golden.json", "golden.md"].map(|f| a.out.join(f));
    for p in &outputs {
        format::check_writable(p, a.force)?;
    }
    let g = golden_run(&a.model, &a.inputs, &a.config, quiet)?;
    let mismatch = match &a.expect {
        Some(path) => Some(g.compare_expected(path)?),
        None => None,
    };
    g.traces.save(&outputs[0], a.force)?;
    let c = &g.cycles;
    let s = &g.sparsity;
    let mut figures = g.figures();
    figures.insert("model".into(), json!(a.model.display().to_string()));
    figures.insert("inputs".into(), json!(a.inputs.display().to_string()));
    let mut report = serde_json::Value::Object(figures);
    if let Some((n, _)) = &mismatch {
        report["mismatches"] = json!(n);
    }
    let text = serde_json::to_string_pretty(&report)? + "\n";
    format::write_text(&outputs[1], &text, a.force)?;
    format::write_text(
        &outputs[2],
        &golden_markdown(&g, a, mismatch.as_ref().map(|m| m.0)),
        a.force,
    )?;
    println!(
        "{} frames: delta density {:.4} (per layer {}), cycles ideal {} / predicted {} / dense {} (efficiency {:.3}, speedup {:.2}x)",
        s.frames,
        s.delta_density,
        s.delta_density_per_layer.iter().map(|d| format!("{d:.3}")).collect::<Vec<_>>().join(", "),
        c.ideal_cycles,
        c.predicted_cycles,
        c.dense_cycles,
        c.efficiency(),
        c.speedup_vs_dense()
    );
    println!("wrote {}", a.out.display());
    if let Some((n, first)) = mismatch {
        if let Some(m) = first {
            bail!(
                "{n} values differ from {}; first: {m}",
                a.expect
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string())
            );
        }
        println!(
            "traces match {} bit for bit",
            a.expect
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        );
    }
    Ok(())
}

fn golden_markdown(g: &GoldenRun, a: &GoldenArgs, mismatches: Option<u64>) -> String {
    let s = &g.sparsity;
    let c = &g.cycles;
    let mut md = format!(
        "# Golden model\n\nModel `{}`, inputs `{}`, config `{}` ({} PEs, {} lanes, hash {}).\n\n",
        a.model.display(),
        a.inputs.display(),
        g.config.name,
        g.config.pe_count,
        g.config.nz_lanes,
        g.config.hash()
    );
    md += &format!(
        "| metric | value |\n|---|---|\n| sequences x frames | {} x {} |\n| pooled delta density (t > 0) | {:.4} |\n| MAC-weighted density | {:.4} |\n| activation density | {:.4} |\n| ideal cycles | {} |\n| predicted cycles | {} |\n| dense cycles | {} |\n| predicted efficiency | {:.3} |\n| predicted speedup vs dense | {:.2}x |\n",
        g.inputs.sequences(),
        g.inputs.frames_per_sequence(),
        s.delta_density,
        s.mac_weighted_density,
        s.activation_density,
        c.ideal_cycles,
        c.predicted_cycles,
        c.dense_cycles,
        c.efficiency(),
        c.speedup_vs_dense()
    );
    if let Some(n) = mismatches {
        md += &format!("| mismatches vs expected traces | {n} |\n");
    }
    md += "\n| layer | in | out | delta density |\n|---|---|---|---|\n";
    for (i, (l, d)) in g
        .model
        .layers
        .iter()
        .zip(&s.delta_density_per_layer)
        .enumerate()
    {
        md += &format!("| {i} | {} | {} | {d:.4} |\n", l.inputs(), l.outputs());
    }
    md
}

fn inspect(dir: &Path) -> Result<()> {
    let m = Model::load(dir).with_context(|| format!("loading model package {}", dir.display()))?;
    println!(
        "model {}: {} layers, act_bits {}, weight_bits {}, acc_bits {}, input_scale {}",
        dir.display(),
        m.layers.len(),
        m.act_bits,
        m.weight_bits,
        m.acc_bits,
        m.input_scale
    );
    println!(
        "{:>5} {:>6} {:>6} {:>6} {:>5} {:>12} {:>6} {:>7} {:>24}",
        "layer", "in", "out", "theta", "tau", "requant M/S", "wta_k", "max|w|", "bias range"
    );
    for (i, l) in m.layers.iter().enumerate() {
        let rq = l.requant.map_or("logits".to_string(), |r| {
            format!("{}/{}", r.multiplier, r.shift)
        });
        let wmax = l
            .weight
            .iter()
            .map(|w| i32::from(*w).abs())
            .max()
            .unwrap_or(0);
        let bmin = l.bias.iter().min().copied().unwrap_or(0);
        let bmax = l.bias.iter().max().copied().unwrap_or(0);
        println!(
            "{:>5} {:>6} {:>6} {:>6} {:>5} {:>12} {:>6} {:>7} {:>24}",
            i,
            l.inputs(),
            l.outputs(),
            l.theta,
            l.tau,
            rq,
            l.wta_k.map_or("-".to_string(), |k| k.to_string()),
            wmax,
            format!("[{bmin}, {bmax}]")
        );
    }
    let macs: usize = m.layers.iter().map(|l| l.inputs() * l.outputs()).sum();
    let bound = m.worst_case_accumulator();
    println!(
        "dense MACs per frame: {macs}; worst-case |Y| {} (layer {}, needs acc_bits >= {})",
        bound.value,
        bound.layer,
        crate::config::bits_for_signed(bound.value)
    );
    if !m.class_names.is_empty() {
        println!("classes: {}", m.class_names.join(", "));
    }
    if !m.provenance.is_null() {
        println!("provenance: {}", m.provenance);
    }
    Ok(())
}

fn config_cmd(name: Option<&str>) -> Result<()> {
    match name {
        None => {
            println!(
                "{:<16} {:>4} {:>6} {:>8} {:>8} {:>8} {:>6}  target",
                "preset", "PEs", "lanes", "max_in", "max_out", "clock", "dsp"
            );
            for n in AccelConfig::preset_names() {
                let c = AccelConfig::preset(n).expect("preset exists");
                println!(
                    "{:<16} {:>4} {:>6} {:>8} {:>8} {:>7}M {:>6}  {}",
                    n,
                    c.pe_count,
                    c.nz_lanes,
                    c.max_in,
                    c.max_out,
                    c.clock_mhz,
                    c.max_dsp,
                    c.target
                );
            }
        }
        Some(spec) => {
            let c = AccelConfig::load(spec)?;
            print!("# hash {}\n{}", c.hash(), c.to_toml());
        }
    }
    Ok(())
}

fn run_sim(a: SimArgs, quiet: bool) -> Result<()> {
    let opts = crate::sim::SimOptions {
        config: a.config,
        model: a.model,
        inputs: a.inputs,
        out: a.out.clone(),
        stall_prob: a.stall_prob,
        seed: a.seed,
        vcd: a.vcd,
        expect: a.expect,
        cache_dir: Some(a.cache_dir),
        force: a.force,
        quiet,
    };
    let r = crate::sim::run(&opts)?;
    if let Some(m) = &r.first_mismatch {
        anyhow::bail!(
            "RTL differs from the golden model at {m} (report: {})",
            a.out.join("sim.json").display()
        );
    }
    if r.rtl_cycles != r.predicted_cycles {
        anyhow::bail!(
            "RTL took {} cycles, the cycle model predicts {} ({} frames differ; report: {})",
            r.rtl_cycles,
            r.predicted_cycles,
            r.frames_off_cycle_model,
            a.out.join("sim.json").display()
        );
    }
    println!(
        "{} frames: 0 mismatches ({} logits, {} activations), rtl_cycles {} = predicted, \
         efficiency {:.3}, speedup vs dense {:.2}x, {:.0} sim cycles/s -> {}",
        r.frames,
        r.logits_compared,
        r.activations_compared,
        r.rtl_cycles,
        r.efficiency,
        r.speedup_vs_dense,
        r.sim_cycles_per_second,
        a.out.join("sim.json").display()
    );
    Ok(())
}

fn run_bench(a: BenchArgs, quiet: bool) -> Result<()> {
    let command = format!(
        "deltagen bench --configs {} --layers {} --sequences {} --frames {} --seed {} --out {}",
        a.configs.join(","),
        a.layers
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(","),
        a.sequences,
        a.frames,
        a.seed,
        a.out.display()
    );
    let opts = crate::bench::BenchOptions {
        configs: a.configs,
        widths: a.layers,
        points: crate::bench::DEFAULT_POINTS.to_vec(),
        sequences: a.sequences,
        frames: a.frames,
        seed: a.seed,
        out: a.out.clone(),
        cache_dir: a.cache_dir,
        force: a.force,
        quiet,
    };
    let r = crate::bench::run(&opts, &command)?;
    print!("{}", crate::bench::table(&r));
    println!("wrote {}", a.out.join("bench.md").display());
    if let Some(bad) = r
        .rows
        .iter()
        .find(|x| x.mismatches != 0 || x.rtl_cycles != x.predicted_cycles)
    {
        bail!(
            "{} at density {:.3}: {} mismatches, rtl_cycles {} vs predicted {}",
            bad.config,
            bad.delta_density,
            bad.mismatches,
            bad.rtl_cycles,
            bad.predicted_cycles
        );
    }
    Ok(())
}
