//! Result records: JSON Lines or text on stdout, and COCO results arrays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::Serialize;
use yolo::coco::{self, ImageIds};
use yolo::{Detection, Frame};

/// One detection as printed (`bbox` in original-image pixels).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DetectionRecord {
    pub class_id: usize,
    pub label: String,
    pub score: f32,
    pub bbox: [f32; 4],
}

impl From<&Detection> for DetectionRecord {
    fn from(d: &Detection) -> Self {
        Self { class_id: d.class_id, label: d.label.clone(), score: d.score, bbox: d.bbox }
    }
}

/// One image's results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageRecord {
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub detections: Vec<DetectionRecord>,
}

impl ImageRecord {
    pub fn new(path: &Path, frame: &Frame) -> Self {
        let (width, height) = frame.image_size();
        Self {
            image: path.display().to_string(),
            width: width as u32,
            height: height as u32,
            detections: frame.detections.iter().map(DetectionRecord::from).collect(),
        }
    }

    pub fn to_json_line(&self) -> String {
        // Plain data (strings, numbers, arrays): serialising it cannot fail; a NaN score
        // would become `null`.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn to_text(&self) -> String {
        let mut out =
            format!("{}: {}x{}, {} detection(s)\n", self.image, self.width, self.height, self.detections.len());
        for d in &self.detections {
            let [x1, y1, x2, y2] = d.bbox;
            out.push_str(&format!("  {:<14} {:.3}  [{x1:.1}, {y1:.1}, {x2:.1}, {y2:.1}]\n", d.label, d.score));
        }
        out
    }
}

/// One entry of a COCO results file, as pycocotools' `COCO.loadRes` reads it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CocoResult {
    pub image_id: u64,
    pub category_id: u64,
    /// `[x, y, width, height]` in original-image pixels.
    pub bbox: [f32; 4],
    pub score: f32,
}

/// How `--format coco` numbers images.
#[derive(Debug)]
pub enum CocoIds {
    /// From a COCO annotation file's `images`, by file name.
    Annotations(ImageIds),
    /// COCO-style numeric file names (`000000000139.jpg` is 139).
    FileNames,
    /// 1, 2, ... in input order.
    Positions(HashMap<PathBuf, u64>),
}

impl CocoIds {
    /// Chooses the numbering for `inputs`; with an annotation file, every input must be in it.
    pub fn new(inputs: &[PathBuf], annotations: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(path) = annotations {
            let ids = ImageIds::from_annotations(path)?;
            for input in inputs {
                ids.id_of(input)?;
            }
            return Ok(Self::Annotations(ids));
        }
        let numeric: Vec<Option<u64>> = inputs.iter().map(|p| coco::id_from_file_name(p)).collect();
        let unique = numeric.iter().flatten().collect::<std::collections::HashSet<_>>().len() == inputs.len();
        if numeric.iter().all(Option::is_some) && unique {
            Ok(Self::FileNames)
        } else {
            Ok(Self::Positions(inputs.iter().enumerate().map(|(i, p)| (p.clone(), i as u64 + 1)).collect()))
        }
    }

    fn id_of(&self, path: &Path) -> anyhow::Result<u64> {
        match self {
            Self::Annotations(ids) => Ok(ids.id_of(path)?),
            Self::FileNames => match coco::id_from_file_name(path) {
                Some(id) => Ok(id),
                None => bail!("{} has no numeric image id", path.display()),
            },
            Self::Positions(ids) => match ids.get(path) {
                Some(&id) => Ok(id),
                None => bail!("{} is not among the inputs", path.display()),
            },
        }
    }

    /// The frame's detections as COCO results (category ids: COCO's for 80-class models).
    pub fn records(&self, path: &Path, frame: &Frame, classes: usize) -> anyhow::Result<Vec<CocoResult>> {
        let image_id = self.id_of(path)?;
        Ok(frame
            .detections
            .iter()
            .map(|d| CocoResult {
                image_id,
                category_id: coco::category_id(d.class_id, classes),
                bbox: d.xywh(),
                score: d.score,
            })
            .collect())
    }
}
