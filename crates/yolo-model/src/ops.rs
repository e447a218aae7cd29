//! The weightless darknet layers: maxpool (with darknet's padding), nearest upsample.

use burn::tensor::module::max_pool2d;
use burn::tensor::ops::{MaxPoolOptions, PadMode};
use burn::tensor::Tensor;

use crate::cfg::MaxPoolSpec;
use crate::config::PadFill;

/// Darknet maxpool (see [`maxpool_generic`]), through the CPU kernel on the Flex backend.
pub fn maxpool(x: Tensor<4>, spec: &MaxPoolSpec, fill: PadFill) -> Tensor<4> {
    match crate::cpu::maxpool(&x, spec, fill) {
        Some(y) => y,
        None => maxpool_generic(x, spec, fill),
    }
}

/// Darknet maxpool with burn's ops: output `(W + padding - size) / stride + 1`, with `padding / 2` before.
///
/// Cells outside the map count as `-inf` (darknet, OpenCV, PyTorch's own pool padding). With
/// [`PadFill::Zero`] the *extra* trailing cells (`after - before`, tiny's `size=2 stride=1`
/// case) are zeros instead, as PyTorch ports' `ZeroPad2d((0, 1, 0, 1))` makes them.
///
/// # Shapes
/// `[B, C, H, W] -> [B, C, (H + p - k) / s + 1, (W + p - k) / s + 1]`
pub fn maxpool_generic(x: Tensor<4>, spec: &MaxPoolSpec, fill: PadFill) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (before, after) = spec.pads();
    let k = spec.size;
    // Fast path 1: non-overlapping windows that tile the map exactly (darknet's trailing pad
    // is never reached): a reshape and two max reductions.
    if spec.stride == k && before == 0 && h % k == 0 && w % k == 0 {
        let [b, c, _, _] = x.dims();
        return x.reshape([b, c, h / k, k, w / k, k]).max_dim(5).max_dim(3).reshape([b, c, h / k, w / k]);
    }
    // Pad explicitly: `-inf` everywhere, except zeros for the extra trailing cells in Zero mode
    // (one pad call unless both fills are needed).
    let extra = after.saturating_sub(before);
    let neg_inf = PadMode::Constant(f32::NEG_INFINITY);
    let x = match fill {
        PadFill::Zero if extra > 0 => {
            let x = x.pad([(0, extra), (0, extra)], PadMode::Constant(0.0));
            if before > 0 {
                x.pad([(before, before), (before, before)], neg_inf)
            } else {
                x
            }
        }
        _ if before > 0 || after > 0 => x.pad([(before, after), (before, after)], neg_inf),
        _ => x,
    };
    // Fast path 2: stride 1 (tiny's 2/1 pool, SPP's 5/9/13): separable running maxima of
    // shifted views, 2k elementwise maxima instead of a generic windowed kernel.
    if spec.stride == 1 {
        let [_, _, ph, pw] = x.dims();
        let (oh, ow) = (ph + 1 - k, pw + 1 - k);
        let rows = (1..k).fold(x.clone().narrow(2, 0, oh), |m, i| m.max_pair(x.clone().narrow(2, i, oh)));
        return (1..k).fold(rows.clone().narrow(3, 0, ow), |m, j| m.max_pair(rows.clone().narrow(3, j, ow)));
    }
    let mut options = MaxPoolOptions::new([k, k]);
    options.stride = [spec.stride, spec.stride];
    max_pool2d(x, options)
}

/// Nearest-neighbour upsampling by an integer factor, exact on every backend: the CPU kernel
/// on Flex, a broadcast copy ([`upsample_generic`]) elsewhere.
///
/// # Shapes
/// `[B, C, H, W] -> [B, C, H * s, W * s]`
pub fn upsample_nearest(x: Tensor<4>, stride: usize) -> Tensor<4> {
    if stride == 1 {
        return x;
    }
    match crate::cpu::upsample(&x, stride) {
        Some(y) => y,
        None => upsample_generic(x, stride),
    }
}

/// [`upsample_nearest`] with burn's ops (every backend; the reference the CPU kernel is
/// tested against).
pub fn upsample_generic(x: Tensor<4>, stride: usize) -> Tensor<4> {
    if stride == 1 {
        return x;
    }
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1]).expand([b, c, h, stride, w, stride]).reshape([b, c, h * stride, w * stride])
}
