//! Direct convolution for layers with very few input channels (the first layer: 3 channels,
//! `C_in k k = 27`): as one matrix product its inner dimension is too short for the gemm
//! micro-kernels, and its column matrix is 9x the size of the image. Here each output row
//! is accumulated in cache from `C_in k k` shifted rows of a padded copy of the input,
//! loops the compiler vectorises; output rows of all channels run in parallel.

use rayon::prelude::*;

use super::conv::{activate_slice, ConvParams};
use super::im2col::ConvGeometry;

/// Whether the direct kernel is the faster choice for `g`: stride 1 and at most 32 products
/// per output (`C_in k k`), e.g. 3->32 3x3 at 416x416: 3.0 ms against im2col + gemm's 12.
pub(crate) fn applies(g: &ConvGeometry) -> bool {
    g.stride == 1 && g.patch_len() <= 32
}

/// One image: `image` `[C_in, H, W]` -> `out` `[C_out, H', W']`.
pub(crate) fn conv(image: &[f32], g: &ConvGeometry, p: &ConvParams<'_>, out: &mut [f32]) {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let (ph, pw) = (g.height + 2 * g.padding, g.width + 2 * g.padding);
    let mut padded = vec![0.0f32; g.in_channels * ph * pw];
    padded.par_chunks_exact_mut(ph * pw).zip(image.par_chunks_exact(g.height * g.width)).for_each(|(dst, src)| {
        for (y, row) in src.chunks_exact(g.width).enumerate() {
            let start = (y + g.padding) * pw + g.padding;
            dst[start..start + g.width].copy_from_slice(row);
        }
    });
    out.par_chunks_exact_mut(out_w).enumerate().for_each(|(r, row)| {
        let (c, oy) = (r / out_h, r % out_h);
        accumulate_row(row, &padded, g, p, c, oy);
    });
}

simd_fn! {
/// Output row `oy` of channel `c`: bias, then one shifted padded input row per tap.
fn accumulate_row<'a>(row: &'a mut [f32], padded: &'a [f32], g: &'a ConvGeometry, p: &'a ConvParams<'a>, c: usize, oy: usize) {
    let (k, out_w) = (g.kernel, row.len());
    let (ph, pw) = (g.height + 2 * g.padding, g.width + 2 * g.padding);
    row.fill(p.bias.map_or(0.0, |b| b[c]));
    let filters = &p.weight[c * g.patch_len()..(c + 1) * g.patch_len()];
    for (ci, taps) in filters.chunks_exact(k * k).enumerate() {
        for ky in 0..k {
            let src = &padded[(ci * ph + oy + ky) * pw..(ci * ph + oy + ky + 1) * pw];
            for kx in 0..k {
                let wv = taps[ky * k + kx];
                row.iter_mut().zip(&src[kx..kx + out_w]).for_each(|(o, &s)| *o += wv * s);
            }
        }
    }
    activate_slice(row, p.activation);
}
}
