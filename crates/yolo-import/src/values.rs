//! Weight values that cannot be right: NaN or infinite anywhere, a negative BatchNorm variance
//! (its square root is NaN). Checked as each tensor is read, so the error names the tensor
//! instead of a validation pass failing later, and `detect -w` refuses what `import` refuses.

use crate::names::{self, Param};

/// The first impossible value of a tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BadValue {
    /// Flat index of the value.
    pub index: usize,
    pub value: f32,
    /// `NaN`, `infinite` or `negative variance`.
    pub what: &'static str,
}

/// Values scanned per block by the fast pass of [`check`]: branch-free within a block (so the
/// compiler vectorises it), an early exit between blocks.
const BLOCK: usize = 4096;

/// Checks the values of the tensor natively named `native` (`layers.{i}.bn.running_var`, ...).
///
/// Every weight of every import passes through here (62M floats for yolov3), so the common
/// case, all values plausible, is one branch-free pass per block; only a block that fails it is
/// scanned again value by value to name the first bad one (measured on the 248 MB yolov3
/// import, AMD EPYC: the value-by-value scan alone was 4-6% of the import's CPU time).
pub fn check(native: &str, values: &[f32]) -> Result<(), BadValue> {
    let variance = matches!(names::parse(native), Some((_, Param::BnVar)));
    for (block, chunk) in values.chunks(BLOCK).enumerate() {
        if !plausible(chunk, variance) {
            return first_bad(chunk.iter().copied(), variance)
                .map_err(|bad| BadValue { index: block * BLOCK + bad.index, ..bad });
        }
    }
    Ok(())
}

/// [`check`] on the bytes of native-endian f32s (a tensor's burn `Bytes`, read or mapped):
/// viewed in place, which those always allow (f32-aligned), else decoded once.
pub fn check_bytes(native: &str, bytes: &[u8]) -> Result<(), BadValue> {
    match bytemuck::try_cast_slice::<u8, f32>(bytes) {
        Ok(floats) => check(native, floats),
        Err(_) => check(native, &crate::bpk::f32s(bytes)),
    }
}

/// Whether every value is finite (and, for a variance, not negative): no early exit.
fn plausible(values: &[f32], variance: bool) -> bool {
    if variance {
        values.iter().fold(true, |ok, v| ok & (v.is_finite() & (*v >= 0.0)))
    } else {
        values.iter().fold(true, |ok, v| ok & v.is_finite())
    }
}

/// The first impossible value, scanned one by one.
fn first_bad(values: impl IntoIterator<Item = f32>, variance: bool) -> Result<(), BadValue> {
    for (index, value) in values.into_iter().enumerate() {
        let what = if value.is_nan() {
            "NaN"
        } else if value.is_infinite() {
            "infinite"
        } else if variance && value < 0.0 {
            "negative variance"
        } else {
            continue;
        };
        return Err(BadValue { index, value, what });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_inf_and_negative_variances_are_found() {
        assert_eq!(check("layers.0.conv.weight", &[0.0, -1.0, 2.0]), Ok(()));
        assert_eq!(check("layers.0.conv.weight", &[0.0, f32::NAN]).map_err(|e| (e.index, e.what)), Err((1, "NaN")));
        assert_eq!(check("layers.3.bn.gamma", &[f32::INFINITY]).map_err(|e| e.what), Err("infinite"));
        assert_eq!(
            check("layers.3.bn.running_var", &[1.0, -0.5]).map_err(|e| (e.index, e.what)),
            Err((1, "negative variance"))
        );
        assert_eq!(check("layers.3.bn.beta", &[-0.5]), Ok(()));
    }

    #[test]
    fn a_bad_value_is_found_in_any_block_and_named_by_its_index() {
        for at in [0, 1, BLOCK - 1, BLOCK, 3 * BLOCK + 17, 4 * BLOCK + 9] {
            let mut values = vec![0.5f32; 4 * BLOCK + 10];
            values[at] = f32::NEG_INFINITY;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            for found in [check("layers.1.conv.weight", &values), check_bytes("layers.1.conv.weight", &bytes)] {
                assert_eq!(found.map_err(|e| (e.index, e.what)), Err((at, "infinite")), "at {at}");
            }
            values[at] = -2.0;
            assert_eq!(check("layers.1.conv.weight", &values), Ok(()));
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let found = check_bytes("layers.1.bn.running_var", &bytes).map_err(|e| (e.index, e.what));
            assert_eq!(found, Err((at, "negative variance")));
        }
        assert_eq!(check_bytes("layers.1.conv.weight", &[]), Ok(()));
        // Bytes that cannot be viewed as f32s in place (one byte off alignment) are decoded.
        let values = [0.5f32, f32::NAN, 1.0];
        let mut padded = vec![0u8; 1 + 4 * values.len() + 3];
        let start = (1..=4).find(|s| padded[*s..].as_ptr().align_offset(4) != 0).expect("a misaligned start");
        for (i, v) in values.iter().enumerate() {
            padded[start + 4 * i..start + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        let found = check_bytes("layers.1.conv.weight", &padded[start..start + 12]).map_err(|e| (e.index, e.what));
        assert_eq!(found, Err((1, "NaN")));
    }
}
