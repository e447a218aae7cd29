//! What a user reads after `COCOeval`: per-class AP, precision and recall at the threshold
//! of best mean F1, and precision-recall curves for plots.

use crate::cocoeval::Evaluation;
use crate::dataset::Dataset;

/// One category's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    pub category_id: u64,
    pub name: String,
    /// Ground-truth objects (crowd regions excluded).
    pub instances: usize,
    /// AP at IoU 0.5 and AP@[.50:.95] (area all, maxDets 100); `None` without ground truth.
    pub ap50: Option<f64>,
    pub ap: Option<f64>,
    /// At the best-F1 threshold of [`Report::best`].
    pub precision: f64,
    pub recall: f64,
}

/// Precision and recall at the score threshold where the mean F1 over categories (with ground
/// truth) is highest, at IoU 0.5.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestF1 {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Per-class figures and the best-F1 operating point.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub classes: Vec<ClassReport>,
    pub best: BestF1,
}

/// Score thresholds tried for the best F1: 0, 0.001, ..., 1 (as ultralytics samples them).
const THRESHOLDS: usize = 1001;

/// Precision and recall of one category when detections below `threshold` are dropped;
/// `cum_tp[i]` is the number of true positives among the first `i` matches.
fn operating_point(matches: &[(f64, bool)], cum_tp: &[usize], npig: usize, threshold: f64) -> (f64, f64) {
    let kept = matches.partition_point(|&(s, _)| s >= threshold);
    let tp = cum_tp[kept] as f64;
    let precision = if kept == 0 { 0.0 } else { tp / kept as f64 };
    let recall = if npig == 0 { 0.0 } else { tp / npig as f64 };
    (precision, recall)
}

fn cumulative_tp(matches: &[(f64, bool)]) -> Vec<usize> {
    std::iter::once(0)
        .chain(matches.iter().scan(0, |tp, m| {
            *tp += usize::from(m.1);
            Some(*tp)
        }))
        .collect()
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// Builds the report from an evaluation of `gt`.
pub fn report(e: &Evaluation, gt: &Dataset) -> Report {
    let names = gt.category_names();
    let instances = gt.instances_per_category();
    let with_gt: Vec<usize> = (0..e.cat_ids.len()).filter(|&k| e.matches_at_50[k].1 > 0).collect();
    let cum: Vec<Vec<usize>> = e.matches_at_50.iter().map(|(m, _)| cumulative_tp(m)).collect();
    let mut best = BestF1 { threshold: 0.0, precision: 0.0, recall: 0.0, f1: -1.0 };
    for i in 0..THRESHOLDS {
        let threshold = i as f64 / (THRESHOLDS - 1) as f64;
        if with_gt.is_empty() {
            break;
        }
        let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
        for &k in &with_gt {
            let (pk, rk) = operating_point(&e.matches_at_50[k].0, &cum[k], e.matches_at_50[k].1, threshold);
            p += pk;
            r += rk;
            f += f1(pk, rk);
        }
        let n = with_gt.len() as f64;
        if f / n > best.f1 {
            best = BestF1 { threshold, precision: p / n, recall: r / n, f1: f / n };
        }
    }
    best.f1 = best.f1.max(0.0);
    let classes = e
        .cat_ids
        .iter()
        .enumerate()
        .map(|(k, &id)| {
            let (matches, npig) = &e.matches_at_50[k];
            let (precision, recall) = operating_point(matches, &cum[k], *npig, best.threshold);
            ClassReport {
                category_id: id,
                name: names.get(&id).copied().unwrap_or("").to_string(),
                instances: instances.get(&id).copied().unwrap_or(0),
                ap50: e.class_ap(k, 0..1),
                ap: e.class_ap(k, 0..e.params.iou_thrs.len()),
                precision,
                recall,
            }
        })
        .collect();
    Report { classes, best }
}

/// The interpolated precision-recall curve of category index `k` at IoU 0.5 (the one AP50
/// averages): `(recall, precision)` at COCO's 101 recall points; empty without ground truth.
pub fn pr_curve(e: &Evaluation, k: usize) -> Vec<(f64, f64)> {
    if e.matches_at_50[k].1 == 0 {
        return Vec::new();
    }
    e.params.rec_thrs.iter().enumerate().map(|(r, &rec)| (rec, e.precision(0, r, k, 0, 2))).collect()
}

/// The mean curve over categories with ground truth.
pub fn mean_pr_curve(e: &Evaluation) -> Vec<(f64, f64)> {
    let curves: Vec<Vec<(f64, f64)>> = (0..e.cat_ids.len()).map(|k| pr_curve(e, k)).filter(|c| !c.is_empty()).collect();
    if curves.is_empty() {
        return Vec::new();
    }
    (0..e.params.rec_thrs.len())
        .map(|r| (e.params.rec_thrs[r], curves.iter().map(|c| c[r].1).sum::<f64>() / curves.len() as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operating_points_count_what_is_kept() {
        let m = [(0.9, true), (0.8, false), (0.5, true), (0.1, false)];
        let cum = cumulative_tp(&m);
        assert_eq!(cum, vec![0, 1, 1, 2, 2]);
        assert_eq!(operating_point(&m, &cum, 4, 0.85), (1.0, 0.25));
        assert_eq!(operating_point(&m, &cum, 4, 0.5), (2.0 / 3.0, 0.5));
        assert_eq!(operating_point(&m, &cum, 4, 0.95), (0.0, 0.0));
        assert!((f1(2.0 / 3.0, 0.5) - 4.0 / 7.0).abs() < 1e-12);
    }
}
