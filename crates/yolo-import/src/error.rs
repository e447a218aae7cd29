//! Import errors: each names the file and the exact place that does not fit.

use std::path::PathBuf;

/// Why weights could not be turned into a model.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: refusing a {what} larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, what: &'static str, limit: u64 },
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error(transparent)]
    Darknet(Box<DarknetError>),
    #[error(transparent)]
    Pytorch(Box<PytorchError>),
    #[error(transparent)]
    Burnpack(Box<BurnpackError>),
    #[error("{}", mismatch_message(.0))]
    Mismatch(Box<crate::report::ApplyReport>),
    /// An error of the checkpoint at `path` whose own message does not name the file. The
    /// message carries the inner one (so `to_string()` says it all) and `source()` is that
    /// error too, typed, with its own causes behind it.
    #[error("{path}: {error}")]
    InFile {
        path: String,
        #[source]
        error: Box<ImportError>,
    },
}

impl ImportError {
    /// Names the file the error is about, unless the message already does.
    pub fn in_file(self, path: &std::path::Path) -> ImportError {
        let path = path.display().to_string();
        if matches!(self, ImportError::InFile { .. }) || self.to_string().contains(&path) {
            return self;
        }
        ImportError::InFile { path, error: Box::new(self) }
    }
}

// Boxed so that `Result<_, ImportError>` stays small on the happy path.
impl From<DarknetError> for ImportError {
    fn from(e: DarknetError) -> Self {
        Self::Darknet(Box::new(e))
    }
}

impl From<PytorchError> for ImportError {
    fn from(e: PytorchError) -> Self {
        Self::Pytorch(Box::new(e))
    }
}

impl From<BurnpackError> for ImportError {
    fn from(e: BurnpackError) -> Self {
        Self::Burnpack(Box::new(e))
    }
}

fn mismatch_message(report: &crate::report::ApplyReport) -> String {
    format!("the weights do not fit the architecture:\n{}", report.problems())
}

/// A darknet `.weights` file that does not fit its cfg.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DarknetError {
    #[error("{path}: {len} bytes is too short for a darknet header (16 or 20 bytes)")]
    Header { path: String, len: usize },
    #[error("{path}: header says version {major}.{minor}.{revision}, which is not a darknet weights file")]
    Version { path: String, major: i32, minor: i32, revision: i32 },
    #[error("{path}: {payload} bytes of weights after the header is not a whole number of float32 values")]
    Ragged { path: String, payload: usize },
    #[error(
        "{path}: the weights end inside layer {layer} (conv {conv_index} of {convs}): it needs {needed} floats, \
         {available} are left; the cfg expects {expected_total} floats in all, the file has {file_total}"
    )]
    EndsInsideLayer {
        path: String,
        layer: usize,
        conv_index: usize,
        convs: usize,
        needed: usize,
        available: usize,
        expected_total: usize,
        file_total: usize,
    },
    #[error(
        "{path}: the weights stop after layer {last_layer} ({loaded} of {convs} convs loaded; {expected_total} floats \
         expected, {file_total} found): a backbone-only prefix such as darknet53.conv.74 cannot run detection"
    )]
    Prefix { path: String, last_layer: usize, loaded: usize, convs: usize, expected_total: usize, file_total: usize },
    #[error(
        "{path}: {extra} floats are left after the last layer (cfg expects {expected_total}, file has {file_total}): \
         the weights are for a bigger network than the cfg describes"
    )]
    TooLong { path: String, extra: usize, expected_total: usize, file_total: usize },
    #[error("{path}: {tensor} holds {what} value {value} at index {index}: the weights are unusable")]
    BadValue { path: String, tensor: String, what: &'static str, value: String, index: usize },
}

/// A PyTorch checkpoint that cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum PytorchError {
    #[error("cannot read {path} as a PyTorch checkpoint")]
    Read {
        path: String,
        #[source]
        source: burn::store::pytorch_reader::PytorchError,
    },
    #[error("{path}: --key {key} is not a top-level entry holding tensors (top-level entries: {available:?})")]
    KeyNotFound { path: String, key: String, available: Vec<String> },
    #[error("{path}: no weight tensors found{}", entry.as_ref().map_or(String::new(), |e| format!(" under `{e}`")))]
    NoWeights { path: String, entry: Option<String> },
    #[error("cannot read tensor {key}")]
    Tensor {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("tensor {key} has dtype {dtype:?}; weights must be floating point")]
    DType { key: String, dtype: String },
    #[error("tensor {key} holds {what} value {value} at index {index}: the weights are unusable")]
    BadValue { key: String, what: &'static str, value: f32, index: usize },
    #[error("bad --remap rule `{rule}`: {reason}")]
    Remap { rule: String, reason: String },
    #[error("cannot infer the architecture: {0}; pass --cfg PATH or --arch")]
    Architecture(String),
    #[error("--classes {given} disagrees with the checkpoint's head, which has {found} classes")]
    Classes { given: usize, found: usize },
    #[error("the checkpoint's weights do not map onto the network:\n{0}")]
    Unmapped(String),
    #[error(
        "{path} would run code under torch.load(weights_only=False): its pickle imports {} (nothing was \
         executed; `yolov3 inspect` lists every global). To load its tensors anyway, still without running \
         anything, pass --ignore-pickle-code",
        globals.join(", ")
    )]
    DangerousPickle { path: String, globals: Vec<String> },
    #[error("cannot scan the pickle of {path}")]
    Scan {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A converted `.bpk` file that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BurnpackError {
    #[error("cannot read burnpack {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} was not written by `yolov3 import` (no `{key}` metadata)")]
    NotOurs { path: String, key: &'static str },
    #[error("{path}: stored cfg is invalid: {source}")]
    Cfg {
        path: String,
        #[source]
        source: Box<yolo_model::cfg::CfgError>,
    },
    #[error("cannot write burnpack {path}: {message}")]
    Write { path: String, message: String },
}
