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
pub mod values;

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

/// The largest weights file read whole (darknet `.weights`; yolov3-spp's is 252 MB).
pub const MAX_WEIGHTS_FILE: u64 = 1 << 30;
/// The largest text file read (cfg, names, remap rules: a few kB in practice).
pub const MAX_TEXT_FILE: u64 = 16 << 20;

/// Reads a whole weights file (at most [`MAX_WEIGHTS_FILE`]), with the path in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ImportError> {
    read_limited(path, MAX_WEIGHTS_FILE, "weights file")
}

/// Reads a regular file of at most `limit` bytes: a directory, a device (`/dev/zero`) or a
/// file over the limit is an error before anything big is allocated.
pub fn read_limited(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ImportError> {
    use std::io::Read as _;
    let io = |source| ImportError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ImportError::NotAFile { path: path.to_path_buf() });
    }
    if meta.len() > limit {
        return Err(ImportError::TooLarge { path: path.to_path_buf(), what, limit });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ImportError::TooLarge { path: path.to_path_buf(), what, limit });
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file of at most [`MAX_TEXT_FILE`] bytes; a leading byte-order mark is
/// dropped.
pub fn read_text(path: &Path, what: &'static str) -> Result<String, ImportError> {
    let bytes = read_limited(path, MAX_TEXT_FILE, what)?;
    let text = String::from_utf8(bytes).map_err(|e| ImportError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text ({e})")),
    })?;
    Ok(text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text))
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
