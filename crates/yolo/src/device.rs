//! The one place that picks a burn backend.
//!
//! An unavailable choice is an error, never a silent fallback. `Auto` is wgpu only on a hardware
//! GPU: a software Vulkan driver (lavapipe) is an adapter too, but slower than the CPU backend.
//! Adapters are enumerated only when a choice needs them (`Auto`, `Wgpu`, [`adapters`]), so a
//! CPU run never touches the GPU stack.

use std::sync::OnceLock;

use burn::tensor::Device;
#[cfg(feature = "wgpu")]
use burn::tensor::wgpu::WgpuBackend;

/// Where the network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A hardware GPU through wgpu when one exists, else the CPU.
    #[default]
    Auto,
    /// burn's flex backend (pure Rust CPU, with this workspace's convolution kernels).
    Cpu,
    /// burn's wgpu backend (Vulkan/Metal/DX12; a software Vulkan driver counts).
    Wgpu,
    /// burn's ndarray CPU backend (needs this crate's `ndarray` feature).
    Ndarray,
}

/// Why a device choice cannot be honoured.
#[allow(missing_docs)] // the messages say it
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("the ndarray backend is not compiled in: rebuild with the `ndarray` cargo feature")]
    NdarrayNotCompiled,
    #[error("the wgpu backend is not compiled in: rebuild with the `wgpu` cargo feature (on by default)")]
    WgpuNotCompiled,
    #[error(
        "no wgpu adapter found: install a Vulkan, Metal or DX12 driver (on Debian, `apt-get install \
         mesa-vulkan-drivers` gives a CPU one), or use the cpu device"
    )]
    NoAdapter,
    #[error("cannot initialise wgpu on {adapter}: {message}")]
    Init { adapter: String, message: String },
}

/// A ready device and a short description for messages.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    /// The burn device tensors are created on.
    pub device: Device,
    /// `cpu (flex)`, `wgpu (NVIDIA ... on Vulkan, DiscreteGpu)`, ...
    pub name: String,
    /// Why `Auto` chose it (`None` for an explicit choice).
    pub reason: Option<String>,
}

/// Resolves a device choice.
pub fn select(choice: DeviceChoice) -> Result<SelectedDevice, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu(None)),
        DeviceChoice::Ndarray => ndarray(),
        DeviceChoice::Wgpu => wgpu(),
        DeviceChoice::Auto => match adapters().into_iter().find(|a| a.kind != AdapterKind::Software) {
            Some(adapter) => wgpu()
                .map(|s| SelectedDevice { reason: Some(format!("hardware GPU found: {}", adapter.describe())), ..s }),
            None => Ok(cpu(Some(auto_cpu_reason()))),
        },
    }
}

/// Why `Auto` picks the CPU on this machine.
fn auto_cpu_reason() -> String {
    let found = adapters();
    if found.is_empty() {
        "no wgpu adapter found".into()
    } else {
        let names: Vec<String> = found.iter().map(Adapter::describe).collect();
        format!("only software adapters ({}), slower than the CPU backend", names.join("; "))
    }
}

fn cpu(reason: Option<String>) -> SelectedDevice {
    SelectedDevice { device: Device::flex(), name: "cpu (flex)".into(), reason }
}

#[cfg(feature = "ndarray")]
fn ndarray() -> Result<SelectedDevice, DeviceError> {
    #[allow(deprecated)]
    let device = Device::ndarray();
    Ok(SelectedDevice { device, name: "ndarray".into(), reason: None })
}

#[cfg(not(feature = "ndarray"))]
fn ndarray() -> Result<SelectedDevice, DeviceError> {
    Err(DeviceError::NdarrayNotCompiled)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<SelectedDevice, DeviceError> {
    Err(DeviceError::WgpuNotCompiled)
}

/// The wgpu device, initialised once per process (burn refuses a second initialisation).
#[cfg(feature = "wgpu")]
fn wgpu() -> Result<SelectedDevice, DeviceError> {
    static WGPU: OnceLock<Result<SelectedDevice, DeviceError>> = OnceLock::new();
    WGPU.get_or_init(|| {
        let adapter = adapters().into_iter().next().ok_or(DeviceError::NoAdapter)?;
        let description = adapter.describe();
        crate::gpu_cache::configure(&adapter.name, &adapter.driver);
        // Pin the API of the adapter found, so burn does not probe the others (GL/EGL prints
        // wayland noise on headless machines).
        Device::wgpu_options()
            .graphics_api(adapter.api)
            .init()
            .map(|device| SelectedDevice { device, name: format!("wgpu ({description})"), reason: None })
            .map_err(|e| DeviceError::Init { adapter: description, message: e.to_string() })
    })
    .clone()
}

/// What kind of processor a wgpu adapter drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// A GPU of its own.
    Discrete,
    /// A GPU sharing the CPU's memory.
    Integrated,
    /// A GPU passed through a hypervisor.
    Virtual,
    /// A software rasteriser on the CPU (lavapipe, SwiftShader, WARP).
    Software,
    /// What the driver did not say.
    Other,
}

impl AdapterKind {
    /// `discrete`, `integrated`, `virtual`, `software`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Discrete => "discrete",
            Self::Integrated => "integrated",
            Self::Virtual => "virtual",
            Self::Software => "software",
            Self::Other => "other",
        }
    }
}

/// A wgpu adapter as found by enumeration.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// The adapter's name (`NVIDIA H200`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub name: String,
    /// `Vulkan`, `Metal` or `Dx12`.
    pub backend: String,
    /// What it is.
    pub kind: AdapterKind,
    /// The driver's own description (Mesa version, ...).
    pub driver: String,
    #[cfg(feature = "wgpu")]
    api: WgpuBackend,
}

impl Adapter {
    /// `name on Backend, kind`.
    pub fn describe(&self) -> String {
        format!("{} on {}, {}", self.name, self.backend, self.kind.name())
    }
}

/// The adapters wgpu sees on the primary APIs (Vulkan, Metal, DX12), hardware first. Enumerated
/// once per process, without a display handle (no window system is probed).
pub fn adapters() -> Vec<Adapter> {
    static ADAPTERS: OnceLock<Vec<Adapter>> = OnceLock::new();
    ADAPTERS.get_or_init(enumerate).clone()
}

#[cfg(not(feature = "wgpu"))]
fn enumerate() -> Vec<Adapter> {
    Vec::new()
}

#[cfg(feature = "wgpu")]
fn enumerate() -> Vec<Adapter> {
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
            let kind = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => AdapterKind::Discrete,
                wgpu::DeviceType::IntegratedGpu => AdapterKind::Integrated,
                wgpu::DeviceType::VirtualGpu => AdapterKind::Virtual,
                wgpu::DeviceType::Cpu => AdapterKind::Software,
                wgpu::DeviceType::Other => AdapterKind::Other,
            };
            let driver = [info.driver.as_str(), info.driver_info.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Adapter { name: info.name.clone(), backend: format!("{:?}", info.backend), kind, driver, api }
        })
        .collect();
    found.sort_by_key(|a| a.kind == AdapterKind::Software);
    found
}

/// Drives a future that native wgpu resolves without waiting (adapter enumeration).
#[cfg(feature = "wgpu")]
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

/// The host CPU as the CPU backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuInfo {
    /// `model name` from `/proc/cpuinfo` (or the architecture where that is not readable).
    pub model: String,
    /// Vendor, family, model and stepping (`GenuineIntel family 6 model 143 stepping 8`) where
    /// `/proc/cpuinfo` has them: virtual machines often report a generic model name.
    pub signature: Option<String>,
    /// Worker threads of the CPU kernels (`RAYON_NUM_THREADS`, else one per core).
    pub threads: usize,
    /// The instruction set the kernels dispatch to at run time: `avx512`, `avx2+fma`, `baseline`.
    pub simd: &'static str,
}

/// Describes the host CPU.
pub fn cpu_info() -> CpuInfo {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // The first processor's block.
    let field = |name: &str| {
        text.lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
    };
    let model = field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let signature = match (field("vendor_id"), field("cpu family"), field("model"), field("stepping")) {
        (Some(vendor), Some(family), Some(number), Some(stepping)) => {
            Some(format!("{vendor} family {family} model {number} stepping {stepping}"))
        }
        _ => None,
    };
    CpuInfo { model, signature, threads: yolo_model::cpu::threads(), simd: yolo_model::cpu::simd_level() }
}
