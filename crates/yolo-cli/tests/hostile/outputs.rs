//! Outputs never clobber, never half-exist: a failed write leaves the previous file byte-
//! identical and no temporary file behind; an output that is an input is refused up front.

use std::path::Path;
use std::process::Command;

use crate::cli::{assert_fails, s, stderr, yolov3};
use crate::common::root;

fn no_temporaries(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left in {}: {left:?}", dir.display());
}

#[test]
fn a_failed_import_keeps_the_previous_output() {
    let dir = super::scratch("outputs-import");
    let out = dir.join("model.bpk");
    std::fs::write(&out, b"the previous burnpack").expect("write");
    let bad = super::write(&dir, "bad.pt", b"not a checkpoint");
    assert_fails(&yolov3(&["import", s(&bad), "-o", s(&out)]), &["bad.pt"]);
    assert_eq!(std::fs::read(&out).expect("kept"), b"the previous burnpack");
    no_temporaries(&dir);
}

#[test]
fn a_file_size_limit_midway_is_an_error_and_the_previous_file_survives() {
    let dir = super::scratch("outputs-efbig");
    let out = dir.join("model.bpk");
    std::fs::write(&out, b"the previous burnpack").expect("write");
    // RLIMIT_FSIZE of 256 kB: the 35 MB burnpack hits EFBIG midway. SIGXFSZ is ignored (as
    // a shell's `trap '' XFSZ` leaves it for the exec'd process), so the write reports EFBIG.
    let result = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 512; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_yolov3"))
        .args(["import", "weights/yolov3-tiny.weights", "-o", s(&out), "--quiet"])
        .current_dir(root())
        .env("YOLOV3_CPU_KERNELS", "fixed")
        .output()
        .expect("runs");
    assert_fails(&result, &["model.bpk"]);
    assert!(stderr(&result).to_lowercase().contains("too large"), "{}", stderr(&result));
    assert_eq!(std::fs::read(&out).expect("kept"), b"the previous burnpack");
    no_temporaries(&dir);
}

#[test]
fn outputs_into_missing_unwritable_or_non_directories_are_errors() {
    let dir = super::scratch("outputs-dirs");
    // A path under a regular file cannot be created, even by root.
    let file = super::write(&dir, "plain", b"x");
    let under = file.join("sub");
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "--raw", s(&under)]);
    assert_fails(&out, &["plain/sub"]);
    let out = yolov3(&["import", "weights/yolov3-tiny.weights", "-o", s(&under.join("m.bpk")), "--quiet"]);
    assert_fails(&out, &["plain/sub"]);
    // A missing directory for --raw is created.
    let fresh = dir.join("new/raw");
    let out = yolov3(&["detect", "weights/dog.jpg", "--device", "cpu", "--raw", s(&fresh)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fresh.join("dog.npy").exists());
    // Read-only directories: only meaningful when not running as root (root writes anyway).
    let ro = dir.join("ro");
    std::fs::create_dir_all(&ro).expect("dir");
    let mut perms = std::fs::metadata(&ro).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&ro, perms).expect("chmod");
    if std::fs::write(ro.join("probe"), b"").is_err() {
        let out = yolov3(&["import", "weights/yolov3-tiny.weights", "-o", s(&ro.join("m.bpk")), "--quiet"]);
        assert_fails(&out, &["m.bpk"]);
        no_temporaries(&ro);
    } else {
        eprintln!("outputs_into_...: running as root, the read-only directory case is not meaningful here");
    }
}

#[test]
fn an_output_that_is_an_input_is_refused() {
    let dir = super::scratch("outputs-onto-input");
    let photo = dir.join("dog.jpg");
    std::fs::copy(root().join("weights/dog.jpg"), &photo).expect("copy");
    let before = std::fs::read(&photo).expect("read");
    // The annotated copy of dir/dog.jpg would be dir/dog.jpg.
    let out = yolov3(&["detect", s(&photo), "--device", "cpu", "--out", s(&dir)]);
    assert_fails(&out, &["dog.jpg", "input"]);
    assert_eq!(std::fs::read(&photo).expect("read"), before, "the input photo is untouched");
    // import -o onto its own checkpoint.
    let ckpt = dir.join("model.pt");
    std::fs::copy(crate::common::fixture("checkpoints/dp.pt"), &ckpt).expect("copy");
    let before = std::fs::read(&ckpt).expect("read");
    let out = yolov3(&["import", s(&ckpt), "-o", s(&ckpt)]);
    assert_fails(&out, &["model.pt", "input"]);
    // The same file through another spelling of its path.
    let other = dir.join(".").join("model.pt");
    let out = yolov3(&["import", s(&ckpt), "-o", s(&other)]);
    assert_fails(&out, &["model.pt", "input"]);
    assert_eq!(std::fs::read(&ckpt).expect("read"), before, "the checkpoint is untouched");
    no_temporaries(&dir);
}
