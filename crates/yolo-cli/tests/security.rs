//! Hostile checkpoints: a pickle that runs a shell command under `torch.load` is listed by
//! `inspect`, refused by `import` and `detect -w`, loads with `--ignore-pickle-code`, and is
//! never executed.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{assert_fails, s, stderr, temp_dir, yolov3};
use crate::common::fixture;

/// `dp.pt` with `posix.system(command)` called (and its result popped) before the real object:
/// a valid pickle that `torch.load(weights_only=False)` would run.
fn hostile_copy(dir: &Path, command: &str) -> PathBuf {
    let source = std::fs::File::open(fixture("checkpoints/dp.pt")).expect("fixture");
    let mut archive = zip::ZipArchive::new(source).expect("zip");
    let out = dir.join("evil.pt");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&out).expect("create"));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let name = entry.name().expect("entry name").to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        if name.ends_with("data.pkl") {
            assert_eq!(&bytes[..2], b"\x80\x02", "torch.save's protocol 2");
            let mut evil = b"\x80\x02cposix\nsystem\nX".to_vec();
            evil.extend_from_slice(&(command.len() as u32).to_le_bytes());
            evil.extend_from_slice(command.as_bytes());
            evil.extend_from_slice(b"\x85R0"); // TUPLE1, REDUCE, POP
            evil.extend_from_slice(&bytes[2..]);
            bytes = evil;
        }
        writer.start_file(name, options).expect("start");
        writer.write_all(&bytes).expect("write");
    }
    writer.finish().expect("finish");
    out
}

#[test]
fn hostile_pickles_are_listed_refused_and_never_run() {
    let dir = temp_dir("hostile");
    let marker = dir.join("pwned");
    let evil = hostile_copy(&dir, &format!("touch {}", marker.display()));

    let out = yolov3(&["inspect", s(&evil), "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["pickle"]["dangerous"][0], "posix.system", "{}", v["pickle"]);
    assert_eq!(v["pickle"]["runs_code"], true);
    let text = String::from_utf8_lossy(&yolov3(&["inspect", s(&evil)]).stdout).into_owned();
    assert!(
        text.contains("runs code under torch.load(weights_only=False): YES") && text.contains("posix.system (1)"),
        "{text}"
    );

    let bpk = dir.join("evil.bpk");
    let out = yolov3(&["import", s(&evil), "-o", s(&bpk)]);
    assert_fails(&out, &["evil.pt", "posix.system", "--ignore-pickle-code"]);
    assert!(!bpk.exists());
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "-w", s(&evil)]);
    assert_fails(&out, &["posix.system"]);

    let out = yolov3(&["import", s(&evil), "-o", s(&bpk), "--ignore-pickle-code"]);
    assert!(out.status.success(), "the tensors load: {}", stderr(&out));
    assert!(bpk.exists());
    assert!(!marker.exists(), "the command in the pickle never ran");

    // The clean original: safe globals only, no code would run.
    let out = yolov3(&["inspect", s(&fixture("checkpoints/dp.pt")), "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["pickle"]["runs_code"], false, "{}", v["pickle"]);
}
