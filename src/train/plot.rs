//! A small scatter plot rendered to PNG (accuracy against delta density for `--compare`), with a
//! built-in 5×7 bitmap font so no system font or plotting stack is needed.

use std::io::Write;
use std::path::Path;

pub struct Image {
    pub w: usize,
    pub h: usize,
    pub px: Vec<[u8; 3]>,
}

impl Image {
    pub fn new(w: usize, h: usize) -> Self {
        Image {
            w,
            h,
            px: vec![[255, 255, 255]; w * h],
        }
    }
    pub fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            self.px[y as usize * self.w + x as usize] = c;
        }
    }
    pub fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for i in 0..=n {
            self.set(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n, c);
        }
    }
    pub fn disc(&mut self, cx: i64, cy: i64, r: i64, c: [u8; 3]) {
        for y in -r..=r {
            for x in -r..=r {
                if x * x + y * y <= r * r {
                    self.set(cx + x, cy + y, c);
                }
            }
        }
    }
    /// Text at (x, y) (top-left), glyphs 5×7 scaled by `s`.
    pub fn text(&mut self, x: i64, y: i64, s: i64, t: &str, c: [u8; 3]) {
        for (k, ch) in t.chars().enumerate() {
            let g = glyph(ch);
            for (r, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for dy in 0..s {
                            for dx in 0..s {
                                self.set(
                                    x + (k as i64 * 6 + col) * s + dx,
                                    y + r as i64 * s + dy,
                                    c,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    /// Text rotated 90° counter-clockwise, reading bottom to top, starting at (x, y).
    pub fn text_up(&mut self, x: i64, y: i64, s: i64, t: &str, c: [u8; 3]) {
        for (k, ch) in t.chars().enumerate() {
            let g = glyph(ch);
            for (r, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for dy in 0..s {
                            for dx in 0..s {
                                self.set(
                                    x + r as i64 * s + dx,
                                    y - (k as i64 * 6 + col) * s - dy,
                                    c,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Axis lines, title and axis labels of a chart whose plot area is (left, right, top, bottom).
fn axes_and_titles(
    img: &mut Image,
    (l, r, t, b): (i64, i64, i64, i64),
    title: &str,
    xlabel: &str,
    ylabel: &str,
) {
    let black = [0, 0, 0];
    img.line(l, b, r, b, black);
    img.line(l, t, l, b, black);
    img.text(
        (img.w as i64 - text_width(title, 2)) / 2,
        20,
        2,
        title,
        black,
    );
    img.text(
        (l + r - text_width(xlabel, 2)) / 2,
        b + 40,
        2,
        xlabel,
        black,
    );
    img.text_up(20, (t + b + text_width(ylabel, 2)) / 2, 2, ylabel, black);
}

pub fn text_width(t: &str, s: i64) -> i64 {
    t.chars().count() as i64 * 6 * s
}

/// 5×7 glyphs, one row per byte (bit 4 = leftmost column). Lowercase maps to uppercase.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        _ => [0x00; 7],
    }
}

const PALETTE: [[u8; 3]; 7] = [
    [127, 127, 127],
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];

/// Scatter of labelled points (label, x, y) with axes, ticks and a title.
pub fn scatter(title: &str, xlabel: &str, ylabel: &str, pts: &[(String, f64, f64)]) -> Image {
    let (w, h) = (900usize, 600usize);
    let mut img = Image::new(w, h);
    let (l, r, t, b) = (100i64, 860i64, 60i64, 520i64);
    let black = [0, 0, 0];
    let grey = [210, 210, 210];
    let xmax = pts.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.15;
    let (mut ymin, mut ymax) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.2), b.max(p.2))
        });
    if !ymin.is_finite() {
        (ymin, ymax) = (0.0, 100.0);
    }
    ymin = (ymin - 2.0).max(0.0).floor();
    ymax = (ymax + 2.0).min(100.0).ceil();
    if ymax <= ymin {
        ymax = ymin + 1.0;
    }
    let px = |x: f64| l + ((x / xmax) * (r - l) as f64).round() as i64;
    let py = |y: f64| b - (((y - ymin) / (ymax - ymin)) * (b - t) as f64).round() as i64;
    for i in 0..=5 {
        let xv = xmax * i as f64 / 5.0;
        let x = px(xv);
        img.line(x, t, x, b, grey);
        let lab = format!("{xv:.3}");
        img.text(x - text_width(&lab, 2) / 2, b + 10, 2, &lab, black);
        let yv = ymin + (ymax - ymin) * i as f64 / 5.0;
        let y = py(yv);
        img.line(l, y, r, y, grey);
        let lab = format!("{yv:.1}");
        img.text(l - 10 - text_width(&lab, 2), y - 7, 2, &lab, black);
    }
    axes_and_titles(&mut img, (l, r, t, b), title, xlabel, ylabel);
    // Points, then a legend in the lower-right corner (labels beside points collide when
    // methods land close together).
    let lw = pts.iter().map(|p| text_width(&p.0, 2)).max().unwrap_or(0) + 40;
    let lh = pts.len() as i64 * 22 + 10;
    let (lx, ly) = (r - lw - 10, b - lh - 10);
    for y in ly..ly + lh {
        for x in lx..lx + lw {
            img.set(x, y, [250, 250, 250]);
        }
    }
    for (i, (name, x, y)) in pts.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        img.disc(px(*x), py(*y), 6, c);
        let yy = ly + 8 + i as i64 * 22;
        img.disc(lx + 14, yy + 6, 6, c);
        img.text(lx + 30, yy, 2, name, c);
    }
    img
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Encode as an 8-bit RGB PNG.
pub fn encode_png(img: &Image) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity((img.w * 3 + 1) * img.h);
    for y in 0..img.h {
        raw.push(0); // filter: none
        for x in 0..img.w {
            raw.extend_from_slice(&img.px[y * img.w + x]);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw)?;
    let idat = z.finish()?;
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = vec![];
    ihdr.extend_from_slice(&(img.w as u32).to_be_bytes());
    ihdr.extend_from_slice(&(img.h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    Ok(out)
}

pub fn write_png(path: &Path, img: &Image) -> std::io::Result<()> {
    std::fs::write(path, encode_png(img)?)
}

/// One series of a line chart: name, colour index and (x, y) points in drawing order.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (reference lines such as a target or an ideal).
    pub dashed: bool,
}

/// Line chart with a log-scale x axis (decades) and a linear y axis over `y_range`, one
/// colour per series, legend in the upper- or lower-right corner.
pub fn log_x_lines(
    title: &str,
    xlabel: &str,
    ylabel: &str,
    series: &[Series],
    y_range: (f64, f64),
    legend_top: bool,
) -> Image {
    let (w, h) = (900usize, 600usize);
    let mut img = Image::new(w, h);
    let (l, r, t, b) = (100i64, 860i64, 60i64, 520i64);
    let black = [0, 0, 0];
    let grey = [210, 210, 210];
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (xmin, xmax) = xs
        .filter(|x| *x > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, c), x| (a.min(x), c.max(x)));
    let (lx0, lx1) = if xmin.is_finite() {
        (
            xmin.log10().floor(),
            xmax.log10().ceil().max(xmin.log10().floor() + 1.0),
        )
    } else {
        (-2.0, 0.0)
    };
    let (y0, y1) = y_range;
    let px =
        |x: f64| l + (((x.max(1e-12).log10() - lx0) / (lx1 - lx0)) * (r - l) as f64).round() as i64;
    let py = |y: f64| b - (((y.clamp(y0, y1) - y0) / (y1 - y0)) * (b - t) as f64).round() as i64;
    let mut d = lx0;
    while d <= lx1 + 1e-9 {
        for m in 1..10 {
            let xv = 10f64.powf(d) * f64::from(m);
            if xv.log10() > lx1 + 1e-9 {
                break;
            }
            let x = px(xv);
            img.line(x, t, x, b, if m == 1 { [170, 170, 170] } else { grey });
            if m == 1 || m == 2 || m == 5 {
                let lab = format!("{xv}");
                img.text(x - text_width(&lab, 2) / 2, b + 10, 2, &lab, black);
            }
        }
        d += 1.0;
    }
    for i in 0..=5 {
        let yv = y0 + (y1 - y0) * f64::from(i) / 5.0;
        let y = py(yv);
        img.line(l, y, r, y, grey);
        let lab = if (y1 - y0) >= 10.0 {
            format!("{yv:.0}")
        } else {
            format!("{yv:.2}")
        };
        img.text(l - 10 - text_width(&lab, 2), y - 7, 2, &lab, black);
    }
    axes_and_titles(&mut img, (l, r, t, b), title, xlabel, ylabel);
    for (i, s) in series.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        for pair in s.points.windows(2) {
            let (xa, ya, xb, yb) = (px(pair[0].0), py(pair[0].1), px(pair[1].0), py(pair[1].1));
            if s.dashed {
                // Dashes: draw every other 8-pixel stretch of the segment.
                let n = (xb - xa).abs().max((yb - ya).abs()).max(1);
                for k in (0..n).step_by(16) {
                    let e = (k + 8).min(n);
                    img.line(
                        xa + (xb - xa) * k / n,
                        ya + (yb - ya) * k / n,
                        xa + (xb - xa) * e / n,
                        ya + (yb - ya) * e / n,
                        c,
                    );
                }
            } else {
                img.line(xa, ya, xb, yb, c);
                img.line(xa, ya + 1, xb, yb + 1, c);
            }
        }
        if !s.dashed {
            for p in &s.points {
                img.disc(px(p.0), py(p.1), 4, c);
            }
        }
        // Legend in the upper- or lower-right corner, wherever the chart is empty.
        let lw = series
            .iter()
            .map(|s| text_width(&s.name, 2))
            .max()
            .unwrap_or(0)
            + 60;
        let yy = if legend_top {
            t + 10 + i as i64 * 22
        } else {
            b - 12 - (series.len() - i) as i64 * 22
        };
        let lx = r - lw;
        img.line(lx + 5, yy + 6, lx + 35, yy + 6, c);
        img.text(lx + 45, yy, 2, &s.name, c);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn png_structure() {
        let img = scatter(
            "t",
            "x",
            "y",
            &[("a".into(), 0.1, 90.0), ("b".into(), 0.3, 95.0)],
        );
        let png = encode_png(&img).unwrap();
        assert_eq!(&png[..8], &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        assert_eq!(&png[12..16], b"IHDR");
        assert!(png.ends_with(&[0xAE, 0x42, 0x60, 0x82])); // CRC of IEND
                                                           // The two points were drawn in their colours.
        assert!(img.px.contains(&PALETTE[0]) && img.px.contains(&PALETTE[1]));
    }
}
