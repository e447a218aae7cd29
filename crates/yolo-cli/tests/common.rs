//! Shared helpers: paths, the bundled model, devices.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `yolov3` binary, run from the repository root with the fixed CPU kernel rules: the
/// tests' numbers must not depend on what this machine measured (`cpu_kernels.rs` tests the
/// measured mode itself).
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yolov3"));
    command.current_dir(root()).env("YOLOV3_CPU_KERNELS", "fixed");
    command
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// Whether wgpu tests must run: `.ci/run` sets `YOLOV3_REQUIRE_WGPU=1` after installing
/// lavapipe, so there a missing adapter fails the suite. Elsewhere (a fresh machine without a
/// Vulkan driver) the wgpu tests say loudly that they did not run, and pass.
pub fn wgpu_available(test: &str) -> bool {
    match yolo::device::select(yolo::DeviceChoice::Wgpu) {
        Ok(_) => true,
        Err(e) if std::env::var_os("YOLOV3_REQUIRE_WGPU").is_some_and(|v| v == "1") => {
            panic!("YOLOV3_REQUIRE_WGPU=1 but wgpu is not available (install mesa-vulkan-drivers): {e}")
        }
        Err(e) => {
            eprintln!(
                "\n*** {test}: NOT RUN: wgpu is not available ({e}). Install mesa-vulkan-drivers to run it; \
                 .ci/run sets YOLOV3_REQUIRE_WGPU=1 to make it mandatory. ***\n"
            );
            false
        }
    }
}

pub fn cpu() -> Device {
    Device::flex()
}
