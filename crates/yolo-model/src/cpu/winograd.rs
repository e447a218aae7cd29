//! Winograd F(m x m, 3x3) for the stride-1, pad-1 3x3 convolutions that carry most of
//! YOLOv3's arithmetic: an `m x m` output tile costs `(m + 2)²` multiplies per channel pair
//! instead of `9 m²`, i.e. 2.25x fewer for F(2x2) and 4x fewer for F(4x4), paid for with
//! additions in the tile transforms ([`Variant`]).
//!
//! Per band of tile rows: `V = Bᵀ d B` for every input channel and tile, then `α²` matrix
//! products `M[p] = U[p] V[p]` (`U = G g Gᵀ`, the transformed weights, cached per weight
//! tensor), then `y = Aᵀ M A + bias` and the activation. Layouts: `V: [C_in][α²][tiles]`
//! (the input transform writes whole channels in parallel; each product reads a strided
//! view) and `M: [α²][C_out][tiles]` (the products, one per thread at a time, write
//! contiguous blocks; the output transform reads channels in parallel).
//!
//! Transforms run row-wise on columns split by phase (`col % m`), so every step is a
//! contiguous loop over tiles that the compiler vectorises; the coefficient tables are
//! sparse and their zeros are skipped.
//!
//! The transforms are exact in real arithmetic; in f32 the result differs from the direct
//! convolution by rounding only (tested against burn's conv; F(4x4) rounds a little more
//! than F(2x2) because its coefficients reach 8 and 1/24).

use rayon::prelude::*;

use super::conv::{activate_plain, plane_bands};
use super::gemm::{matmul, Mat, MatMut};
use super::im2col::ConvGeometry;
use super::{buffers, phases};
use crate::cfg::Activation;

/// Floats of `V` and `M` per band (16 MiB): they are written and read back once each.
const BAND_FLOATS: usize = 1 << 22;

/// A Winograd variant: output tile `m x m`, input tile `α x α` with `α = m + 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    F2,
    F4,
}

impl Variant {
    fn m(self) -> usize {
        match self {
            Variant::F2 => 2,
            Variant::F4 => 4,
        }
    }

    fn alpha(self) -> usize {
        self.m() + 2
    }

    /// `Bᵀ` (`α x α`), row-major.
    fn bt(self) -> &'static [f32] {
        match self {
            Variant::F2 => &[1., 0., -1., 0., 0., 1., 1., 0., 0., -1., 1., 0., 0., 1., 0., -1.],
            Variant::F4 => &[
                4., 0., -5., 0., 1., 0., //
                0., -4., -4., 1., 1., 0., //
                0., 4., -4., -1., 1., 0., //
                0., -2., -1., 2., 1., 0., //
                0., 2., -1., -2., 1., 0., //
                0., 4., 0., -5., 0., 1.,
            ],
        }
    }

    /// `G` (`α x 3`), row-major.
    fn g(self) -> &'static [f32] {
        match self {
            Variant::F2 => &[1., 0., 0., 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0., 0., 1.],
            Variant::F4 => &[
                1. / 4.,
                0.,
                0., //
                -1. / 6.,
                -1. / 6.,
                -1. / 6., //
                -1. / 6.,
                1. / 6.,
                -1. / 6., //
                1. / 24.,
                1. / 12.,
                1. / 6., //
                1. / 24.,
                -1. / 12.,
                1. / 6., //
                0.,
                0.,
                1.,
            ],
        }
    }

    /// `Aᵀ` (`m x α`), row-major.
    fn at(self) -> &'static [f32] {
        match self {
            Variant::F2 => &[1., 1., 1., 0., 0., 1., -1., -1.],
            Variant::F4 => &[
                1., 1., 1., 1., 1., 0., //
                0., 1., -1., 2., -2., 0., //
                0., 1., 1., 4., 4., 0., //
                0., 1., -1., 8., -8., 1.,
            ],
        }
    }
}

/// The variant for `g`, or `None` where im2col + gemm is faster. Measured per layer with
/// `yolov3 bench --profile` (2 threads, 416 input; ms, im2col vs F2 vs F4):
/// - 16->32 at 208x208 (tiny): im2col 2.9-3.3, F4 4.1-4.3: the thinnest layers lose (the
///   transforms cost per channel, the saving is per channel pair);
/// - 32->64 at 208x208: im2col 10.0, F4 8.3; 64->128 at 104x104: F2 7.4, F4 6.0;
/// - 128->256 at 52x52: 9.4 / 8.0 / 5.9, and 256->512 at 26x26: 8.8 / 7.8 / 6.3;
/// - 512->1024 at 13x13: F2 6.2, F4 9.8: F4's 4x4 tiles pad 13 to 16 and leave the
///   products too short.
pub(crate) fn choose(g: &ConvGeometry, out_channels: usize) -> Option<Variant> {
    if !supports(g) || g.in_channels < 32 || out_channels < 64 {
        return None;
    }
    let wide = g.height.min(g.width) >= 20;
    Some(if wide { Variant::F4 } else { Variant::F2 })
}

/// Whether Winograd computes `g` at all: 3x3, stride 1, padding 1 (any channels, any size).
pub(crate) fn supports(g: &ConvGeometry) -> bool {
    g.kernel == 3 && g.stride == 1 && g.padding == 1
}

/// `U = G g Gᵀ` for every filter: `[α²][C_out][C_in]` from `[C_out][C_in][3][3]`.
pub(crate) fn transform_weights(variant: Variant, weight: &[f32], out_channels: usize, in_channels: usize) -> Vec<f32> {
    let (alpha, gm) = (variant.alpha(), variant.g());
    let points = alpha * alpha;
    let pairs = out_channels * in_channels;
    // Written in place, a range of pairs per task (one slice of it per point): no `[pairs][α²]`
    // intermediate, whose fresh pages cost as much as the transform (70 MB for yolov3-tiny).
    let mut u = vec![0.0f32; points * pairs];
    let chunk = pairs.div_ceil(4 * rayon::current_num_threads()).max(1);
    let tasks = plane_bands(&mut u, pairs, chunk, points);
    tasks.into_par_iter().enumerate().for_each(|(task, mut point_rows)| {
        let first = task * chunk;
        let filters = weight[first * 9..].chunks_exact(9);
        for (i, w) in filters.take(point_rows.first().map_or(0, |r| r.len())).enumerate() {
            // t = G w (α x 3), then u = t Gᵀ (α x α).
            let mut t = [0.0f32; 18];
            for r in 0..alpha {
                for c in 0..3 {
                    t[r * 3 + c] = (0..3).map(|k| gm[r * 3 + k] * w[k * 3 + c]).sum();
                }
            }
            for r in 0..alpha {
                for c in 0..alpha {
                    point_rows[r * alpha + c][i] = (0..3).map(|k| t[r * 3 + k] * gm[c * 3 + k]).sum();
                }
            }
        }
    });
    u
}

/// `dst = Σ_j coef[j] src[j]` over whole slices, skipping zero coefficients.
#[inline(always)]
fn combine<'a>(dst: &mut [f32], coef: &[f32], src: impl Fn(usize) -> &'a [f32]) {
    let mut first = true;
    for (j, &c) in coef.iter().enumerate() {
        if c == 0.0 {
            continue;
        }
        let s = &src(j)[..dst.len()];
        if first {
            dst.iter_mut().zip(s).for_each(|(d, &x)| *d = c * x);
            first = false;
        } else {
            dst.iter_mut().zip(s).for_each(|(d, &x)| *d += c * x);
        }
    }
    if first {
        dst.fill(0.0);
    }
}

/// One image: `image` `[C_in, H, W]` -> `out` `[C_out, H, W]`, with `u` from
/// [`transform_weights`] for the same `variant`.
///
/// Tiles are indexed `ty * tiles_w + tx` in `V` and `M`. The input transform's steps run over
/// a band with one junk tile per tile row, so that a whole band is one contiguous vector (a
/// shift by one tile is a shift by one element), and copy only the real tiles into `V`: the
/// products, most of the work, skip the junk (1 / tiles_w of it: 14% on 13x13 and 26x26
/// maps).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv3x3(
    variant: Variant,
    image: &[f32],
    g: &ConvGeometry,
    u: &[f32],
    bias: Option<&[f32]>,
    out_channels: usize,
    activation: Activation,
    out: &mut [f32],
) {
    let (m, alpha) = (variant.m(), variant.alpha());
    let points = alpha * alpha;
    let (tiles_h, tiles_w) = (g.height.div_ceil(m), g.width.div_ceil(m));
    let per_tile_row = points * (g.in_channels + out_channels) * tiles_w;
    let band = (BAND_FLOATS / per_tile_row).clamp(1, tiles_h);
    let mut v = buffers::take(g.in_channels * points * band * tiles_w);
    let mut mm = buffers::take(out_channels * points * band * tiles_w);
    let mut first = 0;
    while first < tiles_h {
        let rows = band.min(tiles_h - first);
        let n = rows * tiles_w;
        input_transform(variant, image, g, first, rows, &mut v[..g.in_channels * points * n]);
        // The products are small (e.g. 256x128 by 128x182): one per thread at a time beats
        // splitting each across threads (no per-product synchronisation).
        let v = &v[..g.in_channels * points * n];
        let scratch = || (vec![0.0f32; g.in_channels], vec![0.0f32; out_channels]);
        let products = mm[..points * out_channels * n].par_chunks_exact_mut(out_channels * n).enumerate();
        products.for_each_init(scratch, |scratch, (p, m)| {
            let u = Mat {
                data: &u[p * out_channels * g.in_channels..],
                rows: out_channels,
                cols: g.in_channels,
                row_stride: g.in_channels,
            };
            let v = Mat { data: &v[p * n..], rows: g.in_channels, cols: n, row_stride: points * n };
            point_product(u, v, m, scratch);
        });
        output_transform(variant, &mm[..out_channels * points * n], g, first, rows, bias, activation, out);
        first += rows;
    }
}

/// `dst = u v` for one point (`dst`: `[C_out][n]`, rows of `v.cols`): the first
/// [`product_columns`] tiles through gemm's matrix product, any after them one at a time
/// through its matrix-vector product, on contiguous copies of the tile (`column`, `C_in`) and
/// its result (`product`, `C_out`).
fn point_product(u: Mat<'_>, v: Mat<'_>, dst: &mut [f32], (column, product): &mut (Vec<f32>, Vec<f32>)) {
    let n = v.cols;
    let main = product_columns(n);
    matmul(MatMut { data: dst, rows: u.rows, cols: main, row_stride: n }, u, Mat { cols: main, ..v }, false, 1);
    for tile in main..n {
        for (ci, x) in column.iter_mut().enumerate() {
            *x = v.data[ci * v.row_stride + tile];
        }
        let x = Mat { data: column, rows: v.rows, cols: 1, row_stride: 1 };
        matmul(MatMut { data: product, rows: u.rows, cols: 1, row_stride: 1 }, u, x, false, 1);
        for (co, &y) in product.iter().enumerate() {
            dst[co * n + tile] = y;
        }
    }
}

/// How many of a product's `n` tiles go through gemm's matrix product; the rest (one tile, or
/// none) through its matrix-vector product. gemm lays the tiles along its 16-lane registers,
/// so `16 q + 1` of them cost as much as `16 (q + 1)`: one thread, 1024x512 by 512x49 ran at
/// 87 GFLOP/s and 512x48 plus the 49th tile as a matrix-vector product at 107 (512x256 by
/// 256x49: 88 vs 110; 2-core AMD EPYC). 49 is what 13x13 maps give F(2x2) and 26x26 maps
/// F(4x4) at batch 1.
fn product_columns(n: usize) -> usize {
    if n > 16 && n % 16 == 1 {
        n - 1
    } else {
        n
    }
}

/// `V = Bᵀ d B` for tile rows `first .. first + rows` of every channel.
///
/// Tile `tx` reads padded columns `m tx .. m tx + α`: with columns split by phase
/// (`phase[r][j]` = padded column `m j + r`), column `m tx + c` is `phase[c % m][tx + c / m]`,
/// so each transform step is one loop over the band.
fn input_transform(variant: Variant, image: &[f32], g: &ConvGeometry, first: usize, rows: usize, v: &mut [f32]) {
    let (m, alpha) = (variant.m(), variant.alpha());
    // Tiles per row, and per row with the junk tile the transform steps carry.
    let tw = g.width.div_ceil(m);
    let len = tw + 1;
    let (n, tiles) = (rows * len, rows * tw);
    // d: α input rows x m phases x n; s: their row transforms, same shape; pad: one padded
    // image row in whole registers, for `phases::split`; t: one point of the band, junk tiles
    // included.
    let fast = phases::available();
    let scratch = || Scratch {
        d: vec![0.0f32; alpha * m * n],
        s: vec![0.0f32; alpha * m * n],
        pad: vec![0.0f32; m * len.next_multiple_of(16)],
        t: vec![0.0f32; n],
    };
    v.par_chunks_exact_mut(alpha * alpha * tiles)
        .zip(image.par_chunks_exact(g.height * g.width))
        .for_each_init(scratch, |sc, (v, plane)| input_channel(sc, v, plane, variant, g, first, rows, fast));
}

/// Per-thread scratch of [`input_channel`].
struct Scratch {
    d: Vec<f32>,
    s: Vec<f32>,
    pad: Vec<f32>,
    t: Vec<f32>,
}

simd_fn! {
/// [`input_transform`] of one channel (`plane`) into its `v`.
fn input_channel<'a>(
    scratch: &'a mut Scratch,
    v: &'a mut [f32],
    plane: &'a [f32],
    variant: Variant,
    g: &'a ConvGeometry,
    first: usize,
    rows: usize,
    fast: bool,
) {
    let (m, alpha, bt) = (variant.m(), variant.alpha(), variant.bt());
    let (h, w) = (g.height, g.width);
    let Scratch { d, s, pad, t } = scratch;
    let tw = w.div_ceil(m);
    let len = tw + 1;
    let n = rows * len;
    for i in 0..alpha {
        for ty in 0..rows {
            let y = (m * (first + ty) + i).checked_sub(1).filter(|&y| y < h);
            if let (true, Some(y)) = (fast, y) {
                // Padded column c is image column c - 1: one copy, then the split (the
                // padding around it stays as the scratch was made, zero).
                pad[1..=w].copy_from_slice(&plane[y * w..(y + 1) * w]);
                phases::split(pad, m, len, d, i * m * n + ty * len, n);
                continue;
            }
            for r in 0..m {
                let dst = &mut d[(i * m + r) * n + ty * len..(i * m + r) * n + (ty + 1) * len];
                match y {
                    None => dst.fill(0.0),
                    Some(y) => {
                        let row = &plane[y * w..(y + 1) * w];
                        for (j, x) in dst.iter_mut().enumerate() {
                            // padded column m j + r is image column m j + r - 1
                            *x = (m * j + r).checked_sub(1).and_then(|c| row.get(c)).copied().unwrap_or(0.0);
                        }
                    }
                }
            }
        }
    }
    // Rows: s[k] = Σ_i Bᵀ[k][i] d[i], all phases at once.
    for k in 0..alpha {
        let coef = &bt[k * alpha..(k + 1) * alpha];
        combine(&mut s[k * m * n..(k + 1) * m * n], coef, |i| &d[i * m * n..(i + 1) * m * n]);
    }
    // Columns: V[k α + p][t] = Σ_c Bᵀ[p][c] s[k][phase c % m][t + c / m], over the band with
    // its junk tiles (the band's last element would read past the end and is junk anyway),
    // then each tile row's real tiles copied into V, which holds `tw` per row.
    for k in 0..alpha {
        let sk = &s[k * m * n..(k + 1) * m * n];
        let col = |c: usize| &sk[(c % m) * n + c / m..(c % m + 1) * n];
        for p in 0..alpha {
            combine(&mut t[..n - 1], &bt[p * alpha..(p + 1) * alpha], col);
            let dst = &mut v[(k * alpha + p) * rows * tw..(k * alpha + p + 1) * rows * tw];
            for (row, src) in dst.chunks_exact_mut(tw).zip(t.chunks(len)) {
                row.copy_from_slice(&src[..tw]);
            }
        }
    }
}
}

/// `y = Aᵀ M A + bias`, activated, into output rows `m first .. m (first + rows)`.
#[allow(clippy::too_many_arguments)]
fn output_transform(
    variant: Variant,
    mm: &[f32],
    g: &ConvGeometry,
    first: usize,
    rows: usize,
    bias: Option<&[f32]>,
    activation: Activation,
    out: &mut [f32],
) {
    let (m, alpha) = (variant.m(), variant.alpha());
    let tw = g.width.div_ceil(m);
    let n = rows * tw;
    // z: α columns x n for one output row q; e: m phases x n; row: m tw.
    let scratch = || (vec![0.0f32; alpha * n], vec![0.0f32; m * n], vec![0.0f32; m * tw]);
    let channels = mm.len() / (alpha * alpha * n);
    let fast = phases::available();
    out.par_chunks_exact_mut(g.height * g.width).enumerate().for_each_init(scratch, |(z, e, row), (c, plane)| {
        let b = bias.map_or(0.0, |b| b[c]);
        // Point p of channel c sits at (p C_out + c) n: stride C_out n from &mm[c n..].
        let mc = &mm[c * n..];
        output_channel(z, e, row, plane, mc, channels * n, b, variant, g, first, rows, activation, fast);
    });
}

simd_fn! {
/// [`output_transform`] of one output channel (point `p` at `mc[p * point_stride..]`) into
/// its `plane`, plus bias `b`.
fn output_channel<'a>(
    z: &'a mut [f32],
    e: &'a mut [f32],
    row: &'a mut [f32],
    plane: &'a mut [f32],
    mc: &'a [f32],
    point_stride: usize,
    b: f32,
    variant: Variant,
    g: &'a ConvGeometry,
    first: usize,
    rows: usize,
    activation: Activation,
    fast: bool,
) {
    let (m, alpha, at) = (variant.m(), variant.alpha(), variant.at());
    let (h, w) = (g.height, g.width);
    let tw = w.div_ceil(m);
    let n = rows * tw;
    let point = |p: usize| &mc[p * point_stride..p * point_stride + n];
    for q in 0..m {
        // Aᵀ M, output row q: z[c2] = Σ_k Aᵀ[q][k] M[k α + c2].
        for c2 in 0..alpha {
            combine(&mut z[c2 * n..(c2 + 1) * n], &at[q * alpha..(q + 1) * alpha], |k| point(k * alpha + c2));
        }
        // (Aᵀ M) A: output column m tx + r = Σ_c2 Aᵀ[r][c2] z[c2][tx].
        for r in 0..m {
            combine(&mut e[r * n..(r + 1) * n], &at[r * alpha..(r + 1) * alpha], |c2| &z[c2 * n..(c2 + 1) * n]);
        }
        for ty in 0..rows {
            let y = m * (first + ty) + q;
            if y >= h {
                break;
            }
            if fast {
                let dst = &mut plane[y * w..(y + 1) * w];
                let rows = phases::PhaseRows { data: e, first: ty * tw, stride: n, m, tiles: tw };
                if !phases::merge(rows, b, activation, dst) {
                    activate_plain(dst, activation);
                }
                continue;
            }
            for (tx, cell) in row.chunks_exact_mut(m).enumerate() {
                for (r, v) in cell.iter_mut().enumerate() {
                    *v = e[r * n + ty * tw + tx] + b;
                }
            }
            let dst = &mut plane[y * w..(y + 1) * w];
            dst.copy_from_slice(&row[..w]);
            activate_plain(dst, activation);
        }
    }
}
}
