//! Fitting a photo to the network input, and mapping boxes back exactly.
//!
//! Letterbox follows pjreddie darknet's `letterbox_image` to the letter: integer new size,
//! darknet's two-pass bilinear `resize_image` (corner-aligned), gray 0.5 fill, integer centring
//! offset. Stretch is the same resize to the full input. Pixels are RGB in `[0, 1]`, planar.

use yolo_model::postprocess::BBox;

/// How images are fitted to the square network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resize {
    /// Keep the aspect ratio, pad with gray 0.5, centred (darknet).
    #[default]
    Letterbox,
    /// Stretch to the input size (AlexeyAB darknet, OpenCV's sample).
    Stretch,
}

/// A planar RGB float image (`data[c][y][x]`, values in `[0, 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Planar {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `3 * height * width` values, plane by plane.
    pub data: Vec<f32>,
}

impl Planar {
    fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }
}

/// How an original image sits inside the network input, to map boxes back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Original image width.
    pub width: usize,
    /// Original image height.
    pub height: usize,
    /// Width and height of the resized image inside the input.
    pub resized: [usize; 2],
    /// Its offset (left, top) inside the input.
    pub offset: [usize; 2],
}

impl Placement {
    /// Maps a box from network-input pixels back to original pixels, clamped to the image.
    ///
    /// The resized content spans `[offset, offset + resized)` and shows the whole original
    /// `[0, width)`, so `x_orig = (x - offset) * width / resized`.
    pub fn to_original(&self, b: &BBox) -> BBox {
        let sx = self.width as f32 / self.resized[0] as f32;
        let sy = self.height as f32 / self.resized[1] as f32;
        let (ox, oy) = (self.offset[0] as f32, self.offset[1] as f32);
        let (w, h) = (self.width as f32, self.height as f32);
        [
            ((b[0] - ox) * sx).clamp(0.0, w),
            ((b[1] - oy) * sy).clamp(0.0, h),
            ((b[2] - ox) * sx).clamp(0.0, w),
            ((b[3] - oy) * sy).clamp(0.0, h),
        ]
    }
}

/// Fits `image` into a `size x size` input. Returns the planar input and its placement.
pub fn prepare(image: &Planar, size: usize, mode: Resize) -> (Planar, Placement) {
    let (new_w, new_h) = match mode {
        Resize::Stretch => (size, size),
        // darknet: `if ((float)w/im.w) < ((float)h/im.h)`, then integer arithmetic.
        Resize::Letterbox => {
            if (size as f32 / image.width as f32) < (size as f32 / image.height as f32) {
                (size, (image.height * size / image.width).max(1))
            } else {
                ((image.width * size / image.height).max(1), size)
            }
        }
    };
    let resized = resize_bilinear(image, new_w, new_h);
    let (dx, dy) = ((size - new_w) / 2, (size - new_h) / 2);
    let placement = Placement { width: image.width, height: image.height, resized: [new_w, new_h], offset: [dx, dy] };
    if (new_w, new_h) == (size, size) {
        return (resized, placement);
    }
    let mut boxed = Planar { width: size, height: size, data: vec![0.5; 3 * size * size] };
    for c in 0..3 {
        for y in 0..new_h {
            let src = (c * new_h + y) * new_w;
            let dst = (c * size + y + dy) * size + dx;
            boxed.data[dst..dst + new_w].copy_from_slice(&resized.data[src..src + new_w]);
        }
    }
    (boxed, placement)
}

/// darknet's `resize_image`: horizontal pass then vertical pass, corner-aligned sampling
/// (`scale = (in - 1) / (out - 1)`), float32 arithmetic in darknet's order.
pub fn resize_bilinear(im: &Planar, w: usize, h: usize) -> Planar {
    let channels = im.data.len() / (im.width * im.height);
    let w_scale = if w > 1 { (im.width - 1) as f32 / (w - 1) as f32 } else { 0.0 };
    let h_scale = if h > 1 { (im.height - 1) as f32 / (h - 1) as f32 } else { 0.0 };
    // Horizontal pass: part is w x im.height.
    let mut part = vec![0.0f32; channels * im.height * w];
    for k in 0..channels {
        for r in 0..im.height {
            for c in 0..w {
                let val = if c == w - 1 || im.width == 1 {
                    im.at(k, r, im.width - 1)
                } else {
                    let sx = c as f32 * w_scale;
                    let ix = sx as usize;
                    let dx = sx - ix as f32;
                    (1.0 - dx) * im.at(k, r, ix) + dx * im.at(k, r, (ix + 1).min(im.width - 1))
                };
                part[(k * im.height + r) * w + c] = val;
            }
        }
    }
    // Vertical pass.
    let mut out = vec![0.0f32; channels * h * w];
    for k in 0..channels {
        for r in 0..h {
            let sy = r as f32 * h_scale;
            let iy = (sy as usize).min(im.height - 1);
            let dy = sy - iy as f32;
            let row = &mut out[(k * h + r) * w..(k * h + r + 1) * w];
            let top = &part[(k * im.height + iy) * w..(k * im.height + iy + 1) * w];
            for (o, t) in row.iter_mut().zip(top) {
                *o = (1.0 - dy) * t;
            }
            if r == h - 1 || im.height == 1 {
                continue;
            }
            let iy1 = (iy + 1).min(im.height - 1);
            let bottom = &part[(k * im.height + iy1) * w..(k * im.height + iy1 + 1) * w];
            for (o, b) in row.iter_mut().zip(bottom) {
                *o += dy * b;
            }
        }
    }
    Planar { width: w, height: h, data: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(width: usize, height: usize) -> Planar {
        let data = (0..3 * width * height).map(|i| (i % 97) as f32 / 97.0).collect();
        Planar { width, height, data }
    }

    #[test]
    fn letterbox_of_a_wide_image_pads_top_and_bottom() {
        let (input, placement) = prepare(&ramp(768, 576), 416, Resize::Letterbox);
        assert_eq!((input.width, input.height), (416, 416));
        assert_eq!(placement.resized, [416, 312]);
        assert_eq!(placement.offset, [0, 52]);
        assert_eq!(input.data[0], 0.5);
        assert_ne!(input.data[52 * 416], 0.5);
    }

    #[test]
    fn boxes_map_back_through_the_placement() {
        let (_, placement) = prepare(&ramp(768, 576), 416, Resize::Letterbox);
        let b = placement.to_original(&[0.0, 52.0, 416.0, 364.0]);
        assert_eq!(b, [0.0, 0.0, 768.0, 576.0]);
        let b = placement.to_original(&[-10.0, 0.0, 500.0, 600.0]);
        assert_eq!(b, [0.0, 0.0, 768.0, 576.0]);
    }

    #[test]
    fn resize_keeps_corners_and_constant_images() {
        let im = ramp(10, 7);
        let out = resize_bilinear(&im, 23, 5);
        assert_eq!(out.at(0, 0, 0), im.at(0, 0, 0));
        assert_eq!(out.at(2, 4, 22), im.at(2, 6, 9));
        let flat = Planar { width: 5, height: 5, data: vec![0.25; 75] };
        assert!(resize_bilinear(&flat, 13, 3).data.iter().all(|v| (v - 0.25).abs() < 1e-7));
    }

    #[test]
    fn stretch_fills_the_input() {
        let (input, placement) = prepare(&ramp(100, 50), 64, Resize::Stretch);
        assert_eq!(placement.resized, [64, 64]);
        assert_eq!(placement.offset, [0, 0]);
        assert_eq!(input.data.len(), 3 * 64 * 64);
    }
}
