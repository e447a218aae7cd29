//! Converted models: a burnpack (`.bpk`) holding the native weights plus, as metadata, the
//! architecture (cfg text), the numerics and where the weights came from. `detect -w x.bpk`
//! needs nothing else.

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::burn_pack::{Bytes, DType, Reader, Tensor as PackTensor, Writer};
use burn::store::ModuleSnapshot;
use burn::tensor::Device;
use yolo_model::{cfg, Numerics, Yolo, YoloConfig};

use crate::error::{BurnpackError, ImportError};
use crate::report::{self, ApplyReport};

/// Metadata keys we write.
pub const FORMAT: &str = "yolov3-burn.format";
pub const CFG: &str = "yolov3-burn.cfg";
pub const NUMERICS: &str = "yolov3-burn.numerics";
/// Sum of every tensor's CRC-32 (over its name and stored bytes), as 16 hex digits: written
/// as a placeholder, patched in place once the data is out (the writer streams tensors after
/// the header), checked on load. Burnpacks without it (older ones) load unchecked.
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
pub fn write(path: &Path, model: &Yolo, provenance: &BTreeMap<String, String>, half: bool) -> Result<(), ImportError> {
    let display = path.display().to_string();
    let fail = |message: String| BurnpackError::Write { path: display.clone(), message };
    // Deferred: each tensor is read back from the device and converted as the writer reaches
    // it, so writing holds one tensor at a time.
    let checksum = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tensors: Vec<PackTensor> = model
        .collect(None, None, false)
        .into_iter()
        .map(|tensor| {
            let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
            let count = shape.iter().product::<usize>();
            let (dtype, byte_len) = if half { (DType::F16, count * 2) } else { (DType::F32, count * 4) };
            let sum = std::sync::Arc::clone(&checksum);
            let crc_name = name.clone();
            let convert = move || {
                let bytes = tensor.to_bytes()?;
                let stored = if half {
                    Bytes::from_elems(f32s(&bytes).iter().map(|v| half::f16::from_f32(*v)).collect::<Vec<_>>())
                } else {
                    bytes // the model's f32 values, already little-endian
                };
                sum.fetch_add(tensor_crc(&crc_name, &stored), std::sync::atomic::Ordering::Relaxed);
                Ok(stored)
            };
            PackTensor::deferred(name, dtype, shape, None, byte_len, convert)
        })
        .collect();
    let config = model.config();
    let mut writer = Writer::new(tensors)
        .with_metadata(FORMAT, "1")
        .with_metadata(CFG, &config.spec.to_cfg_text())
        .with_metadata(NUMERICS, &config.numerics.to_text())
        .with_metadata(CHECKSUM, CHECKSUM_PLACEHOLDER)
        .auto_extension(false)
        .overwrite(true);
    for (key, value) in provenance {
        writer = writer.with_metadata(&format!("{SOURCE_PREFIX}{key}"), value);
    }
    // Stream into a sibling temp file, then rename: readers never see a partial file, and
    // (unlike `write_to_file`) no fsync of the whole model sits on the import's critical path.
    let tmp = temp_path(path);
    let written = writer
        .write_to_file_in_place(&tmp)
        .map_err(|e| e.to_string())
        .and_then(|()| patch_checksum(&tmp, checksum.load(std::sync::atomic::Ordering::Relaxed)))
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|e| format!("cannot move {} into place: {e}", tmp.display()))
        });
    if let Err(message) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(message).into());
    }
    Ok(())
}

/// The sibling temporary file [`write`] streams `path` into before renaming it into place
/// (`.NAME.PID.tmp`): a process that must remove it on a fatal signal names it up front.
pub fn temp_path(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Replaces the checksum placeholder in the written file's header with the real value.
fn patch_checksum(path: &Path, sum: u64) -> Result<(), String> {
    use std::io::{Read as _, Seek as _, Write as _};
    let fail = |e: std::io::Error| format!("cannot finish {}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(fail)?;
    // The metadata sits in the header, before the tensor data: the first MiB holds it.
    let mut head = Vec::new();
    (&mut file).take(1 << 20).read_to_end(&mut head).map_err(fail)?;
    let placeholder = CHECKSUM_PLACEHOLDER.as_bytes();
    let at = head
        .windows(placeholder.len())
        .position(|w| w == placeholder)
        .ok_or_else(|| format!("cannot finish {}: the checksum placeholder is not in its header", path.display()))?;
    let value = format!("crc32sum:{sum:016x}");
    debug_assert_eq!(value.len(), placeholder.len());
    file.seek(std::io::SeekFrom::Start(at as u64)).map_err(fail)?;
    file.write_all(value.as_bytes()).map_err(fail)
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
