//! The measured CPU kernel table (`--cpu-kernels tuned`): the first process times the kernels
//! of each new layer shape and saves the winners under `$YOLOV3_CACHE_DIR/cpu`, a second one
//! reads them back without measuring or writing, the detections are the fixed rules' (the
//! kernels differ by rounding only), and a damaged, hostile or unwritable table never fails a
//! run. (How much faster the measured choice is, is a benchmark's business: see README.)

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::cli::{stderr, temp_dir};
use crate::common::{binary, root};

fn detect(cache: &Path, kernels: &str) -> Output {
    binary()
        .args(["detect", "--device", "cpu", "--format", "json"])
        .arg(root().join("weights/dog.jpg"))
        .env("YOLOV3_CACHE_DIR", cache)
        .env("YOLOV3_CPU_KERNELS", kernels)
        .output()
        .expect("the binary runs")
}

fn detections(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", stderr(out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json line");
    v["detections"].as_array().expect("detections").clone()
}

/// The one table file under `cache/cpu`.
fn table(cache: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(cache.join("cpu"))
        .expect("the table is under $YOLOV3_CACHE_DIR/cpu")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "one table per machine, no temporaries left: {files:?}");
    files[0].clone()
}

fn assert_same_detections(a: &[Value], b: &[Value]) {
    assert_eq!(a.len(), b.len(), "{a:?}\nvs\n{b:?}");
    let number = |v: &Value| v.as_f64().expect("a number");
    let bbox = |v: &Value| v["bbox"].as_array().expect("a box").iter().map(number).collect::<Vec<_>>();
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["label"], y["label"]);
        assert!((number(&x["score"]) - number(&y["score"])).abs() <= 1e-4, "{x} vs {y}");
        for (p, q) in bbox(x).into_iter().zip(bbox(y)) {
            assert!((p - q).abs() <= 0.01, "{x} vs {y}");
        }
    }
}

#[test]
fn the_table_is_measured_once_saved_and_read_back() {
    let dir = temp_dir("cpu-kernels");
    let cache = dir.join("cache");
    let fixed = detections(&detect(&cache, "fixed"));
    assert!(!cache.join("cpu").exists(), "fixed kernels measure and write nothing");

    let first = detections(&detect(&cache, "tuned"));
    assert_same_detections(&first, &fixed);
    let path = table(&cache);
    let text = std::fs::read_to_string(&path).expect("table");
    assert!(text.starts_with("format yolov3-burn cpu kernel table 2\nkernels "), "{text}");
    // yolov3-tiny at 416 has 8 distinct 3x3 layer shapes (four of them with the 2x2/2 maxpool
    // after them, measured as pairs); its 1x1 layers have one kernel.
    let entries: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && l.contains(": ")).collect();
    assert_eq!(entries.len(), 8, "{text}");
    assert!(entries.iter().all(|l| l.contains(" | ")), "every entry keeps its timings: {text}");
    assert_eq!(entries.iter().filter(|l| l.contains(" 1 2 1: ")).count(), 4, "conv + pool pairs: {text}");
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime");

    let second = detections(&detect(&cache, "tuned"));
    assert_same_detections(&second, &fixed);
    assert_eq!(std::fs::read_to_string(&path).expect("table"), text, "nothing new to measure");
    assert_eq!(std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime"), modified, "not rewritten");

    let devices = binary().arg("devices").env("YOLOV3_CACHE_DIR", &cache).output().expect("runs");
    let listing = String::from_utf8_lossy(&devices.stdout);
    assert!(listing.contains("8 layer shapes measured"), "{listing}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_hostile_or_unwritable_tables_never_fail_a_run() {
    let dir = temp_dir("cpu-kernels-bad");
    let reference = detections(&detect(&dir.join("none"), "fixed"));
    // Garbage, then a well-formed table whose entry picks a kernel that cannot compute its
    // layer (Winograd for a stride-2 conv): both are ignored and replaced by a measured table.
    let garbage = dir.join("garbage");
    detect(&garbage, "tuned");
    let path = table(&garbage);
    let good = std::fs::read_to_string(&path).expect("table");
    let header: String = good.lines().take(3).map(|l| format!("{l}\n")).collect();
    let entry = good.lines().find(|l| !l.starts_with('#') && l.contains(": ")).expect("an entry");
    let threads = entry.split(':').next().and_then(|sizes| sizes.split_whitespace().last()).expect("threads");
    let hostile = format!("{header}16 416 416 3 2 1 32 1 {threads}: winograd-f4\n");
    for damaged in ["\u{0}\u{1}not a table at all\n".to_string(), hostile] {
        std::fs::write(&path, &damaged).expect("write");
        assert_same_detections(&detections(&detect(&garbage, "tuned")), &reference);
        let rewritten = std::fs::read_to_string(&path).expect("table");
        assert!(rewritten.starts_with(&header) && !rewritten.contains("16 416 416 3 2 1 32"), "{rewritten}");
        assert_eq!(rewritten.lines().filter(|l| !l.starts_with('#') && l.contains(": ")).count(), 8, "{rewritten}");
    }
    // A cache root that is a regular file: nothing can be written, detection still works.
    let file = dir.join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    assert_same_detections(&detections(&detect(&file, "tuned")), &reference);
    // A table location that is a directory.
    let odd = dir.join("odd");
    std::fs::create_dir_all(odd.join("cpu")).expect("dir");
    detect(&odd, "tuned");
    let name = table(&odd).file_name().expect("a file name").to_owned();
    let odd2 = dir.join("odd2");
    std::fs::create_dir_all(odd2.join("cpu").join(&name)).expect("dir");
    assert_same_detections(&detections(&detect(&odd2, "tuned")), &reference);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_mode_is_an_error_naming_the_variable() {
    let out = detect(&temp_dir("cpu-kernels-mode"), "fastest");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("YOLOV3_CPU_KERNELS") && err.contains("fastest"), "{err}");
}

#[test]
fn bench_profile_names_the_kernel_each_convolution_ran() {
    let dir = temp_dir("cpu-kernels-profile");
    let args = ["bench", "--arch", "yolov3-tiny", "--device", "cpu", "-n", "1", "--warmup", "1", "--profile"];
    let out = binary()
        .args(args)
        .args(["--format", "json"])
        .env("YOLOV3_CACHE_DIR", &dir)
        .env("YOLOV3_CPU_KERNELS", "tuned")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["cpu_kernels"], "tuned");
    let text = std::fs::read_to_string(table(&dir)).expect("table");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(": ").map(|(_, rest)| rest.split(" | ").next().unwrap_or(rest)))
        .collect();
    let layers = v["layers"].as_array().expect("layers");
    for layer in layers {
        let (kind, kernel) = (layer["layer"].as_str().expect("kind"), &layer["kernel"]);
        match kind {
            k if k.starts_with("conv 1x1") => assert_eq!(kernel, "pointwise", "{layer}"),
            k if k.starts_with("conv") => {
                let name = kernel.as_str().unwrap_or_else(|| panic!("{layer}"));
                assert!(kept.contains(&name), "{layer} ran a kernel the table does not keep: {kept:?}");
            }
            // tiny's first four 2x2/2 pools run with the conv before them (its time is the
            // pair's); the fifth follows a conv a route reads too, so it runs alone.
            "maxpool 2/2" if layer["index"].as_u64() < Some(9) => assert_eq!(kernel, "with the conv", "{layer}"),
            _ => assert!(kernel.is_null(), "{layer}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
