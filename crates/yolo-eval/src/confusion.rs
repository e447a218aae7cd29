//! A confusion matrix over the dataset's categories plus background, as ultralytics draws it:
//! detections at or above a score threshold are paired one-to-one with ground truths of any
//! class by descending IoU (at least `iou`); unpaired detections are background false
//! positives, unpaired ground truths are missed. Crowd regions are left out.

use std::collections::HashMap;

use crate::dataset::{Dataset, DetectionResult};

/// `counts[predicted][actual]`, the last row and column being background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// Category ids in row/column order (sorted).
    pub cat_ids: Vec<u64>,
    pub counts: Vec<Vec<usize>>,
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let h = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    inter / (a[2] * a[3] + b[2] * b[3] - inter)
}

/// Builds the matrix for detections scoring at least `conf`, paired at IoU >= `iou`.
pub fn confusion(gt: &Dataset, results: &[DetectionResult], conf: f64, iou_thr: f64) -> ConfusionMatrix {
    let mut cat_ids: Vec<u64> = gt.categories.iter().map(|c| c.id).collect();
    cat_ids.sort_unstable();
    let index: HashMap<u64, usize> = cat_ids.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let background = cat_ids.len();
    let mut counts = vec![vec![0usize; background + 1]; background + 1];
    let mut gts: HashMap<u64, Vec<(usize, [f64; 4])>> = HashMap::new();
    for a in gt.annotations.iter().filter(|a| !a.iscrowd) {
        if let Some(&k) = index.get(&a.category_id) {
            gts.entry(a.image_id).or_default().push((k, a.bbox));
        }
    }
    let mut dts: HashMap<u64, Vec<(usize, [f64; 4])>> = HashMap::new();
    for r in results.iter().filter(|r| r.score >= conf) {
        if let Some(&k) = index.get(&r.category_id) {
            dts.entry(r.image_id).or_default().push((k, r.bbox));
        }
    }
    for image in &gt.images {
        let g = gts.get(&image.id).map_or(&[][..], Vec::as_slice);
        let d = dts.get(&image.id).map_or(&[][..], Vec::as_slice);
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (di, (_, db)) in d.iter().enumerate() {
            for (gi, (_, gb)) in g.iter().enumerate() {
                let v = iou(db, gb);
                if v >= iou_thr {
                    pairs.push((v, di, gi));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        let (mut d_used, mut g_used) = (vec![false; d.len()], vec![false; g.len()]);
        for (_, di, gi) in pairs {
            if !d_used[di] && !g_used[gi] {
                d_used[di] = true;
                g_used[gi] = true;
                counts[d[di].0][g[gi].0] += 1;
            }
        }
        for (di, used) in d_used.iter().enumerate() {
            if !used {
                counts[d[di].0][background] += 1;
            }
        }
        for (gi, used) in g_used.iter().enumerate() {
            if !used {
                counts[background][g[gi].0] += 1;
            }
        }
    }
    ConfusionMatrix { cat_ids, counts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Annotation, Category, ImageInfo};

    #[test]
    fn pairs_one_to_one_with_background_for_the_rest() {
        let image = ImageInfo { id: 1, file_name: "a".into(), path: "a".into(), width: 100, height: 100 };
        let ann = |id, category_id, bbox| Annotation { id, image_id: 1, category_id, bbox, area: 1.0, iscrowd: false };
        let gt = Dataset {
            images: vec![image],
            annotations: vec![ann(1, 1, [0.0, 0.0, 10.0, 10.0]), ann(2, 2, [50.0, 50.0, 10.0, 10.0])],
            categories: vec![Category { id: 1, name: "a".into() }, Category { id: 2, name: "b".into() }],
            source: "t".into(),
        };
        let r = |category_id, bbox, score| DetectionResult { image_id: 1, category_id, bbox, score };
        let results = [
            r(2, [0.0, 0.0, 10.0, 10.0], 0.9), // on the class-1 object, called class 2
            r(1, [0.0, 0.0, 10.0, 9.0], 0.8),  // a second one there: background
            r(1, [80.0, 80.0, 5.0, 5.0], 0.1), // below conf: left out
        ];
        let m = confusion(&gt, &results, 0.25, 0.45);
        assert_eq!(m.counts, vec![vec![0, 0, 1], vec![1, 0, 0], vec![0, 1, 0]]);
    }
}
