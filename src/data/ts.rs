//! Loader for the UEA/UCR `.ts` format (sktime/aeon), classification problems only.
//!
//! Layout: comment lines start with `#`; header lines `@key value...`; after `@data`, one case per
//! line: dimensions separated by `:`, values within a dimension by `,`, the class label last.
//! Equal- and variable-length series and univariate/multivariate files are accepted. Missing
//! values (`?`, `NaN`) are allowed only when `@missing true` and are forward-filled (0 before the
//! first observation) so the frames fed to the integer accelerator are always defined.

use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Errors of the `.ts` loader; every variant names the file, and parse errors the line.
#[derive(Debug, thiserror::Error)]
pub enum TsError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    Parse {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

/// One labelled `.ts` file: each series is `[length, channels]`.
#[derive(Debug, Clone)]
pub struct TsFile {
    pub problem_name: String,
    pub class_names: Vec<String>,
    pub series: Vec<Array2<f32>>,
    pub labels: Vec<usize>,
    pub channels: usize,
}

impl TsFile {
    pub fn min_len(&self) -> usize {
        self.series.iter().map(|s| s.nrows()).min().unwrap_or(0)
    }
    pub fn max_len(&self) -> usize {
        self.series.iter().map(|s| s.nrows()).max().unwrap_or(0)
    }
}

/// Read and parse a `.ts` file.
pub fn load_ts(path: &Path) -> Result<TsFile, TsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_ts(&text, path)
}

fn parse_bool(path: &Path, line: usize, key: &str, v: Option<&str>) -> Result<bool, TsError> {
    match v.map(|s| s.to_ascii_lowercase()) {
        Some(ref s) if s == "true" => Ok(true),
        Some(ref s) if s == "false" => Ok(false),
        other => Err(TsError::Parse {
            path: path.to_path_buf(),
            line,
            msg: format!("@{key} expects true or false, found {other:?}"),
        }),
    }
}

/// Parse the text of a `.ts` file; `path` is used only in error messages.
pub fn parse_ts(text: &str, path: &Path) -> Result<TsFile, TsError> {
    let perr = |line: usize, msg: String| TsError::Parse {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let mut problem_name = String::new();
    let mut class_names: Option<Vec<String>> = None;
    let mut dimensions: Option<usize> = None;
    let mut equal_length: Option<bool> = None;
    let mut series_length: Option<usize> = None;
    let mut missing = false;
    let mut in_data = false;
    let mut series = Vec::new();
    let mut labels = Vec::new();
    let mut channels: Option<usize> = None;

    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            if !line.starts_with('@') {
                return Err(perr(
                    lineno,
                    "expected a header line starting with '@' or '@data' before the data".into(),
                ));
            }
            let mut parts = line.split_whitespace();
            let key = parts.next().unwrap_or("@").to_ascii_lowercase();
            let rest: Vec<&str> = parts.collect();
            match key.as_str() {
                "@problemname" => problem_name = rest.join(" "),
                "@timestamps" => {
                    let stamped = parse_bool(path, lineno, "timeStamps", rest.first().copied())?;
                    if stamped {
                        return Err(perr(lineno, "time-stamped series are not supported".into()));
                    }
                }
                "@missing" => missing = parse_bool(path, lineno, "missing", rest.first().copied())?,
                "@univariate" => {
                    let uni = parse_bool(path, lineno, "univariate", rest.first().copied())?;
                    if uni {
                        dimensions.get_or_insert(1);
                    }
                }
                "@dimensions" | "@dimension" => {
                    let d = rest
                        .first()
                        .and_then(|s| s.parse::<usize>().ok())
                        .filter(|&d| d > 0)
                        .ok_or_else(|| {
                            perr(lineno, "@dimensions expects a positive integer".into())
                        })?;
                    dimensions = Some(d);
                }
                "@equallength" => {
                    equal_length = Some(parse_bool(
                        path,
                        lineno,
                        "equalLength",
                        rest.first().copied(),
                    )?)
                }
                "@serieslength" => {
                    let n = rest
                        .first()
                        .and_then(|s| s.parse::<usize>().ok())
                        .ok_or_else(|| perr(lineno, "@seriesLength expects an integer".into()))?;
                    series_length = Some(n);
                }
                "@classlabel" => {
                    if !parse_bool(path, lineno, "classLabel", rest.first().copied())? {
                        return Err(perr(
                            lineno,
                            "@classLabel false: only classification problems are supported".into(),
                        ));
                    }
                    let names: Vec<String> = rest[1..].iter().map(|s| s.to_string()).collect();
                    if names.is_empty() {
                        return Err(perr(lineno, "@classLabel true lists no class".into()));
                    }
                    class_names = Some(names);
                }
                "@targetlabel" => {
                    return Err(perr(
                        lineno,
                        "regression files (@targetlabel) are not supported".into(),
                    ))
                }
                "@data" => {
                    if class_names.is_none() {
                        return Err(perr(lineno, "@data before any @classLabel header".into()));
                    }
                    in_data = true;
                }
                // Unknown keys are informative only (e.g. @comment); keep going.
                _ => {}
            }
            continue;
        }
        // Data line.
        let classes = class_names.as_ref().expect("checked at @data");
        let dims: Vec<&str> = line.split(':').collect();
        if dims.len() < 2 {
            return Err(perr(
                lineno,
                "data line has no ':' separating the series from the class label".into(),
            ));
        }
        let label_txt = dims[dims.len() - 1].trim();
        let label = classes.iter().position(|c| c == label_txt).ok_or_else(|| {
            perr(
                lineno,
                format!("class label {label_txt:?} is not one of @classLabel {classes:?}"),
            )
        })?;
        let value_dims = &dims[..dims.len() - 1];
        let c = value_dims.len();
        if let Some(d) = dimensions {
            if c != d {
                return Err(perr(
                    lineno,
                    format!("case has {c} dimensions, header says @dimensions {d}"),
                ));
            }
        }
        if let Some(prev) = channels {
            if c != prev {
                return Err(perr(
                    lineno,
                    format!("case has {c} dimensions, earlier cases have {prev}"),
                ));
            }
        }
        channels = Some(c);
        let mut cols: Vec<Vec<f32>> = Vec::with_capacity(c);
        for (d, dim_txt) in value_dims.iter().enumerate() {
            let mut vals = Vec::new();
            for (k, tok) in dim_txt.split(',').enumerate() {
                let tok = tok.trim();
                let v = if tok == "?" || tok.eq_ignore_ascii_case("nan") {
                    if !missing {
                        return Err(perr(
                            lineno,
                            format!(
                                "dimension {d}, value {k}: missing value but @missing is not true"
                            ),
                        ));
                    }
                    f32::NAN
                } else {
                    tok.parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| {
                            perr(
                                lineno,
                                format!("dimension {d}, value {k}: {tok:?} is not a number"),
                            )
                        })?
                };
                vals.push(v);
            }
            cols.push(vals);
        }
        let len = cols[0].len();
        if let Some(d) = cols.iter().position(|v| v.len() != len) {
            return Err(perr(
                lineno,
                format!(
                    "dimension {d} has {} values, dimension 0 has {len}",
                    cols[d].len()
                ),
            ));
        }
        if equal_length == Some(true) {
            if let Some(n) = series_length {
                if len != n {
                    return Err(perr(
                        lineno,
                        format!("series has {len} values, header says @seriesLength {n}"),
                    ));
                }
            }
        }
        let mut arr = Array2::<f32>::zeros((len, c));
        for (d, vals) in cols.iter().enumerate() {
            let mut last = 0.0f32;
            for (t, &v) in vals.iter().enumerate() {
                // Forward fill: a missing sample keeps the previous value (no change, no delta).
                let v = if v.is_nan() { last } else { v };
                arr[[t, d]] = v;
                last = v;
            }
        }
        series.push(arr);
        labels.push(label);
    }
    if !in_data {
        return Err(TsError::Invalid {
            path: path.to_path_buf(),
            msg: "no @data section".into(),
        });
    }
    if series.is_empty() {
        return Err(TsError::Invalid {
            path: path.to_path_buf(),
            msg: "@data section holds no case".into(),
        });
    }
    Ok(TsFile {
        problem_name,
        class_names: class_names.unwrap_or_default(),
        series,
        labels,
        channels: channels.unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<TsFile, TsError> {
        parse_ts(text, Path::new("mem.ts"))
    }

    const HEAD: &str = "@problemName t\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n";

    #[test]
    fn parses_multivariate_variable_length() {
        let f = p(&format!("# comment\n{HEAD}1,2,3:4,5,6:b\n7,8:9,10:a\n")).unwrap();
        assert_eq!(f.series.len(), 2);
        assert_eq!(f.channels, 2);
        assert_eq!(f.labels, vec![1, 0]);
        assert_eq!(f.series[0].shape(), &[3, 2]);
        assert_eq!(f.series[0][[2, 1]], 6.0);
        assert_eq!(f.series[1][[1, 0]], 8.0);
        assert_eq!((f.min_len(), f.max_len()), (2, 3));
    }

    #[test]
    fn parses_univariate() {
        let f = p("@problemName u\n@univariate true\n@equalLength true\n@seriesLength 3\n@classLabel true 1 2\n@data\n0.5,1e-3,-2:2\n").unwrap();
        assert_eq!(f.channels, 1);
        assert_eq!(f.class_names, vec!["1", "2"]);
        assert_eq!(f.labels, vec![1]);
        assert!((f.series[0][[2, 0]] + 2.0).abs() < 1e-6);
    }

    fn err_of(text: &str) -> String {
        p(text).unwrap_err().to_string()
    }

    #[test]
    fn malformed_files_name_file_and_line() {
        let e = err_of(&format!("{HEAD}1,2:3,x:a\n"));
        assert!(e.starts_with("mem.ts:9:"), "{e}");
        assert!(e.contains("\"x\" is not a number"), "{e}");

        let e = err_of(&format!("{HEAD}1,2:3,4:c\n"));
        assert!(
            e.contains("mem.ts:9:") && e.contains("class label \"c\""),
            "{e}"
        );

        let e = err_of(&format!("{HEAD}1,2:a\n"));
        assert!(e.contains("1 dimensions, header says @dimensions 2"), "{e}");

        let e = err_of(&format!("{HEAD}1,2:3:a\n"));
        assert!(e.contains("dimension 1 has 1 values"), "{e}");

        let e = err_of(&format!("{HEAD}1,2,3\n"));
        assert!(e.contains("no ':'"), "{e}");

        let e = err_of(&format!("{HEAD}1,?:3,4:a\n"));
        assert!(e.contains("missing value"), "{e}");

        let e = err_of("@problemName x\n@classLabel true a\n");
        assert_eq!(e, "mem.ts: no @data section");

        let e = err_of("@problemName x\n@data\n1:a\n");
        assert!(e.contains("mem.ts:2:") && e.contains("@classLabel"), "{e}");

        let e = err_of("hello\n");
        assert!(e.contains("mem.ts:1:"), "{e}");

        let e = err_of("@univariate maybe\n");
        assert!(e.contains("@univariate expects true or false"), "{e}");

        let e = err_of("@classLabel true a\n@univariate true\n@equalLength true\n@seriesLength 3\n@data\n1,2:a\n");
        assert!(e.contains("header says @seriesLength 3"), "{e}");

        let e = err_of("@classLabel true a\n@data\n\n");
        assert!(e.contains("holds no case"), "{e}");
    }

    #[test]
    fn missing_values_forward_filled_when_allowed() {
        let f =
            p("@missing true\n@univariate true\n@classLabel true a\n@data\n?,1,?,3:a\n").unwrap();
        let v: Vec<f32> = f.series[0].column(0).to_vec();
        assert_eq!(v, vec![0.0, 1.0, 1.0, 3.0]);
    }

    #[test]
    fn io_error_names_file() {
        let e = load_ts(Path::new("/nonexistent/x_TRAIN.ts"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/x_TRAIN.ts"), "{e}");
    }

    #[test]
    fn loads_shared_uea_files_when_present() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/uea");
        if !root.exists() {
            eprintln!("skipping: {} not present", root.display());
            return;
        }
        let bm = load_ts(&root.join("BasicMotions/BasicMotions_TRAIN.ts")).unwrap();
        assert_eq!(
            (bm.series.len(), bm.channels, bm.min_len(), bm.max_len()),
            (40, 6, 100, 100)
        );
        assert_eq!(bm.class_names.len(), 4);
        let jv = load_ts(&root.join("JapaneseVowels/JapaneseVowels_TRAIN.ts")).unwrap();
        assert_eq!(
            (jv.series.len(), jv.channels, jv.class_names.len()),
            (270, 12, 9)
        );
        assert!(jv.min_len() < jv.max_len());
        let gp = load_ts(&root.join("GunPoint/GunPoint_TEST.ts")).unwrap();
        assert_eq!((gp.series.len(), gp.channels, gp.max_len()), (150, 1, 150));
    }
}
