//! NCHW im2col for one image and a band of output rows: the column matrix that turns a
//! convolution into one matrix product `weights[C_out, C_in*k*k] x cols[C_in*k*k, rows*W_out]`.

use rayon::prelude::*;

/// Geometry of one convolution on one image (square kernel, symmetric zero padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ConvGeometry {
    pub in_channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Rows of the column matrix: `C_in * k * k`, ordered like burn's `[C_out, C_in, k, k]`
    /// weights.
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// 1x1, stride 1, no padding: the image itself is the column matrix.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// Whether a 2x2/2 maxpool without leading padding tiles the output exactly (even height
    /// and width): the pairs a conv can run fused with its pool.
    pub fn pools_2x2(&self) -> bool {
        self.out_height().is_multiple_of(2) && self.out_width().is_multiple_of(2)
    }
}

/// Fills `cols` (`patch_len` rows of `rows * W_out` columns) for output rows
/// `first_row .. first_row + rows` of `image` (`[C_in, H, W]`), rows in parallel. Padding
/// reads as zero.
pub(crate) fn im2col(image: &[f32], g: &ConvGeometry, first_row: usize, rows: usize, cols: &mut [f32]) {
    let n = rows * g.out_width();
    cols[..g.patch_len() * n].par_chunks_mut(n).enumerate().for_each(|(r, dst)| patch_row(image, g, r, first_row, dst));
}

/// [`im2col`] on the calling thread only (for callers that run bands in parallel).
pub(crate) fn im2col_serial(image: &[f32], g: &ConvGeometry, first_row: usize, rows: usize, cols: &mut [f32]) {
    let n = rows * g.out_width();
    cols[..g.patch_len() * n].chunks_mut(n).enumerate().for_each(|(r, dst)| patch_row(image, g, r, first_row, dst));
}

fn patch_row(image: &[f32], g: &ConvGeometry, r: usize, first_row: usize, dst: &mut [f32]) {
    let plane = g.height * g.width;
    let src = &image[(r / (g.kernel * g.kernel)) * plane..][..plane];
    fill_patch_row(dst, src, g, r, first_row, g.out_width());
}

simd_fn! {
/// Column-matrix row `r` (`(c, ky, kx)`) for the band's output rows, from channel plane `src`.
fn fill_patch_row<'a>(dst: &'a mut [f32], src: &'a [f32], g: &'a ConvGeometry, r: usize, first_row: usize, out_w: usize) {
    let ky = (r / g.kernel) % g.kernel;
    let kx = r % g.kernel;
    for (oy, out_row) in (first_row..).zip(dst.chunks_exact_mut(out_w)) {
        fill_row(src, g, oy, ky, kx, out_row);
    }
}
}

/// One output row of one `(c, ky, kx)` patch row: input row `oy*s + ky - p`, columns
/// `ox*s + kx - p`, zero outside the image.
#[inline(always)]
fn fill_row(plane: &[f32], g: &ConvGeometry, oy: usize, ky: usize, kx: usize, out: &mut [f32]) {
    let iy = (oy * g.stride + ky).wrapping_sub(g.padding);
    if iy >= g.height {
        out.fill(0.0);
        return;
    }
    let row = &plane[iy * g.width..(iy + 1) * g.width];
    // Output columns whose input column `ox*s + kx - p` lies inside `0..W`.
    let first = g.padding.saturating_sub(kx).div_ceil(g.stride);
    let last = match (g.width + g.padding).checked_sub(kx + 1) {
        Some(span) => (span / g.stride + 1).min(out.len()),
        None => 0,
    };
    if first >= last {
        out.fill(0.0);
        return;
    }
    out[..first].fill(0.0);
    out[last..].fill(0.0);
    let start = first * g.stride + kx - g.padding;
    if g.stride == 1 {
        out[first..last].copy_from_slice(&row[start..start + (last - first)]);
    } else {
        // Indexed, not `step_by`, so the compiler turns it into vector shuffles.
        let (s, count) = (g.stride, last - first);
        let src = &row[start..start + (count - 1) * s + 1];
        let dst = &mut out[first..last];
        for i in 0..count {
            dst[i] = src[i * s];
        }
    }
}
