//! The one place that picks a burn backend, from `--device`.
//!
//! An unavailable choice is an error, never a silent fallback. `auto` is wgpu only on a hardware
//! GPU: a software Vulkan driver (lavapipe) is an adapter too, but slower than the CPU backend.

use std::sync::OnceLock;

use anyhow::anyhow;
use burn::tensor::wgpu::WgpuBackend;
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
        DeviceArg::Cpu => Ok(Selected { device: Device::flex(), name: "cpu (flex)".into() }),
        DeviceArg::Ndarray => ndarray(),
        DeviceArg::Wgpu => wgpu(),
        DeviceArg::Auto => match hardware_adapter() {
            Some(adapter) => wgpu().map(|s| Selected { name: format!("{} [auto: {adapter}]", s.name), ..s }),
            None => Ok(Selected { device: Device::flex(), name: "cpu (flex) [auto: no hardware GPU]".into() }),
        },
    }
}

#[cfg(feature = "ndarray")]
fn ndarray() -> anyhow::Result<Selected> {
    #[allow(deprecated)]
    let device = Device::ndarray();
    Ok(Selected { device, name: "ndarray".into() })
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
        let Some(Adapter { description: info, api, .. }) = adapter else {
            return Err("no wgpu adapter found: install a Vulkan, Metal or DX12 driver (on Debian, \
                        `apt-get install mesa-vulkan-drivers` gives a CPU one), or use --device cpu"
                .into());
        };
        // Pin the API of the adapter found, so burn does not probe the others (GL/EGL prints
        // wayland noise on headless machines).
        Device::wgpu_options()
            .graphics_api(api)
            .init()
            .map(|device| Selected { device, name: format!("wgpu ({info})") })
            .map_err(|e| format!("cannot initialise wgpu on {info}: {e}"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// A wgpu adapter as found by enumeration.
struct Adapter {
    description: String,
    software: bool,
    api: WgpuBackend,
}

/// The adapters wgpu sees on the primary APIs (Vulkan, Metal, DX12), hardware first.
fn adapters() -> Vec<Adapter> {
    use burn::tensor::wgpu::wgpu;
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends &= wgpu::Backends::PRIMARY;
    let instance = wgpu::Instance::new(descriptor);
    let mut found: Vec<Adapter> = block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
        .iter()
        .map(|a| {
            let info = a.get_info();
            let api = match info.backend {
                wgpu::Backend::Vulkan => WgpuBackend::Vulkan,
                wgpu::Backend::Metal => WgpuBackend::Metal,
                wgpu::Backend::Dx12 => WgpuBackend::Dx12,
                _ => WgpuBackend::Auto,
            };
            Adapter {
                description: format!("{} on {:?}, {:?}", info.name, info.backend, info.device_type),
                software: info.device_type == wgpu::DeviceType::Cpu,
                api,
            }
        })
        .collect();
    found.sort_by_key(|a| a.software);
    found
}

fn hardware_adapter() -> Option<String> {
    adapters().into_iter().find(|a| !a.software).map(|a| a.description)
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
