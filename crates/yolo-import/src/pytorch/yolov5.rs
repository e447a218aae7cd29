//! The yolov5-style dialect (ultralytics/yolov3 v9, yolov5's `models/hub/yolov3*.yaml`):
//! `model.{i}.conv`, `model.{i}.bn`, bottlenecks `model.{i}[.{j}].cv{1,2}.{conv,bn}`, head
//! `model.{d}.m.{k}` ordered small stride to large, anchors `model.{d}.anchors` in stride units.
//!
//! Its module indices are not darknet's, but its BatchNorm convs run in exactly darknet's cfg
//! order (a Bottleneck is darknet's 1x1 + 3x3 pair), so the n-th conv module maps onto the n-th
//! BatchNorm conv of the darknet topology, and head `m.{k}` onto the `[yolo]` with the k-th
//! smallest stride.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use yolo_model::cfg::{Activation, LayerSpec, NetworkSpec};
use yolo_model::Arch;

use super::dialect::Mapped;
use super::infer::{ArchChoice, Inferred};
use crate::error::PytorchError;
use crate::names::Param;

/// A yolov5-style key, before the topology is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A conv module's tensor; `order` sorts modules into execution order.
    Conv { order: (usize, usize, usize), param: Param },
    /// `model.{d}.m.{level}`: the detection conv of a level (small stride first).
    Head { level: usize, param: Param },
    /// `model.{d}.anchors`: `[levels, anchors, 2]` in stride units.
    Anchors,
    /// `model.{d}.anchor_grid`: a buffer only v9.0-9.5 saved (their convs use LeakyReLU).
    AnchorGrid,
}

static CONV: LazyLock<Regex> = LazyLock::new(|| {
    // model.{i}[.{j}][.cv{c}].{conv,bn}.{leaf}
    Regex::new(r"^model\.(\d+)\.(?:(\d+)\.)?(?:cv(\d)\.)?(conv|bn)\.(\w+)$").unwrap_or_else(|e| unreachable!("{e}"))
});
static HEAD: LazyLock<Regex> = LazyLock::new(|| {
    // model.{d}.m.{k}.{weight,bias}
    Regex::new(r"^model\.(\d+)\.m\.(\d+)\.(weight|bias)$").unwrap_or_else(|e| unreachable!("{e}"))
});
static BUFFER: LazyLock<Regex> = LazyLock::new(|| {
    // model.{d}.anchors / anchor_grid
    Regex::new(r"^model\.(\d+)\.(anchors|anchor_grid)$").unwrap_or_else(|e| unreachable!("{e}"))
});

/// Classifies a key.
pub fn parse(key: &str) -> Option<Key> {
    if let Some(c) = CONV.captures(key) {
        let n = |g: usize| c.get(g).and_then(|m| m.as_str().parse::<usize>().ok());
        let param = match (&c[4], &c[5]) {
            ("conv", "weight") => Param::ConvWeight,
            ("conv", "bias") => Param::ConvBias,
            ("bn", "weight") => Param::BnGamma,
            ("bn", "bias") => Param::BnBeta,
            ("bn", "running_mean") => Param::BnMean,
            ("bn", "running_var") => Param::BnVar,
            _ => return None,
        };
        return Some(Key::Conv { order: (n(1)?, n(2).unwrap_or(0), n(3).unwrap_or(0)), param });
    }
    if let Some(c) = HEAD.captures(key) {
        let param = if &c[3] == "weight" { Param::ConvWeight } else { Param::ConvBias };
        return Some(Key::Head { level: c[2].parse().ok()?, param });
    }
    BUFFER.captures(key).map(|c| if &c[2] == "anchors" { Key::Anchors } else { Key::AnchorGrid })
}

/// The darknet layers of a topology, as the yolov5-style model orders them.
#[derive(Debug)]
pub struct Layout {
    /// BatchNorm conv layers in cfg order.
    pub convs: Vec<usize>,
    /// `[yolo]` layers sorted by stride, smallest first, with their stride.
    pub heads: Vec<(usize, usize)>,
}

impl Layout {
    pub fn of(spec: &NetworkSpec) -> Layout {
        let heads_at: Vec<usize> = spec.heads().map(|(i, _)| i).collect();
        let convs = spec
            .layers
            .iter()
            .enumerate()
            .filter(|(i, l)| matches!(l, LayerSpec::Conv(_)) && !heads_at.contains(&(i + 1)))
            .map(|(i, _)| i)
            .collect();
        let mut heads: Vec<(usize, usize)> = heads_at.iter().map(|&i| (i, spec.stride_of(i))).collect();
        heads.sort_by_key(|&(_, stride)| stride);
        Layout { convs, heads }
    }

    /// Maps keys onto darknet layers; `None` when the counts do not fit this topology.
    pub fn assign(&self, keys: &[Option<Key>]) -> Option<Vec<Option<(usize, Param)>>> {
        let mut orders: Vec<(usize, usize, usize)> = keys
            .iter()
            .filter_map(|k| if let Some(Key::Conv { order, .. }) = k { Some(*order) } else { None })
            .collect();
        orders.sort_unstable();
        orders.dedup();
        let levels =
            keys.iter().filter_map(|k| if let Some(Key::Head { level, .. }) = k { Some(*level) } else { None });
        let level_count = levels.max().map_or(0, |m| m + 1);
        if orders.len() != self.convs.len() || level_count != self.heads.len() {
            return None;
        }
        let rank: BTreeMap<(usize, usize, usize), usize> = orders.iter().enumerate().map(|(n, o)| (*o, n)).collect();
        Some(
            keys.iter()
                .map(|k| match k {
                    Some(Key::Conv { order, param }) => Some((self.convs[rank[order]], *param)),
                    Some(Key::Head { level, param }) => Some((self.heads[*level].0 - 1, *param)),
                    _ => None,
                })
                .collect(),
        )
    }

    /// Anchors `[levels, A, 2]` in stride units -> per `[yolo]` layer, in pixels.
    pub fn anchors(&self, values: &[f32], shape: &[usize]) -> BTreeMap<usize, Vec<[f32; 2]>> {
        let mut out = BTreeMap::new();
        if shape.len() != 3 || shape[0] != self.heads.len() || shape[2] != 2 {
            return out;
        }
        for (level, &(layer, stride)) in self.heads.iter().enumerate() {
            let start = level * shape[1] * 2;
            let pairs = values[start..start + shape[1] * 2].chunks_exact(2);
            out.insert(layer, pairs.map(|p| [p[0] * stride as f32, p[1] * stride as f32]).collect());
        }
        out
    }
}

/// yolov5-style keys resolved against a topology.
#[derive(Debug)]
pub struct Resolved {
    /// Per key: its darknet layer, or `Known`/`Foreign`.
    pub mapped: Vec<Mapped>,
    /// The topology that fits (a built-in found by counting, or the one given).
    pub arch: ArchChoice,
    pub layout: Layout,
    /// v9.0-9.5 saved `anchor_grid` and used LeakyReLU; later versions use SiLU.
    pub leaky: bool,
}

/// Finds the topology whose BatchNorm convs and heads the keys fill exactly.
pub fn resolve(keys: &[String], choice: &ArchChoice) -> Result<Resolved, PytorchError> {
    let parsed: Vec<Option<Key>> = keys.iter().map(|k| parse(k)).collect();
    let candidates: Vec<(ArchChoice, NetworkSpec)> = match choice {
        ArchChoice::Cfg(spec) => vec![(choice.clone(), spec.clone())],
        ArchChoice::Builtin(arch) => vec![(choice.clone(), arch.spec())],
        ArchChoice::Auto => Arch::ALL.into_iter().map(|a| (ArchChoice::Builtin(a), a.spec())).collect(),
    };
    let convs = {
        let mut o: Vec<_> = parsed
            .iter()
            .filter_map(|k| if let Some(Key::Conv { order, .. }) = k { Some(*order) } else { None })
            .collect();
        o.sort_unstable();
        o.dedup();
        o.len()
    };
    let levels = parsed.iter().filter(|k| matches!(k, Some(Key::Head { param: Param::ConvWeight, .. }))).count();
    let mut tried = Vec::new();
    for (arch, spec) in candidates {
        let layout = Layout::of(&spec);
        tried.push(format!("{} BatchNorm convs and {} heads", layout.convs.len(), layout.heads.len()));
        let Some(assigned) = layout.assign(&parsed) else { continue };
        let mapped = assigned
            .iter()
            .zip(&parsed)
            .map(|(a, p)| match (a, p) {
                (Some((layer, param)), _) => Mapped::Weight { layer: *layer, param: *param },
                (None, Some(Key::Anchors | Key::AnchorGrid)) => Mapped::Known,
                _ => Mapped::Foreign,
            })
            .collect();
        let leaky = parsed.contains(&Some(Key::AnchorGrid));
        return Ok(Resolved { mapped, arch, layout, leaky });
    }
    Err(PytorchError::Architecture(format!(
        "the yolov5-style checkpoint has {convs} conv modules and {levels} detection levels; the candidates have {}",
        tried.join(", ")
    )))
}

impl Resolved {
    /// Applies the dialect's activation and says how the topology was found.
    pub fn finish(&self, inferred: Inferred, choice: &ArchChoice) -> Inferred {
        let (spec, activation) = if self.leaky {
            (inferred.spec, "LeakyReLU(0.1): an anchor_grid buffer marks v9.0-9.5")
        } else {
            (inferred.spec.with_activation(Activation::Leaky, Activation::Swish), "SiLU: no anchor_grid buffer (v9.6+)")
        };
        let how = match (choice, &self.arch) {
            (ArchChoice::Auto, ArchChoice::Builtin(a)) => {
                format!("conv modules and detection levels match the {} topology; {activation}", a.name())
            }
            _ => format!("{}; {activation}", inferred.how),
        };
        Inferred { spec, how }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yolo_model::Arch;

    #[test]
    fn keys_parse() {
        assert_eq!(parse("model.4.1.cv2.bn.running_var"), Some(Key::Conv { order: (4, 1, 2), param: Param::BnVar }));
        assert_eq!(parse("model.0.conv.weight"), Some(Key::Conv { order: (0, 0, 0), param: Param::ConvWeight }));
        assert_eq!(parse("model.28.m.2.bias"), Some(Key::Head { level: 2, param: Param::ConvBias }));
        assert_eq!(parse("model.28.anchors"), Some(Key::Anchors));
        assert_eq!(parse("module_list.0.conv_0.weight"), None);
    }

    #[test]
    fn yolov3_layout_has_72_bn_convs_and_heads_small_stride_first() {
        let layout = Layout::of(&Arch::Yolov3.spec());
        assert_eq!(layout.convs.len(), 72);
        assert_eq!(layout.heads, vec![(106, 8), (94, 16), (82, 32)]);
        let tiny = Layout::of(&Arch::Yolov3Tiny.spec());
        assert_eq!(tiny.convs, vec![0, 2, 4, 6, 8, 10, 12, 13, 14, 18, 21]);
        assert_eq!(tiny.heads, vec![(23, 16), (16, 32)]);
    }
}
