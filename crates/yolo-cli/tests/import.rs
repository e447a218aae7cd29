//! The PyTorch import matrix: checkpoints written by real pytorchyolo code in every wrapper and
//! container (tests/fixtures/checkpoints/generate.py) import with no flags and reproduce
//! PyTorch's raw predictions within 1e-4 (relative above 1).

use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData};
use yolo_import::pytorch::remap::RemapRule;
use yolo_import::pytorch::{self, ArchChoice, PytorchOptions};
use yolo_model::{Yolo, YoloConfig};

use crate::common::{cpu, fixture};

fn ckpt(name: &str) -> PathBuf {
    fixture(&format!("checkpoints/{name}"))
}

fn npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(ckpt(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    yolo_cli::npy::decode_f32(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Max difference, relative for magnitudes above 1 (box sizes are in pixels).
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0, f32::max)
}

fn run(model: &Yolo) -> Vec<f32> {
    let (shape, input) = npy("input.npy");
    let device = cpu();
    let x = Tensor::<4>::from_data(TensorData::new(input, [shape[0], shape[1], shape[2], shape[3]]), &device);
    model.forward(x).into_data().try_into_vec::<f32>().expect("f32 output")
}

fn import(name: &str, options: &PytorchOptions) -> Yolo {
    match pytorch::import(&ckpt(name), options, &cpu()) {
        Ok((model, _, _)) => model,
        Err(e) => panic!("{name} must import: {e}"),
    }
}

fn assert_matches(name: &str, model: &Yolo, reference: &str) {
    let (_, expected) = npy(reference);
    let diff = max_diff(&run(model), &expected);
    eprintln!("{name}: max diff vs {reference} {diff:e}");
    assert!(diff <= 1e-4, "{name}: differs from PyTorch by {diff}");
}

#[test]
fn pytorchyolo_matrix_imports_with_no_flags() {
    let matrix = [
        ("bare.pt", "ref_pytorchyolo.npy"),
        ("dp.pt", "ref_pytorchyolo.npy"),
        ("dp_ddp.pt", "ref_pytorchyolo.npy"),
        ("compile.pt", "ref_pytorchyolo.npy"),
        ("dp_compile.pt", "ref_pytorchyolo.npy"),
        ("compile_dp.pt", "ref_pytorchyolo.npy"),
        ("trainer.pt", "ref_pytorchyolo.npy"),
        ("whole.pt", "ref_pytorchyolo.npy"),
        ("whole_dp.pt", "ref_pytorchyolo.npy"),
        ("legacy.pt", "ref_pytorchyolo.npy"),
        ("cuda.pt", "ref_pytorchyolo.npy"),
        ("fp16.pt", "ref_pytorchyolo_fp16.npy"),
        ("ema_none_half.pt", "ref_pytorchyolo_fp16.npy"),
    ];
    for (file, reference) in matrix {
        let model = import(file, &PytorchOptions::default());
        assert_eq!(model.config().spec.classes(), 3, "{file}");
        assert_matches(file, &model, reference);
    }
}

#[test]
fn ultralytics_archive_matrix_imports_with_no_flags() {
    for (file, reference) in [
        ("archive_trainer.pt", "ref_archive.npy"),
        ("archive_dp.pt", "ref_archive.npy"),
        ("archive_legacy.pt", "ref_archive.npy"),
        ("archive_fp16.pt", "ref_archive_fp16.npy"),
    ] {
        let (model, report, _) = pytorch::import(&ckpt(file), &PytorchOptions::default(), &cpu()).expect(file);
        assert_eq!(report.dialect.dialect.name(), "ultralytics-archive", "{file}");
        assert_eq!(model.config().numerics.bn_eps, 1e-4);
        assert_matches(file, &model, reference);
    }
}

#[test]
fn the_darknet_numerics_would_not_match() {
    // The importer's dialect numerics matter: the same weights with darknet's eps and -inf
    // maxpool padding drift from what PyTorch computed.
    let model = import("dp.pt", &PytorchOptions::default());
    let mut config: YoloConfig = model.config().clone();
    config.numerics = yolo_model::Numerics::DARKNET;
    let spec = ArchChoice::Cfg(config.spec.clone());
    let options = PytorchOptions { arch: spec, ..PytorchOptions::default() };
    let (imported, _, _) = pytorch::import(&ckpt("dp.pt"), &options, &cpu()).expect("imports");
    let (_, expected) = npy("ref_pytorchyolo.npy");
    assert!(max_diff(&run(&imported), &expected) <= 1e-4);
    // The same tensors applied to a model with the importer's numerics reproduce PyTorch, so the
    // apply below really moves every weight (random or zero weights would not get here) ...
    let copy_into = |config: YoloConfig| {
        let mut model = Yolo::new(config, &cpu());
        let tensors = burn::store::ModuleSnapshot::collect(&imported, None, None, false);
        let count = tensors.len();
        let applied = burn::store::ModuleSnapshot::apply(&mut model, tensors, None, None, false);
        assert!(applied.errors.is_empty() && applied.missing.is_empty() && applied.unused.is_empty(), "{applied:?}");
        assert_eq!(applied.applied.len(), count);
        model
    };
    assert!(max_diff(&run(&copy_into(imported.config().clone())), &expected) <= 1e-4);
    // ... and with darknet's eps and padding, the same weights drift.
    let darknet = copy_into(config);
    assert!(max_diff(&run(&darknet), &expected) > 1e-4, "eps/padding must be visible here");
}

#[test]
fn renamed_layer_fails_helpfully_then_loads_with_a_remap() {
    let err = pytorch::import(&ckpt("old_conv.pt"), &PytorchOptions::default(), &cpu()).expect_err("must fail");
    let message = err.to_string();
    assert!(message.contains("module.module_list.0.old_conv_0.weight"), "{message}");
    assert!(message.contains("closest pytorchyolo key is module_list.0.conv_0.weight"), "{message}");
    assert!(message.contains("--remap"), "{message}");

    let rule = RemapRule::parse("old_conv_=conv_").expect("valid rule");
    let options = PytorchOptions { remaps: vec![rule], ..PytorchOptions::default() };
    let model = import("old_conv.pt", &options);
    assert_matches("old_conv.pt + remap", &model, "ref_pytorchyolo.npy");
}

#[test]
fn wrong_architecture_names_the_first_mismatching_layer() {
    let options = PytorchOptions { arch: ArchChoice::Builtin(yolo_model::Arch::Yolov3), ..PytorchOptions::default() };
    let err = pytorch::import(&ckpt("dp.pt"), &options, &cpu()).expect_err("tiny is not yolov3");
    assert!(err.to_string().contains("yolov3: conv layer 1 expected, the checkpoint's next conv is layer 2"), "{err}");

    // 3-class weights against an 80-class cfg: the head conv is the first layer that differs.
    let text = std::fs::read_to_string(ckpt("mini-tiny.cfg")).expect("cfg");
    let eighty = text.replace("classes=3", "classes=80").replace("filters=24", "filters=255");
    let spec = yolo_model::cfg::parse("eighty.cfg", &eighty).expect("valid cfg");
    let options = PytorchOptions { arch: ArchChoice::Cfg(spec), ..PytorchOptions::default() };
    let err = pytorch::import(&ckpt("dp.pt"), &options, &cpu()).expect_err("80 vs 3 classes");
    let message = err.to_string();
    assert!(message.contains("first shape mismatch (layer 15)"), "{message}");
    assert!(message.contains("module.module_list.15.conv_15.weight has shape [24, 32, 1, 1]"), "{message}");
}

#[test]
fn classes_flag_must_agree() {
    let options = PytorchOptions { classes: Some(80), ..PytorchOptions::default() };
    let err = pytorch::import(&ckpt("dp.pt"), &options, &cpu()).expect_err("3 classes");
    assert!(err.to_string().contains("--classes 80"), "{err}");
}

#[test]
fn burnpack_round_trip_keeps_predictions() {
    let dir = std::env::temp_dir().join(format!("yolov3-bpk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // A DataParallel checkpoint of every dialect, then fp16 stored as float16.
    let cases = [
        ("dp.pt", "ref_pytorchyolo.npy", false),
        ("archive_dp.pt", "ref_archive.npy", false),
        ("v5tiny_dp.pt", "ref_v5tiny.npy", false),
        ("mmdet_dp.pt", "ref_mmdet.npy", false),
        ("fp16.pt", "ref_pytorchyolo_fp16.npy", true),
    ];
    for (file, reference, half) in cases {
        let model = import(file, &PytorchOptions::default());
        let path = dir.join(format!("{file}.bpk"));
        yolo_import::bpk::write(&path, &model, &Default::default(), half).expect("writes");
        let (loaded, _) = yolo_import::bpk::load(&path, &cpu()).expect("loads");
        assert_eq!(loaded.config(), model.config());
        assert_matches(&format!("{file} via bpk"), &loaded, reference);
    }
}

/// `bpk::write` streams the container itself (direct writes, header patched last): the file
/// must be exactly what burn-pack's own `Writer` makes of the same model and metadata, in
/// float32 and float16.
#[test]
fn burnpack_files_are_byte_for_byte_burn_packs_own() {
    use burn::store::burn_pack::{Bytes, DType, Reader, Tensor as PackTensor, Writer};
    use burn::store::ModuleSnapshot;

    let dir = std::env::temp_dir().join(format!("yolov3-bpk-bytes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let provenance = [("file".to_string(), "dp.pt".to_string())].into_iter().collect();
    for (file, half) in [("dp.pt", false), ("fp16.pt", true), ("v5tiny_dp.pt", false)] {
        let model = import(file, &PytorchOptions::default());
        let path = dir.join(format!("{file}.bpk"));
        yolo_import::bpk::write(&path, &model, &provenance, half).expect("writes");
        let ours = std::fs::read(&path).expect("reads");
        // The metadata (checksum included, which `bpk::load` checks against the tensors in
        // burnpack_round_trip_keeps_predictions) from our file; the tensors from the model.
        let metadata = Reader::from_file(&path).expect("burn-pack reads it").metadata().clone();
        let tensors = model
            .collect(None, None, false)
            .into_iter()
            .map(|t| {
                let bytes = t.to_bytes().expect("bytes");
                let (dtype, bytes) = if half {
                    let values: Vec<burn::tensor::f16> = bytes
                        .chunks_exact(4)
                        .map(|b| burn::tensor::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                        .collect();
                    (DType::F16, Bytes::from_elems(values))
                } else {
                    (DType::F32, bytes)
                };
                PackTensor::new(t.name.clone(), dtype, t.shape.clone(), None, bytes)
            })
            .collect();
        let mut writer = Writer::new(tensors);
        for (k, v) in &metadata {
            writer = writer.with_metadata(k, v);
        }
        let theirs = writer.into_bytes().expect("burn-pack writes");
        assert_eq!(ours.len(), theirs.len(), "{file}");
        assert!(ours == theirs[..], "{file}: bytes differ from burn-pack's Writer");
        assert!(yolo_import::bpk::load(&path, &cpu()).is_ok(), "{file}: checksum");
    }
    std::fs::remove_dir_all(&dir).expect("cleans up");
}

#[test]
fn yolov5_style_matrix_imports_with_no_flags() {
    for (file, reference, arch) in [
        ("v5tiny_dp.pt", "ref_v5tiny.npy", "yolov3-tiny"),
        ("v5tiny_ultralytics.pt", "ref_v5tiny_fp16.npy", "yolov3-tiny"),
        ("v5tiny_strip.pt", "ref_v5tiny_fp16.npy", "yolov3-tiny"),
        ("v5v3_strip.pt", "ref_v5v3_fp16.npy", "yolov3"),
    ] {
        let (model, report, _) = pytorch::import(&ckpt(file), &PytorchOptions::default(), &cpu()).expect(file);
        assert_eq!(report.dialect.dialect.name(), "yolov5", "{file}");
        assert!(
            report.architecture.contains(arch) && report.architecture.contains("SiLU"),
            "{file}: {}",
            report.architecture
        );
        assert_eq!(model.config().numerics.decode, yolo_model::DecodeStyle::Yolov5);
        assert_matches(file, &model, reference);
    }
}

#[test]
fn mmdet_checkpoints_import_with_no_flags() {
    for file in ["mmdet_ckpt.pt", "mmdet_dp.pt"] {
        let (model, report, _) = pytorch::import(&ckpt(file), &PytorchOptions::default(), &cpu()).expect(file);
        assert_eq!(report.dialect.dialect.name(), "mmdet", "{file}");
        assert!(report.architecture.contains("yolov3 topology"), "{file}: {}", report.architecture);
        assert_matches(file, &model, "ref_mmdet.npy");
    }
    let (_, report, _) = pytorch::import(&ckpt("mmdet_ckpt.pt"), &PytorchOptions::default(), &cpu()).expect("imports");
    assert_eq!(report.metadata.values.get("meta.epoch").map(String::as_str), Some("273"));
}

#[test]
fn key_and_allow_partial() {
    let options = PytorchOptions { key: Some("state_dict".into()), ..PytorchOptions::default() };
    assert_matches("trainer.pt --key state_dict", &import("trainer.pt", &options), "ref_pytorchyolo.npy");
    let options = PytorchOptions { key: Some("weights".into()), ..PytorchOptions::default() };
    let err = pytorch::import(&ckpt("trainer.pt"), &options, &cpu()).expect_err("no such entry");
    assert!(err.to_string().contains("--key weights") && err.to_string().contains("state_dict"), "{err}");

    // A checkpoint missing one layer's BatchNorm loads only when asked, and says what is missing.
    let cfg = ArchChoice::Cfg(import("dp.pt", &PytorchOptions::default()).config().spec.clone());
    let rule = RemapRule::parse(r"^module_list\.13\.batch_norm_13\.=dropped.").expect("rule");
    let strict = PytorchOptions { arch: cfg.clone(), remaps: vec![rule.clone()], ..PytorchOptions::default() };
    let err = pytorch::import(&ckpt("dp.pt"), &strict, &cpu()).expect_err("missing BN");
    assert!(err.to_string().contains("missing 4 key(s) under layers.13"), "{err}");
    let partial = PytorchOptions { allow_partial: true, ..strict };
    let (_, _, report) = pytorch::import(&ckpt("dp.pt"), &partial, &cpu()).expect("partial load");
    assert_eq!(report.missing.len(), 4);
}

#[test]
fn folded_batchnorm_keeps_predictions() {
    for (file, reference) in
        [("dp.pt", "ref_pytorchyolo.npy"), ("v5v3_strip.pt", "ref_v5v3_fp16.npy"), ("mmdet_ckpt.pt", "ref_mmdet.npy")]
    {
        let folded = import(file, &PytorchOptions::default()).fold_batchnorm();
        assert!(!folded.has_batchnorm());
        assert_matches(&format!("{file} folded"), &folded, reference);
    }
}

/// Every parameter of `model` as its stored bytes, by name.
fn parameters(model: &Yolo) -> std::collections::BTreeMap<String, Vec<u8>> {
    use burn::store::ModuleSnapshot;
    model
        .collect(None, None, false)
        .into_iter()
        .map(|t| (t.name.clone(), t.to_bytes().expect("readable").to_vec()))
        .collect()
}

#[test]
fn a_mapped_checkpoint_gives_the_weights_a_read_gives() {
    // `yolov3 import` maps the file (PytorchOptions::map_file); f32 files take the mapped
    // path, fp16 files fall back to reads; either way the weights are bit for bit the same.
    for file in ["dp.pt", "trainer.pt", "archive_dp.pt", "fp16.pt", "legacy.pt"] {
        let read = import(file, &PytorchOptions::default());
        let mapped = import(file, &PytorchOptions { map_file: true, ..PytorchOptions::default() });
        assert_eq!(parameters(&read), parameters(&mapped), "{file}");
    }
    // And the mapped model computes what PyTorch computed.
    let mapped = import("dp.pt", &PytorchOptions { map_file: true, ..PytorchOptions::default() });
    assert_matches("dp.pt (mapped)", &mapped, "ref_pytorchyolo.npy");
}

/// Set in the child process of [`a_checkpoint_truncated_while_mapped_is_an_error_not_a_crash`].
const SIGBUS_CHILD: &str = "YOLOV3_TEST_SIGBUS_CHILD_DIR";

#[test]
#[ignore = "child process of a_checkpoint_truncated_while_mapped_is_an_error_not_a_crash, which runs it"]
fn sigbus_child() {
    // Runs only as the child of the test below: imports a mapped copy of a checkpoint, truncates
    // the copy, then writes the burnpack, whose first tensor read faults in the map.
    let Some(dir) = std::env::var_os(SIGBUS_CHILD).map(PathBuf::from) else { return };
    let checkpoint = dir.join("in/dp.pt");
    let output = dir.join("out/model.bpk");
    let _guard = yolo_cli::sigbus::install(&checkpoint, Some(&yolo_import::bpk::temp_path(&output)));
    let options = PytorchOptions { map_file: true, ..PytorchOptions::default() };
    let (model, _, _) = pytorch::import(&checkpoint, &options, &cpu()).expect("imports");
    std::fs::File::options().write(true).open(&checkpoint).and_then(|f| f.set_len(0)).expect("truncates");
    let written = yolo_import::bpk::write(&output, &model, &Default::default(), false);
    panic!("the write must fault in the truncated map, not return {written:?}");
}

/// Set in the child process of [`a_sigbus_from_elsewhere_keeps_its_default_action`].
const FOREIGN_SIGBUS_CHILD: &str = "YOLOV3_TEST_FOREIGN_SIGBUS_CHILD";

#[test]
#[ignore = "child process of a_sigbus_from_elsewhere_keeps_its_default_action, which runs it"]
fn foreign_sigbus_child() {
    // Runs only as the child of the test below: a SIGBUS that is no fault in the checkpoint's
    // map, sent while the guard is installed.
    if std::env::var_os(FOREIGN_SIGBUS_CHILD).is_none() {
        return;
    }
    let _guard = yolo_cli::sigbus::install(&ckpt("dp.pt"), None);
    // A live map, so the guard has a range to claim faults in (the fixture is only read).
    let options = PytorchOptions { map_file: true, ..PytorchOptions::default() };
    let _model = pytorch::import(&ckpt("dp.pt"), &options, &cpu()).expect("imports");
    assert!(pytorch::mapped_range().is_some());
    // Sent twice: the guard hands a foreign SIGBUS to the disposition it replaced, which in a
    // Rust program is the runtime's stack-guard handler; that one resets to the default action
    // and swallows a signal that was sent rather than faulted, with or without the guard. The
    // second one meets the default action.
    let pid = std::process::id().to_string();
    for _ in 0..2 {
        let _ = std::process::Command::new("kill").args(["-BUS", &pid]).status();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    std::thread::sleep(std::time::Duration::from_secs(5));
    panic!("a SIGBUS with the default action must end the process");
}

#[test]
fn a_sigbus_from_elsewhere_keeps_its_default_action() {
    use std::os::unix::process::ExitStatusExt as _;
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "import::foreign_sigbus_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(FOREIGN_SIGBUS_CHILD, "1")
        .output()
        .expect("runs the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(7), "killed by SIGBUS (7), not claimed: {:?}\n{stderr}", out.status);
    assert!(!stderr.contains("shrank while it was being imported"), "{stderr}");
}

#[test]
fn a_checkpoint_truncated_while_mapped_is_an_error_not_a_crash() {
    let dir = crate::cli::temp_dir("sigbus");
    std::fs::create_dir_all(dir.join("in")).expect("dir");
    std::fs::create_dir_all(dir.join("out")).expect("dir");
    std::fs::copy(ckpt("dp.pt"), dir.join("in/dp.pt")).expect("copies the fixture");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "import::sigbus_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(SIGBUS_CHILD, &dir)
        .output()
        .expect("runs the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status 1, not a signal: {:?}\n{stderr}", out.status);
    assert!(stderr.contains("dp.pt shrank while it was being imported"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.join("out")).expect("out dir").collect();
    assert!(left.is_empty(), "the temporary output is removed: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
