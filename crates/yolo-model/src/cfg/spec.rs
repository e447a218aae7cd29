//! The typed, validated architecture: what each darknet layer is, with every cross-layer
//! reference resolved to an absolute index and every channel count known.

/// Conv activation functions that darknet-family cfgs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `leaky`: LeakyReLU with slope 0.1.
    Leaky,
    /// `linear`: identity.
    Linear,
    /// `relu`.
    Relu,
    /// `swish` (= SiLU, used by yolov5-style models).
    Swish,
    /// `mish`.
    Mish,
    /// `logistic` (sigmoid).
    Logistic,
}

impl Activation {
    /// The cfg spelling (`leaky`, `linear`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Leaky => "leaky",
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Swish => "swish",
            Activation::Mish => "mish",
            Activation::Logistic => "logistic",
        }
    }
}

/// `[convolutional]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvSpec {
    pub in_channels: usize,
    pub filters: usize,
    pub size: usize,
    pub stride: usize,
    /// Symmetric zero padding in pixels (darknet: `pad=1` means `size/2`, else `padding`).
    pub padding: usize,
    pub groups: usize,
    pub batch_normalize: bool,
    pub activation: Activation,
}

/// `[maxpool]`. Darknet pads `padding / 2` before and the rest after.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPoolSpec {
    pub size: usize,
    pub stride: usize,
    /// Total padding per axis (darknet default `size - 1`).
    pub padding: usize,
}

impl MaxPoolSpec {
    /// `(before, after)` padding per axis, as darknet computes output sizes.
    pub fn pads(&self) -> (usize, usize) {
        (self.padding / 2, self.padding - self.padding / 2)
    }
}

/// `[yolo]`: one detection head.
#[derive(Debug, Clone, PartialEq)]
pub struct YoloSpec {
    /// The anchors this head uses (after `mask`), `(w, h)` in network-input pixels.
    pub anchors: Vec<[f32; 2]>,
    pub classes: usize,
}

/// One layer of the network, in cfg order.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    Conv(ConvSpec),
    MaxPool(MaxPoolSpec),
    /// Adds the output of the absolute layer `from` to the previous layer's output.
    Shortcut {
        from: usize,
    },
    /// Concatenates the outputs of the absolute `layers` along channels.
    Route {
        layers: Vec<usize>,
    },
    /// Nearest-neighbour upsampling by `stride`.
    Upsample {
        stride: usize,
    },
    Yolo(YoloSpec),
}

/// A whole darknet network description.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    /// `[net] width/height`: the training resolution (inference size is chosen at run time).
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub layers: Vec<LayerSpec>,
    /// Output channels of each layer.
    pub out_channels: Vec<usize>,
    /// Downsampling factor of each layer's output relative to the input.
    pub strides: Vec<usize>,
    /// The largest downsampling factor anywhere in the net: inputs must be a multiple of it.
    pub max_stride: usize,
}

/// The most parameters a network may have (1 GiB of f32; yolov3-spp has 63 million): a cfg or
/// an inferred topology beyond this is refused before anything is allocated.
pub const MAX_PARAMETERS: u64 = 1 << 28;

impl NetworkSpec {
    /// Weights and BatchNorm statistics of every conv (what loading allocates), saturating.
    pub fn parameter_count(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| match l {
                LayerSpec::Conv(c) => {
                    let per_filter = (c.in_channels / c.groups.max(1)) as u64 * (c.size as u64).saturating_pow(2);
                    let extra = if c.batch_normalize { 4 } else { 1 };
                    (c.filters as u64).saturating_mul(per_filter.saturating_add(extra))
                }
                _ => 0,
            })
            .fold(0u64, u64::saturating_add)
    }

    /// An error when the network is larger than [`MAX_PARAMETERS`].
    pub fn check_parameters(&self) -> Result<(), String> {
        let count = self.parameter_count();
        match count > MAX_PARAMETERS {
            true => Err(format!(
                "the network would have {count} parameters ({} MiB), more than the {MAX_PARAMETERS} this loader \
                 accepts (yolov3-spp has 63 million)",
                count.saturating_mul(4) >> 20
            )),
            false => Ok(()),
        }
    }

    /// The `[yolo]` heads in cfg order.
    pub fn heads(&self) -> impl Iterator<Item = (usize, &YoloSpec)> {
        self.layers.iter().enumerate().filter_map(|(i, l)| match l {
            LayerSpec::Yolo(y) => Some((i, y)),
            _ => None,
        })
    }

    /// Number of classes (all heads agree; validated).
    pub fn classes(&self) -> usize {
        self.heads().next().map_or(0, |(_, y)| y.classes)
    }

    /// Number of prediction rows for a square-or-not input of `height x width`.
    pub fn rows_for(&self, height: usize, width: usize) -> usize {
        self.heads()
            .map(|(i, y)| {
                let stride = self.stride_of(i);
                y.anchors.len() * (height / stride) * (width / stride)
            })
            .sum()
    }

    /// Downsampling factor of the output of layer `index` relative to the input.
    pub fn stride_of(&self, index: usize) -> usize {
        self.strides[index]
    }
}
