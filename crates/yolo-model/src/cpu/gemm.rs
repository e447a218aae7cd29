//! The audited `unsafe` gemm call: a bounds-checked wrapper around
//! [`gemm::gemm`] (raw pointers and strides) for row-major f32 matrices.

/// A row-major matrix view: `rows x cols`, element `(r, c)` at `r * row_stride + c`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

/// A mutable row-major matrix view, laid out as [`Mat`].
#[derive(Debug)]
pub(crate) struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

/// Highest index touched by a `rows x cols` view with `row_stride`, plus one (0 when empty).
fn extent(rows: usize, cols: usize, row_stride: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * row_stride + cols
    }
}

/// `dst = dst + lhs * rhs` (`accumulate`) or `dst = lhs * rhs`, split over `threads` rayon
/// threads (1 = the calling thread only).
///
/// # Panics
/// On mismatched shapes or views that reach past their slices: callers build the views from
/// shapes they have already validated, so this is an internal invariant.
#[allow(unsafe_code)]
pub(crate) fn matmul(dst: MatMut<'_>, lhs: Mat<'_>, rhs: Mat<'_>, accumulate: bool, threads: usize) {
    assert_eq!(lhs.cols, rhs.rows, "gemm: inner dimensions differ");
    assert!(dst.rows == lhs.rows && dst.cols == rhs.cols, "gemm: output shape differs");
    assert!(lhs.cols <= lhs.row_stride || lhs.rows <= 1, "gemm: lhs rows overlap");
    assert!(rhs.cols <= rhs.row_stride || rhs.rows <= 1, "gemm: rhs rows overlap");
    assert!(dst.cols <= dst.row_stride || dst.rows <= 1, "gemm: dst rows overlap");
    assert!(extent(lhs.rows, lhs.cols, lhs.row_stride) <= lhs.data.len(), "gemm: lhs out of bounds");
    assert!(extent(rhs.rows, rhs.cols, rhs.row_stride) <= rhs.data.len(), "gemm: rhs out of bounds");
    assert!(extent(dst.rows, dst.cols, dst.row_stride) <= dst.data.len(), "gemm: dst out of bounds");
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let to_isize = |s: usize| isize::try_from(s).unwrap_or(isize::MAX);
    // SAFETY: every view was checked above to lie inside its slice, with non-overlapping rows
    // in `dst`; `dst` is borrowed mutably and `lhs`/`rhs` shared, so they cannot alias.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data.as_mut_ptr(),
            1,
            to_isize(dst.row_stride),
            accumulate,
            lhs.data.as_ptr(),
            1,
            to_isize(lhs.row_stride),
            rhs.data.as_ptr(),
            1,
            to_isize(rhs.row_stride),
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}
