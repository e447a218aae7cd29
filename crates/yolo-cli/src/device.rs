//! The one place that picks a burn backend, from `--device`.
//!
//! An unavailable choice is an error, never a silent fallback. `auto` is wgpu only on a hardware
//! GPU: a software Vulkan driver (lavapipe) is an adapter too, but slower than the CPU backend.

use std::sync::OnceLock;

use anyhow::anyhow;
use burn::tensor::Device;

use crate::args::DeviceArg;

/// A ready device and a short description for messages.
#[derive(Debug, Clone)]
pub struct Selected {
    pub device: Device,
    pub name: String,
}

/// Resolves `--device`.
pub fn select(arg: DeviceArg) -> anyhow::Result<Selected> {
    match arg {
        DeviceArg::Cpu => Ok(Selected {
            device: Device::flex(),
            name: "cpu (flex)".into(),
        }),
        DeviceArg::Ndarray => ndarray(),
        DeviceArg::Wgpu => wgpu(),
        DeviceArg::Auto => match hardware_adapter() {
            Some(adapter) => wgpu().map(|s| Selected {
                name: format!("{} [auto: {adapter}]", s.name),
                ..s
            }),
            None => Ok(Selected {
                device: Device::flex(),
                name: "cpu (flex) [auto: no hardware GPU]".into(),
            }),
        },
    }
}

#[cfg(feature = "ndarray")]
fn ndarray() -> anyhow::Result<Selected> {
    #[allow(deprecated)]
    let device = Device::ndarray();
    Ok(Selected {
        device,
        name: "ndarray".into(),
    })
}

#[cfg(not(feature = "ndarray"))]
fn ndarray() -> anyhow::Result<Selected> {
    anyhow::bail!("--device ndarray is not compiled in: rebuild with `cargo build --release --features ndarray`")
}

/// The wgpu device, initialised once per process (burn refuses a second initialisation).
fn wgpu() -> anyhow::Result<Selected> {
    static WGPU: OnceLock<Result<Selected, String>> = OnceLock::new();
    WGPU.get_or_init(|| {
        let adapter = adapters().into_iter().next();
        let Some(info) = adapter else {
            return Err("no wgpu adapter found: install a Vulkan, Metal or DX12 driver (on Debian, \
                        `apt-get install mesa-vulkan-drivers` gives a CPU one), or use --device cpu"
                .into());
        };
        Device::wgpu_options()
            .init()
            .map(|device| Selected {
                device,
                name: format!("wgpu ({info})"),
            })
            .map_err(|e| format!("cannot initialise wgpu on {info}: {e}"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Descriptions of the adapters wgpu sees, hardware first.
fn adapters() -> Vec<String> {
    use burn::tensor::wgpu::wgpu;
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let mut found: Vec<(bool, String)> =
        block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .iter()
            .map(|a| {
                let info = a.get_info();
                let software = info.device_type == wgpu::DeviceType::Cpu;
                (
                    software,
                    format!(
                        "{} on {:?}, {:?}",
                        info.name, info.backend, info.device_type
                    ),
                )
            })
            .collect();
    found.sort_by_key(|(software, _)| *software);
    found.into_iter().map(|(_, d)| d).collect()
}

fn hardware_adapter() -> Option<String> {
    adapters().into_iter().find(|d| !d.ends_with("Cpu"))
}

/// Drives a future that native wgpu resolves without waiting (adapter enumeration).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut context) {
            return out;
        }
        std::thread::yield_now();
    }
}
