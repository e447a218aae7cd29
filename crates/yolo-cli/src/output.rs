//! Result records: JSON Lines or text on stdout.

use serde::Serialize;

/// One detection as printed (`bbox` in original-image pixels).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DetectionRecord {
    pub class_id: usize,
    pub label: String,
    pub score: f32,
    pub bbox: [f32; 4],
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
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| unreachable!("plain data serialises: {e}"))
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
