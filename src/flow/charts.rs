//! Report charts with `plotters` (bitmap backend, DejaVu Sans embedded through `ab_glyph`, so no
//! system font is needed).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

const FONT: &str = "sans-serif";
const SIZE: (u32, u32) = (900, 480);

fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded DejaVu Sans font does not load"))
    }
}

fn err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("drawing {}: {e}", path.display())
}

/// A bar per label, the value written above each bar; the last bar (the pooled figure) in
/// another colour.
pub fn bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    labels: &[String],
    values: &[f64],
) -> Result<()> {
    ensure_font()?;
    let n = labels.len().max(1);
    let top = values.iter().copied().fold(0.0f64, f64::max).max(1e-3) * 1.18;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err(path))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(64)
        // A segmented range 0..k has k + 1 segments.
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top)
        .map_err(err(path))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc(y_desc)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(err(path))?;
    let last = values.len().saturating_sub(1);
    chart
        .draw_series(values.iter().enumerate().map(|(i, v)| {
            let colour = if i == last && values.len() > 1 {
                RGBColor(214, 96, 40)
            } else {
                RGBColor(46, 110, 180)
            };
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                colour.filled(),
            );
            bar.set_margin(0, 0, 14, 14);
            bar
        }))
        .map_err(err(path))?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, v)| {
            Text::new(
                format!("{v:.3}"),
                (SegmentValue::CenterOf(i), v + top * 0.02),
                (FONT, 15)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))
        .map_err(err(path))?;
    root.present().map_err(err(path))?;
    Ok(())
}

/// Lines over frame index; each series is (label, colour, values).
pub fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, RGBColor, Vec<f64>)],
) -> Result<()> {
    ensure_font()?;
    let len = series.iter().map(|s| s.2.len()).max().unwrap_or(0).max(2);
    let top = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err(path))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..(len - 1) as f64, 0f64..top)
        .map_err(err(path))?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(err(path))?;
    for (label, colour, values) in series {
        let c = *colour;
        chart
            .draw_series(LineSeries::new(
                values.iter().enumerate().map(|(i, v)| (i as f64, *v)),
                c.stroke_width(2),
            ))
            .map_err(err(path))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err(path))?;
    root.present().map_err(err(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let be =
            |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        (be(16), be(20))
    }

    #[test]
    fn charts_render_to_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bars.png");
        bars(
            &p,
            "delta density",
            "density",
            &["layer 0".into(), "layer 1".into(), "pooled".into()],
            &[0.4, 0.1, 0.25],
        )
        .unwrap();
        assert_eq!(png_size(&std::fs::read(&p).unwrap()), SIZE);
        let p = dir.path().join("lines.png");
        lines(
            &p,
            "cycles",
            "frame",
            "cycles",
            &[
                ("a".into(), RED, vec![5.0, 3.0, 4.0]),
                ("b".into(), BLUE, vec![6.0; 3]),
            ],
        )
        .unwrap();
        assert_eq!(png_size(&std::fs::read(&p).unwrap()), SIZE);
    }

    #[test]
    fn embedded_font_draws_text() {
        ensure_font().unwrap();
        let (w, h) = (200u32, 60u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.draw(&Text::new(
                "Fmax 70 MHz",
                (5, 10),
                (FONT, 24).into_font().color(&BLACK),
            ))
            .unwrap();
            root.present().unwrap();
        }
        let dark = buf.chunks(3).filter(|p| p[0] < 128).count();
        assert!(dark > 100, "{dark} dark pixels: the font drew nothing");
    }
}
