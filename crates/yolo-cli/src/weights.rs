//! Resolving `--weights`/`--cfg` into a loaded model.

use std::path::Path;

use anyhow::{bail, Context as _};
use burn::tensor::Device;
use yolo_import::{darknet, ImportReport};
use yolo_model::{Arch, Yolo, YoloConfig};

/// The COCO yolov3-tiny darknet weights shipped in `weights/` (see NOTICES.md), compiled in so
/// that `yolov3 detect photo.jpg` works from any directory, offline.
pub const BUNDLED_TINY: &[u8] = include_bytes!("../../../weights/yolov3-tiny.weights");

/// A ready model and what it is.
#[derive(Debug)]
pub struct LoadedModel {
    pub model: Yolo,
    /// Where the architecture came from (`builtin:yolov3-tiny`, a cfg path).
    pub architecture: String,
    pub report: ImportReport,
}

/// Loads `weights` (default: the bundled tiny) with `cfg` (default: the built-in cfg whose
/// parameter count matches the file).
pub fn load(
    weights: Option<&Path>,
    cfg: Option<&Path>,
    device: &Device,
) -> anyhow::Result<LoadedModel> {
    let (source, owned);
    let bytes: &[u8] = match weights {
        None => {
            source = "bundled yolov3-tiny.weights".to_string();
            BUNDLED_TINY
        }
        Some(path) => {
            source = path.display().to_string();
            owned = yolo_import::read_file(path)?;
            refuse_other_formats(path, &owned)?;
            &owned
        }
    };
    let (config, architecture) = match cfg {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read cfg {}", path.display()))?;
            let name = path.display().to_string();
            (YoloConfig::from_cfg(&name, &text)?, name)
        }
        None => {
            let arch = infer_arch(&source, bytes)?;
            (
                YoloConfig::builtin(arch),
                format!("builtin:{}", arch.name()),
            )
        }
    };
    let imported = yolo_import::load_darknet_bytes(&source, bytes, config, device)?;
    Ok(LoadedModel {
        model: imported.model,
        architecture,
        report: imported.report,
    })
}

/// Picks the built-in architecture whose darknet parameter count equals the file's.
fn infer_arch(source: &str, bytes: &[u8]) -> anyhow::Result<Arch> {
    let floats = darknet::payload_floats(source, bytes)?;
    let found = Arch::ALL
        .into_iter()
        .find(|a| darknet::expected_floats(&a.spec()) == floats);
    match found {
        Some(arch) => Ok(arch),
        None => bail!(
            "{source}: {floats} weights match none of the built-in COCO architectures (yolov3, yolov3-tiny, \
             yolov3-spp); pass the cfg it was trained with: --cfg PATH"
        ),
    }
}

/// Recognises files that are not darknet weights, to say what they are.
fn refuse_other_formats(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let zip = bytes.starts_with(b"PK\x03\x04");
    let pickle = bytes.first() == Some(&0x80);
    if zip || pickle || matches!(ext.as_str(), "pt" | "pth" | "ckpt" | "bpk") {
        bail!(
            "{}: this looks like a PyTorch checkpoint or burnpack, which this build cannot load yet; \
             `detect -w` takes darknet .weights files",
            path.display()
        );
    }
    Ok(())
}
