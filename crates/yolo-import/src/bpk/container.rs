//! The burnpack container's layout, planned here so that [`super::write`] can stream the
//! tensors to disk in large aligned blocks ([`super::blocks`]) instead of through
//! `burn_pack::Writer`, which opens its own file and writes each tensor with buffered writes.
//!
//! The bytes are exactly those `burn_pack::Writer` produces for the same tensors and metadata:
//! the 10-byte [`Header`], the CBOR metadata (tensor descriptors by name, then the string
//! metadata), zero padding to [`TENSOR_ALIGNMENT`], then each tensor at its own aligned offset.
//! A test compares the two byte for byte, so a burn-pack release that changes the format fails
//! there rather than in a user's loader.

use std::collections::BTreeMap;

use burn::store::burn_pack::{aligned_data_section_start, DType, Header, MAX_METADATA_SIZE, TENSOR_ALIGNMENT};
use serde::Serialize;

/// One tensor to be stored: what the metadata says about it and how many bytes it takes.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub byte_len: usize,
}

/// Where everything goes.
#[derive(Debug)]
pub struct Layout {
    /// Header, metadata and the padding after it: the file's first bytes.
    pub prefix: Vec<u8>,
    /// Absolute file offset of each entry's first byte, in entry order.
    pub offsets: Vec<u64>,
    /// The file's length.
    pub total: u64,
}

/// burn-pack's metadata record, field for field (its own type is private to the crate).
#[derive(Serialize)]
struct Metadata<'a> {
    tensors: BTreeMap<&'a str, Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: &'a BTreeMap<String, String>,
}

/// burn-pack's tensor descriptor, without the parameter id (absent, so not serialized).
#[derive(Serialize)]
struct Descriptor {
    dtype: DType,
    shape: Vec<u64>,
    /// Start and end, relative to the data section.
    data_offsets: (u64, u64),
}

/// Plans the container for `entries` (stored in this order) and `metadata`.
pub fn plan(entries: &[Entry], metadata: &BTreeMap<String, String>) -> Result<Layout, String> {
    let mut tensors = BTreeMap::new();
    let mut relative = Vec::with_capacity(entries.len());
    let mut end = 0u64;
    for entry in entries {
        let expected = entry.shape.iter().try_fold(entry.dtype.size(), |n, &d| n.checked_mul(d));
        if expected != Some(entry.byte_len) {
            return Err(format!(
                "tensor {} holds {} bytes, not what {:?} {:?} takes",
                entry.name, entry.byte_len, entry.dtype, entry.shape
            ));
        }
        let start = end.div_ceil(TENSOR_ALIGNMENT) * TENSOR_ALIGNMENT;
        end = start + entry.byte_len as u64;
        let descriptor = Descriptor {
            dtype: entry.dtype,
            shape: entry.shape.iter().map(|&d| d as u64).collect(),
            data_offsets: (start, end),
        };
        if tensors.insert(entry.name.as_str(), descriptor).is_some() {
            return Err(format!("tensor {} is named twice", entry.name));
        }
        relative.push(start);
    }
    let mut cbor = Vec::new();
    ciborium::ser::into_writer(&Metadata { tensors, metadata }, &mut cbor).map_err(|e| format!("metadata: {e}"))?;
    let size = u32::try_from(cbor.len())
        .ok()
        .filter(|&n| n <= MAX_METADATA_SIZE)
        .ok_or_else(|| format!("metadata of {} bytes is over burnpack's limit of {MAX_METADATA_SIZE}", cbor.len()))?;
    let data_start = aligned_data_section_start(cbor.len());
    let mut prefix = Header::new(size).into_bytes().to_vec();
    prefix.extend_from_slice(&cbor);
    prefix.resize(data_start, 0);
    let offsets = relative.iter().map(|r| r + data_start as u64).collect();
    Ok(Layout { prefix, offsets, total: data_start as u64 + end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::store::burn_pack::{Bytes, Tensor, Writer};

    fn tensor(name: &str, dtype: DType, shape: &[usize]) -> (Entry, Vec<u8>) {
        let byte_len = shape.iter().product::<usize>() * dtype.size();
        let bytes = (0..byte_len).map(|i| (i * 7 + name.len()) as u8).collect();
        (Entry { name: name.into(), dtype, shape: shape.to_vec(), byte_len }, bytes)
    }

    /// Our layout plus the tensor bytes at their offsets, as one file image.
    fn ours(tensors: &[(Entry, Vec<u8>)], metadata: &BTreeMap<String, String>) -> Vec<u8> {
        let entries: Vec<Entry> = tensors.iter().map(|(e, _)| e.clone()).collect();
        let layout = plan(&entries, metadata).expect("plans");
        let mut file = layout.prefix.clone();
        file.resize(layout.total as usize, 0);
        for ((_, bytes), &at) in tensors.iter().zip(&layout.offsets) {
            file[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        }
        file
    }

    fn burn_packs(tensors: &[(Entry, Vec<u8>)], metadata: &BTreeMap<String, String>) -> Vec<u8> {
        let packed = tensors
            .iter()
            .map(|(e, b)| Tensor::new(e.name.clone(), e.dtype, e.shape.clone(), None, Bytes::from_bytes_vec(b.clone())))
            .collect();
        let mut writer = Writer::new(packed);
        for (k, v) in metadata {
            writer = writer.with_metadata(k, v);
        }
        writer.into_bytes().expect("burn-pack writes").to_vec()
    }

    #[test]
    fn the_layout_is_burn_packs_byte_for_byte() {
        // Odd sizes (padding between tensors), names out of order, f16 and f32, a scalar.
        let tensors = vec![
            tensor("z.weight", DType::F32, &[3, 5, 1, 1]),
            tensor("a.bias", DType::F16, &[7]),
            tensor("m.running_var", DType::F32, &[]),
            tensor("b.weight", DType::F32, &[64, 3, 3, 3]),
        ];
        let metadata: BTreeMap<String, String> =
            [("yolov3-burn.format", "1"), ("source.file", "x.pt"), ("k", "v\n".repeat(300).as_str())]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(ours(&tensors, &metadata), burn_packs(&tensors, &metadata));
        assert_eq!(ours(&tensors, &BTreeMap::new()), burn_packs(&tensors, &BTreeMap::new()));
        assert_eq!(ours(&[], &metadata), burn_packs(&[], &metadata));
    }

    #[test]
    fn a_wrong_length_or_a_repeated_name_is_refused() {
        let (mut entry, _) = tensor("w", DType::F32, &[2, 2]);
        entry.byte_len += 1;
        let refused = |entries: &[Entry]| match plan(entries, &BTreeMap::new()) {
            Err(why) => why,
            Ok(_) => panic!("planned"),
        };
        assert!(refused(&[entry]).contains("w holds 17 bytes"));
        let (entry, _) = tensor("w", DType::F32, &[2]);
        assert!(refused(&[entry.clone(), entry]).contains("named twice"));
    }
}
