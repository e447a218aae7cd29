//! Direct convolution for layers with few input channels (tiny's 3->16 at 416 and 16->32 at
//! 208), where Winograd does not pay and im2col + gemm multiplies a thin weight matrix (32x144)
//! by a column matrix of 43k columns that it first has to write. Here the input is copied
//! once, zero-padded and split into stride phases so that every tap reads contiguous columns,
//! and a register block of [`BLOCK`] output channels x [`LANES`] output columns accumulates all
//! `C_in*k*k` taps before it is written, bias and activation applied in registers.
//!
//! [`conv_pooled`] fuses the 2x2/2 maxpool that follows tiny's first convolutions: each
//! register block computes two output rows, takes their maximum and the maximum of each
//! column pair before anything is stored, so the full-size map (11 MB for 3->16 at 416) is
//! never written nor read back.

use rayon::prelude::*;

use super::buffers::{self, Buffer};
#[cfg(target_arch = "x86_64")]
use super::conv::activate_avx512;
use super::conv::{activate_plain, plane_bands, ConvParams};
use super::im2col::ConvGeometry;
use crate::cfg::Activation;

/// Output channels per register block.
const BLOCK: usize = 8;
/// Output channels per pass of the pooled kernel: two rows x two column registers x `HALF`
/// channels = 16 accumulators, which leaves registers for the inputs (a block of [`BLOCK`]
/// would spill).
const HALF: usize = BLOCK / 2;
/// Output columns per register block (one AVX-512 register, two AVX2 ones).
const LANES: usize = 16;
/// The most taps (`C_in * k * k`) the direct kernel takes: a block's weights (36 KiB at
/// 128 x 9 taps) still stream from L1/L2; past it im2col's product is efficient anyway.
const MAX_TAPS: usize = 128 * 9;

/// The most taps for which the rules pick the direct kernel (when Winograd does not apply).
const RULES_TAPS: usize = 64 * 9;

/// Whether the rules pick the direct kernel for `g` (Winograd is chosen before it): up to
/// [`RULES_TAPS`] taps, any stride. Measured on a 2-core AMD EPYC (Zen 4; `yolov3 bench
/// --profile`, 2 threads, 416; ms, direct vs im2col in bands): 3->16 at 416 1.3 vs 2.6; 3->32
/// at 416 2.2-2.6 vs 3.2-3.8; 16->32 at 208 2.4 vs 2.9; stride 2 32->64 416->208 12.5-13.7 vs
/// 13.8-15.4 and 64->128 208->104 10.9 vs 12.3, but 128->256 104->52 11.3-11.6 vs 9.8-10.6.
/// (On a 2-core Sapphire Rapids, before bias and activation moved into registers, direct won
/// only from 8 input channels at stride 1: 16->32 3.0 vs 4.3 ms, 3->16 3.9 vs 4.1.)
pub(crate) fn applies(g: &ConvGeometry, out_channels: usize) -> bool {
    supports(g, out_channels) && g.patch_len() <= RULES_TAPS
}

/// Whether the direct kernel can compute `g` on this CPU at all (any stride, tested): a
/// 2x2-5x5 kernel, at most [`MAX_TAPS`] taps, a whole channel block, and AVX-512 (the only
/// body written; elsewhere the other kernels compete for these layers).
pub(crate) fn supports(g: &ConvGeometry, out_channels: usize) -> bool {
    g.kernel > 1
        && g.kernel <= 5
        && g.patch_len() <= MAX_TAPS
        && out_channels >= BLOCK
        && super::simd_level() == "avx512"
}

/// Whether [`conv_pooled`] computes `g` followed by a 2x2/2 maxpool: the direct kernel
/// supports `g` and the pool windows tile its output exactly (even height and width, so
/// darknet's padding is never reached). The caller checks that the activation is
/// non-decreasing ([`pools_after_activation`]).
pub(crate) fn supports_pooled(g: &ConvGeometry, out_channels: usize) -> bool {
    supports(g, out_channels) && g.pools_2x2()
}

/// Whether the rules fuse the pool into the direct kernel for `g`: wherever it can, below 32
/// input channels (where Winograd is not yet ahead).
pub(crate) fn pooled_applies(g: &ConvGeometry, out_channels: usize) -> bool {
    supports_pooled(g, out_channels) && g.in_channels < 32
}

/// Whether the maximum of activated values is the activated maximum, so the pooled kernel
/// may activate after pooling: true for non-decreasing activations, false for swish and
/// mish, which dip below zero.
pub(crate) fn pools_after_activation(activation: Activation) -> bool {
    matches!(activation, Activation::Linear | Activation::Leaky | Activation::Relu | Activation::Logistic)
}

/// The input of one image zero-padded and split by column phase: padded row `r`, phase `q`
/// (`0..s`), index `j` holds padded column `j*s + q`, so the columns `ox*s + kx` that one
/// tap reads for consecutive `ox` are contiguous: phase `kx % s`, from index `kx / s`.
struct Phased {
    data: Buffer,
    rows: usize,
    stride: usize,
    /// Floats per (row, phase): room for whole blocks of `block_cols` plus the widest tap offset.
    len: usize,
}

impl Phased {
    fn new(image: &[f32], g: &ConvGeometry, block_cols: usize) -> Phased {
        let (s, p) = (g.stride, g.padding);
        let rows = g.height + 2 * p;
        let len = g.out_width().next_multiple_of(block_cols) + (g.kernel - 1) / s + 1;
        let mut data = buffers::take_zeroed(g.in_channels * rows * s * len);
        let plane = g.height * g.width;
        data.par_chunks_mut(rows * s * len).enumerate().for_each(|(c, dst)| {
            let src = &image[c * plane..][..plane];
            for (y, row) in src.chunks_exact(g.width).enumerate() {
                let base = (y + p) * s * len;
                if s == 1 {
                    dst[base + p..][..g.width].copy_from_slice(row);
                    continue;
                }
                // Phase q holds the padded columns q, q + s, ...: image columns q - p + j*s.
                for q in 0..s {
                    let from = (q + s * p - p) % s; // first image column in phase q
                    let at = base + q * len + (from + p) / s;
                    for (d, &v) in dst[at..].iter_mut().zip(row[from.min(g.width)..].iter().step_by(s)) {
                        *d = v;
                    }
                }
            }
        });
        Phased { data, rows, stride: s, len }
    }

    /// Start of the run that tap `(c, ky, kx)` reads at padded row `row` (output row `oy`
    /// reads rows `oy*s + ky`) for the column block starting at output column `x0`.
    #[inline(always)]
    fn at(&self, c: usize, row: usize, kx: usize, x0: usize) -> usize {
        ((c * self.rows + row) * self.stride + kx % self.stride) * self.len + x0 + kx / self.stride
    }

    /// Where output row `oy`'s runs start (add a tap's offset and the column).
    #[inline(always)]
    fn row_base(&self, oy: usize) -> usize {
        oy * self.stride * self.stride * self.len
    }
}

/// Weights as `[blocks][taps][BLOCK]`, zero for the channels past `out_channels`.
fn pack_weights(weight: &[f32], out_channels: usize, taps: usize) -> Vec<f32> {
    let blocks = out_channels.div_ceil(BLOCK);
    let mut packed = vec![0.0f32; blocks * taps * BLOCK];
    for (o, filter) in weight.chunks_exact(taps).enumerate().take(out_channels) {
        let (b, lane) = (o / BLOCK, o % BLOCK);
        for (t, &w) in filter.iter().enumerate() {
            packed[(b * taps + t) * BLOCK + lane] = w;
        }
    }
    packed
}

/// `act(conv(image) + bias)` for one image (`[C_in, H, W]`) into `out` (`[C_out, H', W']`).
pub(crate) fn conv(image: &[f32], g: &ConvGeometry, p: &ConvParams<'_>, out: &mut [f32]) {
    assert!(supports(g, p.out_channels), "the direct kernel does not take {g:?} -> {}", p.out_channels);
    run(image, g, p, out, false);
}

/// `maxpool2x2(act(conv(image) + bias))` for one image (`[C_in, H, W]`) into `out`
/// (`[C_out, H'/2, W'/2]`): the same numbers as [`conv`] then a 2x2/2 pool.
pub(crate) fn conv_pooled(image: &[f32], g: &ConvGeometry, p: &ConvParams<'_>, out: &mut [f32]) {
    assert!(supports_pooled(g, p.out_channels), "the pooled kernel does not take {g:?} -> {}", p.out_channels);
    assert!(pools_after_activation(p.activation), "{:?} cannot be pooled after activating", p.activation);
    run(image, g, p, out, true);
}

#[allow(unsafe_code)] // the call into the AVX-512 bodies; `supports` checked the CPU
fn run(image: &[f32], g: &ConvGeometry, p: &ConvParams<'_>, out: &mut [f32], pooled: bool) {
    let taps = g.patch_len();
    // Pooled blocks are always two registers wide (a column pair never straddles blocks).
    let block_cols = if pooled { 2 * LANES } else { LANES };
    let input = Phased::new(image, g, block_cols);
    let packed = pack_weights(p.weight, p.out_channels, taps);
    let (out_h, out_w) = (g.out_height(), g.out_width());
    // Tap `(c, ky, kx)` of output `(oy, x0)` reads `input.at(c, oy*s + ky, kx, x0)`, which is
    // `input.row_base(oy) + x0` plus this offset; the run of the last output block and the
    // farthest tap ends inside the buffer (checked once here, relied on by the loads).
    let offsets: Vec<usize> = (0..g.in_channels)
        .flat_map(|c| (0..g.kernel).flat_map(move |ky| (0..g.kernel).map(move |kx| (c, ky, kx))))
        .map(|(c, ky, kx)| input.at(c, ky, kx, 0))
        .collect();
    let last_base = input.row_base(out_h - 1) + (out_w - 1) / block_cols * block_cols;
    let last_end = last_base + offsets.iter().max().map_or(0, |&o| o + block_cols);
    assert!(last_end <= input.data.len(), "the phased input covers every tap");
    // Work items: bands of rows of `out` across every channel, about four per thread. Each
    // computes its rows one at a time, every channel block of a row before the next row, so
    // the input rows that one output row reads stay in cache for all the blocks. (Items of one
    // channel block each streamed the whole input from L3 once per block: the stride-2
    // 32->64 416->208 ran at half im2col's speed that way.)
    let (rows_out, cols_out) = if pooled { (out_h / 2, out_w / 2) } else { (out_h, out_w) };
    let plane = rows_out * cols_out;
    let rows_per_item = rows_out.div_ceil(4 * rayon::current_num_threads()).max(1);
    let pieces = plane_bands(&mut out[..p.out_channels * plane], plane, rows_per_item * cols_out, p.out_channels);
    let blocks: Vec<Block<'_>> = (0..p.out_channels.div_ceil(BLOCK))
        .map(|b| Block {
            input: &input,
            offsets: &offsets,
            weights: &packed[b * taps * BLOCK..][..taps * BLOCK],
            bias: p.bias.map(|all| &all[b * BLOCK..p.out_channels.min((b + 1) * BLOCK)]),
            activation: p.activation,
            out_w,
        })
        .collect();
    pieces.into_par_iter().enumerate().for_each(|(band, mut planes)| {
        for r in 0..planes[0].len() / cols_out {
            for (block, planes) in blocks.iter().zip(planes.chunks_mut(BLOCK)) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `supports` admits these kernels only where the CPU has AVX-512F.
                unsafe {
                    if pooled {
                        block.pooled_row_avx512(band * rows_per_item + r, r, planes)
                    } else {
                        block.row_avx512(band * rows_per_item + r, r, planes)
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (block, planes, band, r);
                    unreachable!("direct::supports is false off x86-64")
                }
            }
        }
    });
}

/// One channel block's weights and bias, with what every block of one call shares.
struct Block<'a> {
    input: &'a Phased,
    offsets: &'a [usize],
    /// `[taps][BLOCK]`.
    weights: &'a [f32],
    /// The block's channels that exist (fewer than [`BLOCK`] in a last partial block).
    bias: Option<&'a [f32]>,
    activation: Activation,
    /// Columns of the convolution's output (before any pooling).
    out_w: usize,
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::__m512;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // unaligned and masked loads and stores; offsets checked in `run`
impl Block<'_> {
    /// `N` accumulators holding the bias of channels `first..` (zero past the existing ones).
    #[target_feature(enable = "avx512f")]
    fn start<const N: usize>(&self, first: usize) -> [__m512; N] {
        use std::arch::x86_64::_mm512_set1_ps;
        let mut acc = [_mm512_set1_ps(0.0); N];
        if let Some(bias) = self.bias {
            for (a, &b) in acc.iter_mut().zip(bias.iter().skip(first)) {
                *a = _mm512_set1_ps(b);
            }
        }
        acc
    }

    /// Output row `oy` of this channel block into row `r` of its `planes`: [`BLOCK`]
    /// accumulators of two [`LANES`]-column registers each over all taps (one register where
    /// fewer columns are left), so each broadcast weight feeds two FMAs and each tap costs two
    /// input loads and [`BLOCK`] broadcasts for `2 * BLOCK` FMAs. (Written with intrinsics: the
    /// same loop over plain arrays, dispatched by pulp, compiled to scalar FMAs on memory and
    /// ran 4-6x slower than im2col.)
    #[target_feature(enable = "avx512f")]
    fn row_avx512(&self, oy: usize, r: usize, planes: &mut [&mut [f32]]) {
        use std::arch::x86_64::{_mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps};
        let out_w = self.out_w;
        // The phased rows hold whole LANES blocks: a double block fits where it ends by then.
        let padded_w = out_w.next_multiple_of(LANES);
        let row_base = self.input.row_base(oy);
        let mut x0 = 0;
        while x0 < out_w {
            let src = self.input.data[row_base + x0..].as_ptr();
            if x0 + 2 * LANES <= padded_w {
                let (mut acc0, mut acc1) = (self.start::<BLOCK>(0), self.start::<BLOCK>(0));
                for (&off, wt) in self.offsets.iter().zip(self.weights.chunks_exact(BLOCK)) {
                    // SAFETY: `run` checked that the farthest tap of the last block ends
                    // inside `data`; both halves of this block and tap are no farther.
                    let (xa, xb) = unsafe { (_mm512_loadu_ps(src.add(off)), _mm512_loadu_ps(src.add(off + LANES))) };
                    for ((a0, a1), &wv) in acc0.iter_mut().zip(acc1.iter_mut()).zip(wt) {
                        let w = _mm512_set1_ps(wv);
                        *a0 = _mm512_fmadd_ps(w, xa, *a0);
                        *a1 = _mm512_fmadd_ps(w, xb, *a1);
                    }
                }
                // The first half is whole (x0 + LANES < out_w); the second may be partial.
                let second = LANES.min(out_w - x0 - LANES);
                for ((plane, a0), a1) in planes.iter_mut().zip(acc0).zip(acc1) {
                    self.put(plane, r * out_w + x0, LANES, a0);
                    self.put(plane, r * out_w + x0 + LANES, second, a1);
                }
                x0 += 2 * LANES;
            } else {
                let mut acc = self.start::<BLOCK>(0);
                for (&off, wt) in self.offsets.iter().zip(self.weights.chunks_exact(BLOCK)) {
                    // SAFETY: as above.
                    let x = unsafe { _mm512_loadu_ps(src.add(off)) };
                    for (a, &wv) in acc.iter_mut().zip(wt) {
                        *a = _mm512_fmadd_ps(_mm512_set1_ps(wv), x, *a);
                    }
                }
                let n = LANES.min(out_w - x0);
                for (plane, a) in planes.iter_mut().zip(acc) {
                    self.put(plane, r * out_w + x0, n, a);
                }
                x0 += LANES;
            }
        }
    }

    /// Pooled output row `py` of this channel block into row `r` of its `planes`: for the
    /// convolution rows `2 py` and `2 py + 1` and each block of `2 * LANES` columns, [`HALF`]
    /// channels at a time,
    /// the two rows' accumulators (bias included), their maximum, then the maximum of each
    /// column pair, activated and stored: `LANES` pooled columns per register.
    #[target_feature(enable = "avx512f")]
    fn pooled_row_avx512(&self, py: usize, r: usize, planes: &mut [&mut [f32]]) {
        use std::arch::x86_64::{
            _mm512_fmadd_ps, _mm512_loadu_epi32, _mm512_loadu_ps, _mm512_max_ps, _mm512_permutex2var_ps, _mm512_set1_ps,
        };
        let [even, odd] = super::phases::HALVES;
        // SAFETY: both arrays hold LANES i32s.
        let (even, odd) = unsafe { (_mm512_loadu_epi32(even.as_ptr()), _mm512_loadu_epi32(odd.as_ptr())) };
        let (out_w, pooled_w) = (self.out_w, self.out_w / 2);
        let (top, bottom) = (self.input.row_base(2 * py), self.input.row_base(2 * py + 1));
        for x0 in (0..out_w).step_by(2 * LANES) {
            let (a, b) = (self.input.data[top + x0..].as_ptr(), self.input.data[bottom + x0..].as_ptr());
            let n = LANES.min(pooled_w - x0 / 2);
            for half in (0..planes.len()).step_by(HALF) {
                let (mut a0, mut a1) = (self.start::<HALF>(half), self.start::<HALF>(half));
                let (mut b0, mut b1) = (a0, a1);
                for (&off, wt) in self.offsets.iter().zip(self.weights.chunks_exact(BLOCK)) {
                    // SAFETY: `run` checked that the farthest tap of the last double block
                    // of the last row ends inside `data`; these are no farther.
                    let (xa0, xa1, xb0, xb1) = unsafe {
                        (
                            _mm512_loadu_ps(a.add(off)),
                            _mm512_loadu_ps(a.add(off + LANES)),
                            _mm512_loadu_ps(b.add(off)),
                            _mm512_loadu_ps(b.add(off + LANES)),
                        )
                    };
                    for (c, &wv) in wt[half..half + HALF].iter().enumerate() {
                        let w = _mm512_set1_ps(wv);
                        a0[c] = _mm512_fmadd_ps(w, xa0, a0[c]);
                        a1[c] = _mm512_fmadd_ps(w, xa1, a1[c]);
                        b0[c] = _mm512_fmadd_ps(w, xb0, b0[c]);
                        b1[c] = _mm512_fmadd_ps(w, xb1, b1[c]);
                    }
                }
                for (c, plane) in planes[half..].iter_mut().take(HALF).enumerate() {
                    let (left, right) = (_mm512_max_ps(a0[c], b0[c]), _mm512_max_ps(a1[c], b1[c]));
                    let pairs = _mm512_max_ps(
                        _mm512_permutex2var_ps(left, even, right),
                        _mm512_permutex2var_ps(left, odd, right),
                    );
                    self.put(plane, r * pooled_w + x0 / 2, n, pairs);
                }
            }
        }
    }

    /// Writes the first `n` lanes of `v`, activated, at `plane[at..]`: in registers for the
    /// piecewise-linear activations, through [`activate_plain`] for the others.
    #[target_feature(enable = "avx512f")]
    fn put(&self, plane: &mut [f32], at: usize, n: usize, v: __m512) {
        use std::arch::x86_64::{_mm512_mask_storeu_ps, _mm512_storeu_ps};
        let dst = &mut plane[at..][..n];
        let Some(v) = activate_avx512(v, self.activation) else {
            let mut lanes = [0.0f32; LANES];
            // SAFETY: `lanes` holds LANES floats.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) };
            activate_plain(&mut lanes[..n], self.activation);
            dst.copy_from_slice(&lanes[..n]);
            return;
        };
        let mask = ((1u32 << n) - 1) as u16;
        // SAFETY: `dst` holds `n` <= LANES floats and the mask writes only those.
        unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, v) };
    }
}
