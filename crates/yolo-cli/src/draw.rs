//! Annotated copies: a box per detection, with a "label score" tag, one colour per class.
//!
//! Text is DejaVu Sans (bundled, see NOTICES.md), rasterised with anti-aliasing by `ab_glyph`,
//! so labels read well at any photo size without a font install.

use ab_glyph::{point, Font as _, FontRef, PxScale, ScaleFont as _};
use image::{Rgb, RgbImage};

/// DejaVu Sans, compiled in.
pub(crate) const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// A detection in original-image pixels, ready to draw.
#[derive(Debug, Clone)]
pub struct Label<'a> {
    pub bbox: [f32; 4],
    pub class_id: usize,
    pub text: &'a str,
    pub score: f32,
}

/// Distinct, stable colours: golden-ratio hue steps at full saturation.
pub fn class_colour(class_id: usize) -> Rgb<u8> {
    let hue = (class_id as f32 * 0.618_034).fract() * 6.0;
    let x = 1.0 - (hue % 2.0 - 1.0).abs();
    let (r, g, b) = match hue as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let to = |v: f32| (55.0 + v * 200.0) as u8;
    Rgb([to(r), to(g), to(b)])
}

/// Line width and text height for a picture: both grow with its shorter side (a 768x576
/// photo gets 2 px lines and 14 px text, a 4000x3000 one 10 px and 75 px).
fn sizes(width: u32, height: u32) -> (i64, f32) {
    let short = width.min(height) as f32;
    (((short / 300.0).round() as i64).max(1), (short / 40.0).max(11.0))
}

/// Draws every box, then every "label score" tag, onto `image`.
///
/// Tags sit above their box when there is room, else just inside it, always inside the
/// picture; a tag that would cover an earlier one (boxes that coincide, like car and truck on
/// one vehicle) moves down below it, so every score stays readable.
pub fn annotate(image: &mut RgbImage, labels: &[Label<'_>]) -> anyhow::Result<()> {
    let font =
        FontRef::try_from_slice(FONT).map_err(|e| anyhow::anyhow!("the bundled label font does not parse: {e}"))?;
    let (thickness, text_px) = sizes(image.width(), image.height());
    for label in labels {
        let [x1, y1, x2, y2] = label.bbox.map(|v| v.round() as i64);
        for t in 0..thickness {
            rect(image, x1 + t, y1 + t, x2 - t, y2 - t, class_colour(label.class_id));
        }
    }
    let (width, height) = (i64::from(image.width()), i64::from(image.height()));
    let pad = (text_px / 6.0).ceil() as i64;
    let mut placed: Vec<[i64; 4]> = Vec::new();
    for label in labels {
        let text = format!("{} {:.2}", label.text, label.score);
        let (tw, th) = (text_width(&font, text_px, &text) + 2 * pad, text_px.ceil() as i64 + 2 * pad);
        let [x1, y1, ..] = label.bbox.map(|v| v.round() as i64);
        let x = x1.min(width - tw).max(0);
        let mut y = if y1 - th >= 0 { y1 - th } else { y1.max(0) };
        while let Some(hit) = placed.iter().find(|r| overlaps(r, &[x, y, x + tw, y + th])) {
            y = hit[3];
        }
        let y = y.min(height - th).max(0);
        fill(image, x, y, x + tw, y + th, class_colour(label.class_id));
        text_at(image, &font, text_px, x + pad, y + pad, &text);
        placed.push([x, y, x + tw, y + th]);
    }
    Ok(())
}

fn overlaps(a: &[i64; 4], b: &[i64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn text_width(font: &FontRef<'_>, px: f32, text: &str) -> i64 {
    let scaled = font.as_scaled(PxScale::from(px));
    text.chars().map(|c| scaled.h_advance(scaled.glyph_id(c))).sum::<f32>().ceil() as i64
}

/// Black anti-aliased text with its top-left corner at `(x, y)`, clipped to the image.
fn text_at(image: &mut RgbImage, font: &FontRef<'_>, px: f32, x: i64, y: i64, text: &str) {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = x as f32;
    let baseline = y as f32 + scaled.ascent();
    for c in text.chars() {
        let glyph = scaled.glyph_id(c).with_scale_and_position(px, point(caret, baseline));
        caret += scaled.h_advance(glyph.id);
        let Some(outline) = font.outline_glyph(glyph) else { continue };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
            if px >= 0 && py >= 0 && (px as u32) < image.width() && (py as u32) < image.height() {
                let pixel = image.get_pixel_mut(px as u32, py as u32);
                let keep = 1.0 - coverage.clamp(0.0, 1.0);
                pixel.0 = pixel.0.map(|v| (f32::from(v) * keep).round() as u8);
            }
        });
    }
}

fn put(image: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < image.width() && (y as u32) < image.height() {
        image.put_pixel(x as u32, y as u32, colour);
    }
}

fn rect(image: &mut RgbImage, x1: i64, y1: i64, x2: i64, y2: i64, colour: Rgb<u8>) {
    for x in x1..=x2 {
        put(image, x, y1, colour);
        put(image, x, y2, colour);
    }
    for y in y1..=y2 {
        put(image, x1, y, colour);
        put(image, x2, y, colour);
    }
}

fn fill(image: &mut RgbImage, x1: i64, y1: i64, x2: i64, y2: i64, colour: Rgb<u8>) {
    for y in y1.max(0)..y2.min(i64::from(image.height())) {
        for x in x1.max(0)..x2.min(i64::from(image.width())) {
            image.put_pixel(x as u32, y as u32, colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tag rectangles drawn, found by their colour along a column.
    fn rows_of(image: &RgbImage, x: u32, colour: Rgb<u8>) -> Vec<u32> {
        (0..image.height()).filter(|&y| *image.get_pixel(x, y) == colour).collect()
    }

    #[test]
    fn draws_inside_and_clips_outside() {
        let mut image = RgbImage::new(100, 80);
        let labels = [Label { bbox: [10.0, 30.0, 60.0, 70.0], class_id: 3, text: "dog", score: 0.5 }];
        annotate(&mut image, &labels).expect("font");
        assert_eq!(*image.get_pixel(10, 50), class_colour(3));
        let edge = [Label { bbox: [-20.0, -20.0, 500.0, 500.0], class_id: 0, text: "x", score: 1.0 }];
        annotate(&mut image, &edge).expect("must not panic");
    }

    #[test]
    fn tags_of_coinciding_boxes_do_not_cover_each_other() {
        let mut image = RgbImage::new(400, 400);
        let labels = [
            Label { bbox: [100.0, 100.0, 300.0, 300.0], class_id: 2, text: "car", score: 0.6 },
            Label { bbox: [100.0, 100.0, 300.0, 300.0], class_id: 7, text: "truck", score: 0.5 },
        ];
        annotate(&mut image, &labels).expect("font");
        // Column 101 runs through both tags' left padding: the first above the box, the second
        // below the first, neither on top of the other.
        let car = rows_of(&image, 101, class_colour(2));
        let truck = rows_of(&image, 101, class_colour(7));
        let (car_last, truck_first) = (car.iter().copied().filter(|&y| y < 100).max(), truck.first().copied());
        assert!(car_last.is_some_and(|c| c < 100), "car tag above the box: {car:?}");
        assert!(truck_first.is_some_and(|t| t >= 100), "truck tag below the car tag: {truck:?}");
    }

    #[test]
    fn text_grows_with_the_picture_and_tags_stay_inside() {
        assert_eq!(sizes(768, 576).0, 2);
        assert!(sizes(4000, 3000).1 > 70.0, "75 px text on a 4000x3000 photo");
        let mut image = RgbImage::new(3000, 2000);
        let labels = [Label { bbox: [2990.0, 0.0, 3000.0, 10.0], class_id: 1, text: "person", score: 0.9 }];
        annotate(&mut image, &labels).expect("font");
        // The tag is pushed left so that it ends at the right edge, and holds dark text.
        assert_eq!(*image.get_pixel(2999, 2), class_colour(1));
        let dark = (2000..3000)
            .flat_map(|x| (0..60).map(move |y| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0 == [0, 0, 0]);
        assert!(dark.count() > 500, "glyphs were drawn");
    }

    #[test]
    fn neighbouring_classes_get_different_colours() {
        assert_ne!(class_colour(0), class_colour(1));
        assert_ne!(class_colour(1), class_colour(2));
    }
}
