//! Annotated copies: a box per detection, with a "label score" tag, one colour per class.

use image::{Rgb, RgbImage};

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

/// Draws every label onto `image`.
pub fn annotate(image: &mut RgbImage, labels: &[Label<'_>]) {
    let thickness = ((image.width().min(image.height()) as f32 / 300.0).round() as i64).clamp(1, 6);
    let scale = thickness.clamp(1, 3);
    for label in labels {
        let colour = class_colour(label.class_id);
        let [x1, y1, x2, y2] = label.bbox.map(|v| v.round() as i64);
        for t in 0..thickness {
            rect(image, x1 + t, y1 + t, x2 - t, y2 - t, colour);
        }
        let text = format!("{} {:.2}", label.text, label.score);
        let (tw, th) = (text.len() as i64 * 8 * scale + 4, 8 * scale + 4);
        let ty = if y1 - th >= 0 { y1 - th } else { y1 };
        fill(image, x1, ty, x1 + tw, ty + th, colour);
        text_at(image, x1 + 2, ty + 2, &text, scale, Rgb([0, 0, 0]));
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
    for y in y1..y2 {
        for x in x1..x2 {
            put(image, x, y, colour);
        }
    }
}

/// 8x8 bitmap text (font8x8's public-domain basic glyphs), magnified by `scale`.
fn text_at(image: &mut RgbImage, x: i64, y: i64, text: &str, scale: i64, colour: Rgb<u8>) {
    for (i, ch) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY[(ch as usize).min(127)];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    let (px, py) = (x + (i as i64 * 8 + col) * scale, y + row as i64 * scale);
                    fill(image, px, py, px + scale, py + scale, colour);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_inside_and_clips_outside() {
        let mut image = RgbImage::new(100, 80);
        let labels = [Label { bbox: [10.0, 30.0, 60.0, 70.0], class_id: 3, text: "dog", score: 0.5 }];
        annotate(&mut image, &labels);
        assert_eq!(*image.get_pixel(10, 50), class_colour(3));
        let edge = [Label { bbox: [-20.0, -20.0, 500.0, 500.0], class_id: 0, text: "x", score: 1.0 }];
        annotate(&mut image, &edge); // must not panic
    }

    #[test]
    fn neighbouring_classes_get_different_colours() {
        assert_ne!(class_colour(0), class_colour(1));
        assert_ne!(class_colour(1), class_colour(2));
    }
}
