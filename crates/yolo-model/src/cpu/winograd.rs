//! Winograd F(2x2, 3x3) for the stride-1, pad-1 3x3 convolutions that carry most of YOLOv3's
//! arithmetic: each 2x2 output tile costs 16 multiplies per channel pair instead of 36, so
//! the matrix products shrink 2.25x for a few additions in the tile transforms.
//!
//! Per band of tiles: `V = Bᵀ d B` for every input channel and tile, then 16 products
//! `M[ξ] = U[ξ] V[ξ]` (`U = G g Gᵀ`, the transformed weights, cached per weight tensor), then
//! `y = Aᵀ M A + bias` and the activation. Layouts put the 16 transform points in the middle
//! (`V: [C_in][16][tiles]`, `M: [C_out][16][tiles]`) so every pass parallelises over whole
//! channels and each product reads strided views.
//!
//! The transforms are exact in real arithmetic; in f32 the result differs from the direct
//! convolution by rounding only (a few 1e-7 relative, tested).

use rayon::prelude::*;

use super::conv::activate_slice;
use super::gemm::{matmul, Mat, MatMut};
use super::im2col::ConvGeometry;
use crate::cfg::Activation;

/// Transform points per tile (a 4x4 input patch).
const POINTS: usize = 16;
/// Floats of `V` and `M` per band (16 MiB): they are written and read back once each.
const BAND_FLOATS: usize = 1 << 22;

/// Whether the Winograd path is valid and worth it for `g` (few input channels leave the
/// products too thin to beat im2col).
pub(crate) fn applies(g: &ConvGeometry) -> bool {
    g.kernel == 3 && g.stride == 1 && g.padding == 1 && g.in_channels >= 16
}

/// `U = G g Gᵀ` for every filter: `[16][C_out][C_in]` from `[C_out][C_in][3][3]`.
pub(crate) fn transform_weights(weight: &[f32], out_channels: usize, in_channels: usize) -> Vec<f32> {
    let pairs = out_channels * in_channels;
    let mut u = vec![0.0f32; POINTS * pairs];
    let mut per_pair = vec![[0.0f32; POINTS]; pairs];
    per_pair.par_iter_mut().zip(weight.par_chunks_exact(9)).for_each(|(dst, g)| {
        // t = G g (4x3), then u = t Gᵀ (4x4).
        let mut t = [[0.0f32; 3]; 4];
        for j in 0..3 {
            let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
            t[0][j] = g0;
            t[1][j] = 0.5 * (g0 + g1 + g2);
            t[2][j] = 0.5 * (g0 - g1 + g2);
            t[3][j] = g2;
        }
        for (i, row) in t.iter().enumerate() {
            let [g0, g1, g2] = *row;
            dst[i * 4] = g0;
            dst[i * 4 + 1] = 0.5 * (g0 + g1 + g2);
            dst[i * 4 + 2] = 0.5 * (g0 - g1 + g2);
            dst[i * 4 + 3] = g2;
        }
    });
    for (p, point) in u.chunks_exact_mut(pairs).enumerate() {
        for (dst, src) in point.iter_mut().zip(&per_pair) {
            *dst = src[p];
        }
    }
    u
}

/// One image: `image` `[C_in, H, W]` -> `out` `[C_out, H, W]` (bias already irrelevant:
/// it is added here), with `u` from [`transform_weights`].
pub(crate) fn conv3x3(
    image: &[f32],
    g: &ConvGeometry,
    u: &[f32],
    bias: Option<&[f32]>,
    out_channels: usize,
    activation: Activation,
    out: &mut [f32],
) {
    let (tiles_h, tiles_w) = (g.height.div_ceil(2), g.width.div_ceil(2));
    let per_tile_row = POINTS * (g.in_channels + out_channels) * tiles_w;
    let band = (BAND_FLOATS / per_tile_row).clamp(1, tiles_h);
    let threads = rayon::current_num_threads();
    let mut v = vec![0.0f32; g.in_channels * POINTS * band * tiles_w];
    let mut m = vec![0.0f32; out_channels * POINTS * band * tiles_w];
    let mut first = 0;
    while first < tiles_h {
        let rows = band.min(tiles_h - first);
        let n = rows * tiles_w;
        input_transform(image, g, first, rows, &mut v[..g.in_channels * POINTS * n]);
        for p in 0..POINTS {
            let lhs = Mat {
                data: &u[p * out_channels * g.in_channels..],
                rows: out_channels,
                cols: g.in_channels,
                row_stride: g.in_channels,
            };
            let rhs = Mat { data: &v[p * n..], rows: g.in_channels, cols: n, row_stride: POINTS * n };
            let dst = MatMut { data: &mut m[p * n..], rows: out_channels, cols: n, row_stride: POINTS * n };
            matmul(dst, lhs, rhs, false, threads);
        }
        output_transform(&m[..out_channels * POINTS * n], g, first, rows, bias, activation, out);
        first += rows;
    }
}

/// `V = Bᵀ d B` for tile rows `first .. first + rows` of every channel.
///
/// Row-wise and split into even/odd columns so every step is a contiguous vector loop: the
/// row transform `Bᵀ d` combines four input rows, then the column transform combines
/// neighbouring even/odd columns of the result (tile `tx` covers padded columns
/// `2tx .. 2tx + 4`, i.e. even `tx, tx + 1` and odd `tx, tx + 1`).
fn input_transform(image: &[f32], g: &ConvGeometry, first: usize, rows: usize, v: &mut [f32]) {
    let (h, w) = (g.height, g.width);
    let tw = w.div_ceil(2);
    let n = rows * tw;
    let scratch = || (vec![[0.0f32; 4]; 2 * (tw + 1)], vec![0.0f32; 8 * (tw + 1)]);
    v.par_chunks_exact_mut(POINTS * n).zip(image.par_chunks_exact(h * w)).for_each_init(
        scratch,
        |(d, t), (v, plane)| {
            for ty in 0..rows {
                // d[2j + parity][i]: padded column 2j + parity of input row 2(first+ty) - 1 + i.
                let y0 = 2 * (first + ty);
                for (i, y) in (y0..y0 + 4).map(|y| y.checked_sub(1).filter(|&y| y < h)).enumerate() {
                    for xp in 0..2 * (tw + 1) {
                        let x = xp.checked_sub(1).filter(|&x| x < w);
                        d[(xp % 2) * (tw + 1) + xp / 2][i] = match (y, x) {
                            (Some(y), Some(x)) => plane[y * w + x],
                            _ => 0.0,
                        };
                    }
                }
                // Row transform, per padded column: t[k][col] for the four rows k of Bᵀ d.
                let (even, odd) = d.split_at(tw + 1);
                let len = tw + 1;
                for (half, cols) in [even, odd].into_iter().enumerate() {
                    for (j, c) in cols.iter().enumerate() {
                        let base = half * 4 * len + j;
                        t[base] = c[0] - c[2];
                        t[base + len] = c[1] + c[2];
                        t[base + 2 * len] = c[2] - c[1];
                        t[base + 3 * len] = c[1] - c[3];
                    }
                }
                // Column transform: four points per row k, contiguous over tiles.
                for k in 0..4 {
                    let e = &t[k * len..(k + 1) * len];
                    let o = &t[4 * len + k * len..4 * len + (k + 1) * len];
                    let at = |p: usize| (k * 4 + p) * n + ty * tw;
                    let (p0, rest) = v[at(0)..].split_at_mut(n);
                    let (p1, rest) = rest.split_at_mut(n);
                    let (p2, rest) = rest.split_at_mut(n);
                    let p3 = &mut rest[..tw];
                    for tx in 0..tw {
                        p0[tx] = e[tx] - e[tx + 1];
                        p1[tx] = o[tx] + e[tx + 1];
                        p2[tx] = e[tx + 1] - o[tx];
                        p3[tx] = o[tx] - o[tx + 1];
                    }
                }
            }
        },
    );
}

/// `y = Aᵀ M A + bias`, activated, into output rows `2 first .. 2 (first + rows)`.
fn output_transform(
    m: &[f32],
    g: &ConvGeometry,
    first: usize,
    rows: usize,
    bias: Option<&[f32]>,
    activation: Activation,
    out: &mut [f32],
) {
    let (h, w) = (g.height, g.width);
    let tw = w.div_ceil(2);
    let n = rows * tw;
    let scratch = || vec![0.0f32; 8 * tw + 2 * tw];
    out.par_chunks_exact_mut(h * w).zip(m.par_chunks_exact(POINTS * n)).enumerate().for_each_init(
        scratch,
        |buf, (c, (plane, m))| {
            let b = bias.map_or(0.0, |b| b[c]);
            let (s, row) = buf.split_at_mut(8 * tw);
            for ty in 0..rows {
                let point = |p: usize| &m[p * n + ty * tw..p * n + (ty + 1) * tw];
                // Aᵀ M: s[r * 4 + j] for output row r in the tile, column point j.
                for j in 0..4 {
                    let (m0, m1, m2, m3) = (point(j), point(4 + j), point(8 + j), point(12 + j));
                    let (s0, s1) = s.split_at_mut(4 * tw);
                    let (s0, s1) = (&mut s0[j * tw..(j + 1) * tw], &mut s1[j * tw..(j + 1) * tw]);
                    for tx in 0..tw {
                        s0[tx] = m0[tx] + m1[tx] + m2[tx];
                        s1[tx] = m1[tx] - m2[tx] - m3[tx];
                    }
                }
                // (Aᵀ M) A: even and odd output columns, interleaved into one row.
                for r in 0..2 {
                    let y = 2 * (first + ty) + r;
                    if y >= h {
                        break;
                    }
                    let q = |j: usize| &s[(r * 4 + j) * tw..(r * 4 + j + 1) * tw];
                    let (q0, q1, q2, q3) = (q(0), q(1), q(2), q(3));
                    for (tx, pair) in row.chunks_exact_mut(2).enumerate() {
                        pair[0] = q0[tx] + q1[tx] + q2[tx] + b;
                        pair[1] = q1[tx] - q2[tx] - q3[tx] + b;
                    }
                    let dst = &mut plane[y * w..(y + 1) * w];
                    dst.copy_from_slice(&row[..w]);
                    activate_slice(dst, activation);
                }
            }
        },
    );
}
