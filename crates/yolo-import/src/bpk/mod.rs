//! Converted models: a burnpack (`.bpk`) holding the native weights plus, as metadata, the
//! architecture (cfg text), the numerics and where the weights came from. `detect -w x.bpk`
//! needs nothing else.

use std::collections::BTreeMap;
use std::path::Path;

mod blocks;
mod container;
mod host;

use burn::module::Module;
use burn::store::burn_pack::{Bytes, DType, Reader, Tensor as PackTensor};
use burn::store::ModuleSnapshot;
use burn::tensor::Device;
use yolo_model::{cfg, Numerics, Yolo, YoloConfig};

use crate::error::{BurnpackError, ImportError};
use crate::report::{self, ApplyReport};
use blocks::BlockFile;
use container::Entry;

/// Metadata keys we write.
pub const FORMAT: &str = "yolov3-burn.format";
pub const CFG: &str = "yolov3-burn.cfg";
pub const NUMERICS: &str = "yolov3-burn.numerics";
/// Sum of every tensor's CRC-32 (over its name and stored bytes), as 16 hex digits: written
/// as a placeholder, patched once the data is out (the tensors are streamed after the
/// header), checked on load. Burnpacks without it (older ones) load unchecked.
pub const CHECKSUM: &str = "yolov3-burn.checksum";
const CHECKSUM_PLACEHOLDER: &str = "crc32sum:################";

/// The order-independent checksum contribution of one stored tensor.
fn tensor_crc(name: &str, bytes: &[u8]) -> u64 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(name.as_bytes());
    hasher.update(&[0]);
    hasher.update(bytes);
    u64::from(hasher.finalize())
}

/// Prefix of the provenance entries (source file, dialect, epoch, ...).
pub const SOURCE_PREFIX: &str = "source.";

/// Writes `model` to `path` atomically. `half` stores float16 (exact for fp16 checkpoints).
///
/// The container is the one `burn_pack::Writer` would write ([`container`]), streamed one
/// tensor at a time in large aligned blocks ([`blocks`]) into a sibling temp file that is
/// renamed into place: readers never see a partial file, and no fsync of the whole model sits
/// on the import's critical path.
pub fn write(path: &Path, model: &Yolo, provenance: &BTreeMap<String, String>, half: bool) -> Result<(), ImportError> {
    let tmp = temp_path(path);
    let written = write_container(&tmp, model, provenance, half).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot move {} into place: {e}", tmp.display()))
    });
    if let Err(message) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(BurnpackError::Write { path: path.display().to_string(), message }.into());
    }
    Ok(())
}

/// Streams the burnpack for `model` into `file`.
fn write_container(file: &Path, model: &Yolo, provenance: &BTreeMap<String, String>, half: bool) -> Result<(), String> {
    let dtype = if half { DType::F16 } else { DType::F32 };
    let snapshots = model.collect(None, None, false);
    let entries: Vec<Entry> = snapshots
        .iter()
        .map(|t| {
            let count = t.shape.iter().product::<usize>();
            Entry { name: t.name.clone(), dtype, shape: t.shape.to_vec(), byte_len: count * dtype.size() }
        })
        .collect();
    let config = model.config();
    let mut metadata: BTreeMap<String, String> = [
        (FORMAT, "1".to_string()),
        (CFG, config.spec.to_cfg_text()),
        (NUMERICS, config.numerics.to_text()),
        (CHECKSUM, CHECKSUM_PLACEHOLDER.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    metadata.extend(provenance.iter().map(|(k, v)| (format!("{SOURCE_PREFIX}{k}"), v.clone())));
    let layout = container::plan(&entries, &metadata)?;
    let placeholder = CHECKSUM_PLACEHOLDER.as_bytes();
    let checksum_at = layout
        .prefix
        .windows(placeholder.len())
        .position(|w| w == placeholder)
        .ok_or("the checksum placeholder is not in the planned header")?;

    let mut host = host::HostParams::default();
    model.visit(&mut host);

    let io = |e: std::io::Error| format!("cannot write {}: {e}", file.display());
    let mut out = BlockFile::create(file, layout.prefix.len()).map_err(io)?;
    out.write(&layout.prefix).map_err(io)?;
    let mut sum = 0u64;
    for ((snapshot, entry), &offset) in snapshots.iter().zip(&entries).zip(&layout.offsets) {
        out.pad_to(offset).map_err(io)?;
        // The model's f32 values (little-endian): in place where they are host memory.
        let copied;
        let f32_bytes = match host.bytes(snapshot.param_id) {
            Some(bytes) => bytes,
            None => {
                copied = snapshot.to_bytes().map_err(|e| format!("cannot read tensor {}: {e:?}", entry.name))?;
                &copied[..]
            }
        };
        let converted: Vec<u8>;
        let stored = if half {
            converted = f32_bytes
                .chunks_exact(4)
                .flat_map(|b| half::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
                .collect();
            &converted[..]
        } else {
            f32_bytes
        };
        if stored.len() != entry.byte_len {
            return Err(format!("tensor {} gave {} bytes, not {}", entry.name, stored.len(), entry.byte_len));
        }
        sum = sum.wrapping_add(tensor_crc(&entry.name, stored));
        out.write(stored).map_err(io)?;
    }
    if out.position() != layout.total {
        return Err(format!("wrote {} bytes of a {}-byte container", out.position(), layout.total));
    }
    let value = format!("crc32sum:{sum:016x}");
    debug_assert_eq!(value.len(), placeholder.len());
    out.finish(|head| head[checksum_at..checksum_at + value.len()].copy_from_slice(value.as_bytes())).map_err(io)?;
    Ok(())
}

/// The sibling temporary file [`write`] streams `path` into before renaming it into place
/// (`.NAME.PID.tmp`): a process that must remove it on a fatal signal names it up front.
pub fn temp_path(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// A loaded burnpack's provenance.
#[derive(Debug, Clone)]
pub struct BurnpackInfo {
    pub provenance: BTreeMap<String, String>,
    pub apply: ApplyReport,
}

/// Loads a burnpack written by [`write`].
pub fn load(path: &Path, device: &Device) -> Result<(Yolo, BurnpackInfo), ImportError> {
    let display = path.display().to_string();
    let read_fail = |message: String| BurnpackError::Read { path: display.clone(), message };
    let reader = Reader::from_file(path).map_err(|e| read_fail(e.to_string()))?;
    let meta = reader.metadata().clone();
    let get = |key: &'static str| meta.get(key).ok_or_else(|| BurnpackError::NotOurs { path: display.clone(), key });
    get(FORMAT)?;
    let spec = cfg::parse(&format!("{display} (stored cfg)"), get(CFG)?)
        .map_err(|source| BurnpackError::Cfg { path: display.clone(), source: Box::new(source) })?;
    let numerics = Numerics::from_text(get(NUMERICS)?)
        .ok_or_else(|| BurnpackError::NotOurs { path: display.clone(), key: NUMERICS })?;
    // Before any tensor is read or the model allocated: the stored cfg decides both.
    spec.check_parameters().map_err(|why| read_fail(format!("stored cfg: {why}")))?;
    let expected = meta.get(CHECKSUM).cloned();
    let mut sum = 0u64;
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| read_fail(e.to_string()))? {
        let (name, dtype, shape, _, bytes) = tensor.into_parts().map_err(|e| read_fail(e.to_string()))?;
        sum = sum.wrapping_add(tensor_crc(&name, &bytes));
        let bytes = match dtype {
            DType::F32 => bytes, // already what the model takes: no conversion pass
            DType::F16 => Bytes::from_elems(
                bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect::<Vec<_>>(),
            ),
            other => return Err(read_fail(format!("tensor {name} has dtype {other:?}")).into()),
        };
        tensors.push(PackTensor::new(name, DType::F32, shape, None, bytes));
    }
    if let Some(expected) = expected {
        let found = format!("crc32sum:{sum:016x}");
        if expected != found {
            return Err(read_fail(format!(
                "checksum mismatch (header says {expected}, the tensors give {found}): the file is damaged"
            ))
            .into());
        }
    }
    let mut model = Yolo::for_loading(YoloConfig::new(spec, numerics), device);
    let apply = report::apply(&mut model, tensors, Vec::new(), &|_| Vec::new(), false)?;
    let provenance =
        meta.iter().filter_map(|(k, v)| k.strip_prefix(SOURCE_PREFIX).map(|k| (k.to_string(), v.clone()))).collect();
    Ok((model, BurnpackInfo { provenance, apply }))
}

/// Little-endian float32 bytes to values (the layout of darknet files and burnpacks).
pub(crate) fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}
