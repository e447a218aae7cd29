//! Weights from elsewhere -> a [`yolo_model::Yolo`], with a report of what was done.
//!
//! - [`darknet`]: darknet `.weights` files;
//! - [`report`]: the one apply-and-report path every format goes through;
//! - [`names`]: the native weight names, spelled once.

pub mod bpk;
pub mod darknet;
pub mod error;
pub mod names;
pub mod pytorch;
pub mod report;

use std::path::Path;

use burn::tensor::Device;
use yolo_model::{Yolo, YoloConfig};

pub use darknet::{DarknetHeader, DarknetWeights};
pub use error::{BurnpackError, DarknetError, ImportError, PytorchError};
pub use report::{ApplyReport, ShapeMismatch};

/// A model with its weights loaded, and how that went.
#[derive(Debug)]
pub struct Imported {
    pub model: Yolo,
    pub report: ImportReport,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub source: String,
    /// The darknet header, for `.weights` files.
    pub darknet: Option<DarknetHeader>,
    pub apply: ApplyReport,
}

/// Reads a whole file, with the path in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path).map_err(|source| ImportError::Io { path: path.to_path_buf(), source })
}

/// Loads a darknet `.weights` file for `config` (darknet numerics belong in `config`).
pub fn load_darknet(path: &Path, config: YoloConfig, device: &Device) -> Result<Imported, ImportError> {
    let bytes = read_file(path)?;
    load_darknet_bytes(&path.display().to_string(), &bytes, config, device)
}

/// Loads darknet weights held in memory; `source` names them in messages and the report.
pub fn load_darknet_bytes(
    source: &str,
    bytes: &[u8],
    config: YoloConfig,
    device: &Device,
) -> Result<Imported, ImportError> {
    let source = source.to_string();
    let weights = darknet::read_weights(&source, bytes, &config.spec)?;
    let mut model = Yolo::for_loading(config, device);
    let apply = report::apply(&mut model, weights.tensors, Vec::new(), &|_| Vec::new(), false)?;
    Ok(Imported { model, report: ImportReport { source, darknet: Some(weights.header), apply } })
}
