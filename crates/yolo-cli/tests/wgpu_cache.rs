//! The wgpu autotune store: a second process finds what the first tuned, in the directory
//! `YOLOV3_CACHE_DIR` names (never the working directory), and a corrupt or unwritable store
//! never fails a detection. (How much faster the second process is, is a benchmark's business:
//! 43 s then 7.6 s on lavapipe, see README.)

use std::path::Path;
use std::process::Output;

use crate::cli::{s, stderr, temp_dir};
use crate::common::{root, wgpu_available};

fn detect_wgpu(cache: &Path, cwd: &Path) -> Output {
    crate::common::binary()
        .args(["detect", "--device", "wgpu", "--format", "json"])
        .arg(root().join("weights/dog.jpg"))
        .env("YOLOV3_CACHE_DIR", cache)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

fn detections(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json line");
    v["detections"].clone()
}

#[test]
fn the_autotune_store_is_reused_and_never_fails_a_run() {
    if !wgpu_available("the_autotune_store_is_reused_and_never_fails_a_run") {
        return;
    }
    let dir = temp_dir("wgpu-cache");
    let cache = dir.join("cache");
    let elsewhere = dir.join("somewhere-else");
    std::fs::create_dir_all(&elsewhere).expect("dir");

    let first = detections(&detect_wgpu(&cache, &root()));
    let stores: Vec<_> = std::fs::read_dir(cache.join("wgpu"))
        .expect("the store is under $YOLOV3_CACHE_DIR/wgpu")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    assert_eq!(stores.len(), 1, "one database for the one adapter: {stores:?}");
    assert!(!root().join("target/environment").exists() || std::env::var_os("CARGO_TARGET_DIR").is_some());

    // A second process from another directory reads the same store and detects the same.
    assert_eq!(detections(&detect_wgpu(&cache, &elsewhere)), first);
    assert!(!elsewhere.join("target").exists(), "nothing written into the working directory");

    // A corrupt store: re-tuned in memory, the same detections.
    for entry in std::fs::read_dir(cache.join("wgpu")).expect("dir").flatten() {
        std::fs::write(entry.path(), b"this is not a database").expect("corrupt");
    }
    assert_eq!(detections(&detect_wgpu(&cache, &elsewhere)), first);

    // An unusable location (under a regular file): in memory only, no error.
    let file = dir.join("plain");
    std::fs::write(&file, b"x").expect("write");
    let out = detect_wgpu(&file.join("cache"), &elsewhere);
    assert_eq!(detections(&out), first, "{}", s(&file));
}
