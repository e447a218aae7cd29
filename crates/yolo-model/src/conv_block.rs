//! Darknet's `[convolutional]`: conv, optional BatchNorm, activation.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, mish, relu, sigmoid, silu};
use burn::tensor::{Device, Tensor};

use crate::cfg::{Activation, ConvSpec, MaxPoolSpec};
use crate::config::PadFill;
use crate::cpu::KernelCache;

/// One darknet conv layer. Native weight names: `conv.weight`, `conv.bias` (heads only),
/// `bn.{gamma,beta,running_mean,running_var}`.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: Conv2d,
    pub bn: Option<BatchNorm>,
    #[module(skip)]
    pub activation: Activation,
    /// Kernel-ready forms of the weights for the CPU fast path (not a parameter).
    #[module(skip)]
    pub cache: KernelCache,
}

impl ConvBlock {
    /// Builds the layer with burn's default initialisation (seed the device for determinism).
    pub fn new(spec: &ConvSpec, bn_eps: f64, device: &Device) -> Self {
        Self::with_initializer(spec, bn_eps, Conv2dConfig::new([1, 1], [1, 1]).initializer, device)
    }

    /// Builds the layer with conv weights from `initializer` (zeros when weights will be loaded).
    pub fn with_initializer(spec: &ConvSpec, bn_eps: f64, initializer: Initializer, device: &Device) -> Self {
        let conv = Conv2dConfig::new([spec.in_channels, spec.filters], [spec.size, spec.size])
            .with_initializer(initializer)
            .with_stride([spec.stride, spec.stride])
            .with_padding(PaddingConfig2d::Explicit(spec.padding, spec.padding, spec.padding, spec.padding))
            .with_groups(spec.groups)
            .with_bias(!spec.batch_normalize)
            .init(device);
        let bn = spec.batch_normalize.then(|| BatchNormConfig::new(spec.filters).with_epsilon(bn_eps).init(device));
        Self { conv, bn, activation: spec.activation, cache: KernelCache::default() }
    }

    /// Runs the block: through the fused CPU kernel ([`crate::cpu`]) when it applies (Flex
    /// backend, BatchNorm folded), else through burn's generic ops.
    ///
    /// # Shapes
    /// `[B, C_in, H, W] -> [B, filters, H', W']`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match crate::cpu::conv_block(self, &x) {
            Some(y) => y,
            None => self.forward_generic(x),
        }
    }

    /// The block followed by darknet's maxpool `pool` through the CPU kernels, fused where they
    /// can (see [`crate::cpu::fuses`]), or `None` where they do not take the pair: the caller
    /// runs [`ConvBlock::forward`] and the pool apart.
    pub(crate) fn forward_pooled(&self, x: &Tensor<4>, pool: &MaxPoolSpec, fill: PadFill) -> Option<Tensor<4>> {
        crate::cpu::conv_block_pooled(self, x, pool, fill)
    }

    /// Runs the block with its convolution through the plain CPU kernel (im2col + gemm on the
    /// weights in place, see [`crate::cpu::conv_plain`]) and BatchNorm and activation through
    /// burn's ops: the cheapest one-off pass of an unfolded model. Off Flex, burn's ops.
    pub fn forward_light(&self, x: Tensor<4>) -> Tensor<4> {
        let Some(x) = crate::cpu::conv_plain(self, &x) else { return self.forward_generic(x) };
        let x = match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        };
        activate(x, self.activation)
    }

    /// Runs the block through burn's generic ops only (conv, BatchNorm, activation): the
    /// reference the fast path is tested against, and the path every non-CPU backend takes.
    pub fn forward_generic(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.bn {
            Some(bn) => bn.forward(x),
            None => x,
        };
        activate(x, self.activation)
    }
}

/// Applies a darknet activation.
pub fn activate(x: Tensor<4>, activation: Activation) -> Tensor<4> {
    match activation {
        Activation::Leaky => leaky_relu(x, 0.1),
        Activation::Linear => x,
        Activation::Relu => relu(x),
        Activation::Swish => silu(x),
        Activation::Mish => mish(x),
        Activation::Logistic => sigmoid(x),
    }
}
