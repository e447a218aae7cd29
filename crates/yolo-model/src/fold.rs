//! Inference fast path: BatchNorm folded into the preceding convolution.
//!
//! `conv -> (x - mean) / sqrt(var + eps) * gamma + beta` equals one conv with weights scaled by
//! `gamma / sqrt(var + eps)` per output channel and bias `beta - mean * scale`: one pass over
//! the activations instead of several. The unfolded model stays available (and is what gets
//! saved); parity tests run both.

use burn::module::Param;

use crate::conv_block::ConvBlock;
use crate::cpu::KernelCache;
use crate::network::Yolo;

impl ConvBlock {
    /// This block with its BatchNorm folded into the conv (unchanged when it has none).
    pub fn fold_batchnorm(self) -> ConvBlock {
        let ConvBlock { mut conv, bn, activation, cache } = self;
        let Some(bn) = bn else {
            return ConvBlock { conv, bn: None, activation, cache };
        };
        let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
        let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
        let [out, ..] = conv.weight.dims();
        let weight = conv.weight.val() * scale.clone().reshape([out, 1, 1, 1]);
        let bias = match conv.bias.take() {
            // A conv bias before BN (not in darknet, possible in a cfg): scale it too.
            Some(b) => b.val() * scale + shift,
            None => shift,
        };
        conv.weight = Param::from_tensor(weight);
        conv.bias = Some(Param::from_tensor(bias));
        ConvBlock { conv, bn: None, activation, cache: KernelCache::default() }
    }
}

impl Yolo {
    /// The same network with every BatchNorm folded into its conv: the inference fast path.
    pub fn fold_batchnorm(self) -> Yolo {
        self.map_blocks(ConvBlock::fold_batchnorm)
    }

    /// Whether any BatchNorm is left unfolded.
    pub fn has_batchnorm(&self) -> bool {
        self.layers.iter().flatten().any(|b| b.bn.is_some())
    }
}
