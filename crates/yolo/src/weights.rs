//! Resolving a weights file (and an optional darknet cfg) into a loaded model: darknet
//! `.weights`, PyTorch checkpoints (imported in memory) and converted `.bpk` files.

use std::io::Read as _;
use std::path::Path;

use burn::tensor::Device;
use yolo_import::pytorch::{self, ArchChoice, PytorchOptions};
use yolo_import::{bpk, darknet};
use yolo_model::{Arch, Yolo, YoloConfig};

use crate::error::{Error, Result};

/// The COCO yolov3-tiny darknet weights shipped in `weights/` (see NOTICES.md), compiled in so
/// that detection works from any directory, offline.
pub const BUNDLED_TINY: &[u8] = include_bytes!("../../../weights/yolov3-tiny.weights");

/// The file formats a weights path may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// darknet `.weights` (with a cfg, or a built-in architecture matched by size).
    Darknet,
    /// A PyTorch checkpoint: zip (`torch.save` since 1.6) or legacy pickle.
    Pytorch,
    /// A burnpack written by `yolov3 import` (weights, cfg and numerics in one file).
    Burnpack,
}

impl Format {
    /// `darknet weights`, `PyTorch checkpoint`, `burnpack`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Darknet => "darknet weights",
            Self::Pytorch => "PyTorch checkpoint",
            Self::Burnpack => "burnpack",
        }
    }
}

/// Tells the format from the file's first bytes, then its extension.
pub fn sniff(path: &Path) -> Result<Format> {
    let mut head = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = file.read(&mut head).map_err(|e| Error::io(path, e))?;
    let head = &head[..n];
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    Ok(if head.starts_with(b"PK\x03\x04") || head.first() == Some(&0x80) {
        Format::Pytorch
    } else if head == 0x4255_524E_u32.to_le_bytes() || head == 0x4255_524E_u32.to_be_bytes() || ext == "bpk" {
        Format::Burnpack
    } else if matches!(ext.as_str(), "pt" | "pth" | "ckpt" | "tar") {
        Format::Pytorch
    } else {
        Format::Darknet
    })
}

/// A ready model and what it is.
#[derive(Debug)]
pub struct LoadedModel {
    /// The network with its weights.
    pub model: Yolo,
    /// Where the architecture came from (`builtin:yolov3-tiny`, a cfg path, ...).
    pub architecture: String,
    /// The weights file, or `bundled yolov3-tiny.weights`.
    pub source: String,
    /// The weights file's format.
    pub format: Format,
    /// Number of tensors loaded.
    pub tensors: usize,
}

impl LoadedModel {
    /// The inference fast path: BatchNorm folded into the convolutions.
    pub fn for_inference(self) -> LoadedModel {
        LoadedModel { model: self.model.fold_batchnorm(), ..self }
    }
}

/// Loads `weights` (default: the bundled tiny) with `cfg` (default: inferred); a checkpoint whose
/// pickle names dangerous code is refused.
pub fn load(weights: Option<&Path>, cfg: Option<&Path>, device: &Device) -> Result<LoadedModel> {
    load_with(weights, cfg, device, false)
}

/// [`load`], optionally loading the tensors of a checkpoint whose pickle names dangerous code
/// (nothing in it is executed either way).
pub fn load_with(
    weights: Option<&Path>,
    cfg: Option<&Path>,
    device: &Device,
    ignore_pickle_code: bool,
) -> Result<LoadedModel> {
    let cfg_config = cfg.map(read_cfg).transpose()?;
    let Some(path) = weights else {
        return load_darknet("bundled yolov3-tiny.weights", BUNDLED_TINY, cfg_config, device);
    };
    let source = path.display().to_string();
    match sniff(path)? {
        Format::Darknet => {
            let bytes = yolo_import::read_file(path)?;
            load_darknet(&source, &bytes, cfg_config, device)
        }
        Format::Pytorch => {
            let arch = match cfg_config {
                Some((config, _)) => ArchChoice::Cfg(config.spec),
                None => ArchChoice::Auto,
            };
            let options = PytorchOptions { arch, ignore_pickle_code, ..PytorchOptions::default() };
            let (model, report, apply) = pytorch::import(path, &options, device)?;
            let architecture = format!("{} ({}, {})", report.architecture, report.dialect.dialect.name(), source);
            Ok(LoadedModel { model, architecture, source, format: Format::Pytorch, tensors: apply.applied })
        }
        Format::Burnpack => {
            if cfg.is_some() {
                return Err(Error::CfgForBurnpack(source));
            }
            let (model, info) = bpk::load(path, device)?;
            Ok(LoadedModel {
                model,
                architecture: format!("stored in {source}"),
                source,
                format: Format::Burnpack,
                tensors: info.apply.applied,
            })
        }
    }
}

/// Reads and validates a darknet cfg file.
pub fn read_cfg(path: &Path) -> Result<(YoloConfig, String)> {
    let text = yolo_import::read_text(path, "cfg")?;
    let name = path.display().to_string();
    Ok((YoloConfig::from_cfg(&name, &text)?, name))
}

fn load_darknet(source: &str, bytes: &[u8], cfg: Option<(YoloConfig, String)>, device: &Device) -> Result<LoadedModel> {
    let (config, architecture) = match cfg {
        Some(c) => c,
        None => {
            let arch = infer_arch(source, bytes)?;
            (YoloConfig::builtin(arch), format!("builtin:{}", arch.name()))
        }
    };
    let imported = yolo_import::load_darknet_bytes(source, bytes, config, device)?;
    Ok(LoadedModel {
        model: imported.model,
        architecture,
        source: source.to_string(),
        format: Format::Darknet,
        tensors: imported.report.apply.applied,
    })
}

/// Picks the built-in architecture whose darknet parameter count equals the file's.
fn infer_arch(source: &str, bytes: &[u8]) -> Result<Arch> {
    let (_, floats) = darknet::payload_floats(source, bytes).map_err(yolo_import::ImportError::from)?;
    Arch::ALL
        .into_iter()
        .find(|a| darknet::expected_floats(&a.spec()) == floats)
        .ok_or_else(|| Error::UnknownDarknetSize { source_name: source.to_string(), floats })
}
