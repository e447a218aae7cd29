//! What a detector returns: one object found in an image.

/// An axis-aligned box `[x1, y1, x2, y2]` in original-image pixels.
pub type BBox = [f32; 4];

/// One detected object, in the original image's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Index into [`crate::Detector::class_names`].
    pub class_id: usize,
    /// The class name.
    pub label: String,
    /// `objectness * class score`, in `[0, 1]`.
    pub score: f32,
    /// `[x1, y1, x2, y2]`, clamped to the image.
    pub bbox: BBox,
}

impl Detection {
    /// Width and height of the box.
    pub fn size(&self) -> (f32, f32) {
        (self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1])
    }

    /// The box as `[x, y, width, height]` (COCO's `bbox`).
    pub fn xywh(&self) -> [f32; 4] {
        let (w, h) = self.size();
        [self.bbox[0], self.bbox[1], w, h]
    }

    /// The box as YOLO label values: centre and size normalised by the image size.
    pub fn yolo_label(&self, image_width: usize, image_height: usize) -> [f32; 4] {
        let (iw, ih) = (image_width.max(1) as f32, image_height.max(1) as f32);
        let (w, h) = self.size();
        [(self.bbox[0] + w / 2.0) / iw, (self.bbox[1] + h / 2.0) / ih, w / iw, h / ih]
    }
}

#[cfg(test)]
mod tests {
    use super::Detection;

    #[test]
    fn box_conversions() {
        let d = Detection { class_id: 0, label: "x".into(), score: 0.5, bbox: [10.0, 20.0, 50.0, 100.0] };
        assert_eq!(d.xywh(), [10.0, 20.0, 40.0, 80.0]);
        assert_eq!(d.yolo_label(100, 200), [0.3, 0.3, 0.4, 0.4]);
    }
}
