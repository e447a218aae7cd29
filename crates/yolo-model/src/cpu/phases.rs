//! Rows split into column phases and merged back, for the Winograd transforms, with AVX-512
//! permutes.
//!
//! Why: [`super::winograd`] runs its transforms on rows split by column phase (`col % m`), so
//! every step is a contiguous loop over tiles. The split (`phase[r][j] = row[m j + r]`) and the
//! merge back (`out[m tx + r] = phase[r][tx]`) written as plain loops compiled to scalar loads
//! and stores: `perf` on yolov3 (2-core AMD EPYC) put the output transform, mostly its merge,
//! at 12% of a forward pass and the input transform at 5%. Here 16 tiles move at a time: two
//! levels of `vpermt2ps` interleave or de-interleave four phase registers.
//!
//! Only for `m` = 2 and 4 (F(2x2) and F(4x4)) on CPUs with AVX-512F; elsewhere the callers keep
//! their plain loops ([`available`]).

#[cfg(target_arch = "x86_64")]
use super::conv::activate_avx512;
use crate::cfg::Activation;

/// Tiles per register.
const LANES: usize = 16;

/// `vpermt2ps` indices of the even and the odd elements of two registers (32 floats): the
/// two column phases of a row (here), or the two columns of each 2x2 pool window
/// ([`super::direct`]).
pub(crate) const HALVES: [[i32; LANES]; 2] = [
    [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30],
    [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31],
];

/// Whether [`split`] and [`merge`] run on this CPU.
pub(crate) fn available() -> bool {
    super::simd_level() == "avx512"
}

/// Splits `padded` into `m` phase rows of `len` floats: `out[first + r * stride + j] =
/// padded[m * j + r]`. `padded` must hold `m * len` rounded up to whole registers.
///
/// # Panics
/// Without AVX-512 ([`available`]), for `m` other than 2 or 4, or when a slice is too short.
#[allow(unsafe_code)] // the call into the AVX-512 body
pub(crate) fn split(padded: &[f32], m: usize, len: usize, out: &mut [f32], first: usize, stride: usize) {
    assert!(available() && (m == 2 || m == 4), "phases::split needs AVX-512 and m of 2 or 4");
    assert!(padded.len() >= m * len.next_multiple_of(LANES), "the padded row holds whole registers");
    assert!(len == 0 || first + (m - 1) * stride + len <= out.len(), "every phase row fits");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `available` checked AVX-512F; the bounds above are the body's.
    unsafe {
        split_avx512(padded, m, len, out, first, stride)
    }
}

/// `m` phase rows of `tiles` floats in `data`: phase `r` starts at `first + r * stride`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PhaseRows<'a> {
    pub data: &'a [f32],
    pub first: usize,
    pub stride: usize,
    pub m: usize,
    pub tiles: usize,
}

/// Merges the phase rows back into `dst`, adding `b`: `dst[m * tx + r] = phase r's [tx] + b`
/// for `tx < tiles` while `m * tx + r < dst.len()`. Linear, leaky and ReLU are applied too
/// (returns `true`); for the other activations the caller applies them (`false`).
///
/// # Panics
/// As [`split`], and when `dst` is longer than the tiles cover.
#[allow(unsafe_code)] // the call into the AVX-512 body
pub(crate) fn merge(rows: PhaseRows<'_>, b: f32, activation: Activation, dst: &mut [f32]) -> bool {
    let PhaseRows { data, first, stride, m, tiles } = rows;
    assert!(available() && (m == 2 || m == 4), "phases::merge needs AVX-512 and m of 2 or 4");
    assert!(dst.len() <= m * tiles, "the tiles cover the row");
    assert!(tiles == 0 || first + (m - 1) * stride + tiles <= data.len(), "every phase row is there");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `available` checked AVX-512F; the bounds above are the body's.
    unsafe {
        merge_avx512(rows, b, activation, dst)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)] // masked loads and stores inside the slices checked by `split`
fn split_avx512(padded: &[f32], m: usize, len: usize, out: &mut [f32], first: usize, stride: usize) {
    use std::arch::x86_64::{
        _mm512_loadu_epi32, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_permutex2var_ps, _mm512_shuffle_f32x4,
    };
    // m = 2: phase r is elements r, r + 2, ... of two registers ([`HALVES`]). m = 4: elements
    // r, r + 4, ... of registers 0-1 and of 2-3 (eight each), joined.
    const QUARTERS: [[i32; LANES]; 4] = [
        [0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28],
        [1, 5, 9, 13, 17, 21, 25, 29, 1, 5, 9, 13, 17, 21, 25, 29],
        [2, 6, 10, 14, 18, 22, 26, 30, 2, 6, 10, 14, 18, 22, 26, 30],
        [3, 7, 11, 15, 19, 23, 27, 31, 3, 7, 11, 15, 19, 23, 27, 31],
    ];
    for j0 in (0..len).step_by(LANES) {
        let k = LANES.min(len - j0);
        let mask = ((1u32 << k) - 1) as u16;
        let src = &padded[m * j0..][..m * LANES];
        // SAFETY: `src` holds m registers.
        let v = |i: usize| unsafe { _mm512_loadu_ps(src.as_ptr().add(i * LANES)) };
        for r in 0..m {
            let phase = if m == 2 {
                // SAFETY: a table row holds LANES i32s.
                let idx = unsafe { _mm512_loadu_epi32(HALVES[r].as_ptr()) };
                _mm512_permutex2var_ps(v(0), idx, v(1))
            } else {
                // SAFETY: as above.
                let idx = unsafe { _mm512_loadu_epi32(QUARTERS[r].as_ptr()) };
                let (lo, hi) = (_mm512_permutex2var_ps(v(0), idx, v(1)), _mm512_permutex2var_ps(v(2), idx, v(3)));
                _mm512_shuffle_f32x4::<0x44>(lo, hi)
            };
            let dst = &mut out[first + r * stride + j0..][..k];
            // SAFETY: the mask writes the `k` floats of `dst`.
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, phase) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)] // masked loads and stores inside the slices checked by `merge`
fn merge_avx512(rows: PhaseRows<'_>, b: f32, activation: Activation, dst: &mut [f32]) -> bool {
    use std::arch::x86_64::{
        _mm512_add_ps, _mm512_loadu_epi32, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_permutex2var_ps,
        _mm512_set1_ps, _mm512_setzero_ps,
    };
    // Level 1 interleaves two registers (a0 b0 a1 b1 ...: low and high halves); level 2 (m = 4)
    // interleaves pairs of those (a0 b0 c0 d0 a1 ...).
    const PAIRS: [[i32; LANES]; 2] = [
        [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23],
        [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31],
    ];
    const QUADS: [[i32; LANES]; 2] = [
        [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23],
        [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31],
    ];
    let PhaseRows { data: e, first, stride, m, tiles } = rows;
    let activated = activate_avx512(_mm512_setzero_ps(), activation).is_some();
    let bias = _mm512_set1_ps(b);
    // SAFETY: each table row holds LANES i32s.
    let idx = |t: &[[i32; LANES]; 2], i: usize| unsafe { _mm512_loadu_epi32(t[i].as_ptr()) };
    for tx0 in (0..tiles).step_by(LANES) {
        let k = LANES.min(tiles - tx0);
        let mask = ((1u32 << k) - 1) as u16;
        let phase = |r: usize| {
            let src = &e[first + r * stride + tx0..][..k];
            // SAFETY: the mask reads the `k` floats of `src`.
            unsafe { _mm512_maskz_loadu_ps(mask, src.as_ptr()) }
        };
        let mut outs = [_mm512_setzero_ps(); 4];
        if m == 2 {
            let (p0, p1) = (phase(0), phase(1));
            outs[0] = _mm512_permutex2var_ps(p0, idx(&PAIRS, 0), p1);
            outs[1] = _mm512_permutex2var_ps(p0, idx(&PAIRS, 1), p1);
        } else {
            let (p0, p1, p2, p3) = (phase(0), phase(1), phase(2), phase(3));
            let (lo01, hi01) =
                (_mm512_permutex2var_ps(p0, idx(&PAIRS, 0), p1), _mm512_permutex2var_ps(p0, idx(&PAIRS, 1), p1));
            let (lo23, hi23) =
                (_mm512_permutex2var_ps(p2, idx(&PAIRS, 0), p3), _mm512_permutex2var_ps(p2, idx(&PAIRS, 1), p3));
            outs[0] = _mm512_permutex2var_ps(lo01, idx(&QUADS, 0), lo23);
            outs[1] = _mm512_permutex2var_ps(lo01, idx(&QUADS, 1), lo23);
            outs[2] = _mm512_permutex2var_ps(hi01, idx(&QUADS, 0), hi23);
            outs[3] = _mm512_permutex2var_ps(hi01, idx(&QUADS, 1), hi23);
        }
        let start = m * tx0;
        for (i, &v) in outs[..m].iter().enumerate() {
            let at = start + i * LANES;
            if at >= dst.len() {
                break;
            }
            let n = LANES.min(dst.len() - at);
            let v = _mm512_add_ps(v, bias);
            let v = activate_avx512(v, activation).unwrap_or(v);
            let out = &mut dst[at..][..n];
            // SAFETY: the mask writes the `n` floats of `out`.
            unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr(), ((1u32 << n) - 1) as u16, v) };
        }
    }
    activated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_merge_match_plain_loops() {
        if !available() {
            eprintln!("phases not run: this CPU has no AVX-512");
            return;
        }
        for m in [2, 4] {
            for len in [1usize, 7, 14, 16, 17, 27, 40] {
                let padded: Vec<f32> = (0..m * len.next_multiple_of(LANES)).map(|i| i as f32 * 0.5 - 3.0).collect();
                let stride = len + 3;
                let mut out = vec![f32::NAN; 5 + m * stride];
                split(&padded, m, len, &mut out, 5, stride);
                for r in 0..m {
                    for j in 0..len {
                        assert_eq!(out[5 + r * stride + j], padded[m * j + r], "split m {m} len {len} r {r} j {j}");
                    }
                }
                // Merging the phases back gives the row (any length the tiles cover), plus the
                // bias, activated.
                let tiles = len;
                for width in [m * tiles, m * tiles - 1, (m * tiles).saturating_sub(m + 1).max(1)] {
                    for activation in [Activation::Leaky, Activation::Linear, Activation::Relu, Activation::Mish] {
                        let mut dst = vec![f32::NAN; width];
                        let rows = PhaseRows { data: &out, first: 5, stride, m, tiles };
                        let done = merge(rows, 0.25, activation, &mut dst);
                        assert_eq!(done, activation != Activation::Mish);
                        let mut expected: Vec<f32> = padded[..width].iter().map(|v| v + 0.25).collect();
                        if done {
                            super::super::conv::activate_plain(&mut expected, activation);
                        }
                        assert_eq!(dst, expected, "merge m {m} tiles {tiles} width {width} {activation:?}");
                    }
                }
            }
        }
    }
}
