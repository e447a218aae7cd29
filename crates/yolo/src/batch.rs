//! One batch through the network: letterbox into one input tensor, forward, then threshold,
//! NMS and boxes mapped back to each image's own pixels.
//!
//! Split in two steps ([`Preprocess::prepare`], [`crate::Detector::run`]) so that the serial
//! decode-and-letterbox of the next batch can run on another thread while the network works.

use crate::detection::Detection;
use crate::preprocess::{Placement, Resize, fit_into, input_shape};

/// How images become network input: the input size, the fitting mode and the network's stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preprocess {
    /// Input width and height in pixels (a multiple of the network's largest stride); with
    /// [`Resize::Rect`], the long side.
    pub size: usize,
    /// Letterbox, rect letterbox or stretch.
    pub resize: Resize,
    /// The network's largest stride (32 for YOLOv3): rect inputs are multiples of it.
    pub stride: usize,
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
    /// Letterboxes (or stretches) decoded images into one network input. With
    /// [`Resize::Rect`] the batch takes the smallest shape that holds every image's rect shape.
    pub fn prepare<'a>(&self, images: impl IntoIterator<Item = &'a image::DynamicImage>) -> Prepared {
        let images: Vec<&image::DynamicImage> = images.into_iter().collect();
        let [width, height] = images
            .iter()
            .map(|im| input_shape(im.width() as usize, im.height() as usize, self.size, self.stride, self.resize))
            .reduce(|[w, h], [w2, h2]| [w.max(w2), h.max(h2)])
            .unwrap_or([self.size, self.size]);
        let slot = 3 * width * height;
        let mut input = vec![0.0f32; images.len() * slot];
        let placements = images
            .iter()
            .zip(input.chunks_exact_mut(slot))
            .map(|(image, out)| fit_into(image, [width, height], self.resize, out))
            .collect::<Vec<_>>();
        Prepared { input, dims: [placements.len(), 3, height, width], placements }
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
