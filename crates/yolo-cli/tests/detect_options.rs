//! `detect`'s filters and output formats, `devices`, and what a successful run prints on stderr
//! (nothing).

use serde_json::Value;

use crate::cli::{assert_fails, s, stderr, temp_dir, yolov3};
use crate::common::root;

/// `(class_id, score, bbox)` of each detection of a one-image JSON run.
fn detections(args: &[&str]) -> Vec<(u64, f64, Vec<f64>)> {
    let mut all = vec!["detect", "weights/dog.jpg", "--device", "cpu", "--format", "json"];
    all.extend_from_slice(args);
    let out = yolov3(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    v["detections"]
        .as_array()
        .expect("array")
        .iter()
        .map(|d| {
            let bbox = d["bbox"].as_array().expect("bbox").iter().filter_map(Value::as_f64).collect();
            (d["class_id"].as_u64().expect("id"), d["score"].as_f64().expect("score"), bbox)
        })
        .collect()
}

fn classes(dets: &[(u64, f64, Vec<f64>)]) -> Vec<u64> {
    dets.iter().map(|d| d.0).collect()
}

#[test]
fn class_filter_keeps_only_the_named_classes() {
    let all = detections(&[]);
    let filtered = detections(&["--classes", "dog,1"]);
    let expected: Vec<_> = all.iter().filter(|d| d.0 == 16 || d.0 == 1).cloned().collect();
    assert!(!expected.is_empty());
    assert_eq!(filtered, expected, "the same detections, only dog and bicycle");
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "--classes", "unicorn"]);
    assert_fails(&out, &["--classes", "unicorn"]);
}

#[test]
fn max_det_keeps_the_highest_scores() {
    let all = detections(&[]);
    assert!(all.len() > 2);
    assert_eq!(detections(&["--max-det", "2"]), all[..2].to_vec());
    assert!(detections(&["--max-det", "0"]).is_empty());
}

#[test]
fn agnostic_nms_suppresses_across_classes() {
    // The truck box lies inside the car box (IoU ~0.26): per-class NMS keeps both, agnostic
    // NMS at IoU 0.2 drops the lower-scored truck.
    let per_class = classes(&detections(&["--iou", "0.2"]));
    let agnostic = classes(&detections(&["--iou", "0.2", "--agnostic-nms"]));
    assert!(per_class.contains(&2) && per_class.contains(&7), "car and truck: {per_class:?}");
    assert!(agnostic.contains(&2) && !agnostic.contains(&7), "truck suppressed by car: {agnostic:?}");
    assert!(agnostic.len() < per_class.len());
}

#[test]
fn label_files_hold_normalised_boxes_and_scores() {
    let dir = temp_dir("save-txt");
    let json = detections(&["--save-txt", s(&dir), "--save-conf"]);
    let text = std::fs::read_to_string(dir.join("dog.txt")).expect("label file written");
    let lines: Vec<Vec<f64>> =
        text.lines().map(|l| l.split(' ').map(|v| v.parse().expect("number")).collect()).collect();
    assert_eq!(lines.len(), json.len());
    for (line, (class, score, b)) in lines.iter().zip(&json) {
        assert_eq!(line.len(), 6, "class cx cy w h score");
        assert_eq!(line[0] as u64, *class);
        let want =
            [(b[0] + b[2]) / 2.0 / 768.0, (b[1] + b[3]) / 2.0 / 576.0, (b[2] - b[0]) / 768.0, (b[3] - b[1]) / 576.0];
        for k in 0..4 {
            assert!((line[1 + k] - want[k]).abs() < 2e-6, "{line:?} vs {want:?}");
        }
        assert!((line[5] - score).abs() < 2e-6);
    }
    // Without --save-conf: five columns.
    detections(&["--save-txt", s(&dir)]);
    let text = std::fs::read_to_string(dir.join("dog.txt")).expect("label file");
    assert!(text.lines().all(|l| l.split(' ').count() == 5), "{text}");
}

#[test]
fn coco_results_carry_coco_ids_and_xywh_boxes() {
    let json = detections(&[]);
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "--format", "coco"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("one JSON array");
    assert_eq!(results.len(), json.len());
    for (r, (class, score, b)) in results.iter().zip(&json) {
        assert_eq!(r["image_id"], 1, "one non-COCO file name: numbered from 1");
        let category = r["category_id"].as_u64().expect("category");
        assert_eq!(category, yolo::coco::CATEGORY_IDS[*class as usize] as u64);
        assert!((r["score"].as_f64().expect("score") - score).abs() < 1e-6);
        let xywh: Vec<f64> = r["bbox"].as_array().expect("bbox").iter().filter_map(Value::as_f64).collect();
        let want = [b[0], b[1], b[2] - b[0], b[3] - b[1]];
        for k in 0..4 {
            assert!((xywh[k] - want[k]).abs() < 1e-3, "{xywh:?} vs {want:?}");
        }
    }
    assert!(results.iter().any(|r| r["category_id"] == 18), "dog is COCO category 18");

    // Image ids from an annotation file, by file name; an image it does not list is an error.
    let dir = temp_dir("coco-ids");
    let annotations = dir.join("instances.json");
    std::fs::write(
        &annotations,
        r#"{"images": [{"id": 4242, "file_name": "val/dog.jpg", "width": 768, "height": 576}]}"#,
    )
    .expect("write");
    let out = yolov3(&[
        "detect",
        "weights/dog.jpg",
        "--device",
        "cpu",
        "--format",
        "coco",
        "--coco-annotations",
        s(&annotations),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("array");
    assert!(!results.is_empty() && results.iter().all(|r| r["image_id"] == 4242));
    let other = dir.join("000000000139.png");
    std::fs::copy(root().join("tests/fixtures/parity/images/coffee.png"), &other).expect("copy");
    let out =
        yolov3(&["detect", s(&other), "--device", "cpu", "--format", "coco", "--coco-annotations", s(&annotations)]);
    assert_fails(&out, &["000000000139.png", "instances.json"]);
    // COCO-style file names are their own ids.
    let out = yolov3(&["detect", s(&other), "--device", "cpu", "--format", "coco"]);
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("array");
    assert!(!results.is_empty() && results.iter().all(|r| r["image_id"] == 139), "{results:?}");
}

/// Runs the binary as a headless user would: no XDG_RUNTIME_DIR, stderr a pipe.
fn headless(args: &[&str]) -> std::process::Output {
    crate::common::binary()
        .args(args)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .output()
        .expect("the binary runs")
}

#[test]
fn successful_runs_print_nothing_on_stderr() {
    let dir = temp_dir("quiet");
    let images = "tests/fixtures/parity/images";
    for args in [
        vec!["detect", "weights/dog.jpg", "--device", "cpu"],
        vec!["detect", "weights/dog.jpg", "--device", "auto"],
        vec!["detect", images, "--device", "cpu", "--batch", "2"],
        vec!["import", "weights/yolov3-tiny.weights", "-o", s(&dir.join("tiny.bpk"))],
    ] {
        let out = headless(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}: no progress bar in a pipe, no stray lines");
    }
}

#[test]
fn verbose_runs_say_where_the_time_went() {
    let images = "tests/fixtures/parity/images";
    let count = std::fs::read_dir(root().join(images)).expect("images").count();
    let out = headless(&["detect", images, "--device", "cpu", "--batch", "2", "--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err.lines().find(|l| l.starts_with("speed per image: ")).unwrap_or_else(|| panic!("{err}"));
    for part in ["decode ", "letterbox ", "waited for ", "forward ", "postprocess ", "wall "] {
        assert!(line.contains(part), "{line}");
    }
    assert!(line.ends_with(&format!("({count} images)")), "{line}");
    // More than one batch: the steady forward time, the first batch's (one-time work) apart.
    assert!(count > 2, "the fixture has several batches of 2");
    assert!(line.contains("(first batch ") && line.contains("one-time weight preparation"), "{line}");
    let one = headless(&["detect", "weights/dog.jpg", "--device", "cpu", "--verbose"]);
    let err = stderr(&one);
    let line = err.lines().find(|l| l.starts_with("speed per image: ")).unwrap_or_else(|| panic!("{err}"));
    assert!(!line.contains("first batch"), "one batch has no steady time to set apart: {line}");
}

#[test]
fn devices_lists_the_cpu_and_the_auto_choice() {
    let out = headless(&["devices", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["cpu"]["threads"].as_u64().is_some_and(|t| t >= 1));
    assert!(["avx512", "avx2+fma", "baseline"].contains(&v["cpu"]["simd"].as_str().unwrap_or("")), "{v}");
    assert!(v["adapters"].is_array());
    let auto = v["auto"]["device"].as_str().expect("auto device");
    let software_only = v["adapters"].as_array().expect("array").iter().all(|a| a["type"] == "software");
    assert_eq!(auto == "cpu", software_only, "auto picks the CPU exactly when no hardware GPU exists: {v}");
    let text = headless(&["devices"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("--device auto:"));
}
