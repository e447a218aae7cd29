//! Darknet `.cfg` files: parsing ([`ini`]) and validation into a typed [`NetworkSpec`].
//!
//! Every unsupported section or key, and every inconsistency (a head conv whose filters do not
//! match its `[yolo]`, a route to a later layer, a shortcut of mismatched channels, ...) is a
//! [`CfgError`] naming the file and line. Keys that only matter for training are accepted and
//! ignored; keys that would change inference and that we do not implement are refused.

mod edit;
mod error;
mod ini;
mod spec;

pub use error::{CfgError, CfgErrorKind};
pub use spec::{Activation, ConvSpec, LayerSpec, MaxPoolSpec, NetworkSpec, YoloSpec};

use ini::{Entry, Section};

/// Training-only keys of `[net]` (and AlexeyAB extensions) that do not affect inference.
const NET_TRAINING_KEYS: &[&str] = &[
    "batch",
    "subdivisions",
    "momentum",
    "decay",
    "angle",
    "saturation",
    "exposure",
    "hue",
    "learning_rate",
    "burn_in",
    "max_batches",
    "policy",
    "steps",
    "scales",
    "mosaic",
    "flip",
    "letter_box",
    "max_chart_loss",
    "cutmix",
    "mixup",
    "blur",
    "gaussian_noise",
    "power",
    "aspect",
    "jitter",
    "resize",
    "track",
    "time_steps",
    "adam",
    "b1",
    "b2",
    "eps",
    "label_smooth_eps",
    "ema_alpha",
    "min_crop",
    "max_crop",
    "random",
    "seed",
    "step",
    "gamma",
    "scale",
    "optimized_memory",
    "workspace_size_limit_mb",
    "mosaic_bound",
    "use_cuda_graph",
];

/// Training-only keys of `[yolo]`.
const YOLO_TRAINING_KEYS: &[&str] = &[
    "jitter",
    "ignore_thresh",
    "truth_thresh",
    "random",
    "iou_loss",
    "iou_normalizer",
    "cls_normalizer",
    "obj_normalizer",
    "delta_normalizer",
    "nms_kind",
    "beta_nms",
    "max_delta",
    "counters_per_class",
    "label_smooth_eps",
    "uc_normalizer",
    "iou_thresh",
    "resize",
    "focal_loss",
    "max",
    "map",
    "objectness_smooth",
    "track_history_size",
    "sim_thresh",
    "dets_for_track",
    "dets_for_show",
    "track_ciou_norm",
    "embedding_layer",
    "show_details",
];

/// Parses and validates cfg `text`; `source` names it in errors (a path or `builtin:yolov3`).
pub fn parse(source: &str, text: &str) -> Result<NetworkSpec, CfgError> {
    let sections = ini::parse_sections(source, text)?;
    Builder { source, out_channels: Vec::new(), factors: Vec::new(), layers: Vec::new() }.build(sections)
}

/// Reads one section's keys, refusing unknown ones.
struct Keys<'a> {
    source: &'a str,
    section: &'a Section,
}

impl<'a> Keys<'a> {
    fn check_known(&self, known: &[&str], ignored: &[&str]) -> Result<(), CfgError> {
        for entry in &self.section.entries {
            let k = entry.key.as_str();
            if !known.contains(&k) && !ignored.contains(&k) {
                return Err(self.err(
                    entry.line,
                    CfgErrorKind::UnsupportedKey { section: self.section.name.clone(), key: entry.key.clone() },
                ));
            }
        }
        Ok(())
    }

    fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.section.entries.iter().find(|e| e.key == key)
    }

    /// A key the section must have, else an error at the section header.
    fn required(&self, key: &'static str) -> Result<&'a Entry, CfgError> {
        self.entry(key).ok_or_else(|| {
            self.err(self.section.line, CfgErrorKind::MissingKey { section: self.section.name.clone(), key })
        })
    }

    fn err(&self, line: usize, kind: CfgErrorKind) -> CfgError {
        CfgError::new(self.source, line, kind)
    }

    fn bad(&self, e: &Entry, expected: &'static str) -> CfgError {
        self.err(e.line, CfgErrorKind::BadValue { key: e.key.clone(), value: e.value.clone(), expected })
    }

    fn usize_or(&self, key: &'static str, default: usize) -> Result<usize, CfgError> {
        match self.entry(key) {
            None => Ok(default),
            Some(e) => match e.value.parse::<usize>() {
                Ok(v) if v <= MAX_VALUE => Ok(v),
                _ => Err(self.bad(e, "a non-negative integer up to 65536")),
            },
        }
    }

    fn positive(&self, key: &'static str, default: Option<usize>) -> Result<usize, CfgError> {
        let e = match (self.entry(key), default) {
            (None, Some(d)) => return Ok(d),
            (None, None) => self.required(key)?,
            (Some(e), _) => e,
        };
        match e.value.parse::<usize>() {
            Ok(v) if v > 0 && v <= MAX_VALUE => Ok(v),
            _ => Err(self.bad(e, "a positive integer up to 65536")),
        }
    }

    fn ints(&self, e: &Entry) -> Result<Vec<i64>, CfgError> {
        e.value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().map_err(|_| self.bad(e, "a comma-separated list of integers")))
            .collect()
    }

    fn floats(&self, e: &Entry) -> Result<Vec<f32>, CfgError> {
        e.value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<f32>().map_err(|_| self.bad(e, "a comma-separated list of numbers")))
            .collect()
    }
}

/// The largest integer a cfg value may hold (filters, sizes, strides, paddings, classes):
/// larger ones are typos or attacks, and products of them would overflow.
const MAX_VALUE: usize = 1 << 16;

/// The largest downsampling factor of a network (the product of its strides): a network that
/// downsamples more than this has no input it can run on (inputs are at most 4096 pixels).
const MAX_FACTOR: usize = 4096;

/// `factor * stride`, refused when absurd (instead of wrapping in release builds).
fn scaled(keys: &Keys<'_>, factor: usize, stride: usize) -> Result<usize, CfgError> {
    factor.checked_mul(stride).filter(|&f| f <= MAX_FACTOR).ok_or_else(|| {
        keys.err(
            keys.section.line,
            CfgErrorKind::BadValue {
                key: "stride".into(),
                value: stride.to_string(),
                expected: "strides whose product (the network's downsampling) is at most 4096",
            },
        )
    })
}

struct Builder<'a> {
    source: &'a str,
    layers: Vec<LayerSpec>,
    out_channels: Vec<usize>,
    /// Downsampling factor of each layer's output, as a power-of-two-friendly rational (num, den).
    factors: Vec<(usize, usize)>,
}

impl<'a> Builder<'a> {
    fn build(mut self, sections: Vec<Section>) -> Result<NetworkSpec, CfgError> {
        let Some((net, rest)) = sections.split_first() else {
            return Err(CfgError::new(self.source, 1, CfgErrorKind::Empty));
        };
        let [width, height, channels] = self.net(net)?;
        if rest.is_empty() {
            return Err(CfgError::new(self.source, net.line, CfgErrorKind::Empty));
        }
        let mut classes: Option<usize> = None;
        for section in rest {
            let index = self.layers.len();
            let keys = Keys { source: self.source, section };
            let input = match index {
                0 => (channels, (1, 1)),
                _ => (self.out_channels[index - 1], self.factors[index - 1]),
            };
            let (layer, out_c, out_f) = self.layer(&keys, index, input, &mut classes)?;
            self.layers.push(layer);
            self.out_channels.push(out_c);
            self.factors.push(reduce(out_f));
        }
        if classes.is_none() {
            return Err(CfgError::new(self.source, net.line, CfgErrorKind::NoYoloLayer));
        }
        let strides: Vec<usize> = self.factors.iter().map(|&(n, d)| (n / d).max(1)).collect();
        let max_stride = self.factors.iter().map(|&(n, _)| n).max().unwrap_or(1);
        Ok(NetworkSpec {
            width,
            height,
            channels,
            layers: self.layers,
            out_channels: self.out_channels,
            strides,
            max_stride,
        })
    }

    /// The `[net]` section: input width, height and channels.
    fn net(&self, net: &Section) -> Result<[usize; 3], CfgError> {
        if net.name != "net" && net.name != "network" {
            return Err(CfgError::new(self.source, net.line, CfgErrorKind::NetNotFirst(net.name.clone())));
        }
        let keys = Keys { source: self.source, section: net };
        keys.check_known(&["width", "height", "channels"], NET_TRAINING_KEYS)?;
        Ok([
            keys.positive("width", Some(416))?,
            keys.positive("height", Some(416))?,
            keys.positive("channels", Some(3))?,
        ])
    }

    /// One layer section given its input's channels and downsampling factor: the layer, its
    /// output channels and factor. `classes` is the first head's class count, which every
    /// later head must repeat.
    fn layer(
        &self,
        keys: &Keys<'_>,
        index: usize,
        (in_c, in_f): (usize, (usize, usize)),
        classes: &mut Option<usize>,
    ) -> Result<(LayerSpec, usize, (usize, usize)), CfgError> {
        let section = keys.section;
        Ok(match section.name.as_str() {
            "convolutional" | "conv" => {
                let conv = self.conv(keys, in_c)?;
                let (c, f) = (conv.filters, (scaled(keys, in_f.0, conv.stride)?, in_f.1));
                (LayerSpec::Conv(conv), c, f)
            }
            "maxpool" | "max" => {
                keys.check_known(&["size", "stride", "padding"], &[])?;
                let size = keys.positive("size", Some(1))?;
                let stride = keys.positive("stride", Some(size))?;
                let padding = keys.usize_or("padding", size - 1)?;
                let spec = MaxPoolSpec { size, stride, padding };
                (LayerSpec::MaxPool(spec), in_c, (scaled(keys, in_f.0, stride)?, in_f.1))
            }
            "shortcut" => (self.shortcut(keys, index, in_c, in_f)?, in_c, in_f),
            "route" => self.route(keys, index)?,
            "upsample" => {
                keys.check_known(&["stride"], &[])?;
                let stride = keys.positive("stride", Some(2))?;
                (LayerSpec::Upsample { stride }, in_c, (in_f.0, scaled(keys, in_f.1, stride)?))
            }
            "yolo" => {
                let spec = self.yolo(keys, index)?;
                match *classes {
                    None => *classes = Some(spec.classes),
                    Some(first) if first != spec.classes => {
                        return Err(keys.err(
                            section.line,
                            CfgErrorKind::ClassesDiffer { layer: index, first, other: spec.classes },
                        ))
                    }
                    Some(_) => {}
                }
                (LayerSpec::Yolo(spec), in_c, in_f)
            }
            other => {
                return Err(CfgError::new(self.source, section.line, CfgErrorKind::UnsupportedSection(other.into())))
            }
        })
    }

    /// `[shortcut]`: a linear residual add from one earlier layer of the same shape.
    fn shortcut(
        &self,
        keys: &Keys<'_>,
        index: usize,
        in_c: usize,
        in_f: (usize, usize),
    ) -> Result<LayerSpec, CfgError> {
        keys.check_known(&["from", "activation"], &[])?;
        if let Some(e) = keys.entry("activation") {
            if e.value != "linear" {
                return Err(keys.err(
                    e.line,
                    CfgErrorKind::Unsupported { key: e.key.clone(), value: e.value.clone(), supported: "linear" },
                ));
            }
        }
        let e = keys.required("from")?;
        let from = match keys.ints(e)?.as_slice() {
            [one] => self.resolve(e, index, *one)?,
            _ => return Err(keys.bad(e, "exactly one layer index")),
        };
        if self.out_channels[from] != in_c {
            return Err(keys.err(
                e.line,
                CfgErrorKind::ShortcutChannels { layer: index, expected: in_c, found: self.out_channels[from] },
            ));
        }
        if self.factors[from] != in_f {
            return Err(keys.err(
                e.line,
                CfgErrorKind::RouteSizes {
                    layer: index,
                    first: [in_f.0, in_f.1],
                    other: [self.factors[from].0, self.factors[from].1],
                },
            ));
        }
        Ok(LayerSpec::Shortcut { from })
    }

    /// `[route]`: earlier layers of one size concatenated along channels.
    fn route(&self, keys: &Keys<'_>, index: usize) -> Result<(LayerSpec, usize, (usize, usize)), CfgError> {
        keys.check_known(&["layers"], &[])?;
        let e = keys.required("layers")?;
        let raw = keys.ints(e)?;
        if raw.is_empty() {
            return Err(keys.bad(e, "at least one layer index"));
        }
        let layers = raw.iter().map(|&r| self.resolve(e, index, r)).collect::<Result<Vec<_>, _>>()?;
        let first = self.factors[layers[0]];
        for &l in &layers[1..] {
            if self.factors[l] != first {
                return Err(keys.err(
                    e.line,
                    CfgErrorKind::RouteSizes {
                        layer: index,
                        first: [first.0, first.1],
                        other: [self.factors[l].0, self.factors[l].1],
                    },
                ));
            }
        }
        let c = layers.iter().map(|&l| self.out_channels[l]).sum();
        Ok((LayerSpec::Route { layers }, c, first))
    }

    fn conv(&self, keys: &Keys<'_>, in_channels: usize) -> Result<ConvSpec, CfgError> {
        keys.check_known(
            &["batch_normalize", "filters", "size", "stride", "pad", "padding", "activation", "groups"],
            &[],
        )?;
        let size = keys.positive("size", Some(1))?;
        let padding = if keys.usize_or("pad", 0)? != 0 { size / 2 } else { keys.usize_or("padding", 0)? };
        let groups = keys.positive("groups", Some(1))?;
        let filters = keys.positive("filters", None)?;
        if !in_channels.is_multiple_of(groups) || !filters.is_multiple_of(groups) {
            let e = keys.entry("groups").unwrap_or(&keys.section.entries[0]);
            return Err(keys.bad(e, "a divisor of the input and output channels"));
        }
        let activation = match keys.entry("activation") {
            None => Activation::Logistic,
            Some(e) => match e.value.as_str() {
                "leaky" => Activation::Leaky,
                "linear" => Activation::Linear,
                "relu" => Activation::Relu,
                "swish" | "silu" => Activation::Swish,
                "mish" => Activation::Mish,
                "logistic" => Activation::Logistic,
                _ => {
                    return Err(keys.err(
                        e.line,
                        CfgErrorKind::Unsupported {
                            key: e.key.clone(),
                            value: e.value.clone(),
                            supported: "leaky, linear, relu, swish, mish, logistic",
                        },
                    ))
                }
            },
        };
        Ok(ConvSpec {
            in_channels,
            filters,
            size,
            stride: keys.positive("stride", Some(1))?,
            padding,
            groups,
            batch_normalize: keys.usize_or("batch_normalize", 0)? != 0,
            activation,
        })
    }

    fn yolo(&self, keys: &Keys<'_>, index: usize) -> Result<YoloSpec, CfgError> {
        keys.check_known(&["mask", "anchors", "classes", "num", "scale_x_y"], YOLO_TRAINING_KEYS)?;
        if let Some(e) = keys.entry("scale_x_y") {
            if e.value.parse::<f32>().ok() != Some(1.0) {
                return Err(keys.err(
                    e.line,
                    CfgErrorKind::Unsupported { key: e.key.clone(), value: e.value.clone(), supported: "1.0" },
                ));
            }
        }
        let classes = keys.positive("classes", Some(20))?;
        let anchors_entry = keys.required("anchors")?;
        let flat = keys.floats(anchors_entry)?;
        if flat.len() % 2 != 0 || flat.is_empty() || flat.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(keys.bad(anchors_entry, "an even number of positive numbers (w,h pairs)"));
        }
        let all: Vec<[f32; 2]> = flat.chunks(2).map(|p| [p[0], p[1]]).collect();
        let num = keys.positive("num", Some(all.len()))?;
        if num != all.len() {
            let e = keys.entry("num").unwrap_or(anchors_entry);
            return Err(keys.bad(e, "the number of anchor pairs"));
        }
        let mask: Vec<usize> = match keys.entry("mask") {
            None => (0..num).collect(),
            Some(e) => {
                let mut out = Vec::new();
                for m in keys.ints(e)? {
                    let m = usize::try_from(m).map_err(|_| keys.bad(e, "anchor indices"))?;
                    if m >= num {
                        return Err(
                            keys.err(e.line, CfgErrorKind::MaskOutOfRange { layer: index, index: m, anchors: num })
                        );
                    }
                    out.push(m);
                }
                out
            }
        };
        let head = index.checked_sub(1).and_then(|i| match &self.layers[i] {
            LayerSpec::Conv(c) => Some(c),
            _ => None,
        });
        let Some(head) = head else {
            return Err(keys.err(keys.section.line, CfgErrorKind::YoloInput { layer: index }));
        };
        let expected = mask.len() * (classes + 5);
        if head.filters != expected {
            return Err(keys.err(
                keys.section.line,
                CfgErrorKind::HeadFilters { layer: index - 1, filters: head.filters, expected },
            ));
        }
        Ok(YoloSpec { anchors: mask.iter().map(|&m| all[m]).collect(), classes })
    }

    /// Resolves a darknet layer reference (negative = relative) to an earlier absolute index.
    fn resolve(&self, entry: &Entry, index: usize, raw: i64) -> Result<usize, CfgError> {
        let target = if raw < 0 { index as i64 + raw } else { raw };
        if target < 0 || target >= index as i64 {
            return Err(CfgError::new(self.source, entry.line, CfgErrorKind::BadReference { layer: index, target }));
        }
        Ok(target as usize)
    }
}

fn reduce((n, d): (usize, usize)) -> (usize, usize) {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(n, d).max(1);
    (n / g, d / g)
}

#[cfg(test)]
mod tests;
