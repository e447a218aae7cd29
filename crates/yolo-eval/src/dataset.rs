//! Ground truth and detections in COCO's terms, whatever layout they came from.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::error::EvalError;

/// One image of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub id: u64,
    /// As the annotation file gives it (may hold folders).
    pub file_name: String,
    /// Where the image file is, once resolved.
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
}

/// One ground-truth object.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u64,
    /// `[x, y, width, height]` in pixels.
    pub bbox: [f64; 4],
    /// The area the size ranges are judged by: COCO's segmentation area, or the box's.
    pub area: f64,
    /// A crowd region: detections inside it are neither rewarded nor punished.
    pub iscrowd: bool,
}

/// A dataset category (COCO ids need not be contiguous).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: u64,
    pub name: String,
}

/// A labelled dataset: images, their objects, the categories.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub images: Vec<ImageInfo>,
    pub annotations: Vec<Annotation>,
    pub categories: Vec<Category>,
    /// The file or folder it was read from, for messages.
    pub source: String,
}

/// One detection in COCO results terms (`bbox` is `[x, y, width, height]`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectionResult {
    pub image_id: u64,
    pub category_id: u64,
    pub bbox: [f64; 4],
    pub score: f64,
}

impl Dataset {
    /// Checks the references COCOeval relies on: unique image, annotation and category ids,
    /// every annotation naming a known image and category, finite non-negative boxes.
    pub fn validate(&self) -> Result<(), EvalError> {
        let bad = |message: String| Err(EvalError::invalid(self.source.clone(), message));
        let mut images = HashSet::new();
        for image in &self.images {
            if !images.insert(image.id) {
                return bad(format!("image id {} appears twice in `images`", image.id));
            }
        }
        let mut categories = HashSet::new();
        for category in &self.categories {
            if !categories.insert(category.id) {
                return bad(format!("category id {} appears twice in `categories`", category.id));
            }
        }
        let mut ids = HashSet::new();
        for a in &self.annotations {
            if !ids.insert(a.id) {
                return bad(format!("annotation id {} appears twice", a.id));
            }
            if !images.contains(&a.image_id) {
                return bad(format!("annotation {} names image {}, which is not in `images`", a.id, a.image_id));
            }
            if !categories.contains(&a.category_id) {
                return bad(format!(
                    "annotation {} names category {}, which is not in `categories`",
                    a.id, a.category_id
                ));
            }
            if a.bbox.iter().any(|v| !v.is_finite()) || a.bbox[2] < 0.0 || a.bbox[3] < 0.0 || !a.area.is_finite() {
                return bad(format!("annotation {} has an invalid box {:?} or area {}", a.id, a.bbox, a.area));
            }
        }
        Ok(())
    }

    /// Category name by id.
    pub fn category_names(&self) -> HashMap<u64, &str> {
        self.categories.iter().map(|c| (c.id, c.name.as_str())).collect()
    }

    /// Ground-truth objects (crowd regions excluded) per category id.
    pub fn instances_per_category(&self) -> HashMap<u64, usize> {
        let mut counts = HashMap::new();
        for a in self.annotations.iter().filter(|a| !a.iscrowd) {
            *counts.entry(a.category_id).or_insert(0) += 1;
        }
        counts
    }
}
