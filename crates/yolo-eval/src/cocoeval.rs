//! pycocotools' `COCOeval` for boxes, step for step: `evaluate` (per image and category:
//! greedy matching by score, crowd regions ignored), `accumulate` (101-point interpolated
//! precision, recall) and `summarize` (the 12 `stats`).
//!
//! Followed to the letter, down to its quirks, so that every figure equals pycocotools' on
//! the same detections: results keep their file order for ties (stable sorts), detections are
//! capped per image *and category* at each `maxDets`, a detection's id is its position in the
//! results (from 1), a matched ground truth is recorded by its annotation id (an id of 0 reads
//! as unmatched there too), IoU with a crowd region divides by the detection's area, and the
//! interpolation stops filling at the last recall reached (the rest stays 0).

use std::collections::HashMap;

use crate::dataset::{Dataset, DetectionResult};
use crate::error::EvalError;

/// The names of [`Evaluation::stats`], in COCOeval's order.
pub const STAT_NAMES: [&str; 12] = [
    "AP@[.50:.95]",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR@1",
    "AR@10",
    "AR@100",
    "AR_small",
    "AR_medium",
    "AR_large",
];

/// COCOeval's parameters for `iouType='bbox'`.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// `np.linspace(.5, .95, 10)`.
    pub iou_thrs: Vec<f64>,
    /// `np.linspace(0, 1, 101)`.
    pub rec_thrs: Vec<f64>,
    pub max_dets: [usize; 3],
    /// all, small, medium, large.
    pub area_rngs: [[f64; 2]; 4],
}

/// numpy's `linspace(start, stop, num)`: `i * step + start`, the last point exactly `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

impl Default for Params {
    fn default() -> Self {
        Self {
            iou_thrs: linspace(0.5, 0.95, 10),
            rec_thrs: linspace(0.0, 1.0, 101),
            max_dets: [1, 10, 100],
            area_rngs: [[0.0, 1e10], [0.0, 1024.0], [1024.0, 9216.0], [9216.0, 1e10]],
        }
    }
}

/// One detection as COCOeval holds it.
#[derive(Debug, Clone, Copy)]
struct Dt {
    id: u64,
    bbox: [f64; 4],
    area: f64,
    score: f64,
}

/// One ground truth as COCOeval holds it.
#[derive(Debug, Clone, Copy)]
struct Gt {
    id: u64,
    bbox: [f64; 4],
    area: f64,
    crowd: bool,
}

/// `evaluateImg`'s output for one (category, area range, image), as bit masks over the IoU
/// thresholds (bit `t` for threshold `t`), so that `accumulate` reads one word per detection.
#[derive(Debug, Clone)]
struct EvalImg {
    dt_scores: Vec<f64>,
    /// Matched at threshold `t` (to a ground truth whose id is not 0: pycocotools' `dtm == 0`).
    dt_matched: Vec<u32>,
    /// Ignored at threshold `t`.
    dt_ignore: Vec<u32>,
    gt_ignore: Vec<bool>,
}

/// The accumulated tables and the summary.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub params: Params,
    /// The evaluated category ids, sorted (COCOeval's `catIds`).
    pub cat_ids: Vec<u64>,
    /// `precision[t][r][k][a][m]`, -1 where a category has no ground truth.
    precision: Vec<f64>,
    /// `recall[t][k][a][m]`.
    recall: Vec<f64>,
    /// The 12 numbers of `COCOeval.stats`, in [`STAT_NAMES`] order.
    pub stats: [f64; 12],
    /// Per category (same order as `cat_ids`), at IoU 0.5, area all, maxDets 100: each
    /// detection's score and whether it was a true positive, sorted by score; and the number of
    /// ground truths that count. For PR curves and the best-F1 threshold.
    pub matches_at_50: Vec<(Vec<(f64, bool)>, usize)>,
}

impl Evaluation {
    fn dims(&self) -> [usize; 5] {
        [self.params.iou_thrs.len(), self.params.rec_thrs.len(), self.cat_ids.len(), 4, 3]
    }

    /// `precision[t, r, k, a, m]`.
    pub fn precision(&self, t: usize, r: usize, k: usize, a: usize, m: usize) -> f64 {
        let [_, nr, nk, na, nm] = self.dims();
        self.precision[(((t * nr + r) * nk + k) * na + a) * nm + m]
    }

    /// `recall[t, k, a, m]`.
    pub fn recall(&self, t: usize, k: usize, a: usize, m: usize) -> f64 {
        let [_, _, nk, na, nm] = self.dims();
        self.recall[((t * nk + k) * na + a) * nm + m]
    }

    /// AP of category index `k` (area all, maxDets 100) over the given IoU thresholds, as
    /// `summarize` averages (entries of -1 left out); `None` without ground truth.
    pub fn class_ap(&self, k: usize, thresholds: std::ops::Range<usize>) -> Option<f64> {
        let nr = self.params.rec_thrs.len();
        mean(thresholds.flat_map(|t| (0..nr).map(move |r| (t, r))).map(|(t, r)| self.precision(t, r, k, 0, 2)))
    }
}

/// Mean of the entries > -1, or `None` (summarize's -1) when there are none.
fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.filter(|&v| v > -1.0).fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// pycocotools' `maskUtils.iou` for boxes (`bbIou`): crowd ground truths divide by the
/// detection's area.
fn iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let w = (d[0] + d[2]).min(g[0] + g[2]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[1] + d[3]).min(g[1] + g[3]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    let da = d[2] * d[3];
    let union = if crowd { da } else { da + g[2] * g[3] - inter };
    inter / union
}

/// Runs `evaluate`, `accumulate` and `summarize` on `results` against `gt`.
///
/// As `COCO.loadRes` does, every result must name an image of the dataset; results of
/// categories the dataset does not have are left out (COCOeval selects by `catIds`).
pub fn evaluate(gt: &Dataset, results: &[DetectionResult]) -> Result<Evaluation, EvalError> {
    evaluate_with(gt, results, Params::default())
}

/// [`evaluate`] with other parameters.
///
/// At most 32 IoU thresholds (COCO uses 10).
pub fn evaluate_with(gt: &Dataset, results: &[DetectionResult], params: Params) -> Result<Evaluation, EvalError> {
    if params.iou_thrs.len() > 32 {
        return Err(EvalError::Results(format!("{} IoU thresholds: at most 32 are supported", params.iou_thrs.len())));
    }
    let mut img_ids: Vec<u64> = gt.images.iter().map(|i| i.id).collect();
    img_ids.sort_unstable();
    img_ids.dedup();
    let mut cat_ids: Vec<u64> = gt.categories.iter().map(|c| c.id).collect();
    cat_ids.sort_unstable();
    cat_ids.dedup();
    let image_index: HashMap<u64, usize> = img_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let cat_index: HashMap<u64, usize> = cat_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();

    // _prepare: per (image, category), in file order.
    let mut gts: HashMap<(usize, usize), Vec<Gt>> = HashMap::new();
    for a in &gt.annotations {
        if let (Some(&i), Some(&k)) = (image_index.get(&a.image_id), cat_index.get(&a.category_id)) {
            gts.entry((i, k)).or_default().push(Gt { id: a.id, bbox: a.bbox, area: a.area, crowd: a.iscrowd });
        }
    }
    let mut dts: HashMap<(usize, usize), Vec<Dt>> = HashMap::new();
    for (n, r) in results.iter().enumerate() {
        let Some(&i) = image_index.get(&r.image_id) else {
            return Err(EvalError::Results(format!(
                "result {n} names image {}, which is not in the dataset ({})",
                r.image_id, gt.source
            )));
        };
        if !r.score.is_finite() || r.bbox.iter().any(|v| !v.is_finite()) {
            return Err(EvalError::Results(format!("result {n} has a non-finite box or score")));
        }
        if let Some(&k) = cat_index.get(&r.category_id) {
            let dt = Dt { id: n as u64 + 1, bbox: r.bbox, area: r.bbox[2] * r.bbox[3], score: r.score };
            dts.entry((i, k)).or_default().push(dt);
        }
    }
    // computeIoU's order: by descending score, stable; capped at the largest maxDets.
    let max_det = params.max_dets[2];
    for list in dts.values_mut() {
        list.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal));
        list.truncate(max_det);
    }

    let (nk, na, ni) = (cat_ids.len(), params.area_rngs.len(), img_ids.len());
    let empty = Vec::new();
    let mut eval_imgs: Vec<Option<EvalImg>> = Vec::with_capacity(nk * na * ni);
    // computeIoU, once per (image, category), in the ground truths' file order.
    let mut ious: HashMap<(usize, usize), Vec<f64>> = HashMap::new();
    for (&(i, k), d) in &dts {
        if let Some(g) = gts.get(&(i, k)) {
            ious.insert((i, k), d.iter().flat_map(|d| g.iter().map(move |g| iou(&d.bbox, &g.bbox, g.crowd))).collect());
        }
    }
    let no_ious = Vec::new();
    for k in 0..nk {
        for area in &params.area_rngs {
            for i in 0..ni {
                let g = gts.get(&(i, k)).unwrap_or(&empty);
                let d = dts.get(&(i, k)).map_or(&[][..], Vec::as_slice);
                let o = ious.get(&(i, k)).unwrap_or(&no_ious);
                eval_imgs.push(evaluate_img(g, d, o, *area, max_det, &params.iou_thrs));
            }
        }
    }
    let mut evaluation = accumulate(&eval_imgs, params, cat_ids, ni);
    evaluation.stats = summarize(&evaluation);
    Ok(evaluation)
}

/// COCOeval.evaluateImg for one image, category and area range; `ious[d * G + g]` in the
/// ground truths' file order.
fn evaluate_img(
    gt: &[Gt],
    dt: &[Dt],
    ious: &[f64],
    area: [f64; 2],
    max_det: usize,
    iou_thrs: &[f64],
) -> Option<EvalImg> {
    if gt.is_empty() && dt.is_empty() {
        return None;
    }
    let outside = |a: f64| a < area[0] || a > area[1];
    // Ground truths that count first (stable), ignored (crowd or out of range) after.
    let mut order: Vec<usize> = (0..gt.len()).collect();
    order.sort_by_key(|&g| gt[g].crowd || outside(gt[g].area));
    let columns = gt.len();
    let gt: Vec<Gt> = order.iter().map(|&g| gt[g]).collect();
    let gt_ignore: Vec<bool> = gt.iter().map(|g| g.crowd || outside(g.area)).collect();
    let dt = &dt[..dt.len().min(max_det)];
    let iou_at = |d: usize, g: usize| ious[d * columns + order[g]];

    let (ng, nd) = (gt.len(), dt.len());
    let mut gt_matched = vec![false; iou_thrs.len() * ng];
    let mut dt_matched = vec![0u32; nd];
    let mut dt_ignore = vec![0u32; nd];
    if ng > 0 {
        for (t, &threshold) in iou_thrs.iter().enumerate() {
            for (di, d) in dt.iter().enumerate() {
                let mut best = threshold.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for gi in 0..ng {
                    // Already matched, and not a crowd region (those take any number).
                    if gt_matched[t * ng + gi] && !gt[gi].crowd {
                        continue;
                    }
                    // Matched to a ground truth that counts: ignored ones (sorted last) cannot
                    // take the detection away.
                    if m.is_some_and(|m| !gt_ignore[m]) && gt_ignore[gi] {
                        break;
                    }
                    let value = iou_at(di, gi);
                    if value < best {
                        continue;
                    }
                    best = value;
                    m = Some(gi);
                }
                if let Some(m) = m {
                    if gt_ignore[m] {
                        dt_ignore[di] |= 1 << t;
                    }
                    if gt[m].id != 0 {
                        dt_matched[di] |= 1 << t;
                    }
                    // gtm records the detection's id, which is never 0.
                    gt_matched[t * ng + m] = d.id != 0;
                }
            }
        }
    }
    // Unmatched detections outside the area range are ignored too.
    let all = if iou_thrs.len() >= 32 { u32::MAX } else { (1u32 << iou_thrs.len()) - 1 };
    for (di, d) in dt.iter().enumerate() {
        if outside(d.area) {
            dt_ignore[di] |= all & !dt_matched[di];
        }
    }
    Some(EvalImg { dt_scores: dt.iter().map(|d| d.score).collect(), dt_matched, dt_ignore, gt_ignore })
}

/// COCOeval.accumulate.
fn accumulate(eval_imgs: &[Option<EvalImg>], params: Params, cat_ids: Vec<u64>, ni: usize) -> Evaluation {
    let (nt, nr, nk, na, nm) = (params.iou_thrs.len(), params.rec_thrs.len(), cat_ids.len(), 4, 3);
    let mut precision = vec![-1.0; nt * nr * nk * na * nm];
    let mut recall = vec![-1.0; nt * nk * na * nm];
    let mut matches_at_50 = vec![(Vec::new(), 0); nk];
    for k in 0..nk {
        // The images with anything to evaluate and their detections are the same in every area
        // range (only the masks differ), so the detections are sorted once per category: by
        // descending score, stable over (image, rank). Capping at a smaller maxDets keeps the
        // order of what remains, as a fresh stable sort of the capped lists would.
        let area_all = &eval_imgs[k * na * ni..(k * na + 1) * ni];
        let present: Vec<usize> = (0..ni).filter(|&i| area_all[i].is_some()).collect();
        let mut order: Vec<(f64, usize, usize)> = Vec::new();
        for (e, &i) in present.iter().enumerate() {
            if let Some(img) = &area_all[i] {
                order.extend(img.dt_scores.iter().enumerate().map(|(d, &score)| (score, e, d)));
            }
        }
        order.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap_or(std::cmp::Ordering::Equal));
        for a in 0..na {
            let images: Vec<&EvalImg> =
                present.iter().filter_map(|&i| eval_imgs[(k * na + a) * ni + i].as_ref()).collect();
            // Whether an image has anything to evaluate does not depend on the area range.
            debug_assert_eq!(images.len(), present.len());
            if images.is_empty() {
                continue;
            }
            let npig = images.iter().flat_map(|e| &e.gt_ignore).filter(|&&ig| !ig).count();
            if npig == 0 {
                continue;
            }
            for (m, &max_det) in params.max_dets.iter().enumerate() {
                // Each image's best max_det detections in the category's order, with their match
                // and ignore masks gathered once.
                let dets: Vec<(f64, u32, u32)> = order
                    .iter()
                    .filter(|&&(_, _, d)| d < max_det)
                    .map(|&(score, e, d)| (score, images[e].dt_matched[d], images[e].dt_ignore[d]))
                    .collect();
                let mut rc = Vec::with_capacity(dets.len());
                let mut pr = Vec::with_capacity(dets.len());
                for t in 0..nt {
                    let bit = 1u32 << t;
                    let (mut tp, mut fp) = (0.0f64, 0.0f64);
                    rc.clear();
                    pr.clear();
                    for &(_, matched, ignored) in &dets {
                        if ignored & bit == 0 {
                            if matched & bit != 0 {
                                tp += 1.0;
                            } else {
                                fp += 1.0;
                            }
                        }
                        rc.push(tp / npig as f64);
                        pr.push(tp / (fp + tp + f64::EPSILON));
                    }
                    if t == 0 && a == 0 && m == 2 {
                        let kept = dets.iter().filter(|d| d.2 & bit == 0);
                        matches_at_50[k] = (kept.map(|d| (d.0, d.1 & bit != 0)).collect(), npig);
                    }
                    recall[((t * nk + k) * na + a) * nm + m] = rc.last().copied().unwrap_or(0.0);
                    // Precision made monotone from the right, then sampled at each recall threshold.
                    for i in (1..pr.len()).rev() {
                        if pr[i] > pr[i - 1] {
                            pr[i - 1] = pr[i];
                        }
                    }
                    for (r, &threshold) in params.rec_thrs.iter().enumerate() {
                        let at = rc.partition_point(|&v| v < threshold); // searchsorted, side='left'
                                                                         // pycocotools stops at the first index out of range: the rest stays 0.
                        let q = pr.get(at).copied().unwrap_or(0.0);
                        precision[(((t * nr + r) * nk + k) * na + a) * nm + m] = q;
                    }
                }
            }
        }
    }
    Evaluation { params, cat_ids, precision, recall, stats: [0.0; 12], matches_at_50 }
}

/// COCOeval.summarize's 12 numbers.
fn summarize(e: &Evaluation) -> [f64; 12] {
    let [nt, nr, nk, _, _] = e.dims();
    let t75 = e.params.iou_thrs.iter().position(|&t| t == 0.75);
    let ap = |t: Option<usize>, a: usize| -> f64 {
        let ts: Vec<usize> = match t {
            Some(t) => vec![t],
            None => (0..nt).collect(),
        };
        let values = ts.into_iter().flat_map(|t| (0..nr).flat_map(move |r| (0..nk).map(move |k| (t, r, k))));
        mean(values.map(|(t, r, k)| e.precision(t, r, k, a, 2))).unwrap_or(-1.0)
    };
    let ar = |a: usize, m: usize| -> f64 {
        mean((0..nt).flat_map(|t| (0..nk).map(move |k| (t, k))).map(|(t, k)| e.recall(t, k, a, m))).unwrap_or(-1.0)
    };
    [
        ap(None, 0),
        ap(Some(0), 0),
        t75.map_or(-1.0, |t| ap(Some(t), 0)),
        ap(None, 1),
        ap(None, 2),
        ap(None, 3),
        ar(0, 0),
        ar(0, 1),
        ar(0, 2),
        ar(1, 2),
        ar(2, 2),
        ar(3, 2),
    ]
}

#[cfg(test)]
mod tests;
