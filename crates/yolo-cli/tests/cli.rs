//! The `yolov3` binary end to end: results, output files, and every bad-input path.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::{binary, root};

pub fn yolov3(args: &[&str]) -> Output {
    binary().args(args).output().expect("the binary runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yolov3-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Asserts a failed run: non-zero exit, no panic, the expected words in the message.
pub fn assert_fails(out: &Output, words: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "must fail; stderr: {err}");
    assert!(!err.contains("panicked"), "must not panic: {err}");
    for w in words {
        assert!(err.contains(w), "stderr must mention `{w}`: {err}");
    }
}

#[test]
fn detect_finds_the_dog_and_writes_outputs() {
    let dir = temp_dir("outputs");
    let (raw, annotated) = (dir.join("raw"), dir.join("annotated"));
    let out = yolov3(&[
        "detect",
        "weights/dog.jpg",
        "--device",
        "cpu",
        "--format",
        "json",
        "--raw",
        s(&raw),
        "--out",
        s(&annotated),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line per image: {stdout}");
    let record: Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert_eq!((record["width"].as_u64(), record["height"].as_u64()), (Some(768), Some(576)));
    let labels: Vec<&str> =
        record["detections"].as_array().expect("array").iter().filter_map(|d| d["label"].as_str()).collect();
    for expected in ["bicycle", "dog", "truck"] {
        assert!(labels.contains(&expected), "{expected} in {labels:?}");
    }
    for d in record["detections"].as_array().expect("array") {
        let b: Vec<f64> = d["bbox"].as_array().expect("bbox").iter().filter_map(Value::as_f64).collect();
        assert!(b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= 768.0 && b[3] <= 576.0 && b[0] < b[2] && b[1] < b[3], "{b:?}");
    }
    let npy = std::fs::read(raw.join("dog.npy")).expect("raw predictions written");
    let (shape, values) = yolo_cli::npy::decode_f32(&npy).expect("standard npy");
    assert_eq!(shape, vec![2535, 85]);
    assert!(values.iter().all(|v| v.is_finite()));
    let picture = image::open(annotated.join("dog.jpg")).expect("annotated copy decodes");
    assert_eq!((picture.width(), picture.height()), (768, 576));
}

#[test]
fn text_output_and_directory_input() {
    let dir = temp_dir("dir-input");
    for name in ["coffee", "motorcycle"] {
        std::fs::copy(crate::common::fixture(&format!("parity/images/{name}.png")), dir.join(format!("{name}.png")))
            .expect("copy");
    }
    std::fs::write(dir.join("notes.txt"), "not an image").expect("write");
    let out = yolov3(&["detect", s(&dir), "--device", "cpu", "--batch", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(stdout.contains("coffee.png: 600x400") && stdout.contains("cup"), "{stdout}");
    assert!(stdout.contains("motorcycle.png: 741x500") && stdout.contains("motorbike"), "{stdout}");
}

#[test]
fn unreadable_images_are_named_and_the_others_still_run() {
    let dir = temp_dir("bad-image");
    let bad = dir.join("broken.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff\xe0 this is not really a jpeg").expect("write");
    // A real photo cut inside its scan: the decoder alone would grey out the missing rows.
    let photo = std::fs::read(root().join("weights/dog.jpg")).expect("photo");
    let cut = dir.join("cut.jpg");
    std::fs::write(&cut, &photo[..photo.len() / 2]).expect("write");
    let raw = dir.join("raw");
    let out = yolov3(&["detect", "weights/dog.jpg", s(&bad), s(&cut), "--device", "cpu", "--raw", s(&raw)]);
    assert_fails(&out, &["broken.jpg", "cut.jpg", "truncated", "2 of 3 image(s)"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("weights/dog.jpg: 768x576") && stdout.contains("dog"),
        "the good image is reported: {stdout}"
    );
    assert!(!stdout.contains("broken") && !stdout.contains("cut.jpg"), "{stdout}");
    assert!(raw.join("dog.npy").exists(), "the good image's outputs are written");
    assert!(!raw.join("broken.npy").exists() && !raw.join("cut.npy").exists());

    let out = yolov3(&["detect", "no/such/file.jpg", "--device", "cpu"]);
    assert_fails(&out, &["no/such/file.jpg"]);
}

#[test]
fn unavailable_device_is_an_error_not_a_fallback() {
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "ndarray"]);
    if cfg!(feature = "ndarray") {
        assert!(out.status.success(), "{}", stderr(&out));
    } else {
        assert_fails(&out, &["ndarray", "not compiled in"]);
    }
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "tpu"]);
    assert_fails(&out, &["tpu"]);
}

#[test]
fn bad_cfg_names_file_and_line() {
    let dir = temp_dir("bad-cfg");
    let cfg = dir.join("bad.cfg");
    let text = std::fs::read_to_string(root().join("weights/yolov3-tiny.cfg")).expect("cfg");
    std::fs::write(&cfg, text.replacen("classes=80", "classes=3", 1)).expect("write");
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "--cfg", s(&cfg)]);
    assert_fails(&out, &["bad.cfg:", "filters=255", "len(mask)*(classes+5) = 24"]);
}

#[test]
fn short_and_long_weights_name_the_layer() {
    let dir = temp_dir("bad-weights");
    let full = std::fs::read(root().join("weights/yolov3-tiny.weights")).expect("weights");
    let short = dir.join("short.weights");
    std::fs::write(&short, &full[..full.len() - 4000]).expect("write");
    let out =
        yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "-w", s(&short), "--cfg", "weights/yolov3-tiny.cfg"]);
    assert_fails(&out, &["short.weights", "inside layer 22"]);

    let long = dir.join("long.weights");
    let mut bytes = full.clone();
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&long, &bytes).expect("write");
    let out =
        yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "-w", s(&long), "--cfg", "weights/yolov3-tiny.cfg"]);
    assert_fails(&out, &["long.weights", "4 floats are left"]);

    // Without --cfg, a file that fits no built-in architecture asks for one.
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "-w", s(&long)]);
    assert_fails(&out, &["--cfg"]);
}

#[test]
fn bad_options_are_refused() {
    let out = yolov3(&["detect", "weights/dog.jpg", "--size", "100"]);
    assert_fails(&out, &["--size", "multiple of 32"]);
    let out = yolov3(&["detect", "weights/dog.jpg", "--conf", "1.5"]);
    assert_fails(&out, &["--conf"]);
    let out = yolov3(&["detect", "weights/dog.jpg", "--batch", "0"]);
    assert_fails(&out, &["--batch"]);
}

#[test]
fn import_then_detect_with_the_burnpack() {
    let dir = temp_dir("import");
    let out_bpk = dir.join("model.bpk");
    let out = yolov3(&["import", "tests/fixtures/checkpoints/dp.pt", "-o", s(&out_bpk)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    for expected in ["stripped module.", "pytorchyolo: 63 of 63 keys", "yolov3-tiny topology; 3 classes", "all finite"]
    {
        assert!(report.contains(expected), "`{expected}` in:\n{report}");
    }
    let raw = dir.join("raw");
    let out = yolov3(&[
        "detect",
        "weights/dog.jpg",
        "-w",
        s(&out_bpk),
        "--device",
        "cpu",
        "--raw",
        s(&raw),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (shape, _) = yolo_cli::npy::decode_f32(&std::fs::read(raw.join("dog.npy")).expect("raw")).expect("npy");
    assert_eq!(shape, vec![2535, 8], "3-class model at 416");
    // The checkpoint itself works directly too, imported in memory.
    let out = yolov3(&["detect", "weights/dog.jpg", "-w", "tests/fixtures/checkpoints/trainer.pt", "--device", "cpu"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn failed_import_writes_nothing() {
    let dir = temp_dir("import-fail");
    let out_bpk = dir.join("model.bpk");
    let out = yolov3(&["import", "tests/fixtures/checkpoints/old_conv.pt", "-o", s(&out_bpk)]);
    assert_fails(&out, &["old_conv_0", "--remap"]);
    assert!(!out_bpk.exists());
    let out =
        yolov3(&["import", "tests/fixtures/checkpoints/old_conv.pt", "-o", s(&out_bpk), "--remap", "old_conv_=conv_"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out_bpk.exists());
    let out = yolov3(&["import", "weights/coco.names", "-o", s(&dir.join("x.bpk"))]);
    assert_fails(&out, &["coco.names"]);
    let out = yolov3(&["import", "tests/fixtures/checkpoints/dp.pt", "-o", s(&dir.join("y.bpk")), "--remap", "(=x"]);
    assert_fails(&out, &["--remap"]);
}

#[test]
fn inspect_shows_the_trainer_metadata() {
    let out = yolov3(&["inspect", "tests/fixtures/checkpoints/trainer.pt", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["metadata"]["epoch"], "7");
    assert_eq!(v["optimizer"], true);
    assert_eq!(v["weights_entry"], "state_dict");
    assert_eq!(v["prefixes_stripped"][0], "module.");
    assert_eq!(v["classes"], 3);
    assert!(v["tensors"].as_array().is_some_and(|t| t.len() == 63));
    let out = yolov3(&["inspect", "tests/fixtures/checkpoints/ema_none_half.pt"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ema present but empty (None)") && text.contains("date=2026-11-28T12:00:00"), "{text}");
}

#[test]
fn cli_json_matches_the_opencv_reference_detections() {
    let out = yolov3(&["detect", "tests/fixtures/parity/images/dog.png", "--device", "cpu", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Value = serde_json::from_slice(&out.stdout).expect("json");
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::common::fixture("parity/dog.detections.json")).expect("fixture"),
    )
    .expect("json");
    let (got, want) = (got["detections"].as_array().expect("array"), want.as_array().expect("array"));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["class_id"], w["class_id"]);
        assert!((g["score"].as_f64().unwrap_or(0.0) - w["score"].as_f64().unwrap_or(1.0)).abs() < 1e-4);
        for k in 0..4 {
            let (a, b) = (g["bbox"][k].as_f64().unwrap_or(0.0), w["bbox"][k].as_f64().unwrap_or(1e9));
            assert!((a - b).abs() < 0.1, "bbox {} vs {}", g["bbox"], w["bbox"]);
        }
    }
}

#[test]
fn stretch_and_png_outputs() {
    let dir = temp_dir("stretch");
    let out = yolov3(&[
        "detect",
        "tests/fixtures/parity/images/coffee.png",
        "--device",
        "cpu",
        "--resize",
        "stretch",
        "--size",
        "320",
        "--out",
        s(&dir),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    for d in v["detections"].as_array().expect("array") {
        let b: Vec<f64> = d["bbox"].as_array().expect("bbox").iter().filter_map(Value::as_f64).collect();
        assert!(b[2] <= 600.0 && b[3] <= 400.0, "{b:?}");
    }
    let picture = image::open(dir.join("coffee.png")).expect("annotated PNG");
    assert_eq!((picture.width(), picture.height()), (600, 400));
}

#[test]
fn darknet_weights_convert_to_a_burnpack_with_the_same_detections() {
    let dir = temp_dir("darknet-bpk");
    for (name, extra) in [("f32.bpk", None), ("f16.bpk", Some("--keep-half"))] {
        let bpk = dir.join(name);
        let mut args = vec!["import", "weights/yolov3-tiny.weights", "-o", s(&bpk)];
        args.extend(extra);
        let out = yolov3(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let labels = |out: Output| -> Vec<(u64, f64)> {
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            v["detections"]
                .as_array()
                .expect("array")
                .iter()
                .map(|d| (d["class_id"].as_u64().unwrap_or(999), d["score"].as_f64().unwrap_or(0.0)))
                .collect()
        };
        let converted =
            labels(yolov3(&["detect", "weights/dog.jpg", "-w", s(&bpk), "--device", "cpu", "--format", "json"]));
        let bundled = labels(yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "--format", "json"]));
        // float32 is exact; float16 storage moves scores by a few thousandths.
        let tolerance = if extra.is_some() { 0.01 } else { 1e-6 };
        assert_eq!(converted.len(), bundled.len(), "{name}");
        for ((c, a), (b_class, b)) in converted.iter().zip(&bundled) {
            assert_eq!(c, b_class, "{name}");
            assert!((a - b).abs() <= tolerance, "{name}: {a} vs {b}");
        }
    }
}
