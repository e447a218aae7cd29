//! `yolov3 val` against pycocotools: every figure of `COCOeval` on the committed fixture
//! (tests/fixtures/val, from its generate.py), in COCO and YOLO layout, within 1e-4.

use std::path::PathBuf;

use serde_json::Value;

use crate::cli::{assert_fails, s, stderr, temp_dir, yolov3};
use crate::common::fixture;

const TOLERANCE: f64 = 1e-4;

fn expected(key: &str) -> Value {
    let text = std::fs::read_to_string(fixture("val/expected.json")).expect("expected.json");
    let all: Value = serde_json::from_str(&text).expect("json");
    all[key].clone()
}

fn val(args: &[&str]) -> Value {
    let mut all = vec!["val", "--device", "cpu", "--format", "json"];
    all.extend_from_slice(args);
    let out = yolov3(&all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// Every stat and every category's AP50 and AP@[.50:.95] equal pycocotools'.
fn assert_matches(got: &Value, want: &Value, what: &str) {
    assert_matches_as(got, want, what, |category| category);
}

/// [`assert_matches`] where our category ids are `ours(pycocotools' id)`.
fn assert_matches_as(got: &Value, want: &Value, what: &str, ours: impl Fn(u64) -> u64) {
    let (g, w) = (got["stats"].as_array().expect("stats"), want["stats"].as_array().expect("stats"));
    assert_eq!(g.len(), 12);
    for (i, (a, b)) in g.iter().zip(w).enumerate() {
        let (a, b) = (a.as_f64().expect("number"), b.as_f64().expect("number"));
        assert!((a - b).abs() <= TOLERANCE, "{what}: stats[{i}] {a} vs pycocotools {b}\n{got}");
    }
    let classes = got["per_class"].as_array().expect("per_class");
    for (category, figures) in want["per_class"].as_object().expect("per_class") {
        let id = ours(category.parse().expect("numeric id"));
        let ours = classes
            .iter()
            .find(|c| c["category_id"].as_u64() == Some(id))
            .unwrap_or_else(|| panic!("{what}: category {category} missing"));
        for key in ["ap50", "ap"] {
            let theirs = figures[key].as_f64().expect("number");
            let mine = ours[key].as_f64().unwrap_or(-1.0); // null = no ground truth = pycocotools' -1
            assert!((mine - theirs).abs() <= TOLERANCE, "{what}: category {category} {key} {mine} vs {theirs}");
        }
    }
}

#[test]
fn val_reproduces_pycocotools_on_the_bundled_model() {
    let data = fixture("val/instances.json");
    let got = val(&["--data", s(&data)]);
    assert_matches(&got, &expected("instances.json:model"), "COCO layout, crowd region, polygon areas");
    assert!(
        got["stats"][1].as_f64().is_some_and(|ap50| ap50 > 0.3),
        "the real model finds the labelled objects: {got}"
    );
}

#[test]
fn yolo_layout_gives_the_numbers_of_its_coco_twin() {
    let want = expected("instances_boxes.json:model");
    // YOLO categories are class indices; the COCO twin's are COCO ids.
    let index =
        |coco: u64| yolo::coco::CATEGORY_IDS.iter().position(|&c| u64::from(c) == coco).expect("a COCO id") as u64;
    assert_matches_as(&val(&["--data", s(&fixture("val/data.yaml"))]), &want, "YOLO data.yaml", index);
    assert_matches(&val(&["--data", s(&fixture("val/instances_boxes.json"))]), &want, "COCO, box areas");
}

#[test]
fn fixed_detection_sets_match_pycocotools() {
    let results = fixture("val/detections_fixed.json");
    for gt in ["instances.json", "instances_boxes.json"] {
        let got = val(&["--data", s(&fixture(&format!("val/{gt}"))), "--results", s(&results)]);
        assert_matches(&got, &expected(&format!("{gt}:fixed")), gt);
    }
    // pycocotools on the model's committed detections, through --results: the same figures.
    let got =
        val(&["--data", s(&fixture("val/instances.json")), "--results", s(&fixture("val/detections_model.json"))]);
    assert_matches(&got, &expected("instances.json:model"), "model detections via --results");
}

#[test]
fn save_json_and_plots_are_written() {
    let dir = temp_dir("val-outputs");
    let (json, plots) = (dir.join("results.json"), dir.join("plots"));
    val(&["--data", s(&fixture("val/instances.json")), "--save-json", s(&json), "--plots", s(&plots)]);
    let saved: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&json).expect("saved")).expect("json");
    let committed: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("val/detections_model.json")).expect("fixture"))
            .expect("json");
    assert_eq!(saved.len(), committed.len(), "the same detections as `detect --format coco` made");
    for name in ["pr_curve.png", "confusion_matrix.png", "pr_18.png"] {
        let picture = image::open(plots.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(picture.width() >= 500, "{name}");
    }
}

/// A copy of the fixture's YOLO layout to break.
fn yolo_copy(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    for sub in ["images", "labels"] {
        std::fs::create_dir_all(dir.join(sub)).expect("dir");
        for entry in std::fs::read_dir(fixture(&format!("val/{sub}"))).expect("fixture") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, dir.join(sub).join(path.file_name().expect("name"))).expect("copy");
        }
    }
    std::fs::copy(fixture("val/data.yaml"), dir.join("data.yaml")).expect("copy");
    dir
}

#[test]
fn broken_datasets_name_the_file_and_line() {
    let dir = yolo_copy("val-bad-labels");
    let saved = dir.join("saved.json");
    std::fs::write(dir.join("labels/coffee.txt"), "41 0.5 0.4 0.4\n").expect("write");
    let out = yolov3(&["val", "--device", "cpu", "--data", s(&dir.join("data.yaml")), "--save-json", s(&saved)]);
    assert_fails(&out, &["coffee.txt:1", "expected `class cx cy w h`, found 4"]);
    std::fs::write(dir.join("labels/coffee.txt"), "41 0.5 0.4 0.4 0.7\n85 0.5 0.5 0.1 0.1\n").expect("write");
    let out = yolov3(&["val", "--device", "cpu", "--data", s(&dir.join("data.yaml")), "--save-json", s(&saved)]);
    assert_fails(&out, &["coffee.txt:2", "class 85 is out of range"]);
    std::fs::remove_file(dir.join("images/rocket.jpg")).expect("remove");
    std::fs::write(dir.join("images/rocket.jpg"), b"not a jpeg").expect("write");
    std::fs::write(dir.join("labels/coffee.txt"), "41 0.5 0.4 0.4 0.7\n").expect("write");
    let out = yolov3(&["val", "--device", "cpu", "--data", s(&dir.join("data.yaml")), "--save-json", s(&saved)]);
    assert_fails(&out, &["rocket.jpg"]);
    assert!(!saved.exists(), "nothing written on failure");

    let coco = std::fs::read_to_string(fixture("val/instances.json")).expect("fixture");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, coco.replacen("\"image_id\": 17", "\"image_id\": 99", 1)).expect("write");
    let out = yolov3(&["val", "--device", "cpu", "--data", s(&bad), "--images", s(&fixture("val/images"))]);
    assert_fails(&out, &["bad.json", "names image 99"]);
    std::fs::write(&bad, coco.replacen("\"category_id\": 18", "\"category_id\": 999", 1)).expect("write");
    let out = yolov3(&["val", "--device", "cpu", "--data", s(&bad), "--images", s(&fixture("val/images"))]);
    assert_fails(&out, &["bad.json", "names category 999"]);
    let out = yolov3(&["val", "--device", "cpu", "--data", s(&bad), "--images", s(&dir)]);
    assert_fails(&out, &["bad.json", "not found under"]);
}
