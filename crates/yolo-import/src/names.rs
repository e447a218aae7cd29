//! Native weight names of [`yolo_model::Yolo`]: the one place where they are spelled.
//!
//! Every source format (darknet, PyTorch dialects) ends in these names before it is applied.

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
        format!("layers.{layer}.{suffix}")
    }
}

/// The cfg layer index of a native key (`layers.{i}.…`), for messages.
pub fn layer_of(key: &str) -> Option<usize> {
    key.strip_prefix("layers.")?.split('.').next()?.parse().ok()
}
