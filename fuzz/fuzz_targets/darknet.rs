//! darknet .weights bytes against the built-in tiny cfg: typed errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = yolo_model::Arch::Yolov3Tiny.spec();
    let _ = yolo_import::darknet::payload_floats("fuzz.weights", data);
    let _ = yolo_import::darknet::read_weights("fuzz.weights", data, &spec);
});
