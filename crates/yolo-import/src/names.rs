//! Native weight names of [`yolo_model::Yolo`]: the one place where they are spelled.
//!
//! Every source format (darknet, PyTorch dialects) ends in these names before it is applied.

/// The native names' shape, for messages.
pub const PATTERN: &str = "layers.{i}.conv / bn";

/// The prefix every native name of cfg layer `layer` starts with (`layers.{layer}`).
pub fn layer_prefix(layer: usize) -> String {
    format!("layers.{layer}")
}

/// The native name of a tensor of conv layer `layer` (cfg index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    ConvWeight,
    ConvBias,
    BnGamma,
    BnBeta,
    BnMean,
    BnVar,
}

impl Param {
    pub fn key(self, layer: usize) -> String {
        let suffix = match self {
            Param::ConvWeight => "conv.weight",
            Param::ConvBias => "conv.bias",
            Param::BnGamma => "bn.gamma",
            Param::BnBeta => "bn.beta",
            Param::BnMean => "bn.running_mean",
            Param::BnVar => "bn.running_var",
        };
        format!("{}.{suffix}", layer_prefix(layer))
    }
}

/// Parses a native key back into its layer and parameter.
pub fn parse(key: &str) -> Option<(usize, Param)> {
    let layer = layer_of(key)?;
    let rest = key.strip_prefix(&layer_prefix(layer))?.strip_prefix('.')?;
    let param = match rest {
        "conv.weight" => Param::ConvWeight,
        "conv.bias" => Param::ConvBias,
        "bn.gamma" => Param::BnGamma,
        "bn.beta" => Param::BnBeta,
        "bn.running_mean" => Param::BnMean,
        "bn.running_var" => Param::BnVar,
        _ => return None,
    };
    Some((layer, param))
}

/// The cfg layer index of a native key (`layers.{i}.…`), for messages.
pub fn layer_of(key: &str) -> Option<usize> {
    key.strip_prefix("layers.")?.split('.').next()?.parse().ok()
}
