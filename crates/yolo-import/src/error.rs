//! Import errors: each names the file and the exact place that does not fit.

use std::path::PathBuf;

/// Why weights could not be turned into a model.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Darknet(#[from] DarknetError),
    #[error("{}", mismatch_message(.0))]
    Mismatch(Box<crate::report::ApplyReport>),
}

fn mismatch_message(report: &crate::report::ApplyReport) -> String {
    format!(
        "the weights do not fit the architecture:\n{}",
        report.problems()
    )
}

/// A darknet `.weights` file that does not fit its cfg.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DarknetError {
    #[error("{path}: {len} bytes is too short for a darknet header (16 or 20 bytes)")]
    Header { path: String, len: usize },
    #[error("{path}: header says version {major}.{minor}.{revision}, which is not a darknet weights file")]
    Version {
        path: String,
        major: i32,
        minor: i32,
        revision: i32,
    },
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
    Prefix {
        path: String,
        last_layer: usize,
        loaded: usize,
        convs: usize,
        expected_total: usize,
        file_total: usize,
    },
    #[error(
        "{path}: {extra} floats are left after the last layer (cfg expects {expected_total}, file has {file_total}): \
         the weights are for a bigger network than the cfg describes"
    )]
    TooLong {
        path: String,
        extra: usize,
        expected_total: usize,
        file_total: usize,
    },
}
