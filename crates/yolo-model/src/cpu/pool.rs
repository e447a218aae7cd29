//! Darknet maxpool on host slices: each plane padded once into a scratch buffer with
//! darknet's fills, then separable running maxima (rows, then columns), planes in parallel.
//! burn's generic path ([`crate::ops::maxpool`]) needs several full-map passes for the same.

use rayon::prelude::*;

use crate::cfg::MaxPoolSpec;
use crate::config::PadFill;

/// Geometry of one maxpool over `[planes, H, W]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolGeometry {
    pub height: usize,
    pub width: usize,
    pub size: usize,
    pub stride: usize,
    /// Padding before, after (darknet: `padding / 2` and the rest).
    pub before: usize,
    pub after: usize,
    pub fill: PadFill,
}

impl PoolGeometry {
    pub fn new(height: usize, width: usize, spec: &MaxPoolSpec, fill: PadFill) -> Self {
        let (before, after) = spec.pads();
        PoolGeometry { height, width, size: spec.size, stride: spec.stride, before, after, fill }
    }

    /// `None` when the window does not fit the padded map (burn reports that case).
    pub fn out_dims(&self) -> Option<[usize; 2]> {
        let out = |n: usize| (n + self.before + self.after).checked_sub(self.size).map(|d| d / self.stride + 1);
        Some([out(self.height)?, out(self.width)?])
    }

    /// A 2x2/2 pool whose windows tile the map exactly (even sizes, no leading padding): the
    /// padding is never read, so the fill does not matter.
    pub fn tiles_2x2(&self) -> bool {
        self.size == 2
            && self.stride == 2
            && self.before == 0
            && self.height.is_multiple_of(2)
            && self.width.is_multiple_of(2)
    }

    /// The value a padded cell holds: `-inf`, except the trailing `after - before` cells in
    /// [`PadFill::Zero`] mode (PyTorch ports' `ZeroPad2d`), which are zero.
    fn pad_value(&self, y: usize, x: usize) -> f32 {
        // `y`, `x` are padded coordinates; the image starts at `before`.
        let extra = self.after.saturating_sub(self.before);
        let inside = |i: usize, n: usize| i >= self.before && i < self.before + n + extra;
        if self.fill == PadFill::Zero && inside(y, self.height) && inside(x, self.width) {
            0.0
        } else {
            f32::NEG_INFINITY
        }
    }
}

/// `input` `[planes, H, W]` -> `output` `[planes, H', W']`.
pub(crate) fn maxpool(input: &[f32], g: &PoolGeometry, output: &mut [f32]) {
    let Some([out_h, out_w]) = g.out_dims() else { return };
    // Windows that tile the map exactly (tiny's 2/2 pools) never reach the padding: straight
    // from the input, no padded copy.
    if g.tiles_2x2() {
        // Tasks of whole planes (at least ~16k outputs each): one task per output row cost
        // more in scheduling than the row's arithmetic.
        let plane = out_h * out_w;
        let per_task = (1usize << 14).div_ceil(plane).max(1);
        let tasks = output.par_chunks_mut(per_task * plane).zip(input.par_chunks(per_task * g.height * g.width));
        tasks.for_each(|(out, input)| pool_2x2_planes(out, input, out_w));
        return;
    }
    let (ph, pw) = (g.height + g.before + g.after, g.width + g.before + g.after);
    let template: Vec<f32> = (0..ph * pw).map(|i| g.pad_value(i / pw, i % pw)).collect();
    output.par_chunks_exact_mut(out_h * out_w).zip(input.par_chunks_exact(g.height * g.width)).for_each_init(
        || (template.clone(), vec![0.0f32; ph * out_w]),
        |(padded, rows), (out, plane)| pool_plane(padded, rows, out, plane, g, out_w),
    );
}

simd_fn! {
/// One plane: copy into the padded buffer, horizontal maxima, then vertical maxima.
fn pool_plane<'a>(
    padded: &'a mut [f32],
    rows: &'a mut [f32],
    out: &'a mut [f32],
    plane: &'a [f32],
    g: &'a PoolGeometry,
    out_w: usize,
) {
    let pw = g.width + g.before + g.after;
    for (y, src) in plane.chunks_exact(g.width).enumerate() {
        let start = (y + g.before) * pw + g.before;
        padded[start..start + g.width].copy_from_slice(src);
    }
    for (row, dst) in padded.chunks_exact(pw).zip(rows.chunks_exact_mut(out_w)) {
        for (ox, d) in dst.iter_mut().enumerate() {
            let window = &row[ox * g.stride..ox * g.stride + g.size];
            *d = window.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        }
    }
    for (oy, dst) in out.chunks_exact_mut(out_w).enumerate() {
        dst.copy_from_slice(&rows[oy * g.stride * out_w..(oy * g.stride + 1) * out_w]);
        for ky in 1..g.size {
            let src = &rows[(oy * g.stride + ky) * out_w..(oy * g.stride + ky + 1) * out_w];
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d = d.max(s));
        }
    }
}
}

simd_fn! {
/// 2x2/2 pooling of whole planes: output row `r` (of width `out_w`) from input rows `2r` and
/// `2r + 1` (of width `2 * out_w`), planes back to back in both.
fn pool_2x2_planes<'a>(out: &'a mut [f32], input: &'a [f32], out_w: usize) {
    for (o, rows) in out.chunks_exact_mut(out_w).zip(input.chunks_exact(4 * out_w)) {
        let (top, bottom) = rows.split_at(2 * out_w);
        for ((o, t), b) in o.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
            *o = t[0].max(t[1]).max(b[0].max(b[1]));
        }
    }
}
}
