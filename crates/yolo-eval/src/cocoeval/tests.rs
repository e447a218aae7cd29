//! Matching edge cases, each worked out by hand from pycocotools' code.

use super::*;
use crate::dataset::{Annotation, Category, ImageInfo};

fn dataset(annotations: Vec<Annotation>, categories: &[u64]) -> Dataset {
    let images = (1..=3)
        .map(|id| ImageInfo {
            id,
            file_name: format!("{id}.jpg"),
            path: format!("{id}.jpg").into(),
            width: 640,
            height: 480,
        })
        .collect();
    let categories = categories.iter().map(|&id| Category { id, name: format!("c{id}") }).collect();
    Dataset { images, annotations, categories, source: "test".into() }
}

fn gt(id: u64, image_id: u64, category_id: u64, bbox: [f64; 4], iscrowd: bool) -> Annotation {
    Annotation { id, image_id, category_id, bbox, area: bbox[2] * bbox[3], iscrowd }
}

fn dt(image_id: u64, category_id: u64, bbox: [f64; 4], score: f64) -> DetectionResult {
    DetectionResult { image_id, category_id, bbox, score }
}

/// Precision of a lone true positive: `1 / (1 + eps)`, as pycocotools computes it.
const ONE: f64 = 1.0 / (1.0 + f64::EPSILON);

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn assert_stats(got: [f64; 12], want: [f64; 12]) {
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
    }
}

const BOX: [f64; 4] = [100.0, 100.0, 50.0, 40.0];
const FAR: [f64; 4] = [400.0, 300.0, 50.0, 40.0];

#[test]
fn linspace_matches_numpy() {
    let p = Params::default();
    assert_eq!(p.iou_thrs.len(), 10);
    assert_eq!(p.iou_thrs[0], 0.5);
    assert_eq!(p.iou_thrs[5], 0.75, "summarize finds AP75 by equality");
    // numpy 2.4's values (printed by the fixture's venv), used as they are in the matching.
    assert_eq!(p.iou_thrs, [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95]);
    assert_eq!(p.rec_thrs[100], 1.0);
    assert_eq!(
        (p.rec_thrs[35], p.rec_thrs[57], p.rec_thrs[95]),
        (0.35000000000000003, 0.5700000000000001, 0.9500000000000001)
    );
}

#[test]
fn a_perfect_detection_scores_one() {
    let e = evaluate(&dataset(vec![gt(1, 1, 1, BOX, false)], &[1]), &[dt(1, 1, BOX, 0.9)]).expect("evaluates");
    // 50x40 = 2000 px: a medium object.
    assert_stats(e.stats, [ONE, ONE, ONE, -1.0, ONE, -1.0, 1.0, 1.0, 1.0, -1.0, 1.0, -1.0]);
}

#[test]
fn ties_in_score_keep_the_results_order() {
    let d = dataset(vec![gt(1, 1, 1, BOX, false)], &[1]);
    // A false positive first, then the true positive, at the same score: precision 0.5 at
    // every recall. The other way round: 1.0.
    let fp_first = evaluate(&d, &[dt(1, 1, FAR, 0.5), dt(1, 1, BOX, 0.5)]).expect("evaluates");
    assert!((fp_first.stats[0] - 0.5).abs() < 1e-12, "{:?}", fp_first.stats);
    let tp_first = evaluate(&d, &[dt(1, 1, BOX, 0.5), dt(1, 1, FAR, 0.5)]).expect("evaluates");
    assert!(close(tp_first.stats[0], ONE));
}

#[test]
fn detections_on_crowd_regions_are_ignored() {
    let crowd = [0.0, 0.0, 300.0, 300.0];
    let inside = [10.0, 10.0, 40.0, 40.0]; // IoU with the crowd region = 1600 / 1600 (its own area)
    let with_crowd = dataset(vec![gt(1, 1, 1, crowd, true), gt(2, 1, 1, FAR, false)], &[1]);
    let results = [dt(1, 1, inside, 0.9), dt(1, 1, FAR, 0.8)];
    let e = evaluate(&with_crowd, &results).expect("evaluates");
    assert!(close(e.stats[0], ONE), "the detection on the crowd is neither TP nor FP: {:?}", e.stats);
    // The same region not marked crowd: the first detection is a false positive (IoU 0.018).
    let plain = dataset(vec![gt(1, 1, 1, crowd, false), gt(2, 1, 1, FAR, false)], &[1]);
    let e = evaluate(&plain, &results).expect("evaluates");
    assert!(e.stats[1] < 0.5, "{:?}", e.stats);
    // Several detections may match one crowd region.
    let e =
        evaluate(&with_crowd, &[dt(1, 1, inside, 0.9), dt(1, 1, [50.0, 50.0, 40.0, 40.0], 0.85), dt(1, 1, FAR, 0.8)])
            .expect("evaluates");
    assert!(close(e.stats[0], ONE), "{:?}", e.stats);
}

#[test]
fn only_the_best_100_detections_per_image_and_category_count() {
    let d = dataset(vec![gt(1, 1, 1, BOX, false)], &[1]);
    let mut results: Vec<DetectionResult> = (0..150).map(|i| dt(1, 1, FAR, 0.99 - i as f64 * 1e-3)).collect();
    results.push(dt(1, 1, BOX, 0.5)); // rank 151: cut
    let e = evaluate(&d, &results).expect("evaluates");
    assert_eq!(e.stats[0], 0.0);
    assert_eq!(e.stats[8], 0.0, "AR@100");
    // Ranked 50th it counts for maxDets 100 (precision 1/50) but not for 1 or 10.
    let mut results: Vec<DetectionResult> = (0..49).map(|i| dt(1, 1, FAR, 0.99 - i as f64 * 1e-3)).collect();
    results.push(dt(1, 1, BOX, 0.5));
    let e = evaluate(&d, &results).expect("evaluates");
    assert!((e.stats[0] - 1.0 / 50.0).abs() < 1e-12, "{:?}", e.stats);
    assert_eq!((e.stats[6], e.stats[7], e.stats[8]), (0.0, 0.0, 1.0));
    // Another category's detections have a cap of their own.
    let two = dataset(vec![gt(1, 1, 1, BOX, false), gt(2, 1, 2, BOX, false)], &[1, 2]);
    let mut results: Vec<DetectionResult> = (0..120).map(|i| dt(1, 2, FAR, 0.99 - i as f64 * 1e-4)).collect();
    results.push(dt(1, 1, BOX, 0.1));
    let e = evaluate(&two, &results).expect("evaluates");
    assert!(e.class_ap(0, 0..10).is_some_and(|ap| close(ap, ONE)));
    assert_eq!(e.class_ap(1, 0..10), Some(0.0));
}

#[test]
fn categories_without_ground_truth_are_left_out_of_the_means() {
    let d = dataset(vec![gt(1, 1, 1, BOX, false)], &[1, 2]);
    let e = evaluate(&d, &[dt(1, 1, BOX, 0.9), dt(2, 2, FAR, 0.9)]).expect("evaluates");
    assert!(close(e.stats[0], ONE), "{:?}", e.stats);
    assert_eq!(e.class_ap(1, 0..10), None);
    // Results of categories the dataset does not have are dropped, as by catIds.
    let e = evaluate(&d, &[dt(1, 1, BOX, 0.9), dt(1, 77, BOX, 0.95)]).expect("evaluates");
    assert!(close(e.stats[0], ONE), "{:?}", e.stats);
}

#[test]
fn no_detections_score_zero_and_unknown_images_are_refused() {
    let d = dataset(vec![gt(1, 1, 1, BOX, false), gt(2, 2, 1, [0.0, 0.0, 200.0, 200.0], false)], &[1]);
    let e = evaluate(&d, &[]).expect("evaluates");
    assert_eq!(e.stats, [0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0]);
    let err = evaluate(&d, &[dt(9, 1, BOX, 0.5)]).expect_err("image 9 is not in the dataset");
    assert!(err.to_string().contains("image 9"), "{err}");
}

#[test]
fn a_lower_iou_match_is_taken_when_the_best_is_taken() {
    // Two GTs side by side, two detections: the higher-scored one overlaps both but GT 1 more;
    // the second then takes GT 2 only at the IoU thresholds where it reaches.
    let g1 = [0.0, 0.0, 100.0, 100.0];
    let g2 = [100.0, 0.0, 100.0, 100.0];
    let d = dataset(vec![gt(1, 1, 1, g1, false), gt(2, 1, 1, g2, false)], &[1]);
    let e = evaluate(&d, &[dt(1, 1, [10.0, 0.0, 100.0, 100.0], 0.9), dt(1, 1, [60.0, 0.0, 100.0, 100.0], 0.8)])
        .expect("evaluates");
    // IoU(d1, g1) = 90/110 = 0.818; IoU(d2, g2) = 60/140 = 0.43: d2 matches g2 at no threshold.
    // AP50: precision 1 up to recall 0.5 (51 of the 101 recall points), 0 beyond.
    assert!((e.stats[1] - 51.0 / 101.0).abs() < 1e-12, "{:?}", e.stats);
    assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 10.0, 10.0], false) - 50.0 / 150.0).abs() < 1e-15);
}
