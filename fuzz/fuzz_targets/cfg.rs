//! darknet cfg text -> a validated spec, then a model built from it: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = yolo_model::YoloConfig::from_cfg("fuzz.cfg", text) {
        // Building allocates per the spec: keep the fuzzer to small networks.
        let params: usize = config.spec.out_channels.iter().sum();
        if params < 4096 && config.spec.layers.len() < 64 {
            let device = burn::tensor::Device::flex();
            let model = yolo_model::Yolo::new(config, &device);
            let spec = &model.config().spec;
            let size = spec.max_stride.min(256);
            let _ = model.check_input([1, spec.channels, size, size]);
        }
    }
});
