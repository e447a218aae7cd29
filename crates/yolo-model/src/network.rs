//! The whole network: darknet layers run in cfg order, with route/shortcut references.

use burn::module::Module;
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

use crate::cfg::{LayerSpec, MaxPoolSpec};
use crate::config::YoloConfig;
use crate::conv_block::ConvBlock;
use crate::decode::{decode_head, HeadGeometry};
use crate::ops::{maxpool, maxpool_generic, upsample_generic, upsample_nearest};

/// YOLOv3 (any darknet cfg of the supported layer types) as a burn module.
///
/// `layers[i]` holds the weights of cfg layer `i` when it has any (convolutions), so native
/// weight names are `layers.{i}.conv.weight`, `layers.{i}.bn.gamma`, ... with `i` the cfg index.
#[derive(Module, Debug)]
pub struct Yolo {
    pub layers: Vec<Option<ConvBlock>>,
    #[module(skip)]
    config: YoloConfig,
    /// `keep[i]`: layer `i`'s output is read again by a later route or shortcut.
    #[module(skip)]
    keep: Vec<bool>,
    /// Which ops run the layers.
    #[module(skip)]
    ops: Ops,
}

/// Which ops run a [`Yolo`]'s layers (one choice: the last `with_*` call sets it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Ops {
    /// The CPU kernels where they apply (Flex, folded blocks), else burn's ops.
    #[default]
    Kernels,
    /// burn's generic ops everywhere, never the CPU kernels (benchmarks and parity checks of
    /// the kernels themselves).
    Generic,
    /// Convolutions through the plain CPU kernel ([`ConvBlock::forward_light`]), the rest as
    /// `Kernels`: one pass of an unfolded model, such as import's validation.
    LightConvs,
}

/// Why an input cannot go through the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("input has {found} channels, the network expects {expected}")]
    Channels { expected: usize, found: usize },
    #[error("input size {height}x{width} is not a positive multiple of {stride}, the network's largest stride")]
    Size { height: usize, width: usize, stride: usize },
    #[error("at input size {height}x{width}, layer {layer} {reason}")]
    Layer { height: usize, width: usize, layer: usize, reason: String },
    #[error(
        "at input size {height}x{width} and batch {batch}, layer {layer}'s output would take {mib} MiB \
         (more than the {limit_mib} MiB one activation may use): use a smaller --size or --batch"
    )]
    TooLarge { height: usize, width: usize, batch: usize, layer: usize, mib: u64, limit_mib: u64 },
}

/// The most one layer's output may take (all images of a batch): yolov3 at 4096x4096 needs
/// 2 GiB in its first layer; beyond this a cfg or a --size/--batch is an error, not an abort.
pub const MAX_ACTIVATION_BYTES: u64 = 4 << 30;

impl Yolo {
    /// Builds the network with freshly initialised weights (seed the device for determinism).
    pub fn new(config: YoloConfig, device: &Device) -> Self {
        Self::build(config, None, device)
    }

    /// Builds the network with zeroed weights, for loading: no random numbers are drawn for
    /// tens of millions of parameters that are about to be replaced.
    pub fn for_loading(config: YoloConfig, device: &Device) -> Self {
        Self::build(config, Some(Initializer::Zeros), device)
    }

    fn build(config: YoloConfig, initializer: Option<Initializer>, device: &Device) -> Self {
        let layers = config
            .spec
            .layers
            .iter()
            .map(|layer| match layer {
                LayerSpec::Conv(conv) => Some(match &initializer {
                    Some(init) => ConvBlock::with_initializer(conv, config.numerics.bn_eps, init.clone(), device),
                    None => ConvBlock::new(conv, config.numerics.bn_eps, device),
                }),
                _ => None,
            })
            .collect();
        let mut keep = vec![false; config.spec.layers.len()];
        for (i, layer) in config.spec.layers.iter().enumerate() {
            match layer {
                LayerSpec::Route { layers } => layers.iter().for_each(|&l| keep[l] |= l + 1 != i),
                LayerSpec::Shortcut { from } => keep[*from] = true,
                _ => {}
            }
        }
        Self { layers, config, keep, ops: Ops::Kernels }
    }

    /// Rebuilds the network with every conv block transformed by `f` (used by BN folding).
    pub(crate) fn map_blocks(self, f: impl Fn(ConvBlock) -> ConvBlock) -> Yolo {
        let Yolo { layers, config, keep, ops } = self;
        Yolo { layers: layers.into_iter().map(|l| l.map(&f)).collect(), config, keep, ops }
    }

    /// The same network, with every layer forced through burn's generic ops (`true`) or
    /// allowed the CPU kernels where they apply (`false`, the default).
    pub fn with_generic_ops(self, generic: bool) -> Yolo {
        Yolo { ops: if generic { Ops::Generic } else { Ops::Kernels }, ..self }
    }

    /// The same network, with convolutions through the plain CPU kernel (`true`: im2col +
    /// gemm on the weights as they are, BatchNorm unfolded) or the usual kernels (`false`).
    /// For a single pass where Winograd transforms, kernel measuring and burn's per-call
    /// weight relayout cost more than the pass: import's validation of the 248 MB yolov3 took
    /// 65-110 ms through burn's conv, 25-35 ms this way (2-core AMD EPYC).
    pub fn with_light_convs(self, light: bool) -> Yolo {
        Yolo { ops: if light { Ops::LightConvs } else { Ops::Kernels }, ..self }
    }

    pub fn config(&self) -> &YoloConfig {
        &self.config
    }

    /// Checks that `[B, C, H, W]` fits the network.
    pub fn check_input(&self, dims: [usize; 4]) -> Result<(), InputError> {
        let spec = &self.config.spec;
        let [_, c, h, w] = dims;
        if c != spec.channels {
            return Err(InputError::Channels { expected: spec.channels, found: c });
        }
        let stride = spec.max_stride;
        if h == 0 || w == 0 || h % stride != 0 || w % stride != 0 {
            return Err(InputError::Size { height: h, width: w, stride });
        }
        // Strides fit; unpadded windows and the maps joined by shortcuts and routes must too.
        let sizes = crate::shapes::map_sizes(spec, h, w).map_err(|(layer, reason)| InputError::Layer {
            height: h,
            width: w,
            layer,
            reason,
        })?;
        let batch = dims[0];
        let bytes = |i: usize, [mh, mw]: [usize; 2]| {
            (spec.out_channels[i] as u64).saturating_mul(mh as u64 * mw as u64).saturating_mul(4 * batch as u64)
        };
        match sizes.iter().enumerate().map(|(i, &hw)| (i, bytes(i, hw))).max_by_key(|&(_, b)| b) {
            Some((layer, b)) if b > MAX_ACTIVATION_BYTES => Err(InputError::TooLarge {
                height: h,
                width: w,
                batch,
                layer,
                mib: b >> 20,
                limit_mib: MAX_ACTIVATION_BYTES >> 20,
            }),
            _ => Ok(()),
        }
    }

    /// The raw output maps of the `[yolo]` heads, in cfg order.
    ///
    /// # Shapes
    /// `[B, C, H, W] -> [B, A * (5 + classes), H / s, W / s]` per head
    pub fn forward_heads(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        self.run(x, &mut |_, _| {})
    }

    /// Wall time of each cfg layer in one forward pass (`times[i]` for layer `i`): each
    /// layer's output is read back before the next starts, so asynchronous backends are
    /// timed per layer too. For `yolov3 bench --profile`.
    pub fn profile(&self, x: Tensor<4>) -> Vec<std::time::Duration> {
        let mut times = Vec::with_capacity(self.config.spec.layers.len());
        let mut last = std::time::Instant::now();
        self.run(x, &mut |_, out| {
            // A read of one element waits for the layer (and only it) to finish.
            let _ = out.clone().slice([0..1, 0..1, 0..1, 0..1]).into_data();
            let now = std::time::Instant::now();
            times.push(now - last);
            last = now;
        });
        times
    }

    /// Whether layer `i`, a convolution, runs together with the maxpool after it on the CPU
    /// kernels (the pair's output only: `after` sees the pooled map for both layers, and
    /// `bench --profile` times them as one).
    pub fn fuses_pool(&self, i: usize) -> bool {
        self.ops == Ops::Kernels && self.fused_pool(i).is_some()
    }

    /// The maxpool after layer `i` when the two may run fused: `i` is a convolution whose
    /// output nothing but that pool reads, and the pair is one the kernels fuse
    /// ([`crate::cpu::fuses`]; they still decline per input, e.g. on odd maps or off Flex).
    fn fused_pool(&self, i: usize) -> Option<&MaxPoolSpec> {
        let layers = &self.config.spec.layers;
        match (layers.get(i), layers.get(i + 1)) {
            (Some(LayerSpec::Conv(conv)), Some(LayerSpec::MaxPool(pool)))
                if !self.keep[i] && crate::cpu::fuses(conv.activation, pool) =>
            {
                Some(pool)
            }
            _ => None,
        }
    }

    /// Layer `i`, a convolution, on `x` through the ops chosen, and whether it also ran the
    /// maxpool after it ([`Yolo::fuses_pool`]).
    fn conv(&self, i: usize, x: Tensor<4>) -> (Tensor<4>, bool) {
        let Some(block) = &self.layers[i] else { unreachable!("Yolo::new builds a ConvBlock for every conv layer") };
        match self.ops {
            Ops::Kernels => {
                let fill = self.config.numerics.maxpool_fill;
                match self.fused_pool(i).and_then(|pool| block.forward_pooled(&x, pool, fill)) {
                    Some(y) => (y, true),
                    None => (block.forward(x), false),
                }
            }
            Ops::Generic => (block.forward_generic(x), false),
            Ops::LightConvs => (block.forward_light(x), false),
        }
    }

    /// Runs the layers, calling `after(i, output)` once each layer is computed.
    fn run(&self, x: Tensor<4>, after: &mut dyn FnMut(usize, &Tensor<4>)) -> Vec<Tensor<4>> {
        let spec = &self.config.spec;
        let mut saved: Vec<Option<Tensor<4>>> = vec![None; spec.layers.len()];
        let mut heads = Vec::new();
        let mut x = x;
        // Set when a convolution already ran the maxpool after it: that layer is then done.
        let mut pooled = false;
        for (i, layer) in spec.layers.iter().enumerate() {
            x = match layer {
                // This maxpool already ran, fused into the convolution before it.
                LayerSpec::MaxPool(_) if std::mem::take(&mut pooled) => x,
                LayerSpec::Conv(_) => {
                    let (y, fused) = self.conv(i, x);
                    pooled = fused;
                    y
                }
                LayerSpec::MaxPool(pool) if self.ops == Ops::Generic => {
                    maxpool_generic(x, pool, self.config.numerics.maxpool_fill)
                }
                LayerSpec::MaxPool(pool) => maxpool(x, pool, self.config.numerics.maxpool_fill),
                LayerSpec::Upsample { stride } if self.ops == Ops::Generic => upsample_generic(x, *stride),
                LayerSpec::Upsample { stride } => upsample_nearest(x, *stride),
                LayerSpec::Shortcut { from } => x + output(&saved, *from, i),
                LayerSpec::Route { layers } => {
                    let parts: Vec<Tensor<4>> =
                        layers.iter().map(|&l| if l + 1 == i { x.clone() } else { output(&saved, l, i) }).collect();
                    if parts.len() == 1 {
                        parts.into_iter().next().unwrap_or(x)
                    } else {
                        Tensor::cat(parts, 1)
                    }
                }
                LayerSpec::Yolo(_) => {
                    heads.push(x.clone());
                    x
                }
            };
            after(i, &x);
            if self.keep[i] {
                saved[i] = Some(x.clone());
            }
        }
        heads
    }

    /// Decoded predictions, one row per anchor and grid cell, on the device.
    ///
    /// Rows are in cfg `[yolo]` order, then anchor, grid row, grid column. Columns:
    /// `cx, cy, w, h` in network-input pixels, objectness, per-class scores (sigmoid, not
    /// multiplied by objectness).
    ///
    /// # Shapes
    /// `[B, C, H, W] -> [B, N, 5 + classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        let [_, _, h, w] = x.dims();
        let spec = &self.config.spec;
        let heads = self.forward_heads(x);
        let decoded: Vec<Tensor<3>> = heads
            .into_iter()
            .zip(spec.heads())
            .map(|(map, (_, yolo))| {
                let geometry = HeadGeometry { input_hw: [h, w], anchors: &yolo.anchors, classes: yolo.classes };
                decode_head(map, &geometry, self.config.numerics.decode)
            })
            .collect();
        Tensor::cat(decoded, 1)
    }
}

/// The saved output of an earlier layer; `Yolo::new` marks every referenced layer to be kept.
fn output(saved: &[Option<Tensor<4>>], layer: usize, at: usize) -> Tensor<4> {
    match &saved[layer] {
        Some(t) => t.clone(),
        None => unreachable!("layer {at} reads layer {layer}, which Yolo::new marked to keep"),
    }
}
