//! The weightless darknet layers: maxpool (with darknet's padding), nearest upsample.

use burn::tensor::module::max_pool2d;
use burn::tensor::ops::{MaxPoolOptions, PadMode};
use burn::tensor::Tensor;

use crate::cfg::MaxPoolSpec;
use crate::config::PadFill;

/// Darknet maxpool: output `(W + padding - size) / stride + 1`, with `padding / 2` before.
///
/// Cells outside the map count as `-inf` (darknet, OpenCV, PyTorch's own pool padding). With
/// [`PadFill::Zero`] the *extra* trailing cells (`after - before`, tiny's `size=2 stride=1`
/// case) are zeros instead, as PyTorch ports' `ZeroPad2d((0, 1, 0, 1))` makes them.
///
/// # Shapes
/// `[B, C, H, W] -> [B, C, (H + p - k) / s + 1, (W + p - k) / s + 1]`
pub fn maxpool(x: Tensor<4>, spec: &MaxPoolSpec, fill: PadFill) -> Tensor<4> {
    let (before, after) = spec.pads();
    let (x, after) = match fill {
        PadFill::Zero if after > before => {
            let extra = after - before;
            (x.pad([(0, extra), (0, extra)], PadMode::Constant(0.0)), before)
        }
        _ => (x, after),
    };
    let mut options = MaxPoolOptions::new([spec.size, spec.size]);
    options.stride = [spec.stride, spec.stride];
    options.padding = [(before, after), (before, after)];
    max_pool2d(x, options)
}

/// Nearest-neighbour upsampling by an integer factor, exact on every backend (a broadcast copy).
///
/// # Shapes
/// `[B, C, H, W] -> [B, C, H * s, W * s]`
pub fn upsample_nearest(x: Tensor<4>, stride: usize) -> Tensor<4> {
    if stride == 1 {
        return x;
    }
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1]).expand([b, c, h, stride, w, stride]).reshape([b, c, h * stride, w * stride])
}
