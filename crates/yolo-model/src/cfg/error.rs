//! Errors of cfg parsing and validation: always a file, a line and a specific reason.

/// A cfg problem, located at `source:line`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}:{line}: {kind}")]
pub struct CfgError {
    /// The file (or built-in name) the text came from.
    pub source_name: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: CfgErrorKind,
}

impl CfgError {
    pub(crate) fn new(source: &str, line: usize, kind: CfgErrorKind) -> Self {
        Self { source_name: source.to_string(), line, kind }
    }
}

/// What is wrong with a cfg.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CfgErrorKind {
    #[error("cannot parse line `{0}` (expected `[section]` or `key=value`)")]
    Syntax(String),
    #[error("key `{0}` appears before any [section]")]
    KeyOutsideSection(String),
    #[error("key `{key}` repeated (first set on line {first_line})")]
    DuplicateKey { key: String, first_line: usize },
    #[error("the first section must be [net] (or [network]), found [{0}]")]
    NetNotFirst(String),
    #[error("unsupported section [{0}] (supported: net, convolutional, maxpool, shortcut, route, upsample, yolo)")]
    UnsupportedSection(String),
    #[error("unsupported key `{key}` in [{section}]")]
    UnsupportedKey { section: String, key: String },
    #[error("`{key}={value}`: expected {expected}")]
    BadValue { key: String, value: String, expected: &'static str },
    #[error("[{section}] needs `{key}`")]
    MissingKey { section: String, key: &'static str },
    #[error("unsupported value `{key}={value}` (supported: {supported})")]
    Unsupported { key: String, value: String, supported: &'static str },
    #[error("layer {layer} refers to layer {target}, which is not an earlier layer")]
    BadReference { layer: usize, target: i64 },
    #[error("layer {layer}: shortcut adds {found} channels to {expected} channels")]
    ShortcutChannels { layer: usize, expected: usize, found: usize },
    #[error("layer {layer}: route joins maps of different sizes ({first:?} vs {other:?})")]
    RouteSizes { layer: usize, first: [usize; 2], other: [usize; 2] },
    #[error("layer {layer}: [yolo] must follow a [convolutional] layer")]
    YoloInput { layer: usize },
    #[error("layer {layer}: head conv has filters={filters} but len(mask)*(classes+5) = {expected}")]
    HeadFilters { layer: usize, filters: usize, expected: usize },
    #[error("layer {layer}: mask index {index} is out of range for {anchors} anchors")]
    MaskOutOfRange { layer: usize, index: usize, anchors: usize },
    #[error("layer {layer}: [yolo] layers disagree on classes ({first} vs {other})")]
    ClassesDiffer { layer: usize, first: usize, other: usize },
    #[error("the network has no [yolo] layer")]
    NoYoloLayer,
    #[error("the network has no layers after [net]")]
    Empty,
}
