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

/// Checks the values of the tensor natively named `native` (`layers.{i}.bn.running_var`, ...).
pub fn check(native: &str, values: impl IntoIterator<Item = f32>) -> Result<(), BadValue> {
    let variance = matches!(names::parse(native), Some((_, Param::BnVar)));
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

/// The values of little-endian f32 bytes.
pub fn f32_values(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_inf_and_negative_variances_are_found() {
        assert_eq!(check("layers.0.conv.weight", [0.0, -1.0, 2.0]), Ok(()));
        assert_eq!(check("layers.0.conv.weight", [0.0, f32::NAN]).map_err(|e| (e.index, e.what)), Err((1, "NaN")));
        assert_eq!(check("layers.3.bn.gamma", [f32::INFINITY]).map_err(|e| e.what), Err("infinite"));
        assert_eq!(
            check("layers.3.bn.running_var", [1.0, -0.5]).map_err(|e| (e.index, e.what)),
            Err((1, "negative variance"))
        );
        assert_eq!(check("layers.3.bn.beta", [-0.5]), Ok(()));
    }
}
