//! Direct convolution for layers with few input channels (tiny's 16->32 at 208), where
//! Winograd does not pay and im2col + gemm multiplies a thin weight matrix (32x144) by a
//! column matrix of 43k columns that it first has to write. Here the input is copied once,
//! zero-padded and split into stride phases so that every tap reads contiguous columns, and
//! a register block of [`BLOCK`] output channels x [`LANES`] output columns accumulates all `C_in*k*k`
//! taps before it is written, bias and activation applied.

use rayon::prelude::*;

use super::buffers::{self, Buffer};
use super::conv::{activate_plain, plane_bands, ConvParams};
use super::im2col::ConvGeometry;
use crate::cfg::Activation;

/// Output channels per register block.
const BLOCK: usize = 8;
/// Output columns per register block (one AVX-512 register, two AVX2 ones).
const LANES: usize = 16;
/// The most taps (`C_in * k * k`) the direct kernel takes; beyond it the weights of one
/// block no longer stay in L1 and im2col's product is efficient anyway.
const MAX_TAPS: usize = 32 * 9;

/// Whether the rules pick the direct kernel for `g`. Measured on a 2-core Sapphire Rapids
/// (`yolov3 bench --profile`, 2 threads, 416; ms, direct vs im2col): 16->32 at 208 3.0 vs 4.3;
/// 3->16 at 416 3.9 vs 4.1 and 3->32 at 416 8.4 vs 7.6 (three input channels give too few
/// taps per output to hide the writes); the stride-2 32->64 416->208 26 vs 18 (the phase
/// split costs more than im2col's column matrix). So: stride 1, at least 8 input channels.
pub(crate) fn applies(g: &ConvGeometry, out_channels: usize) -> bool {
    supports(g, out_channels) && g.stride == 1 && g.in_channels >= 8
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

/// The input of one image zero-padded and split by column phase: padded row `r`, phase `q`
/// (`0..s`), index `j` holds padded column `j*s + q`, so the columns `ox*s + kx` that one
/// tap reads for consecutive `ox` are contiguous: phase `kx % s`, from index `kx / s`.
struct Phased {
    data: Buffer,
    rows: usize,
    stride: usize,
    /// Floats per (row, phase): room for whole [`LANES`] blocks plus the widest tap offset.
    len: usize,
}

impl Phased {
    fn new(image: &[f32], g: &ConvGeometry) -> Phased {
        let (s, p) = (g.stride, g.padding);
        let rows = g.height + 2 * p;
        let len = g.out_width().next_multiple_of(LANES) + (g.kernel - 1) / s + 1;
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
#[allow(unsafe_code)] // the call into the AVX-512 body; `supports` checked the CPU
pub(crate) fn conv(image: &[f32], g: &ConvGeometry, p: &ConvParams<'_>, out: &mut [f32]) {
    assert!(supports(g, p.out_channels), "the direct kernel does not take {g:?} -> {}", p.out_channels);
    let taps = g.patch_len();
    let input = Phased::new(image, g);
    let packed = pack_weights(p.weight, p.out_channels, taps);
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let plane = out_h * out_w;
    // Tap `(c, ky, kx)` of output `(oy, x0)` reads `input.at(c, oy*s + ky, kx, x0)`, which is
    // `oy*s*s*len + x0` plus this offset; the run of the last output block and the farthest
    // tap ends inside the buffer (checked once here, relied on by the loads).
    let offsets: Vec<usize> = (0..g.in_channels)
        .flat_map(|c| (0..g.kernel).flat_map(move |ky| (0..g.kernel).map(move |kx| (c, ky, kx))))
        .map(|(c, ky, kx)| input.at(c, ky, kx, 0))
        .collect();
    let last_base = (out_h - 1) * g.stride * g.stride * input.len + (out_w - 1) / LANES * LANES;
    let last_end = last_base + offsets.iter().max().map_or(0, |&o| o + LANES);
    assert!(last_end <= input.data.len(), "the phased input covers every tap");
    // Work items: (channel block, band of output rows), about four per thread; each writes
    // its rows of its block's planes.
    let blocks = p.out_channels.div_ceil(BLOCK);
    let wanted = (4 * rayon::current_num_threads()).div_ceil(blocks).clamp(1, out_h);
    let rows_per_item = out_h.div_ceil(wanted);
    let band_len = rows_per_item * out_w;
    let bands = plane.div_ceil(band_len); // as `plane_bands` numbers its items
    let pieces = plane_bands(&mut out[..p.out_channels * plane], plane, band_len, BLOCK);
    pieces.into_par_iter().enumerate().filter(|(_, planes)| !planes.is_empty()).for_each(|(item, mut planes)| {
        let (b, band) = (item / bands, item % bands);
        let block = Block {
            input: &input,
            offsets: &offsets,
            weights: &packed[b * taps * BLOCK..][..taps * BLOCK],
            bias: p.bias.map(|all| &all[b * BLOCK..b * BLOCK + planes.len()]),
            activation: p.activation,
            stride: g.stride,
            out_w,
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `supports` admits this kernel only where the CPU has AVX-512F.
        unsafe {
            block.rows_avx512(band * rows_per_item, &mut planes)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (block, planes);
            unreachable!("direct::supports is false off x86-64")
        }
    });
}

/// What every work item of one call shares, with its channel block's weights and bias.
struct Block<'a> {
    input: &'a Phased,
    offsets: &'a [usize],
    /// `[taps][BLOCK]`.
    weights: &'a [f32],
    bias: Option<&'a [f32]>,
    activation: Activation,
    stride: usize,
    out_w: usize,
}

impl Block<'_> {
    /// Output rows `first..` (as many as `planes` hold) of this channel block: [`BLOCK`]
    /// accumulators of two [`LANES`]-column registers each over all taps (one register where
    /// fewer columns are left), so each broadcast weight feeds two FMAs and each tap costs two
    /// input loads and [`BLOCK`] broadcasts for `2 * BLOCK` FMAs. (Written with intrinsics: the
    /// same loop over plain arrays, dispatched by pulp, compiled to scalar FMAs on memory and
    /// ran 4-6x slower than im2col.)
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(unsafe_code)] // unaligned loads and stores; offsets checked in `conv`
    fn rows_avx512(&self, first: usize, planes: &mut [&mut [f32]]) {
        use std::arch::x86_64::{__m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps};
        let (s, out_w) = (self.stride, self.out_w);
        // The phased rows hold whole LANES blocks: a double block fits where it ends by then.
        let padded_w = out_w.next_multiple_of(LANES);
        let mut lanes = [[0.0f32; LANES]; BLOCK];
        let start = || {
            let mut acc = [_mm512_set1_ps(0.0); BLOCK];
            if let Some(bias) = self.bias {
                for (a, &b) in acc.iter_mut().zip(bias) {
                    *a = _mm512_set1_ps(b);
                }
            }
            acc
        };
        for r in 0..planes[0].len() / out_w {
            let row_base = (first + r) * s * s * self.input.len;
            let mut x0 = 0;
            while x0 < out_w {
                let src = self.input.data[row_base + x0..].as_ptr();
                if x0 + 2 * LANES <= padded_w {
                    let (mut acc0, mut acc1): ([__m512; BLOCK], [__m512; BLOCK]) = (start(), start());
                    for (&off, wt) in self.offsets.iter().zip(self.weights.chunks_exact(BLOCK)) {
                        // SAFETY: `conv` checked that the farthest tap of the last block ends
                        // inside `data`; both halves of this block and tap are no farther.
                        let (xa, xb) =
                            unsafe { (_mm512_loadu_ps(src.add(off)), _mm512_loadu_ps(src.add(off + LANES))) };
                        for ((a0, a1), &wv) in acc0.iter_mut().zip(acc1.iter_mut()).zip(wt) {
                            let w = _mm512_set1_ps(wv);
                            *a0 = _mm512_fmadd_ps(w, xa, *a0);
                            *a1 = _mm512_fmadd_ps(w, xb, *a1);
                        }
                    }
                    // The first half is whole (x0 + LANES < out_w); the second may be partial.
                    self.store(planes, &acc0, &mut lanes, r * out_w + x0, LANES);
                    self.store(planes, &acc1, &mut lanes, r * out_w + x0 + LANES, LANES.min(out_w - x0 - LANES));
                    x0 += 2 * LANES;
                } else {
                    let mut acc = start();
                    for (&off, wt) in self.offsets.iter().zip(self.weights.chunks_exact(BLOCK)) {
                        // SAFETY: as above.
                        let x = unsafe { _mm512_loadu_ps(src.add(off)) };
                        for (a, &wv) in acc.iter_mut().zip(wt) {
                            *a = _mm512_fmadd_ps(_mm512_set1_ps(wv), x, *a);
                        }
                    }
                    self.store(planes, &acc, &mut lanes, r * out_w + x0, LANES.min(out_w - x0));
                    x0 += LANES;
                }
            }
        }
    }

    /// Writes the first `n` columns of each accumulator, activated, at `at` of its plane.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(unsafe_code)] // the store into `lanes`
    fn store(
        &self,
        planes: &mut [&mut [f32]],
        acc: &[std::arch::x86_64::__m512; BLOCK],
        lanes: &mut [[f32; LANES]; BLOCK],
        at: usize,
        n: usize,
    ) {
        for ((plane, a), lane) in planes.iter_mut().zip(acc).zip(lanes.iter_mut()) {
            // SAFETY: `lane` holds LANES floats.
            unsafe { std::arch::x86_64::_mm512_storeu_ps(lane.as_mut_ptr(), *a) };
            activate_plain(&mut lane[..n], self.activation);
            plane[at..][..n].copy_from_slice(&lane[..n]);
        }
    }
}
