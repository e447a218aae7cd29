//! The convolution itself on host slices: `act(weights x im2col(x) + bias)`, one image at a
//! time, in bands of output rows so the column matrix stays in cache.

use rayon::prelude::*;

use super::direct;
use super::gemm::{matmul, Mat, MatMut};
use super::im2col::{im2col, ConvGeometry};
use super::winograd::{self, Variant};
use crate::cfg::Activation;

/// Column-matrix budget per band, in floats (4 MiB): big enough for an efficient product,
/// small enough to stay in the last-level cache while the product consumes it.
const BAND_FLOATS: usize = 1 << 20;

/// A convolution's parameters as host slices: `weight` is `[C_out, C_in, k, k]` row-major.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvParams<'a> {
    pub weight: &'a [f32],
    /// Winograd variant and transformed weights, when [`winograd::choose`] picked one.
    pub winograd: Option<(Variant, &'a [f32])>,
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
    let band_rows = (BAND_FLOATS / (k * out_w).max(1)).clamp(1, out_h);
    let mut cols =
        if g.is_pointwise() || p.winograd.is_some() { Vec::new() } else { vec![0.0f32; k * band_rows * out_w] };
    for (image, out) in input.chunks_exact(in_len).zip(output.chunks_exact_mut(p.out_channels * out_plane)).take(batch)
    {
        if let Some((variant, u)) = p.winograd {
            winograd::conv3x3(variant, image, g, u, p.bias, p.out_channels, p.activation, out);
            continue;
        }
        if direct::applies(g) {
            direct::conv(image, g, p, out);
            continue;
        }
        if g.is_pointwise() {
            let rhs = Mat { data: image, rows: k, cols: out_plane, row_stride: out_plane };
            let dst = MatMut { data: out, rows: p.out_channels, cols: out_plane, row_stride: out_plane };
            matmul(dst, weights, rhs, false, threads);
        } else {
            let mut first = 0;
            while first < out_h {
                let rows = band_rows.min(out_h - first);
                let n = rows * out_w;
                im2col(image, g, first, rows, &mut cols);
                let rhs = Mat { data: &cols, rows: k, cols: n, row_stride: n };
                let dst =
                    MatMut { data: &mut out[first * out_w..], rows: p.out_channels, cols: n, row_stride: out_plane };
                matmul(dst, weights, rhs, false, threads);
                first += rows;
            }
        }
        bias_activate(out, out_plane, p.bias, p.activation);
    }
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

/// Applies `activation` in place on this thread, with the formulas of burn's activations.
/// One loop per activation (not a function pointer per element), so each one vectorises.
pub(crate) fn activate_slice(values: &mut [f32], activation: Activation) {
    activate_simd(values, activation);
}

simd_fn! {
fn activate_simd<'a>(values: &'a mut [f32], activation: Activation) {
    activate_plain(values, activation);
}
}

/// The activation loops; `#[inline(always)]` so they take the instruction set of the
/// [`simd_fn!`] body they are called from.
#[inline(always)]
fn activate_plain(values: &mut [f32], activation: Activation) {
    match activation {
        Activation::Linear => {}
        Activation::Leaky => values.iter_mut().for_each(|v| *v = if *v >= 0.0 { *v } else { *v * 0.1 }),
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Logistic => values.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Swish => values.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
        Activation::Mish => values.iter_mut().for_each(|v| *v *= softplus(*v).tanh()),
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
