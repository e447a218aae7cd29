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
/// Prefix of the provenance entries (source file, dialect, epoch, ...).
pub const SOURCE_PREFIX: &str = "source.";

/// Writes `model` to `path` atomically. `half` stores float16 (exact for fp16 checkpoints).
pub fn write(path: &Path, model: &Yolo, provenance: &BTreeMap<String, String>, half: bool) -> Result<(), ImportError> {
    let display = path.display().to_string();
    let fail = |message: String| BurnpackError::Write { path: display.clone(), message };
    // Deferred: each tensor is read back from the device and converted as the writer reaches
    // it, so writing holds one tensor at a time.
    let tensors: Vec<PackTensor> = model
        .collect(None, None, false)
        .into_iter()
        .map(|tensor| {
            let (name, shape) = (tensor.name.clone(), tensor.shape.clone());
            let count = shape.iter().product::<usize>();
            let (dtype, byte_len) = if half { (DType::F16, count * 2) } else { (DType::F32, count * 4) };
            let convert = move || {
                let bytes = tensor.to_bytes()?;
                Ok(if half {
                    Bytes::from_elems(f32s(&bytes).iter().map(|v| half::f16::from_f32(*v)).collect::<Vec<_>>())
                } else {
                    bytes // the model's f32 values, already little-endian
                })
            };
            PackTensor::deferred(name, dtype, shape, None, byte_len, convert)
        })
        .collect();
    let config = model.config();
    let mut writer = Writer::new(tensors)
        .with_metadata(FORMAT, "1")
        .with_metadata(CFG, &config.spec.to_cfg_text())
        .with_metadata(NUMERICS, &config.numerics.to_text())
        .auto_extension(false)
        .overwrite(true);
    for (key, value) in provenance {
        writer = writer.with_metadata(&format!("{SOURCE_PREFIX}{key}"), value);
    }
    // Stream into a sibling temp file, then rename: readers never see a partial file, and
    // (unlike `write_to_file`) no fsync of the whole model sits on the import's critical path.
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = writer.write_to_file_in_place(&tmp).map_err(|e| e.to_string()).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot move {} into place: {e}", tmp.display()))
    });
    if let Err(message) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(message).into());
    }
    Ok(())
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
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| read_fail(e.to_string()))? {
        let (name, dtype, shape, _, bytes) = tensor.into_parts().map_err(|e| read_fail(e.to_string()))?;
        let bytes = match dtype {
            DType::F32 => bytes, // already what the model takes: no conversion pass
            DType::F16 => Bytes::from_elems(
                bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect::<Vec<_>>(),
            ),
            other => return Err(read_fail(format!("tensor {name} has dtype {other:?}")).into()),
        };
        tensors.push(PackTensor::new(name, DType::F32, shape, None, bytes));
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
