//! Image probing and decoding (JPEG/PNG, EXIF, the truncation check, size limits).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = yolo::jpeg::check_complete(data);
    let path = std::env::temp_dir().join(format!("yolov3-fuzz-{}.img", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if yolo::image_io::probe(&path).is_ok() {
        if let Ok(image) = yolo::image_io::load(&path) {
            let _ = yolo::image_io::to_planar(&image);
        }
    }
});
