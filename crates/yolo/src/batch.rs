//! One batch through the network: letterbox into one input tensor, forward, then threshold,
//! NMS and boxes mapped back to each image's own pixels.
//!
//! Split in two steps ([`Preprocess::prepare`], [`crate::Detector::run`]) so that the serial
//! decode-and-letterbox of the next batch can run on another thread while the network works.

use crate::detection::Detection;
use crate::image_io;
use crate::preprocess::{Placement, Resize, prepare};

/// How images become network input: the square input size and the fitting mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preprocess {
    /// Input width and height in pixels (a multiple of the network's largest stride).
    pub size: usize,
    /// Letterbox or stretch.
    pub resize: Resize,
}

/// A batch ready for the network: planar pixels in `[0, 1]` and where each image went.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(crate) input: Vec<f32>,
    pub(crate) dims: [usize; 4],
    pub(crate) placements: Vec<Placement>,
}

impl Prepared {
    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.placements.len()
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.placements.is_empty()
    }
}

impl Preprocess {
    /// Letterboxes (or stretches) decoded images into one network input.
    pub fn prepare<'a>(&self, images: impl IntoIterator<Item = &'a image::DynamicImage>) -> Prepared {
        let size = self.size;
        let images = images.into_iter();
        let count = images.size_hint().0;
        let mut input = Vec::with_capacity(count * 3 * size * size);
        let mut placements = Vec::with_capacity(count);
        for image in images {
            let (planar, placement) = prepare(&image_io::to_planar(image), size, self.resize);
            input.extend_from_slice(&planar.data);
            placements.push(placement);
        }
        Prepared { input, dims: [placements.len(), 3, size, size], placements }
    }
}

/// One image's results: the detections, and what produced them.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Where the image sat in the network input (its original size included).
    pub placement: Placement,
    /// Decoded rows `[rows, columns]` (`cx, cy, w, h, objectness, class scores...`), row-major,
    /// in network-input pixels, before any threshold.
    pub raw: Vec<f32>,
    /// `5 + classes`.
    pub columns: usize,
    /// Thresholded, NMS'd, in original-image pixels, by descending score.
    pub detections: Vec<Detection>,
}

impl Frame {
    /// The original image's width and height.
    pub fn image_size(&self) -> (usize, usize) {
        (self.placement.width, self.placement.height)
    }

    /// Rows in [`Frame::raw`].
    pub fn rows(&self) -> usize {
        self.raw.len() / self.columns.max(1)
    }
}
