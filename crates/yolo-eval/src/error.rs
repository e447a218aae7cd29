//! Why a dataset or a results file cannot be evaluated: each names the file and the line or
//! id at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid COCO JSON", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is not a valid dataset YAML", path.display())]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("{source_name}: {message}")]
    Invalid { source_name: String, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Label { path: PathBuf, line: usize, message: String },
    #[error("{0}")]
    Results(String),
}

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn invalid(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { source_name: source_name.into(), message: message.into() }
    }
}
