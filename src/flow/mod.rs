//! `deltagen flow`: the whole job as named, cached steps (FINN-style builds).
//!
//! Steps run in the order of [`STEP_NAMES`]; each writes into `OUT/<preset name>/<step>/` and
//! leaves `step.json` (flat: inputs hash, outputs with their SHA-256, duration, key figures) and
//! `step.md`. A step is skipped when the hash of its inputs (the preset fields it uses, the
//! hashes of its upstream steps' outputs and the deltagen version) equals the recorded one and
//! its outputs are unchanged on disk. `step.json` is written last, so an interrupted or failed
//! step has none and reruns next time while the earlier steps stay done.
//!
//! Adding a stage (`sim`, `synth`) is one [`Step`] implementation plus its entry in
//! [`available_steps`]; the report already reads `sim/sim.json` and `synth/synth.json`.

pub mod charts;
pub mod preset;
pub mod report;
pub mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub use preset::Preset;

/// Every step of the flow, in order; `sim` and `synth` are being built (see [`available_steps`]).
pub const STEP_NAMES: [&str; 8] = [
    "fetch-data",
    "train",
    "export",
    "golden",
    "generate",
    "sim",
    "synth",
    "report",
];

#[derive(Args, Debug, Clone)]
pub struct FlowArgs {
    /// A preset name (configs/flows/NAME.toml, built in) or a path to a preset TOML file.
    #[arg(long, required_unless_present = "list")]
    pub preset: Option<String>,
    /// Build root: the flow writes OUT/<preset name>/<step>/.
    #[arg(long, default_value = "build")]
    pub out: PathBuf,
    /// First step to run (earlier steps must have run).
    #[arg(long)]
    pub from: Option<String>,
    /// Last step to run.
    #[arg(long)]
    pub to: Option<String>,
    /// Rerun the selected steps even when they are up to date (and write into an output
    /// directory the flow did not create).
    #[arg(long)]
    pub force: bool,
    /// Training data root, as written by tools/fetch-data.sh.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// List the presets and the steps, then exit.
    #[arg(long)]
    pub list: bool,
}

/// What one step produced.
pub struct Outcome {
    /// Files written: paths under [`Ctx::dir`] or [`Ctx::root`], or absolute (data files).
    pub outputs: Vec<PathBuf>,
    /// Key figures, flat, copied into `step.json`.
    pub figures: Map<String, Value>,
}

/// One stage of the flow.
pub trait Step {
    fn name(&self) -> &'static str;
    /// Earlier steps whose outputs this one reads; their output hashes are part of its inputs.
    fn upstream(&self) -> Vec<&'static str>;
    /// Whether missing upstream steps are allowed (the report renders what exists).
    fn upstream_optional(&self) -> bool {
        false
    }
    /// The preset fields and tool versions the step depends on.
    fn params(&self, ctx: &Ctx) -> Result<Value>;
    /// Does the work in `dir` (created empty).
    fn run(&self, ctx: &Ctx, dir: &Path) -> Result<Outcome>;
    /// One line of key figures, for the log and the report.
    fn summary(&self, figures: &Map<String, Value>) -> String;
}

/// The steps this version implements, in flow order.
pub fn available_steps() -> Vec<Box<dyn Step>> {
    vec![
        Box::new(steps::FetchData),
        Box::new(steps::Train),
        Box::new(steps::Export),
        Box::new(steps::Golden),
        Box::new(steps::Generate),
        Box::new(steps::Sim),
        Box::new(steps::Synth),
        Box::new(steps::Report),
    ]
}

/// `step.json`: the record of a finished step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub step: String,
    pub inputs_hash: String,
    /// What was hashed: `params` and the `upstream` output hashes.
    pub inputs: Value,
    /// Output file (relative to the flow directory, or absolute) -> SHA-256.
    pub outputs: BTreeMap<String, String>,
    pub outputs_hash: String,
    pub duration_seconds: f64,
    pub finished_utc: String,
    pub deltagen_version: String,
    pub machine: String,
    /// The command that reproduces the step on its own.
    pub command: String,
    #[serde(flatten)]
    pub figures: Map<String, Value>,
}

/// A step's state after this invocation, for the log and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Ran,
    Skipped,
    Failed,
    NotSelected,
    NotAvailable,
}

/// Everything a step may read.
pub struct Ctx {
    pub preset: Preset,
    /// OUT/<preset name>.
    pub root: PathBuf,
    pub data_dir: PathBuf,
    pub quiet: bool,
    pub records: BTreeMap<String, Record>,
    pub states: BTreeMap<String, State>,
    /// Per available step: whether its record matches its current inputs (None: cannot tell,
    /// an upstream step has not run).
    pub fresh: BTreeMap<String, Option<bool>>,
    /// The `deltagen flow` command that reproduces the whole run.
    pub flow_command: String,
}

impl Ctx {
    pub fn dir(&self, step: &str) -> PathBuf {
        self.root.join(step)
    }

    pub fn record(&self, step: &str) -> Option<&Record> {
        self.records.get(step)
    }

    /// Where a step's stand-alone reproduce command writes (apart from the flow's own outputs).
    pub fn reproduce_dir(&self, step: &str) -> PathBuf {
        self.root.join("reproduce").join(step)
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of a JSON value (serde_json maps are sorted, so the text is canonical).
pub fn sha256_json(v: &Value) -> String {
    hex(&Sha256::digest(v.to_string().as_bytes()))
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_string(secs)
}

fn utc_string(secs: u64) -> String {
    // Days to civil date (H. Hinnant's algorithm).
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Cores and CPU model, for the record next to measured durations.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{cores} cores, {cpu}")
}

fn step_index(name: &str, flag: &str) -> Result<usize> {
    STEP_NAMES.iter().position(|s| *s == name).ok_or_else(|| {
        anyhow!(
            "{flag} {name}: unknown step; the steps are {}",
            STEP_NAMES.join(", ")
        )
    })
}

fn read_record(path: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Output file key: relative to the flow directory when inside it, else absolute.
fn output_key(root: &Path, p: &Path) -> String {
    if let Ok(r) = p.strip_prefix(root) {
        return r.display().to_string();
    }
    if p.is_absolute() {
        return p.display().to_string();
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn output_path(root: &Path, key: &str) -> PathBuf {
    let p = Path::new(key);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

/// The first recorded output that is missing or changed, if any.
fn changed_output(root: &Path, r: &Record) -> Option<String> {
    for (key, hash) in &r.outputs {
        match sha256_file(&output_path(root, key)) {
            Ok(h) if &h == hash => {}
            Ok(_) => return Some(format!("{key} changed")),
            Err(_) => return Some(format!("{key} is missing")),
        }
    }
    None
}

/// The inputs of `step` as they stand: its params and its upstream steps' output hashes.
/// `Ok(None)` when a required upstream step has no record.
fn current_inputs(ctx: &Ctx, step: &dyn Step) -> Result<Option<Value>> {
    let mut up = Map::new();
    for u in step.upstream() {
        match ctx.record(u) {
            Some(r) => {
                up.insert(u.to_string(), json!(r.outputs_hash));
            }
            None if step.upstream_optional() => {
                up.insert(u.to_string(), json!("not run"));
            }
            None => return Ok(None),
        }
    }
    Ok(Some(json!({
        "step": step.name(),
        "params": step.params(ctx)?,
        "upstream": up,
    })))
}

/// Names the top-level parts of the inputs that differ (`params.method`, `upstream.train`).
fn changed_keys(old: &Value, new: &Value) -> Vec<String> {
    let mut out = vec![];
    for part in ["params", "upstream"] {
        let (o, n) = (&old[part], &new[part]);
        match (o.as_object(), n.as_object()) {
            (Some(o), Some(n)) => {
                let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
                for k in keys {
                    if o.get(k) != n.get(k) {
                        out.push(format!("{part}.{k}"));
                    }
                }
            }
            _ if o != n => out.push(part.to_string()),
            _ => {}
        }
    }
    out
}

fn update_fresh(ctx: &mut Ctx, steps: &[Box<dyn Step>]) -> Result<()> {
    let mut fresh = BTreeMap::new();
    for s in steps {
        let f = match (ctx.record(s.name()), current_inputs(ctx, s.as_ref())?) {
            (Some(r), Some(inp)) => Some(r.inputs_hash == sha256_json(&inp)),
            (Some(_), None) => Some(false),
            (None, _) => None,
        };
        fresh.insert(s.name().to_string(), f);
    }
    ctx.fresh = fresh;
    Ok(())
}

fn list() {
    println!("flow presets (configs/flows/):");
    for name in Preset::names() {
        match Preset::load(name) {
            Ok(p) => println!(
                "  {:<22} {} / {} on {} ({} PEs), target {}",
                name, p.dataset, p.method, p.config.name, p.config.pe_count, p.target
            ),
            Err(e) => println!("  {name:<22} invalid: {e:#}"),
        }
    }
    let avail: Vec<&str> = available_steps().iter().map(|s| s.name()).collect();
    println!("steps:");
    for s in STEP_NAMES {
        if avail.contains(&s) {
            println!("  {s}");
        } else {
            println!("  {s} (not available in this version)");
        }
    }
}

fn write_flow_json(ctx: &Ctx, started: &str, seconds: f64, error: Option<&str>) -> Result<()> {
    let j = json!({
        "preset": ctx.preset,
        "command": ctx.flow_command,
        "started_utc": started,
        "seconds": seconds,
        "states": ctx.states,
        "error": error,
        "deltagen_version": crate::version(),
    });
    let path = ctx.root.join("flow.json");
    std::fs::write(&path, serde_json::to_string_pretty(&j)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

fn step_markdown(r: &Record, summary: &str) -> String {
    let mut md = format!(
        "# Step `{}`\n\n{}\n\nFinished {} in {:.2} s (deltagen {}, {}). Inputs hash `{}`.\n\nReproduce: `{}`\n\n| figure | value |\n|---|---|\n",
        r.step,
        summary,
        r.finished_utc,
        r.duration_seconds,
        r.deltagen_version,
        r.machine,
        &r.inputs_hash[..16],
        r.command
    );
    for (k, v) in &r.figures {
        md += &format!("| {k} | {} |\n", report::compact(v));
    }
    md += "\n| output | SHA-256 |\n|---|---|\n";
    for (k, h) in &r.outputs {
        md += &format!("| {k} | `{}` |\n", &h[..16]);
    }
    md
}

/// Runs one step in a fresh directory and records it.
fn execute(ctx: &Ctx, step: &dyn Step, inputs: Value, hash: String) -> Result<Record> {
    let dir = ctx.dir(step.name());
    let record_path = dir.join("step.json");
    // Without its record the step counts as not run, whatever it leaves behind.
    if record_path.exists() {
        std::fs::remove_file(&record_path)
            .with_context(|| format!("removing {}", record_path.display()))?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let t0 = Instant::now();
    let mut out = step.run(ctx, &dir)?;
    let duration = t0.elapsed().as_secs_f64();
    let mut outputs = BTreeMap::new();
    for p in &out.outputs {
        outputs.insert(output_key(&ctx.root, p), sha256_file(p)?);
    }
    let outputs_hash = sha256_json(&json!(outputs));
    let command = out
        .figures
        .remove("command")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    // A figure named like a record field would be written twice and make step.json unreadable.
    for k in [
        "step",
        "inputs_hash",
        "inputs",
        "outputs",
        "outputs_hash",
        "duration_seconds",
        "finished_utc",
        "deltagen_version",
        "machine",
    ] {
        if let Some(v) = out.figures.remove(k) {
            out.figures.insert(format!("{}_{k}", step.name()), v);
        }
    }
    let r = Record {
        step: step.name().to_string(),
        inputs_hash: hash,
        inputs,
        outputs,
        outputs_hash,
        duration_seconds: duration,
        finished_utc: utc_now(),
        deltagen_version: crate::version().to_string(),
        machine: machine(),
        command,
        figures: out.figures,
    };
    let md = step_markdown(&r, &step.summary(&r.figures));
    std::fs::write(dir.join("step.md"), md)
        .with_context(|| format!("writing {}", dir.join("step.md").display()))?;
    std::fs::write(&record_path, serde_json::to_string_pretty(&r)? + "\n")
        .with_context(|| format!("writing {}", record_path.display()))?;
    Ok(r)
}

/// `deltagen flow`.
pub fn run(a: &FlowArgs, quiet: bool) -> Result<()> {
    if a.list {
        list();
        return Ok(());
    }
    let spec = a
        .preset
        .as_deref()
        .ok_or_else(|| anyhow!("--preset is required"))?;
    let preset = Preset::load(spec)?;
    let from = step_index(a.from.as_deref().unwrap_or(STEP_NAMES[0]), "--from")?;
    let to = step_index(
        a.to.as_deref().unwrap_or(STEP_NAMES[STEP_NAMES.len() - 1]),
        "--to",
    )?;
    if from > to {
        bail!(
            "--from {} comes after --to {} (order: {})",
            STEP_NAMES[from],
            STEP_NAMES[to],
            STEP_NAMES.join(", ")
        );
    }
    let steps = available_steps();
    let selected: Vec<&str> = STEP_NAMES[from..=to].to_vec();
    if !selected
        .iter()
        .any(|s| steps.iter().any(|st| st.name() == *s))
    {
        bail!(
            "none of the selected steps ({}) is available in this version",
            selected.join(", ")
        );
    }
    let root = a.out.join(&preset.name);
    // The flow owns OUT/<name>/; refuse to clear steps in a directory somebody else wrote.
    if root.exists() && !root.join("flow.json").exists() && !a.force {
        let nonempty = std::fs::read_dir(&root)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
        if nonempty {
            bail!(
                "{} exists and was not written by `deltagen flow` (no flow.json); pass --force to use it anyway",
                root.display()
            );
        }
    }
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let mut flow_command = format!("deltagen flow --preset {spec}");
    if a.out != Path::new("build") {
        flow_command += &format!(" --out {}", a.out.display());
    }
    if a.data_dir != Path::new("data") {
        flow_command += &format!(" --data-dir {}", a.data_dir.display());
    }
    let mut records = BTreeMap::new();
    for s in &steps {
        if let Some(r) = read_record(&root.join(s.name()).join("step.json")) {
            records.insert(s.name().to_string(), r);
        }
    }
    let mut states = BTreeMap::new();
    for s in STEP_NAMES {
        let st = if !steps.iter().any(|x| x.name() == s) {
            State::NotAvailable
        } else {
            State::NotSelected
        };
        states.insert(s.to_string(), st);
    }
    let mut ctx = Ctx {
        preset,
        root,
        data_dir: a.data_dir.clone(),
        quiet,
        records,
        states,
        fresh: BTreeMap::new(),
        flow_command,
    };
    let started = utc_now();
    let t_flow = Instant::now();
    write_flow_json(&ctx, &started, 0.0, None)?;
    let n = selected.len();
    println!(
        "flow {}: steps {} to {} into {}",
        ctx.preset.name,
        selected[0],
        selected[n - 1],
        ctx.root.display()
    );
    let (mut ran, mut skipped, mut unavailable) = (0, 0, vec![]);
    for (k, name) in selected.iter().enumerate() {
        let tag = format!("[{}/{n}] {name}", k + 1);
        let Some(step) = steps.iter().find(|s| s.name() == *name) else {
            println!("{tag}: not available in this version (being built)");
            unavailable.push(*name);
            continue;
        };
        update_fresh(&mut ctx, &steps)?;
        let inputs = match current_inputs(&ctx, step.as_ref())? {
            Some(i) => i,
            None => {
                let missing: Vec<&str> = step
                    .upstream()
                    .into_iter()
                    .filter(|u| ctx.record(u).is_none())
                    .collect();
                let msg = format!(
                    "step `{name}` needs the outputs of {}, which has not run; start earlier (--from {})",
                    missing.join(", "),
                    missing.first().copied().unwrap_or(STEP_NAMES[0])
                );
                ctx.states.insert(name.to_string(), State::Failed);
                write_flow_json(&ctx, &started, t_flow.elapsed().as_secs_f64(), Some(&msg))?;
                bail!("flow {}: {msg}", ctx.preset.name);
            }
        };
        let hash = sha256_json(&inputs);
        let reason = match ctx.record(name) {
            _ if a.force => Some("--force".to_string()),
            None => Some("no previous run".to_string()),
            Some(r) if r.inputs_hash != hash => Some(format!(
                "inputs changed: {}",
                changed_keys(&r.inputs, &inputs).join(", ")
            )),
            Some(r) => changed_output(&ctx.root, r).map(|c| format!("output {c}")),
        };
        let Some(reason) = reason else {
            println!("{tag}: skipped (up to date)");
            ctx.states.insert(name.to_string(), State::Skipped);
            skipped += 1;
            continue;
        };
        for u in step.upstream() {
            if ctx.fresh.get(u) == Some(&Some(false)) && !step.upstream_optional() {
                println!(
                    "{tag}: warning: upstream step `{u}` is stale (its inputs changed since it ran); `{name}` uses its old outputs"
                );
            }
        }
        println!("{tag}: running ({reason})");
        match execute(&ctx, step.as_ref(), inputs, hash) {
            Ok(r) => {
                println!(
                    "{tag}: done in {:.1} s: {}",
                    r.duration_seconds,
                    step.summary(&r.figures)
                );
                ctx.records.insert(name.to_string(), r);
                ctx.states.insert(name.to_string(), State::Ran);
                ran += 1;
            }
            Err(e) => {
                ctx.states.insert(name.to_string(), State::Failed);
                let msg = format!("step `{name}` failed: {e:#}");
                write_flow_json(&ctx, &started, t_flow.elapsed().as_secs_f64(), Some(&msg))?;
                println!(
                    "{tag}: FAILED; outputs of the earlier steps are kept, a rerun resumes at `{name}`"
                );
                return Err(e.context(format!("flow {}: step `{name}` failed", ctx.preset.name)));
            }
        }
    }
    let secs = t_flow.elapsed().as_secs_f64();
    write_flow_json(&ctx, &started, secs, None)?;
    let mut tail = String::new();
    if !unavailable.is_empty() {
        tail = format!(
            ", {} not available ({})",
            unavailable.len(),
            unavailable.join(", ")
        );
    }
    println!(
        "flow {}: {ran} ran, {skipped} skipped{tail} in {secs:.1} s",
        ctx.preset.name
    );
    if ctx.states.get("report") != Some(&State::NotSelected) {
        println!(
            "report: {} and {}",
            ctx.root.join("report.md").display(),
            ctx.root.join("report.html").display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_string(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_string(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_string(1_795_000_000 + 3661), "2026-11-18T12:07:41Z");
    }

    #[test]
    fn changed_keys_name_params_and_upstream() {
        let a = json!({"params": {"method": "a", "seed": 1}, "upstream": {"train": "x"}});
        let b = json!({"params": {"method": "b", "seed": 1}, "upstream": {"train": "y"}});
        assert_eq!(
            changed_keys(&a, &b),
            vec!["params.method", "upstream.train"]
        );
        assert!(changed_keys(&a, &a).is_empty());
    }

    #[test]
    fn json_hash_is_key_order_independent() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": [1, 2], "b": 1}"#).unwrap();
        assert_eq!(sha256_json(&a), sha256_json(&b));
        assert_ne!(sha256_json(&a), sha256_json(&json!({"a": [2, 1], "b": 1})));
    }
}
