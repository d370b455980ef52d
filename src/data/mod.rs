//! Datasets for training: UEA/UCR `.ts` time series turned into frame streams, and the
//! video-like `moving-digits` set.
//!
//! Every dataset is a set of labelled sequences of frames `[T, in]` (real-valued, normalized).
//! For a time series of C channels, frame t is the window of samples t..t+W (stride 1), flattened
//! time-major (`x[k*C + c]` = sample t+k, channel c). The network runs on every frame; a sequence's
//! class is the argmax of the sum of its frames' logits (ties to the lower class index), see
//! [`decide`].

pub mod digits;
pub mod ts;

use ndarray::{s, Array2};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Ts(#[from] ts::TsError),
    #[error(transparent)]
    Digits(#[from] digits::DigitsError),
    #[error("{path} not found; {hint}")]
    Missing { path: PathBuf, hint: String },
    #[error("unknown dataset {0:?}: use basicmotions, japanesevowels, gunpoint, moving-digits or a path to a *_TRAIN.ts file")]
    Unknown(String),
    #[error("{path}: {msg}")]
    Mismatch { path: PathBuf, msg: String },
    #[error("window {window}: must be at least 1")]
    Window { window: usize },
}

/// Labelled sequences, each `[T, in]`.
#[derive(Debug, Clone, Default)]
pub struct SeqSet {
    pub seqs: Vec<Array2<f32>>,
    pub labels: Vec<usize>,
}

impl SeqSet {
    pub fn frames(&self) -> usize {
        self.seqs.iter().map(|s| s.nrows()).sum()
    }
    pub fn min_len(&self) -> usize {
        self.seqs.iter().map(|s| s.nrows()).min().unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub name: String,
    pub class_names: Vec<String>,
    pub in_dim: usize,
    /// Window length W (time series) or `None` (moving digits: a frame is the canvas).
    pub window: Option<usize>,
    pub channels: usize,
    pub train: SeqSet,
    pub test: SeqSet,
    /// Whether inputs are non-negative by nature (pixels), so spatial zeros are kept as zeros.
    pub nonnegative: bool,
}

impl Dataset {
    pub fn n_classes(&self) -> usize {
        self.class_names.len()
    }
}

/// Where to find data files and how to cut frames.
#[derive(Debug, Clone)]
pub struct DataOptions {
    /// Root holding `uea/<Name>/<Name>_TRAIN.ts` and `digits/digits.csv.gz` (as written by
    /// `tools/fetch-data.sh`).
    pub data_dir: PathBuf,
    /// Window length W for time series; `None` picks the dataset default.
    pub window: Option<usize>,
}

const FETCH_HINT: &str = "run tools/fetch-data.sh (or pass --data-dir)";

/// Default window lengths: long enough to see a motion primitive, short enough that every
/// JapaneseVowels utterance (7..29 samples) yields several frames.
fn default_window(name: &str, min_len: usize) -> usize {
    let w = match name {
        "BasicMotions" => 10,
        "JapaneseVowels" => 4,
        "GunPoint" => 16,
        _ => 8,
    };
    w.min(min_len.max(1))
}

/// Load a dataset by name (`basicmotions`, `japanesevowels`, `gunpoint`, `moving-digits`) or by
/// path to a `*_TRAIN.ts` file whose `*_TEST.ts` lies beside it.
pub fn load_dataset(spec: &str, opts: &DataOptions) -> Result<Dataset, DataError> {
    let named = match spec.to_ascii_lowercase().as_str() {
        "basicmotions" => Some("BasicMotions"),
        "japanesevowels" => Some("JapaneseVowels"),
        "gunpoint" => Some("GunPoint"),
        "moving-digits" | "movingdigits" => return load_moving_digits(opts),
        _ => None,
    };
    let train_path = match named {
        Some(n) => opts
            .data_dir
            .join("uea")
            .join(n)
            .join(format!("{n}_TRAIN.ts")),
        None if spec.ends_with(".ts") => PathBuf::from(spec),
        None => return Err(DataError::Unknown(spec.to_string())),
    };
    if !train_path.exists() {
        return Err(DataError::Missing {
            path: train_path,
            hint: if named.is_some() {
                FETCH_HINT.into()
            } else {
                "give the path of an existing *_TRAIN.ts file".into()
            },
        });
    }
    let test_path = test_path_for(&train_path)?;
    if !test_path.exists() {
        return Err(DataError::Missing {
            path: test_path,
            hint: "the *_TEST.ts file must lie beside the *_TRAIN.ts file".into(),
        });
    }
    let tr = ts::load_ts(&train_path)?;
    let te = ts::load_ts(&test_path)?;
    if tr.channels != te.channels {
        return Err(DataError::Mismatch {
            path: test_path,
            msg: format!(
                "{} channels, the train file has {}",
                te.channels, tr.channels
            ),
        });
    }
    if tr.class_names != te.class_names {
        return Err(DataError::Mismatch {
            path: test_path,
            msg: format!(
                "@classLabel {:?} differs from the train file's {:?}",
                te.class_names, tr.class_names
            ),
        });
    }
    let name = named.map(str::to_string).unwrap_or_else(|| {
        if tr.problem_name.is_empty() {
            train_path
                .file_stem()
                .map(|s| s.to_string_lossy().trim_end_matches("_TRAIN").to_string())
                .unwrap_or_else(|| "dataset".into())
        } else {
            tr.problem_name.clone()
        }
    });
    let min_len = tr.min_len().min(te.min_len());
    let w = opts
        .window
        .unwrap_or_else(|| default_window(&name, min_len));
    if w == 0 {
        return Err(DataError::Window { window: w });
    }
    // Per-channel z-score from the training series only.
    let c = tr.channels;
    let (mut sum, mut sq, mut n) = (vec![0f64; c], vec![0f64; c], 0f64);
    for s in &tr.series {
        for row in s.rows() {
            for (k, &v) in row.iter().enumerate() {
                sum[k] += v as f64;
                sq[k] += (v as f64) * (v as f64);
            }
            n += 1.0;
        }
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std: Vec<f32> = (0..c)
        .map(|k| ((sq[k] / n - (sum[k] / n).powi(2)).max(0.0).sqrt() as f32).max(1e-6))
        .collect();
    let frames_of = |f: &ts::TsFile| SeqSet {
        seqs: f
            .series
            .iter()
            .map(|s| {
                let mut z = s.clone();
                for mut row in z.rows_mut() {
                    for (k, v) in row.iter_mut().enumerate() {
                        *v = (*v - mean[k]) / std[k];
                    }
                }
                windows(&z, w)
            })
            .collect(),
        labels: f.labels.clone(),
    };
    Ok(Dataset {
        name,
        class_names: tr.class_names.clone(),
        in_dim: w * c,
        window: Some(w),
        channels: c,
        train: frames_of(&tr),
        test: frames_of(&te),
        nonnegative: false,
    })
}

/// `*_TRAIN.ts` → `*_TEST.ts` beside it.
fn test_path_for(train: &Path) -> Result<PathBuf, DataError> {
    let fname = train
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    if let Some(stem) = fname.strip_suffix("_TRAIN.ts") {
        Ok(train.with_file_name(format!("{stem}_TEST.ts")))
    } else {
        Err(DataError::Mismatch {
            path: train.to_path_buf(),
            msg: "a dataset path must name a *_TRAIN.ts file (its *_TEST.ts beside it)".into(),
        })
    }
}

/// Sliding windows of `w` samples (stride 1) over a `[len, C]` series, flattened time-major.
/// A series shorter than `w` is padded at the start by repeating its first sample, so it still
/// yields one frame.
pub fn windows(series: &Array2<f32>, w: usize) -> Array2<f32> {
    let (len, c) = series.dim();
    let padded;
    let s = if len < w {
        padded = {
            let mut p = Array2::<f32>::zeros((w, c));
            for t in 0..w {
                let src = t.saturating_sub(w - len);
                p.row_mut(t).assign(&series.row(src));
            }
            p
        };
        &padded
    } else {
        series
    };
    let n = s.nrows() - w + 1;
    let mut out = Array2::<f32>::zeros((n, w * c));
    for t in 0..n {
        let win = s.slice(s![t..t + w, ..]);
        for (k, v) in win.iter().enumerate() {
            out[[t, k]] = *v;
        }
    }
    out
}

fn load_moving_digits(opts: &DataOptions) -> Result<Dataset, DataError> {
    let path = opts.data_dir.join("digits").join("digits.csv.gz");
    if !path.exists() {
        return Err(DataError::Missing {
            path,
            hint: FETCH_HINT.into(),
        });
    }
    let all = digits::load_digits(&path)?;
    // Fixed split and data seed: every training seed sees the same sequences.
    let (train, test): (Vec<_>, Vec<_>) =
        all.into_iter().enumerate().partition(|(i, _)| i % 5 != 0);
    let train: Vec<_> = train.into_iter().map(|(_, d)| d).collect();
    let test: Vec<_> = test.into_iter().map(|(_, d)| d).collect();
    let md = digits::MovingDigits::default();
    let (trs, trl) = md.make(&train, 0x5eed_0001);
    let (tes, tel) = md.make(&test, 0x5eed_0002);
    Ok(Dataset {
        name: "moving-digits".into(),
        class_names: (0..10).map(|d| d.to_string()).collect(),
        in_dim: md.canvas * md.canvas,
        window: None,
        channels: 1,
        train: SeqSet {
            seqs: trs,
            labels: trl,
        },
        test: SeqSet {
            seqs: tes,
            labels: tel,
        },
        nonnegative: true,
    })
}

/// Sequence decision rule: argmax over classes of the sum of the frames' logits
/// (`logits` is `[T, classes]`), ties to the lower class index.
pub fn decide<T: Copy + Into<f64>>(logits: &Array2<T>) -> usize {
    let mut best = 0;
    let mut best_v = f64::NEG_INFINITY;
    for k in 0..logits.ncols() {
        let v: f64 = logits.column(k).iter().map(|&x| x.into()).sum();
        if v > best_v {
            best_v = v;
            best = k;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn windows_stride_one_time_major() {
        let s = array![[1.0f32, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]];
        let w = windows(&s, 3);
        assert_eq!(
            w,
            array![
                [1.0, 10.0, 2.0, 20.0, 3.0, 30.0],
                [2.0, 20.0, 3.0, 30.0, 4.0, 40.0]
            ]
        );
        // Shorter than the window: padded by repeating the first sample.
        let short = array![[5.0f32], [6.0]];
        assert_eq!(windows(&short, 3), array![[5.0, 5.0, 6.0]]);
    }

    #[test]
    fn decide_sums_logits_ties_low() {
        let l = array![[1i32, 3, 0], [2, 0, 0]];
        assert_eq!(decide(&l), 0);
        let l = array![[1i32, 5, 0], [2, 0, 0]];
        assert_eq!(decide(&l), 1);
    }

    fn shared() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        p.exists().then_some(p)
    }

    #[test]
    fn named_and_path_datasets() {
        let Some(dir) = shared() else {
            eprintln!("skipping: ../shared/data not present");
            return;
        };
        let opts = DataOptions {
            data_dir: dir.clone(),
            window: None,
        };
        let bm = load_dataset("basicmotions", &opts).unwrap();
        assert_eq!(
            (bm.in_dim, bm.n_classes(), bm.train.seqs.len()),
            (60, 4, 40)
        );
        assert_eq!(bm.train.seqs[0].nrows(), 91);
        let jv = load_dataset(
            dir.join("uea/JapaneseVowels/JapaneseVowels_TRAIN.ts")
                .to_str()
                .unwrap(),
            &opts,
        )
        .unwrap();
        assert_eq!((jv.in_dim, jv.n_classes()), (48, 9));
        let md = load_dataset("moving-digits", &opts).unwrap();
        assert_eq!(
            (md.in_dim, md.train.seqs.len(), md.test.seqs.len()),
            (256, 1437, 360)
        );
        let e = load_dataset("nope", &opts).unwrap_err().to_string();
        assert!(e.contains("unknown dataset"), "{e}");
        let e = load_dataset(
            "basicmotions",
            &DataOptions {
                data_dir: "/nonexistent".into(),
                window: None,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/nonexistent/uea/BasicMotions/BasicMotions_TRAIN.ts")
                && e.contains("fetch-data"),
            "{e}"
        );
    }
}
