//! scikit-learn's 8×8 digits (`digits.csv.gz`: 64 pixel values 0..16 then the label, one image
//! a line) and the `moving-digits` video-like sequences made from them.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DigitsError {
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
}

/// One 8×8 digit image (row-major, values 0..=16) and its label.
#[derive(Debug, Clone)]
pub struct Digit {
    pub pixels: [u8; 64],
    pub label: usize,
}

/// Load `digits.csv.gz` (gzip) or an uncompressed `digits.csv`.
pub fn load_digits(path: &Path) -> Result<Vec<Digit>, DigitsError> {
    let io = |source| DigitsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(io)?;
        s
    } else {
        String::from_utf8(bytes).map_err(|e| DigitsError::Parse {
            path: path.to_path_buf(),
            line: 0,
            msg: format!("not UTF-8 text: {e}"),
        })?
    };
    parse_digits(&text, path)
}

pub fn parse_digits(text: &str, path: &Path) -> Result<Vec<Digit>, DigitsError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let perr = |msg: String| DigitsError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            msg,
        };
        let vals: Vec<&str> = line.split(',').collect();
        if vals.len() != 65 {
            return Err(perr(format!(
                "expected 65 values (64 pixels + label), found {}",
                vals.len()
            )));
        }
        let mut pixels = [0u8; 64];
        for (k, v) in vals[..64].iter().enumerate() {
            // The CSV stores floats like "0.0" in some versions and ints in others.
            let f: f32 = v
                .trim()
                .parse()
                .map_err(|_| perr(format!("pixel {k}: {v:?} is not a number")))?;
            if !(0.0..=16.0).contains(&f) {
                return Err(perr(format!("pixel {k}: {f} outside 0..=16")));
            }
            pixels[k] = f.round() as u8;
        }
        let label: f32 = vals[64]
            .trim()
            .parse()
            .map_err(|_| perr(format!("label {:?} is not a number", vals[64])))?;
        if !(0.0..=9.0).contains(&label) || label.fract() != 0.0 {
            return Err(perr(format!("label {label} is not a digit 0..=9")));
        }
        out.push(Digit {
            pixels,
            label: label as usize,
        });
    }
    if out.is_empty() {
        return Err(DigitsError::Parse {
            path: path.to_path_buf(),
            line: 0,
            msg: "no digit in file".into(),
        });
    }
    Ok(out)
}

/// Parameters of the moving-digits sequences.
#[derive(Debug, Clone, Copy)]
pub struct MovingDigits {
    /// Side of the square canvas in pixels (≥ 8).
    pub canvas: usize,
    /// Frames per sequence.
    pub frames: usize,
}

impl Default for MovingDigits {
    fn default() -> Self {
        Self {
            canvas: 16,
            frames: 24,
        }
    }
}

impl MovingDigits {
    /// One sequence `[frames, canvas*canvas]` with pixel values in [0, 1]: the digit starts at a
    /// random position and alternates segments of 2..=6 frames that either drift by one pixel per
    /// frame in one of 8 directions (bouncing off the borders) or pause in place, so consecutive
    /// frames are often identical (pause) or shifted (drift), as in a static-camera video.
    pub fn sequence(&self, digit: &Digit, rng: &mut ChaCha8Rng) -> Array2<f32> {
        let span = (self.canvas - 8) as i32;
        let mut x = rng.gen_range(0..=span);
        let mut y = rng.gen_range(0..=span);
        let mut out = Array2::<f32>::zeros((self.frames, self.canvas * self.canvas));
        let mut t = 0;
        while t < self.frames {
            let seg = rng.gen_range(2..=6usize);
            let pause = rng.gen_bool(0.4);
            let (mut dx, mut dy) = (0i32, 0i32);
            if !pause {
                while dx == 0 && dy == 0 {
                    dx = rng.gen_range(-1..=1);
                    dy = rng.gen_range(-1..=1);
                }
            }
            for _ in 0..seg {
                if t >= self.frames {
                    break;
                }
                for r in 0..8 {
                    for c in 0..8 {
                        let v = digit.pixels[r * 8 + c] as f32 / 16.0;
                        let idx = (y as usize + r) * self.canvas + x as usize + c;
                        out[[t, idx]] = v;
                    }
                }
                t += 1;
                if x + dx < 0 || x + dx > span {
                    dx = -dx;
                }
                if y + dy < 0 || y + dy > span {
                    dy = -dy;
                }
                x += dx;
                y += dy;
            }
        }
        out
    }

    /// Sequences for all `digits`, deterministic in `seed`.
    pub fn make(&self, digits: &[Digit], seed: u64) -> (Vec<Array2<f32>>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let seqs = digits.iter().map(|d| self.sequence(d, &mut rng)).collect();
        (seqs, digits.iter().map(|d| d.label).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit() -> Digit {
        let mut pixels = [0u8; 64];
        for (i, p) in pixels.iter_mut().enumerate() {
            *p = (i % 17) as u8;
        }
        Digit { pixels, label: 3 }
    }

    #[test]
    fn moving_digit_keeps_mass_and_moves_or_pauses() {
        let md = MovingDigits::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s = md.sequence(&digit(), &mut rng);
        assert_eq!(s.shape(), &[24, 256]);
        let mass: f32 = digit().pixels.iter().map(|&p| p as f32 / 16.0).sum();
        let (mut same, mut moved) = (0, 0);
        for t in 0..24 {
            assert!((s.row(t).sum() - mass).abs() < 1e-3);
            if t > 0 {
                if s.row(t) == s.row(t - 1) {
                    same += 1
                } else {
                    moved += 1
                }
            }
        }
        assert!(same > 0 && moved > 0, "same {same} moved {moved}");
        // Deterministic from the seed.
        let mut rng2 = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(s, md.sequence(&digit(), &mut rng2));
    }

    #[test]
    fn malformed_digits_csv() {
        let e = parse_digits("1,2,3\n", Path::new("d.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("d.csv:1:") && e.contains("expected 65"),
            "{e}"
        );
        let mut line = vec!["0"; 64];
        line.push("12");
        let e = parse_digits(&line.join(","), Path::new("d.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a digit"), "{e}");
    }

    #[test]
    fn loads_shared_digits_when_present() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/digits/digits.csv.gz");
        if !p.exists() {
            eprintln!("skipping: {} not present", p.display());
            return;
        }
        let d = load_digits(&p).unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d[0].label, 0);
    }
}
