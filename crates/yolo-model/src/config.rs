//! The model configuration: the architecture ([`NetworkSpec`], from a darknet cfg) plus the
//! framework numerics that differ between the places weights come from.

use crate::cfg::{self, CfgError, NetworkSpec};

/// How the extra trailing padding of darknet maxpools is filled (tiny's `size=2 stride=1`).
///
/// Darknet (and OpenCV) ignore cells outside the map, i.e. pad with `-inf`; PyTorch ports use
/// `nn.ZeroPad2d((0, 1, 0, 1))`, which differs where a border is negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadFill {
    NegInf,
    Zero,
}

/// Box decoding of the raw head outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeStyle {
    /// Darknet/OpenCV/pytorchyolo/mmdet: `xy = (sig + grid) * stride`, `wh = exp(t) * anchor`.
    Classic,
    /// yolov5-style: `xy = (2 sig - 0.5 + grid) * stride`, `wh = (2 sig)^2 * anchor`.
    Yolov5,
}

/// Numerics that are a property of where the weights were trained, not of the architecture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Numerics {
    /// BatchNorm epsilon, used as `(x - mean) / sqrt(var + eps)`.
    pub bn_eps: f64,
    pub maxpool_fill: PadFill,
    pub decode: DecodeStyle,
}

impl Numerics {
    /// Darknet semantics as OpenCV's darknet importer implements them.
    pub const DARKNET: Self = Self { bn_eps: 1e-6, maxpool_fill: PadFill::NegInf, decode: DecodeStyle::Classic };
}

/// The three standard architectures, whose cfgs are built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Yolov3,
    Yolov3Tiny,
    Yolov3Spp,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::Yolov3, Arch::Yolov3Tiny, Arch::Yolov3Spp];

    /// The canonical name (`yolov3`, `yolov3-tiny`, `yolov3-spp`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Yolov3 => "yolov3",
            Arch::Yolov3Tiny => "yolov3-tiny",
            Arch::Yolov3Spp => "yolov3-spp",
        }
    }

    /// Looks an architecture up by its canonical name.
    pub fn from_name(name: &str) -> Option<Arch> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The darknet cfg text (COCO, 80 classes), as published with darknet.
    pub fn cfg_text(self) -> &'static str {
        match self {
            Arch::Yolov3 => include_str!("../cfg/yolov3.cfg"),
            Arch::Yolov3Tiny => include_str!("../cfg/yolov3-tiny.cfg"),
            Arch::Yolov3Spp => include_str!("../cfg/yolov3-spp.cfg"),
        }
    }

    /// The parsed built-in cfg.
    pub fn spec(self) -> NetworkSpec {
        cfg::parse(&format!("builtin:{}", self.name()), self.cfg_text())
            .unwrap_or_else(|e| unreachable!("built-in cfg is valid, tested: {e}"))
    }
}

/// Everything needed to build a [`crate::Yolo`].
#[derive(Debug, Clone, PartialEq)]
pub struct YoloConfig {
    pub spec: NetworkSpec,
    pub numerics: Numerics,
}

impl YoloConfig {
    pub fn new(spec: NetworkSpec, numerics: Numerics) -> Self {
        Self { spec, numerics }
    }

    /// Parses a cfg text with darknet numerics.
    pub fn from_cfg(source: &str, text: &str) -> Result<Self, CfgError> {
        Ok(Self::new(cfg::parse(source, text)?, Numerics::DARKNET))
    }

    pub fn builtin(arch: Arch) -> Self {
        Self::new(arch.spec(), Numerics::DARKNET)
    }
}

impl Numerics {
    /// `bn_eps=1e-5;maxpool_fill=zero;decode=classic`: stored in converted files.
    pub fn to_text(&self) -> String {
        let fill = match self.maxpool_fill {
            PadFill::NegInf => "neg_inf",
            PadFill::Zero => "zero",
        };
        let decode = match self.decode {
            DecodeStyle::Classic => "classic",
            DecodeStyle::Yolov5 => "yolov5",
        };
        format!("bn_eps={:e};maxpool_fill={fill};decode={decode}", self.bn_eps)
    }

    /// Parses [`Numerics::to_text`]'s output.
    pub fn from_text(text: &str) -> Option<Numerics> {
        let (mut eps, mut fill, mut decode) = (None, None, None);
        for part in text.split(';') {
            match part.split_once('=')? {
                ("bn_eps", v) => eps = v.parse::<f64>().ok().filter(|e| e.is_finite() && *e > 0.0),
                ("maxpool_fill", "neg_inf") => fill = Some(PadFill::NegInf),
                ("maxpool_fill", "zero") => fill = Some(PadFill::Zero),
                ("decode", "classic") => decode = Some(DecodeStyle::Classic),
                ("decode", "yolov5") => decode = Some(DecodeStyle::Yolov5),
                _ => return None,
            }
        }
        Some(Numerics { bn_eps: eps?, maxpool_fill: fill?, decode: decode? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_text_round_trips() {
        let n = Numerics { bn_eps: 1e-3, maxpool_fill: PadFill::Zero, decode: DecodeStyle::Yolov5 };
        assert_eq!(Numerics::from_text(&n.to_text()), Some(n));
        assert_eq!(Numerics::from_text(&Numerics::DARKNET.to_text()), Some(Numerics::DARKNET));
        assert_eq!(Numerics::from_text("bn_eps=x;maxpool_fill=zero;decode=classic"), None);
    }
}
