//! A .bpk file (burnpack: header, cfg text, numerics, tensors) through our loader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("yolov3-fuzz-{}.bpk", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = yolo_import::bpk::load(&path, &burn::tensor::Device::flex());
});
