//! The convolution itself on host slices: `act(weights x im2col(x) + bias)`, one image at a
//! time, in bands of output rows so the column matrix stays in cache.

use rayon::prelude::*;

use super::choice::Pick;
use super::gemm::{matmul, Mat, MatMut};
use super::im2col::{im2col, im2col_serial, ConvGeometry};
use super::winograd::{self, Variant};
use super::{buffers, direct};
use crate::cfg::Activation;

/// Column-matrix budget per band, in floats (4 MiB): big enough for an efficient product,
/// small enough to stay in the last-level cache while the product consumes it.
const BAND_FLOATS: usize = 1 << 20;

/// Column-matrix budget of one band in [`im2col_bands`], in floats (1 MiB).
const TASK_FLOATS: usize = 1 << 18;

/// Which algorithm computes a convolution, with its data: a [`Pick`] made runnable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kernel<'a> {
    /// Winograd with `u`, the weights transformed for `variant`; `stacked` runs a batch as one
    /// tall image ([`winograd_stacked`]).
    Winograd { variant: Variant, u: &'a [f32], stacked: bool },
    /// The register-blocked [`direct`] kernel, no column matrix.
    Direct,
    /// 1x1, stride 1, no padding: the image is the column matrix, one product.
    Pointwise,
    /// Everything else: column matrix in row bands, one product per band; `banded` runs the
    /// bands in parallel with a single-threaded product each, else one after another with
    /// each product split across threads.
    Im2col { banded: bool },
}

impl<'a> Kernel<'a> {
    /// The kernel of `pick`; `u` supplies the transformed weights of a Winograd variant
    /// (typically from the block's cache) and is called only for those.
    pub fn new(pick: Pick, u: impl FnOnce(Variant) -> &'a [f32]) -> Kernel<'a> {
        match pick.variant() {
            Some(variant) => Kernel::Winograd { variant, u: u(variant), stacked: pick.stacked() },
            None if pick == Pick::Direct => Kernel::Direct,
            // Its output is pooled: `HostConv::run_pooled` calls `direct::conv_pooled` itself.
            None if pick == Pick::DirectPooled => unreachable!("the fused pool never runs through conv2d"),
            None if pick == Pick::Pointwise => Kernel::Pointwise,
            None => Kernel::Im2col { banded: pick == Pick::Im2colBands },
        }
    }
}

/// A convolution's parameters as host slices: `weight` is `[C_out, C_in, k, k]` row-major.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvParams<'a> {
    pub weight: &'a [f32],
    pub kernel: Kernel<'a>,
    pub bias: Option<&'a [f32]>,
    pub out_channels: usize,
    pub activation: Activation,
}

/// Runs the convolution on `input` (`[B, C_in, H, W]`) into `output` (`[B, C_out, H', W']`).
pub(crate) fn conv2d(input: &[f32], batch: usize, g: &ConvGeometry, p: &ConvParams<'_>, output: &mut [f32]) {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let in_len = g.in_channels * g.height * g.width;
    let out_plane = out_h * out_w;
    let k = g.patch_len();
    let threads = rayon::current_num_threads();
    let weights = Mat { data: p.weight, rows: p.out_channels, cols: k, row_stride: k };
    if let Kernel::Winograd { variant, u, stacked: true } = p.kernel {
        if batch > 1 {
            return winograd_stacked(variant, u, &input[..batch * in_len], batch, g, p, output);
        }
    }
    let band_rows = (BAND_FLOATS / (k * out_w).max(1)).clamp(1, out_h);
    // The column matrix of the one-band-at-a-time path, reused for every band and image.
    let mut cols = (p.kernel == Kernel::Im2col { banded: false }).then(|| buffers::take(k * band_rows * out_w));
    let images = input.chunks_exact(in_len).zip(output.chunks_exact_mut(p.out_channels * out_plane)).take(batch);
    for (image, out) in images {
        match p.kernel {
            // Winograd adds the bias and activates as it writes.
            Kernel::Winograd { variant, u, .. } => {
                winograd::conv3x3(variant, image, g, u, p.bias, p.out_channels, p.activation, out);
            }
            Kernel::Direct => direct::conv(image, g, p, out),
            Kernel::Pointwise => {
                let rhs = Mat { data: image, rows: k, cols: out_plane, row_stride: out_plane };
                let dst = MatMut { data: out, rows: p.out_channels, cols: out_plane, row_stride: out_plane };
                matmul(dst, weights, rhs, false, threads);
                bias_activate(out, out_plane, p.bias, p.activation);
            }
            Kernel::Im2col { banded: true } => im2col_bands(image, g, p, out),
            Kernel::Im2col { banded: false } => {
                let cols = cols.as_deref_mut().unwrap_or_default();
                let mut first = 0;
                while first < out_h {
                    let rows = band_rows.min(out_h - first);
                    let n = rows * out_w;
                    im2col(image, g, first, rows, cols);
                    let rhs = Mat { data: cols, rows: k, cols: n, row_stride: n };
                    let data = &mut out[first * out_w..];
                    let dst = MatMut { data, rows: p.out_channels, cols: n, row_stride: out_plane };
                    matmul(dst, weights, rhs, false, threads);
                    first += rows;
                }
                bias_activate(out, out_plane, p.bias, p.activation);
            }
        }
    }
}

/// A batch of small maps through Winograd as one image: the images stacked vertically, one
/// zero row between neighbours (the padding row each needs above and below; the output rows
/// computed at the separators are dropped). The products then see the tiles of every image
/// at once: each band of tile rows reads the transformed weights once for several images,
/// instead of once per image, and its products are wider.
fn winograd_stacked(
    variant: Variant,
    u: &[f32],
    input: &[f32],
    batch: usize,
    g: &ConvGeometry,
    p: &ConvParams<'_>,
    output: &mut [f32],
) {
    let (h, w, channels) = (g.height, g.width, g.in_channels);
    let tall = ConvGeometry { height: batch * (h + 1) - 1, ..*g };
    let plane = h * w;
    let mut stacked = buffers::take_zeroed(channels * tall.height * w);
    stacked.par_chunks_exact_mut(tall.height * w).enumerate().for_each(|(c, dst)| {
        for j in 0..batch {
            dst[j * (h + 1) * w..][..plane].copy_from_slice(&input[(j * channels + c) * plane..][..plane]);
        }
    });
    let mut out = buffers::take(p.out_channels * tall.height * w);
    winograd::conv3x3(variant, &stacked, &tall, u, p.bias, p.out_channels, p.activation, &mut out);
    let planes = output[..batch * p.out_channels * plane].par_chunks_exact_mut(plane).enumerate();
    planes.for_each(|(i, dst)| {
        let (j, o) = (i / p.out_channels, i % p.out_channels);
        dst.copy_from_slice(&out[(o * tall.height + j * (h + 1)) * w..][..plane]);
    });
}

/// im2col + gemm with the bands of output rows in parallel, each on one thread: its own
/// column matrix, one single-threaded product into a band-sized buffer, then bias and
/// activation as the band is copied into its rows of every output plane.
fn im2col_bands(image: &[f32], g: &ConvGeometry, p: &ConvParams<'_>, out: &mut [f32]) {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let (k, plane) = (g.patch_len(), out_h * out_w);
    let threads = rayon::current_num_threads();
    let band_rows = (TASK_FLOATS / (k * out_w).max(1)).clamp(1, out_h.div_ceil(2 * threads));
    let pieces = plane_bands(&mut out[..p.out_channels * plane], plane, band_rows * out_w, p.out_channels);
    let weights = Mat { data: p.weight, rows: p.out_channels, cols: k, row_stride: k };
    pieces.into_par_iter().enumerate().for_each(|(band, mut planes)| {
        let first = band * band_rows;
        let n = band_rows.min(out_h - first) * out_w;
        let mut cols = buffers::take(k * n);
        im2col_serial(image, g, first, n / out_w, &mut cols);
        let mut product = buffers::take(p.out_channels * n);
        let dst = MatMut { data: &mut product, rows: p.out_channels, cols: n, row_stride: n };
        matmul(dst, weights, Mat { data: &cols, rows: k, cols: n, row_stride: n }, false, 1);
        for (o, (dst, src)) in planes.iter_mut().zip(product.chunks_exact(n)).enumerate() {
            dst.copy_from_slice(src);
            add_activate(dst, p.bias.map_or(0.0, |b| b[o]), p.activation);
        }
    });
}

/// Splits `out` (planes of `plane` floats) into work items for threads that each write one band
/// of rows (`band_len` floats) of a group of `group` consecutive planes: item
/// `(plane / group) * bands + band` holds those rows, one slice per plane of its group.
pub(crate) fn plane_bands(out: &mut [f32], plane: usize, band_len: usize, group: usize) -> Vec<Vec<&mut [f32]>> {
    let bands = plane.div_ceil(band_len);
    let groups = (out.len() / plane).div_ceil(group);
    let mut items: Vec<Vec<&mut [f32]>> = (0..groups * bands).map(|_| Vec::with_capacity(group)).collect();
    for (o, channel) in out.chunks_exact_mut(plane).enumerate() {
        for (band, rows) in channel.chunks_mut(band_len).enumerate() {
            items[(o / group) * bands + band].push(rows);
        }
    }
    items
}

/// Adds each channel's bias to its output plane and applies the activation: one pass.
fn bias_activate(out: &mut [f32], plane: usize, bias: Option<&[f32]>, activation: Activation) {
    if bias.is_none() && activation == Activation::Linear {
        return;
    }
    // Planes split into cache-sized pieces so small maps with many channels still spread.
    let piece = plane.min(1 << 14);
    out.par_chunks_mut(plane).enumerate().for_each(|(c, channel)| {
        let b = bias.map_or(0.0, |b| b[c]);
        channel.chunks_mut(piece).for_each(|chunk| add_activate(chunk, b, activation));
    });
}

simd_fn! {
fn add_activate<'a>(values: &'a mut [f32], b: f32, activation: Activation) {
    if b != 0.0 {
        values.iter_mut().for_each(|v| *v += b);
    }
    activate_plain(values, activation);
}
}

/// Applies `activation` in place, with the formulas of burn's activations: one loop per
/// activation (not a function pointer per element), `#[inline(always)]` so it takes the
/// instruction set of the [`simd_fn!`] body it is called from.
#[inline(always)]
pub(crate) fn activate_plain(values: &mut [f32], activation: Activation) {
    match activation {
        Activation::Linear => {}
        Activation::Leaky => values.iter_mut().for_each(|v| *v = if *v >= 0.0 { *v } else { *v * 0.1 }),
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Logistic => values.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Swish => values.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
        Activation::Mish => values.iter_mut().for_each(|v| *v *= softplus(*v).tanh()),
    }
}

/// `activation` applied to 16 lanes in registers, value for value as [`activate_plain`] (NaN
/// included), for the piecewise-linear ones; `None` for the others (the caller falls back).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) fn activate_avx512(
    v: std::arch::x86_64::__m512,
    activation: Activation,
) -> Option<std::arch::x86_64::__m512> {
    use std::arch::x86_64::{
        _mm512_cmp_ps_mask, _mm512_mask_mul_ps, _mm512_max_ps, _mm512_set1_ps, _mm512_setzero_ps, _CMP_NGE_UQ,
    };
    match activation {
        Activation::Linear => Some(v),
        Activation::Relu => Some(_mm512_max_ps(v, _mm512_setzero_ps())),
        Activation::Leaky => {
            let negative = _mm512_cmp_ps_mask::<_CMP_NGE_UQ>(v, _mm512_setzero_ps());
            Some(_mm512_mask_mul_ps(v, negative, v, _mm512_set1_ps(0.1)))
        }
        Activation::Logistic | Activation::Swish | Activation::Mish => None,
    }
}

/// `ln(1 + e^x)` without overflow for large `x`.
#[inline(always)]
fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}
