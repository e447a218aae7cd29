//! Shared helpers: paths, the bundled model, devices.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::tensor::Device;
use yolo_cli::args::DeviceArg;
use yolo_cli::weights::{self, LoadedModel};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// The wgpu device. CI installs lavapipe, so its absence is a failure, not a skip.
pub fn wgpu() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| match yolo_cli::device::select(DeviceArg::Wgpu) {
            Ok(selected) => selected.device,
            Err(e) => {
                panic!("wgpu must be available for the tests (install mesa-vulkan-drivers): {e:#}")
            }
        })
        .clone()
}

pub fn cpu() -> Device {
    Device::flex()
}

/// The bundled yolov3-tiny with darknet numerics on `device`, on the inference fast path
/// (BatchNorm folded), as `detect` runs it.
pub fn bundled_tiny(device: &Device) -> LoadedModel {
    weights::load(None, None, device).expect("the bundled weights load").for_inference()
}
