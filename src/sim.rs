//! `deltagen sim`: the generated RTL in Verilator, driven frame by frame from Rust and compared
//! bit for bit with the golden model: every frame's logits and every hidden activation.
//!
//! The RTL is written by [`crate::generate::generate`] into `OUT/generate/rtl/`, verilated once
//! per distinct Verilog (cached by content hash, see `deltagen-testbenches`), and its memories
//! are loaded at start-up from that directory. Optional seeded stalls deassert the input
//! `tvalid` and the output `tready` at random to show no data is lost under back-pressure.
//!
//! `rtl_cycles` = Σ over frames (busy cycles + 1 Idle cycle): the accelerator starts a frame only
//! when it is whole in its input buffer and its logits fit the logit FIFO, so this count does not
//! depend on the stalls and must equal the cycle model's `predicted_cycles`
//! (docs/architecture.md). `sim_cycles` counts every simulated cycle, stalls included.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::cli::{golden_run, progress, GoldenRun};
use crate::cycles;
use crate::format;
use deltagen_hdl::design::TOP_NAME;
use deltagen_testbenches::{Build, PortId, Sim};

/// What to simulate and where to write.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Accelerator config: a TOML file or a preset name.
    pub config: String,
    pub model: PathBuf,
    pub inputs: PathBuf,
    pub out: PathBuf,
    /// Probability that the input `tvalid` (and, independently, the output `tready`) is held low
    /// in a cycle.
    pub stall_prob: f64,
    pub seed: u64,
    pub vcd: Option<PathBuf>,
    /// Traces a producer exported (e.g. `deltagen train`'s traces.npz): the golden model must
    /// reproduce them bit for bit before the RTL is compared with it.
    pub expect: Option<PathBuf>,
    /// Where verilated builds are cached (default `build/verilator-cache`).
    pub cache_dir: Option<PathBuf>,
    pub force: bool,
    pub quiet: bool,
}

/// The first difference between RTL and golden model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimMismatch {
    pub sequence: usize,
    pub frame: usize,
    /// Layer whose output differs (the last layer for logits).
    pub layer: usize,
    pub neuron: usize,
    /// `logit`, `activation`, or `missing activation` (never seen on the monitor port).
    pub what: String,
    pub expected: i64,
    /// `None` when the RTL never produced the value.
    pub actual: Option<i64>,
}

impl std::fmt::Display for SimMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sequence {}, frame {}, layer {}, neuron {}: {} expected {}, RTL {}",
            self.sequence,
            self.frame,
            self.layer,
            self.neuron,
            self.what,
            self.expected,
            self.actual
                .map_or_else(|| "produced nothing".to_string(), |a| a.to_string())
        )
    }
}

/// `sim.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub config: String,
    pub config_hash: String,
    pub model: String,
    pub inputs: String,
    pub sequences: usize,
    /// Frames simulated and compared.
    pub frames: u64,
    /// Values that differ (the simulation stops at the first).
    pub mismatches: u64,
    pub first_mismatch: Option<SimMismatch>,
    /// Σ over frames of (busy cycles + 1 Idle cycle): independent of stream stalls.
    pub rtl_cycles: u64,
    pub predicted_cycles: u64,
    pub ideal_cycles: u64,
    pub dense_cycles: u64,
    /// ideal_cycles / rtl_cycles.
    pub efficiency: f64,
    /// dense_cycles / rtl_cycles.
    pub speedup_vs_dense: f64,
    /// Pooled delta density (nonzero deltas / elements over all layer inputs, t = 0 excluded).
    pub delta_density: f64,
    /// The same weighted by each layer's fan-out (what the PE array sees).
    pub mac_weighted_density: f64,
    /// Frames whose busy cycles differ from the cycle model.
    pub frames_off_cycle_model: u64,
    /// Hidden activations compared.
    pub activations_compared: u64,
    pub logits_compared: u64,
    /// Every simulated cycle, stalls included.
    pub sim_cycles: u64,
    pub sim_seconds: f64,
    pub sim_cycles_per_second: f64,
    /// Verilating and compiling (0 when the cached build was reused).
    pub build_seconds: f64,
    pub build_cached: bool,
    pub stall_prob: f64,
    pub seed: u64,
    pub verilator: String,
    pub vcd: Option<String>,
    /// The traces given with `expect`, which the golden model reproduced bit for bit.
    pub expect: Option<String>,
}

impl SimReport {
    pub fn passed(&self) -> bool {
        self.mismatches == 0 && self.rtl_cycles == self.predicted_cycles
    }

    pub fn markdown(&self) -> String {
        let mut s = format!(
            "# RTL co-simulation (Verilator)\n\n\
             Config `{}` (hash {}), model `{}`, inputs `{}`.\n\n\
             | | |\n|---|---|\n\
             | sequences / frames | {} / {} |\n\
             | mismatches | {} |\n\
             | logits / hidden activations compared | {} / {} |\n\
             | rtl_cycles (busy + idle per frame) | {} |\n\
             | predicted_cycles (cycle model) | {} |\n\
             | ideal_cycles / dense_cycles | {} / {} |\n\
             | efficiency (ideal / rtl) | {:.3} |\n\
             | speedup vs dense | {:.2}x |\n\
             | delta density (pooled / MAC-weighted) | {:.4} / {:.4} |\n\
             | stall probability, seed | {}, {} |\n\
             | simulated cycles (stalls included) | {} |\n\
             | simulation speed | {:.0} cycles/s ({:.2} s) |\n\
             | build | {} |\n",
            self.config,
            self.config_hash,
            self.model,
            self.inputs,
            self.sequences,
            self.frames,
            self.mismatches,
            self.logits_compared,
            self.activations_compared,
            self.rtl_cycles,
            self.predicted_cycles,
            self.ideal_cycles,
            self.dense_cycles,
            self.efficiency,
            self.speedup_vs_dense,
            self.delta_density,
            self.mac_weighted_density,
            self.stall_prob,
            self.seed,
            self.sim_cycles,
            self.sim_cycles_per_second,
            self.sim_seconds,
            if self.build_cached {
                "cached".to_string()
            } else {
                format!("verilated in {:.1} s", self.build_seconds)
            },
        );
        if let Some(e) = &self.expect {
            s += &format!(
                "\nThe golden model reproduced the exported traces `{e}` bit for bit, so the RTL \
                 matches them too.\n"
            );
        }
        if let Some(m) = &self.first_mismatch {
            s += &format!("\n**First mismatch:** {m}\n");
        }
        s += &format!("\nVerilator: {}\n", self.verilator.trim());
        s
    }
}

struct Ports {
    clock: PortId,
    s_valid: PortId,
    s_ready: PortId,
    s_data: PortId,
    s_user: PortId,
    s_last: PortId,
    m_valid: PortId,
    m_ready: PortId,
    m_data: PortId,
    m_last: PortId,
    busy: PortId,
    error: PortId,
    mon_valid: PortId,
    mon_layer: PortId,
    mon_base: PortId,
    mon_lanes: PortId,
    mon_z: PortId,
}

impl Ports {
    fn find(sim: &Sim) -> Result<Ports> {
        let p = |n: &str| sim.port(n).with_context(|| format!("verilated {TOP_NAME}"));
        Ok(Ports {
            clock: p("clock")?,
            s_valid: p("s_axis_tvalid")?,
            s_ready: p("s_axis_tready")?,
            s_data: p("s_axis_tdata")?,
            s_user: p("s_axis_tuser")?,
            s_last: p("s_axis_tlast")?,
            m_valid: p("m_axis_tvalid")?,
            m_ready: p("m_axis_tready")?,
            m_data: p("m_axis_tdata")?,
            m_last: p("m_axis_tlast")?,
            busy: p("busy")?,
            error: p("error")?,
            mon_valid: p("mon_valid")?,
            mon_layer: p("mon_layer")?,
            mon_base: p("mon_base")?,
            mon_lanes: p("mon_lanes")?,
            mon_z: p("mon_z")?,
        })
    }
}

/// Verilates (or reuses) the RTL in `rtl_dir` and loads it with its memories.
pub fn load_rtl(
    rtl_dir: &Path,
    cache_dir: &Path,
    trace: bool,
    quiet: bool,
) -> Result<(Sim, f64, bool)> {
    let top_v = rtl_dir.join(format!("{TOP_NAME}.v"));
    let waivers = rtl_dir.join("verilator_waivers.vlt");
    let mut build = Build::new(TOP_NAME, vec![waivers, top_v], cache_dir);
    build.readmem_plusarg = true;
    build.trace = trace;
    let cached = build
        .is_cached()
        .context("hashing the RTL for the Verilator cache")?;
    let t0 = Instant::now();
    let spinner = if quiet || cached {
        indicatif::ProgressBar::hidden()
    } else {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message("verilating the RTL (once per distinct design; cached afterwards)");
        s.enable_steady_tick(std::time::Duration::from_millis(200));
        s
    };
    let memdir =
        std::path::absolute(rtl_dir).with_context(|| format!("resolving {}", rtl_dir.display()))?;
    let sim = build
        .load_with_args(&[format!("+dg_memdir={}", memdir.display())])
        .context("building the Verilator model")?;
    spinner.finish_and_clear();
    Ok((sim, t0.elapsed().as_secs_f64(), cached))
}

/// Seeded stall source: each call says whether to hold a handshake signal low this cycle.
struct Stalls {
    rng: ChaCha8Rng,
    prob: f64,
}

impl Stalls {
    fn hit(&mut self) -> bool {
        self.prob > 0.0 && self.rng.gen_bool(self.prob)
    }
}

/// Runs the simulation and writes `sim.json` and `sim.md` into `opts.out` (also when the RTL
/// disagrees with the golden model: the report then names the first mismatch).
pub fn run(opts: &SimOptions) -> Result<SimReport> {
    if !(0.0..1.0).contains(&opts.stall_prob) {
        bail!(
            "--stall-prob {} is out of range: use 0 <= p < 1",
            opts.stall_prob
        );
    }
    let json_path = opts.out.join("sim.json");
    let md_path = opts.out.join("sim.md");
    for p in [&json_path, &md_path] {
        format::check_writable(p, opts.force)?;
    }
    if let Some(v) = &opts.vcd {
        format::check_writable(v, opts.force)?;
    }
    let g = golden_run(&opts.model, &opts.inputs, &opts.config, opts.quiet)?;
    if let Some(path) = &opts.expect {
        if let (n, Some(m)) = g.compare_expected(path)? {
            bail!(
                "the golden model does not reproduce {} ({n} values differ; first: {m}): \
                 the model package and its traces disagree, the RTL was not simulated",
                path.display()
            );
        }
    }
    let gen_dir = opts.out.join("generate");
    crate::generate::generate(&opts.config, &opts.model, &gen_dir, true)
        .context("generating the RTL")?;
    let cache_dir = opts
        .cache_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("build/verilator-cache"));
    let (mut sim, build_seconds, build_cached) = load_rtl(
        &gen_dir.join("rtl"),
        &cache_dir,
        opts.vcd.is_some(),
        opts.quiet,
    )?;
    if let Some(v) = &opts.vcd {
        if let Some(parent) = v.parent() {
            std::fs::create_dir_all(parent).ok();
        }
        sim.trace_to(v)?;
    }
    let mut report = drive(&mut sim, &g, opts)?;
    report.build_seconds = build_seconds;
    report.build_cached = build_cached;
    report.verilator = deltagen_testbenches::verilator_version().unwrap_or_default();
    report.vcd = opts.vcd.as_ref().map(|v| v.display().to_string());
    report.expect = opts.expect.as_ref().map(|v| v.display().to_string());
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    format::write_text(
        &json_path,
        &(serde_json::to_string_pretty(&report)? + "\n"),
        true,
    )?;
    format::write_text(&md_path, &report.markdown(), true)?;
    Ok(report)
}

/// The frames to send, in order: (sequence, frame).
fn frame_order(g: &GoldenRun) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for (s, &len) in g.inputs.lengths_vec().iter().enumerate() {
        for t in 0..len {
            v.push((s, t));
        }
    }
    v
}

fn drive(sim: &mut Sim, g: &GoldenRun, opts: &SimOptions) -> Result<SimReport> {
    let ports = Ports::find(sim)?;
    let order = frame_order(g);
    let lanes = g.config.nz_lanes as usize;
    let n_in = g.model.input_size();
    let beats = n_in.div_ceil(lanes);
    let n_out = g.model.output_size();
    let widths: Vec<usize> = g.model.layers.iter().map(|l| l.outputs()).collect();
    let hidden = widths.len() - 1;
    let predicted_frames: Vec<u64> = g
        .cycles
        .per_sequence
        .iter()
        .flat_map(|s| s.frame_cycles())
        .collect();
    let mut stalls = Stalls {
        rng: ChaCha8Rng::seed_from_u64(opts.seed),
        prob: opts.stall_prob,
    };
    let pb = progress(order.len() as u64, "sim", opts.quiet);
    let mut first_mismatch: Option<SimMismatch> = None;
    // Input side.
    let (mut fi, mut beat) = (0usize, 0usize);
    // Output side: frame whose logits are arriving, logits so far.
    let (mut fo, mut logit_i) = (0usize, 0usize);
    // Busy intervals = frames in the datapath.
    let (mut fb, mut busy_run) = (0usize, 0u64);
    let mut rtl_cycles = 0u64;
    let mut off_model = 0u64;
    let mut seen: Vec<Vec<bool>> = widths[..hidden].iter().map(|w| vec![false; *w]).collect();
    let (mut acts_compared, mut logits_compared) = (0u64, 0u64);
    let mut cycles_run = 0u64;
    let mut last_progress = 0u64;
    let hang_limit = 10_000 + 20 * g.cycles.predicted_cycles.max(1) / order.len().max(1) as u64;
    let t0 = Instant::now();
    let x = &g.inputs.frames;
    while fo < order.len() && first_mismatch.is_none() {
        // Present the current input beat (held until accepted).
        let mut tvalid = false;
        if fi < order.len() {
            let (s, t) = order[fi];
            let mut data = 0u64;
            for l in 0..lanes {
                let i = beat * lanes + l;
                if i < n_in {
                    data |= u64::from(x[[s, t, i]] as u8) << (8 * l);
                }
            }
            sim.set(ports.s_data, data);
            sim.set(ports.s_user, u64::from(t == 0 && beat == 0));
            sim.set(ports.s_last, u64::from(beat + 1 == beats));
            tvalid = !stalls.hit();
        }
        sim.set(ports.s_valid, u64::from(tvalid));
        let tready = !stalls.hit();
        sim.set(ports.m_ready, u64::from(tready));
        sim.eval();
        if sim.get(ports.error) != 0 {
            bail!("the accelerator raised `error` (tlast disagreed with the frame length, or the compactor overran) at input frame {fi}");
        }
        let in_hs = tvalid && sim.get(ports.s_ready) != 0;
        let out_hs = tready && sim.get(ports.m_valid) != 0;
        let busy = sim.get(ports.busy) != 0;
        if busy {
            if fb >= order.len() {
                bail!("the RTL started more frames than were sent");
            }
            busy_run += 1;
            if sim.get(ports.mon_valid) != 0 {
                let layer = sim.get(ports.mon_layer) as usize;
                let base = sim.get(ports.mon_base) as usize;
                let mask = sim.get(ports.mon_lanes);
                let z = sim.get(ports.mon_z);
                let (s, t) = order[fb];
                for l in 0..lanes {
                    let idx = base + l;
                    if layer == 0
                        || layer > hidden
                        || mask >> l & 1 == 0
                        || idx >= widths[layer - 1]
                    {
                        continue;
                    }
                    let hl = layer - 1;
                    let got = i64::from((z >> (8 * l)) as u8 as i8);
                    let exp = i64::from(g.traces.acts[hl][[s, t, idx]]);
                    seen[hl][idx] = true;
                    acts_compared += 1;
                    if got != exp && first_mismatch.is_none() {
                        first_mismatch = Some(SimMismatch {
                            sequence: s,
                            frame: t,
                            layer: hl,
                            neuron: idx,
                            what: "activation".into(),
                            expected: exp,
                            actual: Some(got),
                        });
                    }
                }
            }
        } else if busy_run > 0 {
            // A frame left the datapath: every hidden activation must have been seen once.
            let (s, t) = order[fb];
            for (hl, v) in seen.iter_mut().enumerate() {
                if let Some(i) = v.iter().position(|b| !b) {
                    if first_mismatch.is_none() {
                        first_mismatch = Some(SimMismatch {
                            sequence: s,
                            frame: t,
                            layer: hl,
                            neuron: i,
                            what: "missing activation".into(),
                            expected: i64::from(g.traces.acts[hl][[s, t, i]]),
                            actual: None,
                        });
                    }
                }
                v.iter_mut().for_each(|b| *b = false);
            }
            let frame_cycles = busy_run + cycles::IDLE_CYCLES;
            rtl_cycles += frame_cycles;
            if frame_cycles != predicted_frames[fb] {
                off_model += 1;
            }
            fb += 1;
            busy_run = 0;
        }
        if out_hs {
            let (s, t) = order[fo];
            let got = i64::from(sim.get(ports.m_data) as u32 as i32);
            let last = sim.get(ports.m_last) != 0;
            if logit_i < n_out {
                let exp = i64::from(g.traces.logits[[s, t, logit_i]]);
                logits_compared += 1;
                if got != exp && first_mismatch.is_none() {
                    first_mismatch = Some(SimMismatch {
                        sequence: s,
                        frame: t,
                        layer: hidden,
                        neuron: logit_i,
                        what: "logit".into(),
                        expected: exp,
                        actual: Some(got),
                    });
                }
            }
            logit_i += 1;
            if last != (logit_i == n_out) {
                bail!(
                    "sequence {s}, frame {t}: m_axis_tlast after {logit_i} logits, the model has {n_out}"
                );
            }
            if last {
                fo += 1;
                logit_i = 0;
                pb.inc(1);
                last_progress = cycles_run;
            }
        }
        sim.tick(ports.clock);
        cycles_run += 1;
        if in_hs {
            beat += 1;
            if beat == beats {
                beat = 0;
                fi += 1;
            }
        }
        if cycles_run - last_progress > hang_limit {
            bail!(
                "the RTL made no progress for {hang_limit} cycles: {fo} of {} frames out, {fi} in",
                order.len()
            );
        }
    }
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let c = &g.cycles;
    let s = &g.sparsity;
    Ok(SimReport {
        config: g.config.name.clone(),
        config_hash: g.config.hash(),
        model: opts.model.display().to_string(),
        inputs: opts.inputs.display().to_string(),
        sequences: g.inputs.sequences(),
        frames: fo as u64,
        mismatches: u64::from(first_mismatch.is_some()),
        first_mismatch,
        rtl_cycles,
        predicted_cycles: c.predicted_cycles,
        ideal_cycles: c.ideal_cycles,
        dense_cycles: c.dense_cycles,
        efficiency: c.ideal_cycles as f64 / rtl_cycles.max(1) as f64,
        speedup_vs_dense: c.dense_cycles as f64 / rtl_cycles.max(1) as f64,
        delta_density: s.delta_density,
        mac_weighted_density: s.mac_weighted_density,
        frames_off_cycle_model: off_model,
        activations_compared: acts_compared,
        logits_compared,
        sim_cycles: cycles_run,
        sim_seconds: secs,
        sim_cycles_per_second: cycles_run as f64 / secs.max(1e-9),
        build_seconds: 0.0,
        build_cached: false,
        stall_prob: opts.stall_prob,
        seed: opts.seed,
        verilator: String::new(),
        vcd: None,
        expect: None,
    })
}
