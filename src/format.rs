//! Errors and npz helpers shared by the model package, inputs and traces.

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::{ArrayBase, Dimension, OwnedRepr};
use ndarray_npy::{NpzReader, NpzWriter, ReadableElement, WritableElement};

/// A file that is missing, malformed or inconsistent, with what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {msg}", file.display())]
    Invalid { file: PathBuf, msg: String },
    #[error("{}: array `{array}`: {msg}", file.display())]
    Array {
        file: PathBuf,
        array: String,
        msg: String,
    },
    #[error("{} already exists; pass --force to overwrite it", file.display())]
    Exists { file: PathBuf },
}

pub fn invalid(file: &Path, msg: impl Into<String>) -> FormatError {
    FormatError::Invalid {
        file: file.to_path_buf(),
        msg: msg.into(),
    }
}

pub fn array_err(file: &Path, array: &str, msg: impl Into<String>) -> FormatError {
    FormatError::Array {
        file: file.to_path_buf(),
        array: array.to_string(),
        msg: msg.into(),
    }
}

/// An opened npz archive that remembers its path and array names for error messages.
pub struct Npz {
    path: PathBuf,
    reader: NpzReader<File>,
    names: Vec<String>,
}

impl Npz {
    pub fn open(path: &Path) -> Result<Npz, FormatError> {
        let file = File::open(path).map_err(|source| FormatError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        let mut reader = NpzReader::new(file)
            .map_err(|e| invalid(path, format!("not a readable npz archive ({e})")))?;
        let names = reader
            .names()
            .map_err(|e| invalid(path, format!("not a readable npz archive ({e})")))?
            .into_iter()
            .map(|n| n.trim_end_matches(".npy").to_string())
            .collect();
        Ok(Npz {
            path: path.to_path_buf(),
            reader,
            names,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Reads array `name` with element type `A` (the dtype `what` names) and shape `shape`
    /// (None entries are free).
    pub fn read<A, D>(
        &mut self,
        name: &str,
        what: &str,
        shape: &[Option<usize>],
    ) -> Result<ArrayBase<OwnedRepr<A>, D>, FormatError>
    where
        A: ReadableElement,
        D: Dimension,
    {
        let want = shape
            .iter()
            .map(|s| s.map_or("_".to_string(), |v| v.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        if !self.has(name) {
            return Err(array_err(
                &self.path,
                name,
                format!(
                    "missing (expected {what} [{want}]; arrays present: {})",
                    if self.names.is_empty() {
                        "none".to_string()
                    } else {
                        self.names.join(", ")
                    }
                ),
            ));
        }
        let arr: ArrayBase<OwnedRepr<A>, D> = self
            .reader
            .by_name(name)
            .or_else(|_| self.reader.by_name(&format!("{name}.npy")))
            .map_err(|e| array_err(&self.path, name, format!("expected {what} [{want}]: {e}")))?;
        let ok = arr.ndim() == shape.len()
            && arr
                .shape()
                .iter()
                .zip(shape)
                .all(|(have, want)| want.is_none_or(|w| w == *have));
        if !ok {
            return Err(array_err(
                &self.path,
                name,
                format!("shape {:?}, expected {what} [{want}]", arr.shape()),
            ));
        }
        Ok(arr)
    }
}

/// Writes a compressed npz of named arrays; refuses to overwrite unless `force`.
pub struct NpzOut {
    path: PathBuf,
    writer: NpzWriter<File>,
}

impl NpzOut {
    pub fn create(path: &Path, force: bool) -> Result<NpzOut, FormatError> {
        check_writable(path, force)?;
        let file = File::create(path).map_err(|source| FormatError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        Ok(NpzOut {
            path: path.to_path_buf(),
            writer: NpzWriter::new_compressed(file),
        })
    }

    pub fn add<A, D>(
        &mut self,
        name: &str,
        arr: &ArrayBase<OwnedRepr<A>, D>,
    ) -> Result<(), FormatError>
    where
        A: WritableElement,
        D: Dimension,
    {
        self.writer
            .add_array(name, arr)
            .map_err(|e| array_err(&self.path, name, format!("writing: {e}")))
    }

    pub fn finish(self) -> Result<(), FormatError> {
        self.writer
            .finish()
            .map(|_| ())
            .map_err(|e| invalid(&self.path, format!("writing: {e}")))
    }
}

/// Refuses to overwrite an existing file unless `force`; creates the parent directory.
pub fn check_writable(path: &Path, force: bool) -> Result<(), FormatError> {
    if path.exists() && !force {
        return Err(FormatError::Exists {
            file: path.to_path_buf(),
        });
    }
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|source| FormatError::Io {
                file: parent.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Writes text to a file, refusing to overwrite unless `force`.
pub fn write_text(path: &Path, text: &str, force: bool) -> Result<(), FormatError> {
    check_writable(path, force)?;
    std::fs::write(path, text).map_err(|source| FormatError::Io {
        file: path.to_path_buf(),
        source,
    })
}

/// Checks every value of an integer array lies in [lo, hi]; names the first offender's index.
pub fn check_range<'a, T, D>(
    file: &Path,
    array: &str,
    arr: &'a ArrayBase<OwnedRepr<T>, D>,
    lo: i64,
    hi: i64,
) -> Result<(), FormatError>
where
    T: Copy + Into<i64> + 'a,
    D: Dimension,
    D::Pattern: std::fmt::Debug,
{
    for (idx, v) in arr.indexed_iter() {
        let v: i64 = (*v).into();
        if v < lo || v > hi {
            return Err(array_err(
                file,
                array,
                format!("value {v} at index {idx:?} is outside [{lo}, {hi}]"),
            ));
        }
    }
    Ok(())
}
