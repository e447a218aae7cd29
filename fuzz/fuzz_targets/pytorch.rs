//! A checkpoint file (zip + pickle + tensor views) through our own import entry point.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("yolov3-fuzz-{}.pt", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let options = yolo_import::pytorch::PytorchOptions { ignore_pickle_code: true, ..Default::default() };
    let _ = yolo_import::pytorch::scan::scan_file(&path);
    let _ = yolo_import::pytorch::analyse(&path, &options);
    let _ = yolo_import::pytorch::import(&path, &options, &burn::tensor::Device::flex());
});
