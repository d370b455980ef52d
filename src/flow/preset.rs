//! Flow presets (`configs/flows/*.toml`): dataset, method, accelerator config, target and the
//! settings of the steps that have any.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{AccelConfig, TARGETS};

/// Built-in presets: (name, TOML text). The files in `configs/flows/` are these same texts.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "basicmotions-ice40",
        include_str!("../../configs/flows/basicmotions-ice40.toml"),
    ),
    (
        "japanesevowels-ecp5",
        include_str!("../../configs/flows/japanesevowels-ecp5.toml"),
    ),
    (
        "tiny-ice40",
        include_str!("../../configs/flows/tiny-ice40.toml"),
    ),
];

/// Named datasets `deltagen train` knows (anything else must be a path to a `*_TRAIN.ts` file).
pub const DATASETS: &[&str] = &[
    "basicmotions",
    "japanesevowels",
    "gunpoint",
    "moving-digits",
];

/// Optional `deltagen train` settings; a missing one takes the training default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    pub epochs: Option<usize>,
    pub seed: Option<u64>,
    pub hidden: Option<Vec<usize>>,
    pub window: Option<usize>,
    pub lambda: Option<f64>,
    pub wta_gamma: Option<f64>,
    pub star_tau: Option<u32>,
    pub theta_bound: Option<f64>,
    pub theta_frame_bound: Option<f64>,
    pub input_density_target: Option<f64>,
    pub warmup: Option<f64>,
    /// `false` keeps θ = θ₀ (`--no-theta-search`).
    pub theta_search: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSettings {
    /// Evenly spaced test sequences exported as the stimulus of the hardware steps (all if unset).
    pub sequences: Option<usize>,
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFile {
    name: String,
    dataset: String,
    method: String,
    accelerator: String,
    target: String,
    #[serde(default)]
    train: TrainSettings,
    #[serde(default)]
    export: ExportSettings,
}

/// A validated preset with its dataset and accelerator resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Preset {
    pub name: String,
    /// Where it came from: `built-in` or the file's path.
    pub source: String,
    /// As written in the preset.
    pub dataset: String,
    /// Dataset name, or the `*_TRAIN.ts` path made absolute against the preset's directory.
    pub dataset_spec: String,
    pub method: String,
    /// As written in the preset.
    pub accelerator: String,
    /// Config preset name, or the config file's path resolved against the preset's directory.
    pub accelerator_spec: String,
    pub config: AccelConfig,
    pub target: String,
    pub train: TrainSettings,
    pub export: ExportSettings,
}

fn field(file: &str, name: &str, value: impl std::fmt::Display, why: &str) -> anyhow::Error {
    anyhow::anyhow!("{file}: field `{name}` = {value}: {why}")
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.contains('\\') || s.ends_with(".toml") || s.ends_with(".ts")
}

impl Preset {
    pub fn names() -> Vec<&'static str> {
        PRESETS.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in preset name, or a path to a preset TOML file.
    pub fn load(spec: &str) -> Result<Preset> {
        let path = Path::new(spec);
        if path.is_file() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading preset file {}", path.display()))?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            return Self::parse(&text, &path.display().to_string(), &dir);
        }
        if let Some((_, text)) = PRESETS.iter().find(|(n, _)| *n == spec) {
            let file = format!("built-in configs/flows/{spec}.toml");
            return Self::parse(text, &file, Path::new(""));
        }
        if looks_like_path(spec) {
            bail!("preset file {spec} not found");
        }
        bail!(
            "preset `{spec}` is neither a file nor a built-in preset (presets: {})",
            Self::names().join(", ")
        )
    }

    /// Parses and validates preset text; `file` names it in errors, relative paths in it are
    /// resolved against `dir`.
    pub fn parse(text: &str, file: &str, dir: &Path) -> Result<Preset> {
        let p: PresetFile = toml::from_str(text).with_context(|| format!("preset {file}"))?;
        let name_ok = !p.name.is_empty()
            && p.name != "."
            && p.name != ".."
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(field(
                file,
                "name",
                format!("{:?}", p.name),
                "must be a non-empty directory name of letters, digits, '-', '_' or '.'",
            ));
        }
        let resolve = |s: &str| -> PathBuf {
            let p = Path::new(s);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };
        let dataset_spec = if DATASETS.contains(&p.dataset.to_ascii_lowercase().as_str()) {
            p.dataset.to_ascii_lowercase()
        } else if p.dataset.ends_with("_TRAIN.ts") {
            resolve(&p.dataset).display().to_string()
        } else {
            return Err(field(
                file,
                "dataset",
                format!("{:?}", p.dataset),
                &format!("use {} or a path to a *_TRAIN.ts file", DATASETS.join(", ")),
            ));
        };
        crate::train::Method::parse(&p.method)
            .map_err(|e| field(file, "method", format!("{:?}", p.method), &e.to_string()))?;
        let accelerator_spec = if looks_like_path(&p.accelerator) {
            resolve(&p.accelerator).display().to_string()
        } else if AccelConfig::preset(&p.accelerator).is_some() {
            p.accelerator.clone()
        } else {
            return Err(field(
                file,
                "accelerator",
                format!("{:?}", p.accelerator),
                &format!(
                    "neither a config preset ({}) nor a path to a config TOML file",
                    AccelConfig::preset_names().join(", ")
                ),
            ));
        };
        let config = AccelConfig::load(&accelerator_spec).map_err(|e| {
            field(
                file,
                "accelerator",
                format!("{:?}", p.accelerator),
                &format!("{e:#}"),
            )
        })?;
        if !TARGETS.contains(&p.target.as_str()) {
            return Err(field(
                file,
                "target",
                format!("{:?}", p.target),
                &format!("unknown target; one of {}", TARGETS.join(", ")),
            ));
        }
        check_train(file, &p.train)?;
        if p.export.sequences == Some(0) {
            return Err(field(
                file,
                "export.sequences",
                0,
                "must be at least 1 (or left out for all)",
            ));
        }
        Ok(Preset {
            name: p.name,
            source: file.to_string(),
            dataset: p.dataset,
            dataset_spec,
            method: p.method,
            accelerator: p.accelerator,
            accelerator_spec,
            config,
            target: p.target,
            train: p.train,
            export: p.export,
        })
    }
}

fn check_train(file: &str, t: &TrainSettings) -> Result<()> {
    let bad = |name: &str, v: String, why: &str| Err(field(file, &format!("train.{name}"), v, why));
    if t.epochs == Some(0) {
        return bad("epochs", "0".into(), "must be at least 1");
    }
    if let Some(h) = &t.hidden {
        if h.is_empty() || h.contains(&0) {
            return bad(
                "hidden",
                format!("{h:?}"),
                "needs at least one hidden layer, each with at least one unit",
            );
        }
    }
    if t.window == Some(0) {
        return bad("window", "0".into(), "must be at least 1");
    }
    let unit = |v: Option<f64>| v.is_some_and(|v| !(0.0..=1.0).contains(&v));
    let nonneg = |v: Option<f64>| v.is_some_and(|v| !(v.is_finite() && v >= 0.0));
    if nonneg(t.lambda) {
        return bad(
            "lambda",
            format!("{:?}", t.lambda.unwrap_or_default()),
            "must be finite and >= 0",
        );
    }
    if t.wta_gamma.is_some_and(|g| !(g > 0.0 && g <= 1.0)) {
        return bad(
            "wta_gamma",
            format!("{:?}", t.wta_gamma.unwrap_or_default()),
            "must be in (0, 1]",
        );
    }
    for (name, v) in [
        ("theta_bound", t.theta_bound),
        ("theta_frame_bound", t.theta_frame_bound),
    ] {
        if nonneg(v) {
            return bad(
                name,
                format!("{:?}", v.unwrap_or_default()),
                "must be finite and >= 0",
            );
        }
    }
    if unit(t.input_density_target) {
        return bad(
            "input_density_target",
            format!("{:?}", t.input_density_target.unwrap_or_default()),
            "must be in [0, 1]",
        );
    }
    if t.warmup.is_some_and(|w| !(0.0..1.0).contains(&w)) {
        return bad(
            "warmup",
            format!("{:?}", t.warmup.unwrap_or_default()),
            "must be in [0, 1)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_presets_validate() {
        for name in Preset::names() {
            let p = Preset::load(name).unwrap();
            assert_eq!(p.name, name);
            assert_eq!(p.config.target, p.target, "{name}");
        }
        let p = Preset::load("basicmotions-ice40").unwrap();
        assert_eq!(
            (p.config.name.as_str(), p.config.pe_count),
            ("ice40-up5k-4pe", 4)
        );
        let p = Preset::load("japanesevowels-ecp5").unwrap();
        assert_eq!(
            (p.config.name.as_str(), p.config.pe_count),
            ("ecp5-16pe", 16)
        );
    }

    #[test]
    fn preset_files_match_builtins() {
        for (name, text) in PRESETS {
            let path = format!("{}/configs/flows/{name}.toml", env!("CARGO_MANIFEST_DIR"));
            assert_eq!(std::fs::read_to_string(path).unwrap(), *text);
        }
    }

    fn err(text: &str) -> String {
        format!(
            "{:#}",
            Preset::parse(text, "x.toml", Path::new("/tmp")).unwrap_err()
        )
    }

    const BASE: &str = "name = \"t\"\ndataset = \"basicmotions\"\nmethod = \"delta-lsq\"\naccelerator = \"tiny-2pe\"\ntarget = \"ice40-up5k\"\n";

    #[test]
    fn bad_presets_name_file_and_field() {
        assert!(Preset::parse(BASE, "x.toml", Path::new("")).is_ok());
        let e = err(&format!("{BASE}colour = 1\n"));
        assert!(
            e.contains("x.toml") && e.contains("unknown field `colour`"),
            "{e}"
        );
        let e = err(&format!("{BASE}[train]\nepochz = 3\n"));
        assert!(e.contains("unknown field `epochz`"), "{e}");
        let e = err(&format!("{BASE}[train]\nepochs = 0\n"));
        assert!(e.contains("x.toml: field `train.epochs` = 0"), "{e}");
        let e = err(&format!("{BASE}[train]\nepochs = -2\n"));
        assert!(e.contains("x.toml") && e.contains("epochs = -2"), "{e}");
        let e = err(&format!("{BASE}[train]\nwta_gamma = 1.5\n"));
        assert!(e.contains("field `train.wta_gamma` = 1.5"), "{e}");
        let e = err(&format!("{BASE}[export]\nsequences = 0\n"));
        assert!(e.contains("field `export.sequences` = 0"), "{e}");
        let e = err(&BASE.replace("delta-lsq", "delta-magic"));
        assert!(
            e.contains("field `method`") && e.contains("unknown method"),
            "{e}"
        );
        let e = err(&BASE.replace("basicmotions", "mnist"));
        assert!(e.contains("field `dataset` = \"mnist\""), "{e}");
        let e = err(&BASE.replace("\"tiny-2pe\"", "\"huge-99pe\""));
        assert!(e.contains("field `accelerator` = \"huge-99pe\""), "{e}");
        let e = err(&BASE.replace("\"ice40-up5k\"", "\"asic\""));
        assert!(e.contains("field `target` = \"asic\""), "{e}");
        let e = err(&BASE.replace("name = \"t\"", "name = \"../up\""));
        assert!(e.contains("field `name`"), "{e}");
        let e = err(&BASE.replace("target = \"ice40-up5k\"\n", ""));
        assert!(e.contains("missing field `target`"), "{e}");
    }

    #[test]
    fn relative_paths_resolve_against_the_preset_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = AccelConfig::preset("tiny-2pe").unwrap().to_toml();
        std::fs::write(
            dir.path().join("acc.toml"),
            cfg.replace("pe_count = 2", "pe_count = 0"),
        )
        .unwrap();
        let text = BASE
            .replace("\"tiny-2pe\"", "\"acc.toml\"")
            .replace("\"basicmotions\"", "\"d/X_TRAIN.ts\"");
        let file = dir.path().join("p.toml");
        std::fs::write(&file, &text).unwrap();
        // The config file is found beside the preset and its bad field is named.
        let e = format!("{:#}", Preset::load(file.to_str().unwrap()).unwrap_err());
        assert!(
            e.contains("field `accelerator`") && e.contains("pe_count"),
            "{e}"
        );
        std::fs::write(
            dir.path().join("acc.toml"),
            AccelConfig::preset("tiny-2pe").unwrap().to_toml(),
        )
        .unwrap();
        let p = Preset::load(file.to_str().unwrap()).unwrap();
        assert_eq!(
            p.dataset_spec,
            dir.path().join("d/X_TRAIN.ts").display().to_string()
        );
        assert_eq!(
            p.accelerator_spec,
            dir.path().join("acc.toml").display().to_string()
        );
        assert!(Preset::load("no-such-preset")
            .unwrap_err()
            .to_string()
            .contains("tiny-ice40"));
    }
}
