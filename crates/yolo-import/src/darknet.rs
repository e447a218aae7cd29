//! Darknet `.weights`: a small header, then float32s per conv layer in cfg order.
//!
//! Per conv: `bias[n]` (the BN beta when `batch_normalize`), then if BN `scale[n]` (gamma),
//! `rolling_mean[n]`, `rolling_variance[n]`; then the weights `[n, c/groups, k, k]`, row-major.
//! The float count must fit the cfg exactly; otherwise the error names the layer where the
//! file stops fitting.

use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
use yolo_model::cfg::{LayerSpec, NetworkSpec};

use crate::error::DarknetError;
use crate::names::Param;

/// The header of a `.weights` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DarknetHeader {
    pub major: i32,
    pub minor: i32,
    pub revision: i32,
    /// Images seen in training.
    pub seen: u64,
    /// 20 for YOLOv3-era files (64-bit `seen`), 16 for old ones.
    pub len: usize,
}

/// Weights read from a darknet file, named natively, ready to apply.
#[derive(Debug)]
pub struct DarknetWeights {
    pub header: DarknetHeader,
    pub tensors: Vec<PackTensor>,
    /// Number of float32 values read.
    pub floats: usize,
}

/// Parses the header. `path` is only used in messages.
pub fn read_header(path: &str, bytes: &[u8]) -> Result<DarknetHeader, DarknetError> {
    let int = |at: usize| bytes.get(at..at + 4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (Some(major), Some(minor), Some(revision)) = (int(0), int(4), int(8)) else {
        return Err(DarknetError::Header { path: path.into(), len: bytes.len() });
    };
    if !(0..1000).contains(&major) || !(0..1000).contains(&minor) || revision < 0 {
        return Err(DarknetError::Version { path: path.into(), major, minor, revision });
    }
    let wide = major * 10 + minor >= 2;
    let len = if wide { 20 } else { 16 };
    let Some(seen) = bytes.get(12..len) else {
        return Err(DarknetError::Header { path: path.into(), len: bytes.len() });
    };
    let seen = match seen {
        [a, b, c, d, e, f, g, h] => u64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]),
        [a, b, c, d] => u64::from(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => unreachable!("slice is 4 or 8 bytes"),
    };
    Ok(DarknetHeader { major, minor, revision, seen, len })
}

/// The number of float32 values a network described by `spec` reads from a `.weights` file.
pub fn expected_floats(spec: &NetworkSpec) -> usize {
    conv_sizes(spec).iter().map(|(_, n)| n).sum()
}

/// The header, and the number of float32 values after it.
pub fn payload_floats(path: &str, bytes: &[u8]) -> Result<(DarknetHeader, usize), DarknetError> {
    let header = read_header(path, bytes)?;
    let payload = bytes.len() - header.len;
    if !payload.is_multiple_of(4) {
        return Err(DarknetError::Ragged { path: path.into(), payload });
    }
    Ok((header, payload / 4))
}

/// The float count each conv layer of `spec` reads, with its cfg index.
fn conv_sizes(spec: &NetworkSpec) -> Vec<(usize, usize)> {
    spec.layers
        .iter()
        .enumerate()
        .filter_map(|(i, layer)| match layer {
            LayerSpec::Conv(c) => {
                let n = c.filters;
                let vectors = if c.batch_normalize { 4 * n } else { n };
                Some((i, vectors + n * (c.in_channels / c.groups) * c.size * c.size))
            }
            _ => None,
        })
        .collect()
}

/// Reads the whole file's weights against `spec`.
pub fn read_weights(path: &str, bytes: &[u8], spec: &NetworkSpec) -> Result<DarknetWeights, DarknetError> {
    let (header, file_total) = payload_floats(path, bytes)?;
    let payload = &bytes[header.len..];
    let sizes = conv_sizes(spec);
    let expected_total = expected_floats(spec);
    if file_total < expected_total {
        return Err(shortfall(path, &sizes, file_total, expected_total));
    }
    if file_total > expected_total {
        return Err(DarknetError::TooLong {
            path: path.into(),
            extra: file_total - expected_total,
            expected_total,
            file_total,
        });
    }

    let mut reader = FloatReader { payload, at: 0, path };
    let mut tensors = Vec::new();
    for (index, layer) in spec.layers.iter().enumerate() {
        let LayerSpec::Conv(c) = layer else { continue };
        let n = c.filters;
        if c.batch_normalize {
            tensors.push(reader.tensor(Param::BnBeta.key(index), vec![n])?);
            tensors.push(reader.tensor(Param::BnGamma.key(index), vec![n])?);
            tensors.push(reader.tensor(Param::BnMean.key(index), vec![n])?);
            tensors.push(reader.tensor(Param::BnVar.key(index), vec![n])?);
        } else {
            tensors.push(reader.tensor(Param::ConvBias.key(index), vec![n])?);
        }
        let shape = vec![n, c.in_channels / c.groups, c.size, c.size];
        tensors.push(reader.tensor(Param::ConvWeight.key(index), shape)?);
    }
    Ok(DarknetWeights { header, tensors, floats: file_total })
}

/// Names the layer where a too-short file runs out.
fn shortfall(path: &str, sizes: &[(usize, usize)], file_total: usize, expected_total: usize) -> DarknetError {
    let mut consumed = 0;
    for (conv_index, &(layer, needed)) in sizes.iter().enumerate() {
        if consumed == file_total && conv_index > 0 {
            return DarknetError::Prefix {
                path: path.into(),
                last_layer: sizes[conv_index - 1].0,
                loaded: conv_index,
                convs: sizes.len(),
                expected_total,
                file_total,
            };
        }
        if consumed + needed > file_total {
            return DarknetError::EndsInsideLayer {
                path: path.into(),
                layer,
                conv_index,
                convs: sizes.len(),
                needed,
                available: file_total - consumed,
                expected_total,
                file_total,
            };
        }
        consumed += needed;
    }
    unreachable!("called only when the file is shorter than the sum of the layer sizes")
}

/// Sequential little-endian f32 reads; bounds are checked once up front by `read_weights`.
struct FloatReader<'a> {
    payload: &'a [u8],
    at: usize,
    path: &'a str,
}

impl FloatReader<'_> {
    fn tensor(&mut self, name: String, shape: Vec<usize>) -> Result<PackTensor, DarknetError> {
        let count: usize = shape.iter().product();
        let bytes = &self.payload[self.at * 4..(self.at + count) * 4];
        self.at += count;
        let values = crate::bpk::f32s(bytes);
        crate::values::check(&name, &values).map_err(|bad| DarknetError::BadValue {
            path: self.path.into(),
            tensor: name.clone(),
            what: bad.what,
            value: bad.value.to_string(),
            index: bad.index,
        })?;
        Ok(PackTensor::new(name, DType::F32, shape, None, Bytes::from_elems(values)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yolo_model::Arch;

    fn file(header: &[i32], seen64: bool, floats: usize) -> Vec<u8> {
        let mut out: Vec<u8> = header.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.extend_from_slice(if seen64 { &[0u8; 8][..] } else { &[0u8; 4][..] });
        out.extend(std::iter::repeat_n(0u8, floats * 4));
        out
    }

    const TINY_FLOATS: usize = (35_434_956 - 20) / 4;

    #[test]
    fn tiny_float_count_matches_the_real_file() {
        let sizes = conv_sizes(&Arch::Yolov3Tiny.spec());
        assert_eq!(sizes.iter().map(|(_, n)| n).sum::<usize>(), TINY_FLOATS);
        let v3: usize = conv_sizes(&Arch::Yolov3.spec()).iter().map(|(_, n)| n).sum();
        assert_eq!(v3, 62_001_757);
    }

    #[test]
    fn old_header_is_16_bytes() {
        let bytes = file(&[0, 1, 0], false, 0);
        assert_eq!(read_header("w", &bytes).map(|h| h.len), Ok(16));
        let bytes = file(&[0, 2, 0], true, 0);
        assert_eq!(read_header("w", &bytes).map(|h| h.len), Ok(20));
    }

    #[test]
    fn short_file_names_the_layer() {
        let spec = Arch::Yolov3Tiny.spec();
        let err = read_weights("w", &file(&[0, 2, 5], true, TINY_FLOATS - 10), &spec).expect_err("short");
        assert!(matches!(err, DarknetError::EndsInsideLayer { layer: 22, .. }), "{err}");
        let first = conv_sizes(&spec)[0].1;
        let err = read_weights("w", &file(&[0, 2, 5], true, first), &spec).expect_err("prefix");
        assert!(matches!(err, DarknetError::Prefix { last_layer: 0, loaded: 1, .. }), "{err}");
    }

    #[test]
    fn long_file_is_refused() {
        let spec = Arch::Yolov3Tiny.spec();
        let err = read_weights("w", &file(&[0, 2, 5], true, TINY_FLOATS + 3), &spec).expect_err("long");
        assert!(matches!(err, DarknetError::TooLong { extra: 3, .. }), "{err}");
    }

    #[test]
    fn garbage_header_is_refused() {
        assert!(matches!(read_header("w", &[1, 2, 3]), Err(DarknetError::Header { .. })));
        let bytes = file(&[-7, 99999, 0], true, 0);
        assert!(matches!(read_header("w", &bytes), Err(DarknetError::Version { .. })));
    }
}
