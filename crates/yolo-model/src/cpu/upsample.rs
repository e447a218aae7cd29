//! Nearest upsampling on host slices: each input row written once widened, then copied for
//! the other `stride - 1` output rows; planes in parallel. burn's generic path (a reshape,
//! an expand and a reshape, [`crate::ops::upsample_generic`]) copies element by element
//! through strided indexing: 0.45 of tiny's 27 ms, 2 of yolov3's 275 on a 2-core EPYC.

use rayon::prelude::*;

/// `input` `[planes, H, W]` -> `output` `[planes, H s, W s]`.
pub(crate) fn upsample(input: &[f32], height: usize, width: usize, stride: usize, output: &mut [f32]) {
    let out_plane = height * stride * width * stride;
    output.par_chunks_exact_mut(out_plane).zip(input.par_chunks_exact(height * width)).for_each(|(out, plane)| {
        upsample_plane(out, plane, width, stride);
    });
}

simd_fn! {
fn upsample_plane<'a>(out: &'a mut [f32], plane: &'a [f32], width: usize, stride: usize) {
    let out_w = width * stride;
    for (row, rows_out) in plane.chunks_exact(width).zip(out.chunks_exact_mut(out_w * stride)) {
        let (first, rest) = rows_out.split_at_mut(out_w);
        for (cells, &v) in first.chunks_exact_mut(stride).zip(row) {
            cells.fill(v);
        }
        for copy in rest.chunks_exact_mut(out_w) {
            copy.copy_from_slice(first);
        }
    }
}
}
