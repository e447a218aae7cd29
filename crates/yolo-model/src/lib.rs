//! The YOLOv3 family (YOLOv3, YOLOv3-tiny, YOLOv3-SPP, and any darknet cfg built from the same
//! layer types) as burn 0.22 modules.
//!
//! No IO happens here: a cfg arrives as text, weights arrive through the importer crate, and
//! the backend is whatever [`burn::tensor::Device`] the caller passes.
//!
//! - [`cfg`]: darknet cfg text -> validated [`cfg::NetworkSpec`];
//! - [`config`]: architecture + per-framework numerics ([`Numerics`]);
//! - [`Yolo`]: the network; `forward` returns decoded predictions computed on the device;
//! - `cpu`: the fused convolution kernel used on the Flex (CPU) backend;
//! - [`postprocess`]: thresholding and per-class NMS on the host.

pub mod cfg;
pub mod config;
pub mod conv_block;
pub mod cpu;
pub mod decode;
pub mod fold;
pub mod network;
pub mod ops;
pub mod postprocess;
pub mod shapes;

pub use config::{Arch, DecodeStyle, Numerics, PadFill, YoloConfig};
pub use network::{InputError, Yolo};
pub use postprocess::{detect, Detection, PostprocessConfig};
