//! Detection metrics, exactly as pycocotools' `COCOeval` (bbox) computes them, and the
//! datasets users evaluate on. Pure host code: no model, no backend.
//!
//! - [`dataset`]: ground truth in one shape ([`Dataset`]), from a COCO instances JSON
//!   ([`coco`]) or a YOLO/darknet `images/` + `labels/` layout ([`yolo`]);
//! - [`cocoeval`]: `evaluate` -> precision/recall tables -> the 12 `stats` numbers;
//! - [`report`]: per-class AP, precision and recall at the best-F1 threshold, PR curves;
//! - [`confusion`]: a confusion matrix with a background row and column.
//!
//! Every figure is tested against pycocotools' own output on committed fixtures
//! (`tests/fixtures/val`, made by `tests/fixtures/val/generate.py`).

pub mod coco;
pub mod cocoeval;
pub mod confusion;
pub mod dataset;
pub mod error;
pub mod report;
pub mod yolo;

pub use cocoeval::{evaluate, Evaluation, Params, STAT_NAMES};
pub use dataset::{Annotation, Category, Dataset, DetectionResult, ImageInfo};
pub use error::EvalError;
