//! `val --plots DIR`: precision-recall curves and a confusion matrix, as PNG images.
//!
//! Drawn by plotters into an RGB buffer, text in the bundled DejaVu Sans (through plotters'
//! ab_glyph support, so no system font is needed), encoded by `image` and written atomically.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;
use yolo_eval::confusion::{confusion, ConfusionMatrix};
use yolo_eval::report::{mean_pr_curve, pr_curve, Report};
use yolo_eval::{Dataset, DetectionResult, Evaluation};

use crate::atomic;

/// The confusion matrix counts detections at or above this score, paired at this IoU.
pub const CONFUSION_CONF: f64 = 0.25;
pub const CONFUSION_IOU: f64 = 0.45;

/// Writes `pr_curve.png` (every class and their mean), `pr_<category id>.png` per class with
/// ground truth, and `confusion_matrix.png` into `dir`.
pub fn write_all(
    dir: &Path,
    e: &Evaluation,
    r: &Report,
    d: &Dataset,
    results: &[DetectionResult],
) -> anyhow::Result<()> {
    register_font()?;
    atomic::ensure_dir(dir)?;
    let names: Vec<String> = r.classes.iter().map(|c| c.name.clone()).collect();
    let curves: Vec<(String, Vec<(f64, f64)>)> =
        (0..e.cat_ids.len()).map(|k| (names[k].clone(), pr_curve(e, k))).filter(|(_, c)| !c.is_empty()).collect();
    let mean = mean_pr_curve(e);
    let title = format!("precision-recall at IoU 0.5 (AP50 {:.3})", e.stats[1]);
    write_png(&dir.join("pr_curve.png"), (900, 700), |root| pr_chart(root, &title, &curves, Some(mean.as_slice())))?;
    for (k, c) in r.classes.iter().enumerate() {
        let curve = pr_curve(e, k);
        if curve.is_empty() {
            continue;
        }
        let title = format!("{} (AP50 {})", c.name, c.ap50.map_or("-".into(), |v| format!("{v:.3}")));
        let one = [(c.name.clone(), curve)];
        write_png(&dir.join(format!("pr_{}.png", c.category_id)), (700, 560), |root| {
            pr_chart(root, &title, &one, None)
        })?;
    }
    let matrix = confusion(d, results, CONFUSION_CONF, CONFUSION_IOU);
    let side = (320 + 28 * (matrix.cat_ids.len() as u32 + 1)).min(2400);
    write_png(&dir.join("confusion_matrix.png"), (side, side), |root| confusion_chart(root, &matrix, &names))
}

/// plotters resolves fonts by family name; the ab_glyph backend knows only registered ones.
fn register_font() -> anyhow::Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, crate::draw::FONT)
        .map_err(|_| anyhow!("the bundled plot font does not parse"))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<(), Box<dyn std::error::Error>>,
) -> anyhow::Result<()> {
    let mut buffer = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        draw(&root).map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
        root.present().map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    }
    let image = image::RgbImage::from_raw(w, h, buffer).ok_or_else(|| anyhow!("plot buffer size"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).map_err(|e| anyhow!("encoding {}: {e}", path.display()))?;
    atomic::write(path, &png.into_inner())
}

fn colour(i: usize) -> RGBColor {
    let c = crate::draw::class_colour(i);
    RGBColor(c.0[0] / 4 * 3, c.0[1] / 4 * 3, c.0[2] / 4 * 3)
}

fn pr_chart<'a>(
    root: &Area<'a>,
    title: &str,
    curves: &[(String, Vec<(f64, f64)>)],
    mean: Option<&[(f64, f64)]>,
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)?;
    chart.configure_mesh().x_desc("recall").y_desc("precision").label_style(("sans-serif", 14)).draw()?;
    for (i, (name, curve)) in curves.iter().enumerate() {
        let style = colour(i + 1).stroke_width(if mean.is_some() { 1 } else { 3 });
        chart
            .draw_series(LineSeries::new(curve.iter().copied(), style))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    if let Some(mean) = mean {
        let style = BLACK.stroke_width(3);
        chart
            .draw_series(LineSeries::new(mean.iter().copied(), style))?
            .label("all classes")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn confusion_chart(root: &Area<'_>, m: &ConfusionMatrix, names: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    root.fill(&WHITE)?;
    let n = m.cat_ids.len() + 1;
    let label =
        |i: usize| if i + 1 == n { "background".to_string() } else { names.get(i).cloned().unwrap_or_default() };
    let max = m.counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(format!("confusion matrix (score >= {CONFUSION_CONF}, IoU >= {CONFUSION_IOU})"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(110)
        .y_label_area_size(110)
        .build_cartesian_2d((0..n as i32).into_segmented(), (0..n as i32).into_segmented())?;
    // Rows: predicted class top to bottom; columns: true class left to right.
    let row_label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(y) => label(n - 1 - *y as usize),
        _ => String::new(),
    };
    let column_label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(x) => label(*x as usize),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(n)
        .y_labels(n)
        .x_desc("true")
        .y_desc("predicted")
        .x_label_formatter(&column_label)
        .y_label_formatter(&row_label)
        .x_label_style(("sans-serif", 12).into_font().transform(FontTransform::Rotate90))
        .y_label_style(("sans-serif", 12))
        .draw()?;
    let cells: Vec<(usize, usize)> = (0..n).flat_map(|p| (0..n).map(move |t| (p, t))).collect();
    chart.draw_series(cells.iter().map(|&(p, t)| {
        let v = m.counts[p][t] as f64 / max;
        let shade = (255.0 * (1.0 - 0.8 * v)) as u8;
        let (x, y) = (t as i32, (n - 1 - p) as i32);
        let corners = [
            (SegmentValue::Exact(x), SegmentValue::Exact(y + 1)),
            (SegmentValue::Exact(x + 1), SegmentValue::Exact(y)),
        ];
        Rectangle::new(corners, RGBColor(shade, shade, 255).filled())
    }))?;
    let centred = ("sans-serif", 13).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
    chart.draw_series(cells.iter().filter(|&&(p, t)| m.counts[p][t] > 0).map(|&(p, t)| {
        let at = (SegmentValue::CenterOf(t as i32), SegmentValue::CenterOf((n - 1 - p) as i32));
        Text::new(m.counts[p][t].to_string(), at, centred.clone())
    }))?;
    Ok(())
}
