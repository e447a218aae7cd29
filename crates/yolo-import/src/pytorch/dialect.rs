//! Dialects: the key families real YOLOv3 checkpoints use, each mapped onto native names, with
//! the numerics of the framework that trained it. All knowledge of checkpoint key strings lives
//! in this file's tables.

use std::sync::LazyLock;

use regex::Regex;
use yolo_model::{DecodeStyle, Numerics, PadFill};

use crate::names::Param;

/// A checkpoint key family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// eriklindernoren/pytorchyolo, ayooshkathuria, ultralytics v1-v6:
    /// `module_list.{i}.conv_{i}.weight`, `module_list.{i}.batch_norm_{i}.*`.
    Pytorchyolo,
    /// ultralytics/yolov3 v7-v8 (`archive` branch): `module_list.{i}.Conv2d.weight`,
    /// `module_list.{i}.BatchNorm2d.*`.
    UltralyticsArchive,
    /// ultralytics/yolov3 v9 and yolov5's hub yolov3 models: `model.{i}.conv`, `model.{i}.cv1`,
    /// head `model.{d}.m.{k}` (see [`super::yolov5`]).
    Yolov5,
    /// mmdetection's YOLOV3 (Darknet-53 backbone, YOLOV3Neck, YOLOV3Head):
    /// `backbone.conv_res_block{s}.res{j}.conv{k}`, `neck.detect{d}.conv{k}`, `bbox_head.convs_pred.{k}`.
    Mmdet,
    /// Our own names (`layers.{i}.conv.weight`, `layers.{i}.bn.gamma`), e.g. a burnpack
    /// exported as a state dict.
    Native,
}

/// What a checkpoint key is, in a dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped {
    /// A weight of cfg layer `layer`.
    Weight { layer: usize, param: Param },
    /// The anchors buffer of the `[yolo]` at cfg layer `layer` (`[A, 2]`, input pixels).
    Anchors { layer: usize },
    /// A buffer the dialect writes that carries nothing we need (`anchor_grid`).
    Known,
    /// A key of a dialect whose layer is only known once the topology is (yolov5-style).
    Deferred,
    /// Not a key of this dialect.
    Foreign,
}

/// One declarative rule: a key regex whose captures name the layer, and what it maps to.
struct Rule {
    pattern: Regex,
    /// How the captures become a [`Mapped`]; `None` when they do not fit (mismatched indices).
    map: fn(&regex::Captures<'_>) -> Option<Mapped>,
}

fn rule(pattern: &str, map: fn(&regex::Captures<'_>) -> Option<Mapped>) -> Rule {
    Rule { pattern: Regex::new(pattern).unwrap_or_else(|e| unreachable!("static regex {pattern}: {e}")), map }
}

fn index(c: &regex::Captures<'_>, group: usize) -> Option<usize> {
    c.get(group)?.as_str().parse().ok()
}

/// The BatchNorm leaf names of torch.nn.BatchNorm2d.
fn torch_bn(leaf: &str) -> Option<Param> {
    Some(match leaf {
        "weight" => Param::BnGamma,
        "bias" => Param::BnBeta,
        "running_mean" => Param::BnMean,
        "running_var" => Param::BnVar,
        _ => return None,
    })
}

fn torch_conv(leaf: &str) -> Option<Param> {
    Some(match leaf {
        "weight" => Param::ConvWeight,
        "bias" => Param::ConvBias,
        _ => return None,
    })
}

/// The same layer index twice (`module_list.{i}.conv_{i}`), else not this dialect.
fn same_index(c: &regex::Captures<'_>) -> Option<usize> {
    let (a, b) = (index(c, 1)?, index(c, 2)?);
    (a == b).then_some(a)
}

static PYTORCHYOLO: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // module_list.{i}.conv_{i}.{weight,bias}
        rule(r"^module_list\.(\d+)\.conv_(\d+)\.(weight|bias)$", |c| {
            Some(Mapped::Weight { layer: same_index(c)?, param: torch_conv(&c[3])? })
        }),
        // module_list.{i}.batch_norm_{i}.{weight,bias,running_mean,running_var}
        rule(r"^module_list\.(\d+)\.batch_norm_(\d+)\.(\w+)$", |c| {
            Some(Mapped::Weight { layer: same_index(c)?, param: torch_bn(&c[3])? })
        }),
        // module_list.{i}.yolo_{i}.anchors: [A, 2] in input pixels
        rule(r"^module_list\.(\d+)\.yolo_(\d+)\.anchors$", |c| Some(Mapped::Anchors { layer: same_index(c)? })),
        // module_list.{i}.yolo_{i}.anchor_grid: the same anchors, reshaped
        rule(r"^module_list\.(\d+)\.yolo_(\d+)\.anchor_grid$", |c| same_index(c).map(|_| Mapped::Known)),
    ]
});

static ULTRALYTICS_ARCHIVE: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // module_list.{i}.Conv2d.{weight,bias}
        rule(r"^module_list\.(\d+)\.Conv2d\.(weight|bias)$", |c| {
            Some(Mapped::Weight { layer: index(c, 1)?, param: torch_conv(&c[2])? })
        }),
        // module_list.{i}.BatchNorm2d.{weight,bias,running_mean,running_var}
        rule(r"^module_list\.(\d+)\.BatchNorm2d\.(\w+)$", |c| {
            Some(Mapped::Weight { layer: index(c, 1)?, param: torch_bn(&c[2])? })
        }),
    ]
});

/// mmdet ConvModule leaves: `.conv.weight`, `.bn.{weight,bias,running_mean,running_var}`.
fn conv_module(kind: &str, leaf: &str) -> Option<Param> {
    match kind {
        "conv" if leaf == "weight" => Some(Param::ConvWeight),
        "bn" => torch_bn(leaf),
        _ => None,
    }
}

/// The darknet layer of mmdet Darknet-53's stage `stage` (1-5) downsample conv: stages hold
/// 1, 2, 8, 8, 4 residual blocks of three layers (conv1, conv2, shortcut) after it.
fn mmdet_stage_start(stage: usize) -> Option<usize> {
    const REPEATS: [usize; 5] = [1, 2, 8, 8, 4];
    (1..=5).contains(&stage).then(|| 1 + REPEATS[..stage - 1].iter().map(|r| 1 + 3 * r).sum::<usize>())
}

/// YOLOV3Neck's DetectionBlock `detect{d}` starts at these darknet layers, then five convs.
const MMDET_DETECT: [usize; 3] = [75, 87, 99];
/// YOLOV3Neck's `conv{k}` (the 1x1 before each upsample).
const MMDET_NECK_CONV: [usize; 2] = [84, 96];
/// YOLOV3Head's `convs_bridge.{k}` (3x3) and `convs_pred.{k}` (the head conv), per scale.
const MMDET_BRIDGE: [usize; 3] = [80, 92, 104];

static MMDET: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        // backbone.conv1.{conv,bn}.*: layer 0
        rule(r"^backbone\.conv1\.(conv|bn)\.(\w+)$", |c| {
            Some(Mapped::Weight { layer: 0, param: conv_module(&c[1], &c[2])? })
        }),
        // backbone.conv_res_block{s}.conv.{conv,bn}.*: the stage's downsample conv
        rule(r"^backbone\.conv_res_block(\d)\.conv\.(conv|bn)\.(\w+)$", |c| {
            Some(Mapped::Weight { layer: mmdet_stage_start(index(c, 1)?)?, param: conv_module(&c[2], &c[3])? })
        }),
        // backbone.conv_res_block{s}.res{j}.conv{k}.{conv,bn}.*: residual block j, conv k (1 or 2)
        rule(r"^backbone\.conv_res_block(\d)\.res(\d+)\.conv([12])\.(conv|bn)\.(\w+)$", |c| {
            let layer = mmdet_stage_start(index(c, 1)?)? + 3 * index(c, 2)? + index(c, 3)?;
            Some(Mapped::Weight { layer, param: conv_module(&c[4], &c[5])? })
        }),
        // neck.detect{d}.conv{k}.{conv,bn}.*: DetectionBlock d (1-3), conv k (1-5)
        rule(r"^neck\.detect([123])\.conv([1-5])\.(conv|bn)\.(\w+)$", |c| {
            let layer = MMDET_DETECT[index(c, 1)? - 1] + index(c, 2)? - 1;
            Some(Mapped::Weight { layer, param: conv_module(&c[3], &c[4])? })
        }),
        // neck.conv{k}.{conv,bn}.*: the 1x1 before upsample k (1-2)
        rule(r"^neck\.conv([12])\.(conv|bn)\.(\w+)$", |c| {
            Some(Mapped::Weight { layer: MMDET_NECK_CONV[index(c, 1)? - 1], param: conv_module(&c[2], &c[3])? })
        }),
        // bbox_head.convs_bridge.{k}.{conv,bn}.*: the 3x3 of scale k (large stride first)
        rule(r"^bbox_head\.convs_bridge\.([012])\.(conv|bn)\.(\w+)$", |c| {
            Some(Mapped::Weight { layer: MMDET_BRIDGE[index(c, 1)?], param: conv_module(&c[2], &c[3])? })
        }),
        // bbox_head.convs_pred.{k}.{weight,bias}: the head conv of scale k
        rule(r"^bbox_head\.convs_pred\.([012])\.(weight|bias)$", |c| {
            Some(Mapped::Weight { layer: MMDET_BRIDGE[index(c, 1)?] + 1, param: torch_conv(&c[2])? })
        }),
    ]
});

impl Dialect {
    pub const ALL: [Dialect; 5] =
        [Dialect::Pytorchyolo, Dialect::UltralyticsArchive, Dialect::Yolov5, Dialect::Mmdet, Dialect::Native];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Pytorchyolo => "pytorchyolo",
            Dialect::UltralyticsArchive => "ultralytics-archive",
            Dialect::Yolov5 => "yolov5",
            Dialect::Mmdet => "mmdet",
            Dialect::Native => "native",
        }
    }

    pub fn from_name(name: &str) -> Option<Dialect> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The key pattern, for messages.
    pub fn pattern(self) -> &'static str {
        match self {
            Dialect::Pytorchyolo => "module_list.{i}.conv_{i} / batch_norm_{i} / yolo_{i}",
            Dialect::UltralyticsArchive => "module_list.{i}.Conv2d / BatchNorm2d",
            Dialect::Yolov5 => "model.{i}[.{j}][.cv{k}].conv / bn, model.{d}.m.{k}",
            Dialect::Mmdet => "backbone.conv_res_block{s}.res{j}.conv{k} / neck.detect{d} / bbox_head.convs_*",
            Dialect::Native => crate::names::PATTERN,
        }
    }

    fn rules(self) -> &'static [Rule] {
        match self {
            Dialect::Pytorchyolo => &PYTORCHYOLO,
            Dialect::UltralyticsArchive => &ULTRALYTICS_ARCHIVE,
            Dialect::Native => &[],
            Dialect::Mmdet => &MMDET,
            Dialect::Yolov5 => &[],
        }
    }

    /// What `key` is in this dialect.
    pub fn map(self, key: &str) -> Mapped {
        if self == Dialect::Yolov5 {
            return super::yolov5::parse(key).map_or(Mapped::Foreign, |_| Mapped::Deferred);
        }
        if self == Dialect::Native {
            // Our own names are parsed where they are spelled.
            return crate::names::parse(key).map_or(Mapped::Foreign, |(layer, param)| Mapped::Weight { layer, param });
        }
        for rule in self.rules() {
            if let Some(c) = rule.pattern.captures(key) {
                return (rule.map)(&c).unwrap_or(Mapped::Foreign);
            }
        }
        Mapped::Foreign
    }

    /// The key this dialect would use for a native weight (for "closest candidate" hints).
    pub fn source_key(self, layer: usize, param: Param) -> String {
        let torch_leaf = |p: Param| match p {
            Param::ConvWeight | Param::BnGamma => "weight",
            Param::ConvBias | Param::BnBeta => "bias",
            Param::BnMean => "running_mean",
            Param::BnVar => "running_var",
        };
        let is_conv = matches!(param, Param::ConvWeight | Param::ConvBias);
        match self {
            Dialect::Pytorchyolo if is_conv => format!("module_list.{layer}.conv_{layer}.{}", torch_leaf(param)),
            Dialect::Pytorchyolo => format!("module_list.{layer}.batch_norm_{layer}.{}", torch_leaf(param)),
            Dialect::UltralyticsArchive if is_conv => format!("module_list.{layer}.Conv2d.{}", torch_leaf(param)),
            Dialect::UltralyticsArchive => format!("module_list.{layer}.BatchNorm2d.{}", torch_leaf(param)),
            Dialect::Yolov5 | Dialect::Mmdet => {
                format!("(the {} module of darknet layer {layer}).{}", self.name(), torch_leaf(param))
            }
            Dialect::Native => param.key(layer),
        }
    }

    /// The numerics of the framework this dialect comes from.
    pub fn numerics(self) -> Numerics {
        match self {
            // nn.BatchNorm2d default eps; ZeroPad2d((0, 1, 0, 1)) before tiny's 2/1 maxpool.
            Dialect::Pytorchyolo => {
                Numerics { bn_eps: 1e-5, maxpool_fill: PadFill::Zero, decode: DecodeStyle::Classic }
            }
            // ultralytics archive: nn.BatchNorm2d(filters, momentum=0.03, eps=1E-4), same ZeroPad2d.
            Dialect::UltralyticsArchive => {
                Numerics { bn_eps: 1e-4, maxpool_fill: PadFill::Zero, decode: DecodeStyle::Classic }
            }
            // yolov5 Conv: BatchNorm2d(eps=0.001); tiny's ZeroPad2d; yolov5 box decoding.
            Dialect::Yolov5 => Numerics { bn_eps: 1e-3, maxpool_fill: PadFill::Zero, decode: DecodeStyle::Yolov5 },
            // mmdet ConvModule: BatchNorm2d default eps; no maxpool; YOLOBBoxCoder = classic.
            Dialect::Mmdet => Numerics { bn_eps: 1e-5, maxpool_fill: PadFill::Zero, decode: DecodeStyle::Classic },
            Dialect::Native => Numerics::DARKNET,
        }
    }
}

/// How well a dialect explains a key set.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub dialect: Dialect,
    pub matched: usize,
    pub total: usize,
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} of {} keys match {}", self.dialect.name(), self.matched, self.total, self.dialect.pattern())
    }
}

/// Scores every dialect on `keys`, best first.
pub fn rank(keys: &[String]) -> Vec<Evidence> {
    let mut all: Vec<Evidence> = Dialect::ALL
        .into_iter()
        .map(|dialect| Evidence {
            dialect,
            matched: keys.iter().filter(|k| dialect.map(k) != Mapped::Foreign).count(),
            total: keys.len(),
        })
        .collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.matched));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytorchyolo_keys() {
        let d = Dialect::Pytorchyolo;
        assert_eq!(d.map("module_list.13.conv_13.weight"), Mapped::Weight { layer: 13, param: Param::ConvWeight });
        assert_eq!(d.map("module_list.13.batch_norm_13.bias"), Mapped::Weight { layer: 13, param: Param::BnBeta });
        assert_eq!(d.map("module_list.16.yolo_16.anchors"), Mapped::Anchors { layer: 16 });
        assert_eq!(d.map("module_list.13.conv_12.weight"), Mapped::Foreign, "indices must agree");
        assert_eq!(d.map("module_list.0.old_conv_0.weight"), Mapped::Foreign);
    }

    #[test]
    fn mmdet_keys_land_on_darknet_layers() {
        let d = Dialect::Mmdet;
        let w = |layer, param| Mapped::Weight { layer, param };
        assert_eq!(d.map("backbone.conv1.conv.weight"), w(0, Param::ConvWeight));
        assert_eq!(d.map("backbone.conv_res_block1.conv.bn.weight"), w(1, Param::BnGamma));
        assert_eq!(d.map("backbone.conv_res_block1.res0.conv2.conv.weight"), w(3, Param::ConvWeight));
        assert_eq!(d.map("backbone.conv_res_block3.res7.conv2.bn.running_var"), w(35, Param::BnVar));
        assert_eq!(d.map("backbone.conv_res_block5.res3.conv2.conv.weight"), w(73, Param::ConvWeight));
        assert_eq!(d.map("neck.detect3.conv5.bn.bias"), w(103, Param::BnBeta));
        assert_eq!(d.map("neck.conv2.conv.weight"), w(96, Param::ConvWeight));
        assert_eq!(d.map("bbox_head.convs_pred.0.bias"), w(81, Param::ConvBias));
        assert_eq!(d.map("bbox_head.convs_bridge.2.conv.weight"), w(104, Param::ConvWeight));
    }

    #[test]
    fn ranking_prefers_the_matching_family() {
        let keys = vec!["module_list.0.Conv2d.weight".to_string(), "module_list.0.BatchNorm2d.running_var".to_string()];
        let ranked = rank(&keys);
        assert_eq!(ranked[0].dialect, Dialect::UltralyticsArchive);
        assert_eq!(ranked[0].matched, 2);
    }
}
