//! PyTorch checkpoints -> [`yolo_model::Yolo`]: container, wrapper prefixes, user remaps,
//! dialect, architecture, dtype, then the shared apply-and-report path.

pub mod checkpoint;
pub mod dialect;
pub mod infer;
mod mapped;
pub mod prefix;
pub mod remap;
pub mod scan;
pub mod yolov5;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
use burn::store::pytorch_reader::{DType as TorchDType, Tensor as TorchTensor};
use burn::tensor::Device;
use yolo_model::{Yolo, YoloConfig};

use crate::error::{ImportError, PytorchError};
use crate::names::{self, Param};
use crate::report::{self, ApplyReport};
use checkpoint::{Checkpoint, Metadata, TopEntry};
use dialect::{Dialect, Evidence, Mapped};
pub use infer::ArchChoice;
pub use mapped::{mapped_range, MappedRange};
use remap::RemapRule;

/// How to import a checkpoint.
#[derive(Debug, Clone)]
pub struct PytorchOptions {
    pub arch: ArchChoice,
    /// Must agree with the checkpoint's head when given.
    pub classes: Option<usize>,
    /// Force a dialect instead of detecting it.
    pub dialect: Option<Dialect>,
    /// Force the top-level entry holding the weights.
    pub key: Option<String>,
    pub remaps: Vec<RemapRule>,
    pub allow_partial: bool,
    /// Load a checkpoint whose pickle names dangerous code (`os.system`, `eval`, ...). Nothing
    /// is ever executed either way; by default such a file is refused, since it was made to
    /// attack whoever opens it with `torch.load`.
    pub ignore_pickle_code: bool,
    /// Use f32 tensors straight from a memory map of the checkpoint instead of reading them
    /// into fresh memory (see `mapped.rs`: about half of a large import's time). Only for a
    /// caller that guards SIGBUS for [`mapped_range`] and lets the model go soon: a file
    /// truncated while mapped faults instead of failing a read. Off by default.
    pub map_file: bool,
}

impl Default for PytorchOptions {
    fn default() -> Self {
        Self {
            arch: ArchChoice::Auto,
            classes: None,
            dialect: None,
            key: None,
            remaps: Vec::new(),
            allow_partial: false,
            ignore_pickle_code: false,
            map_file: false,
        }
    }
}

/// Everything the import found out and did, for `import`'s and `inspect`'s output.
#[derive(Debug, Clone)]
pub struct PytorchReport {
    pub format: String,
    pub top_level: Option<Vec<TopEntry>>,
    pub entry: Option<String>,
    pub entry_reason: String,
    pub stripped: Vec<&'static str>,
    pub remapped: usize,
    pub dialect: Evidence,
    pub ranking: Vec<Evidence>,
    pub architecture: String,
    pub classes: usize,
    /// Source dtypes of the weights, with counts (`F16: 59`).
    pub dtypes: BTreeMap<String, usize>,
    pub ignored_buffers: usize,
    pub metadata: Metadata,
    /// `(name, dtype, shape)` of every weight tensor, source names.
    pub tensors: Vec<(String, String, Vec<usize>)>,
}

/// A checkpoint analysed up to the point of building the model.
#[derive(Debug)]
pub struct Analysis {
    pub report: PytorchReport,
    pub config: YoloConfig,
    /// Native name -> source tensor.
    weights: Vec<(String, String, TorchTensor)>,
    /// Source keys no dialect rule explained.
    foreign: Vec<String>,
}

/// The checkpoint's tensors sorted by what the dialect made of them.
struct Sorted {
    /// Native name, source key, tensor.
    weights: Vec<(String, String, TorchTensor)>,
    /// Source keys no rule explained.
    foreign: Vec<String>,
    convs: infer::ConvShapes,
    anchors: BTreeMap<usize, Vec<[f32; 2]>>,
    dtypes: BTreeMap<String, usize>,
    /// `(source key, dtype, shape)` of every tensor, for `inspect`.
    listing: Vec<(String, String, Vec<usize>)>,
}

/// Sorts every tensor by its mapping: weights (with their conv shapes and dtypes), anchors,
/// known extras, and foreign keys.
fn sort_tensors(
    mut tensors: BTreeMap<String, TorchTensor>,
    originals: &[String],
    keys: &[String],
    mapped: Vec<Mapped>,
    yolov5: Option<&yolov5::Resolved>,
) -> Result<Sorted, ImportError> {
    let mut sorted = Sorted {
        weights: Vec::new(),
        foreign: Vec::new(),
        convs: infer::ConvShapes::new(),
        anchors: BTreeMap::new(),
        dtypes: BTreeMap::new(),
        listing: Vec::new(),
    };
    for ((original, key), mapping) in originals.iter().zip(keys).zip(mapped) {
        let Some(tensor) = tensors.remove(original) else { continue };
        sorted.listing.push((original.clone(), format!("{:?}", tensor.dtype()), tensor.shape().to_vec()));
        if let (Some(y), Some(yolov5::Key::Anchors)) = (yolov5, yolov5::parse(key)) {
            sorted.anchors.extend(y.layout.anchors(&read_f32(original, &tensor)?, tensor.shape()));
        }
        match mapping {
            Mapped::Weight { layer, param } => {
                if param == Param::ConvWeight {
                    sorted.convs.insert(layer, tensor.shape().to_vec());
                }
                *sorted.dtypes.entry(format!("{:?}", tensor.dtype())).or_insert(0) += 1;
                sorted.weights.push((param.key(layer), original.clone(), tensor));
            }
            Mapped::Anchors { layer } => {
                let values = read_f32(original, &tensor)?;
                if tensor.shape().len() == 2 && tensor.shape()[1] == 2 {
                    sorted.anchors.insert(layer, values.chunks_exact(2).map(|p| [p[0], p[1]]).collect::<Vec<_>>());
                }
            }
            Mapped::Known | Mapped::Deferred => {}
            Mapped::Foreign => sorted.foreign.push(original.clone()),
        }
    }
    Ok(sorted)
}

/// Reads and analyses a checkpoint: everything but loading the weights.
pub fn analyse(path: &Path, options: &PytorchOptions) -> Result<Analysis, ImportError> {
    analyse_unnamed(path, options).map_err(|e| e.in_file(path))
}

fn analyse_unnamed(path: &Path, options: &PytorchOptions) -> Result<Analysis, ImportError> {
    let ckpt = checkpoint::open(path, options.key.as_deref())?;
    let Checkpoint { format, top_level, entry, reason, tensors, ignored, metadata } = ckpt;
    let originals: Vec<String> = tensors.keys().cloned().collect();
    let mut keys = originals.clone();
    let stripped = prefix::strip(&mut keys);
    let remapped = remap::apply_all(&options.remaps, &mut keys);
    let ranking = dialect::rank(&keys);
    let dialect = match options.dialect {
        Some(d) => ranking.iter().find(|e| e.dialect == d).cloned().unwrap_or(Evidence {
            dialect: d,
            matched: 0,
            total: keys.len(),
        }),
        None => ranking[0].clone(),
    };
    if dialect.matched == 0 {
        let sample: Vec<&str> = keys.iter().take(5).map(String::as_str).collect();
        return Err(PytorchError::Unmapped(format!(
            "  no key matches any known dialect ({}); first keys: {sample:?}\n  \
             rename them with --remap 'REGEX=REPLACEMENT' or pass --dialect",
            Dialect::ALL.map(|d| d.pattern()).join("; ")
        ))
        .into());
    }

    let mut mapped: Vec<Mapped> = keys.iter().map(|k| dialect.dialect.map(k)).collect();
    let mut arch = options.arch.clone();
    let mut yolov5 = None;
    if dialect.dialect == Dialect::Yolov5 {
        let resolved = yolov5::resolve(&keys, &options.arch)?;
        for (slot, m) in mapped.iter_mut().zip(&resolved.mapped) {
            *slot = *m;
        }
        arch = resolved.arch.clone();
        yolov5 = Some(resolved);
    }

    let Sorted { weights, foreign, convs, anchors, dtypes, listing } =
        sort_tensors(tensors, &originals, &keys, mapped, yolov5.as_ref())?;
    let mut inferred = infer::infer(&arch, &convs, &anchors).map_err(|e| match foreign.is_empty() {
        true => match e {
            PytorchError::Architecture(why) => PytorchError::Architecture(name_layers(&why, dialect.dialect)),
            other => other,
        },
        false => {
            PytorchError::Unmapped(format!("  {e}\n{}", explain_foreign(&foreign, &keys, &originals, dialect.dialect)))
        }
    })?;
    if let Some(y) = &yolov5 {
        inferred = y.finish(inferred, &options.arch);
    }
    let classes = inferred.spec.classes();
    if let Some(given) = options.classes {
        if given != classes {
            return Err(PytorchError::Classes { given, found: classes }.into());
        }
    }
    let report = PytorchReport {
        format,
        top_level,
        entry,
        entry_reason: reason,
        stripped,
        remapped,
        dialect: dialect.clone(),
        ranking,
        architecture: inferred.how,
        classes,
        dtypes,
        ignored_buffers: ignored,
        metadata,
        tensors: listing,
    };
    let config = YoloConfig::new(inferred.spec, dialect.dialect.numerics());
    Ok(Analysis { report, config, weights, foreign })
}

/// Refuses a checkpoint whose pickle names dangerous globals, unless told to ignore them.
fn refuse_dangerous(path: &Path, options: &PytorchOptions) -> Result<(), ImportError> {
    if options.ignore_pickle_code {
        return Ok(());
    }
    let display = path.display().to_string();
    let found = scan::scan_file(path).map_err(|source| PytorchError::Scan { path: display.clone(), source })?;
    let dangerous = found.dangerous();
    if dangerous.is_empty() {
        return Ok(());
    }
    Err(PytorchError::DangerousPickle { path: display, globals: dangerous }.into())
}

/// Imports a checkpoint: the pickle scan (dangerous globals are refused), analysis, then
/// weights cast to f32 and applied to a new model.
pub fn import(
    path: &Path,
    options: &PytorchOptions,
    device: &Device,
) -> Result<(Yolo, PytorchReport, ApplyReport), ImportError> {
    import_unnamed(path, options, device).map_err(|e| e.in_file(path))
}

fn import_unnamed(
    path: &Path,
    options: &PytorchOptions,
    device: &Device,
) -> Result<(Yolo, PytorchReport, ApplyReport), ImportError> {
    refuse_dangerous(path, options)?;
    let Analysis { report, config, weights, foreign } = analyse_unnamed(path, options)?;
    // burn-store's apply turns a failed read into a string; the first real cause is kept here
    // and returned instead of a "does not fit" report.
    let failure: Arc<Mutex<Option<PytorchError>>> = Arc::default();
    let dialect = report.dialect.dialect;
    let mut sources = BTreeMap::new();
    let mut tensors = Vec::with_capacity(weights.len());
    let map = if options.map_file { mapped::MappedFile::open(path).map(Arc::new) } else { None };
    // Deferred reads: each tensor is read and cast when the model takes it, so the peak holds
    // the model plus one tensor, not the model plus a second copy of every weight.
    for (native, original, tensor) in weights {
        let shape = tensor.shape().to_vec();
        let byte_len = shape.iter().product::<usize>() * 4;
        let key = original.clone();
        let checked_as = native.clone();
        let failure = Arc::clone(&failure);
        let map = map.clone();
        let read = move || {
            let bytes = match tensor.dtype() {
                // Little-endian f32 already: hand the bytes over without a conversion pass.
                TorchDType::F32 if cfg!(target_endian = "little") => f32_le_bytes(&tensor, map.as_deref())
                    .map_err(|source| PytorchError::Tensor { key: key.clone(), source }),
                _ => read_f32(&key, &tensor).map(Bytes::from_elems),
            };
            let bytes =
                bytes.and_then(|bytes| {
                    crate::values::check_bytes(&checked_as, &bytes).map(|()| bytes).map_err(|bad| {
                        PytorchError::BadValue { key: key.clone(), what: bad.what, value: bad.value, index: bad.index }
                    })
                });
            bytes.map_err(|e| {
                let text = chain(&e);
                failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(e);
                burn::store::burn_pack::Error::IoError(text)
            })
        };
        tensors.push(PackTensor::deferred(native.clone(), DType::F32, shape, None, byte_len, read));
        sources.insert(native, original);
    }
    let ranking = report.ranking.clone();
    let hints = move |r: &ApplyReport| hints(r, dialect, &ranking, &sources);
    config.spec.check_parameters().map_err(PytorchError::Architecture)?;
    let mut model = Yolo::for_loading(config, device);
    let apply = report::apply(&mut model, tensors, foreign, &hints, options.allow_partial);
    if let Some(cause) = failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        return Err(cause.into());
    }
    Ok((model, report, apply?))
}

/// Appends, to an inference failure that speaks of darknet layer numbers, the checkpoint key
/// of each such layer's conv weight in the detected dialect (`layer 4 = module_list.4.conv_4.weight`),
/// so a missing or odd tensor is named as the user's file spells it.
fn name_layers(why: &str, dialect: Dialect) -> String {
    if dialect == Dialect::Yolov5 {
        return why.to_string();
    }
    let mut layers: Vec<usize> = Vec::new();
    let mut rest = why;
    while let Some(at) = rest.find("layer ") {
        rest = &rest[at + 6..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(layer) = digits.parse::<usize>() {
            if !layers.contains(&layer) {
                layers.push(layer);
            }
        }
    }
    if layers.is_empty() {
        return why.to_string();
    }
    let named: Vec<String> =
        layers.iter().take(6).map(|&l| format!("layer {l} = {}", dialect.source_key(l, Param::ConvWeight))).collect();
    format!("{why} ({})", named.join(", "))
}

/// An error and its sources as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        source = s.source();
    }
    text
}

/// Near misses for a refused import: each missing weight's closest unexpected key, shape
/// mismatches in source names, and the runner-up dialect.
fn hints(r: &ApplyReport, dialect: Dialect, ranking: &[Evidence], sources: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for missing in r.missing.iter().take(10) {
        let Some((layer, param)) = names::parse(missing) else { continue };
        let wanted = dialect.source_key(layer, param);
        let closest = r.unused.iter().min_by_key(|u| edit_distance(u, &wanted));
        if let Some(c) = closest {
            out.push(format!("missing {wanted} (native {missing}): closest unexpected key is {c}"));
        }
    }
    for m in r.mismatches.iter().take(3) {
        if let Some(source) = sources.get(&m.key) {
            out.push(format!("{source} has shape {:?}, the network's layer needs {:?}", m.found, m.expected));
        }
    }
    let summary: Vec<String> = ranking.iter().map(ToString::to_string).collect();
    out.push(format!("dialects by keys explained: {}", summary.join("; ")));
    out
}

/// Lists keys the dialect does not explain, each with the dialect key it most resembles.
fn explain_foreign(foreign: &[String], keys: &[String], originals: &[String], dialect: Dialect) -> String {
    let mut out = format!("  {} key(s) are not {} keys:\n", foreign.len(), dialect.name());
    for original in foreign.iter().take(8) {
        let key = originals.iter().position(|o| o == original).map_or(original.as_str(), |i| keys[i].as_str());
        let layer = key.split('.').find_map(|part| part.parse::<usize>().ok());
        let closest = layer.and_then(|layer| {
            [Param::ConvWeight, Param::ConvBias, Param::BnGamma, Param::BnBeta, Param::BnMean, Param::BnVar]
                .into_iter()
                .map(|p| dialect.source_key(layer, p))
                .min_by_key(|candidate| edit_distance(candidate, key))
        });
        match closest {
            Some(c) => out.push_str(&format!("    {original}: closest {} key is {c}\n", dialect.name())),
            None => out.push_str(&format!("    {original}\n")),
        }
    }
    if foreign.len() > 8 {
        out.push_str(&format!("    ... and {} more\n", foreign.len() - 8));
    }
    out.push_str("  rename them with --remap 'REGEX=REPLACEMENT' (e.g. --remap 'old_conv_=conv_')");
    out
}

/// Little-endian f32 bytes as burn `Bytes`, without a copy where the buffer is already aligned
/// for f32 reads (every large allocation in practice): `Bytes::from_bytes_vec` would copy each
/// tensor into a fresh 16-byte-aligned allocation because a `Vec<u8>` only promises alignment 1,
/// doubling the import's fresh pages (measured: the copy was a third of the import's page
/// faults). Burn reads the values through `bytemuck`, which checks the pointer itself.
fn f32_bytes(bytes: Vec<u8>) -> Bytes {
    // 16, burn's own alignment for host bytes (which also covers f32's 4).
    if bytes.as_ptr().align_offset(16) == 0 {
        Bytes::from_elems(bytes)
    } else {
        Bytes::from_bytes_vec(bytes)
    }
}

/// A little-endian f32 tensor's bytes: a view of `map` where the file holds them as they are
/// (no copy at all), else read.
fn f32_le_bytes(tensor: &TorchTensor, map: Option<&mapped::MappedFile>) -> std::io::Result<Bytes> {
    match map.map_or(Ok(None), |map| map.tensor(tensor))? {
        Some(bytes) => Ok(bytes),
        None => tensor.read().map(f32_bytes),
    }
}

/// Reads a floating-point tensor as f32 (f16, bf16 and f64 are converted).
fn read_f32(key: &str, tensor: &TorchTensor) -> Result<Vec<f32>, PytorchError> {
    let bytes = tensor.read().map_err(|source| PytorchError::Tensor { key: key.into(), source })?;
    let values = match tensor.dtype() {
        TorchDType::F32 => bytes.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect(),
        TorchDType::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_ne_bytes([b[0], b[1]]).to_f32()).collect(),
        TorchDType::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_ne_bytes([b[0], b[1]]).to_f32()).collect(),
        TorchDType::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        other => return Err(PytorchError::DType { key: key.into(), dtype: format!("{other:?}") }),
    };
    Ok(values)
}

/// Levenshtein distance on bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn edit_distance_basics() {
        assert_eq!(super::edit_distance("conv_0", "old_conv_0"), 4);
        assert_eq!(super::edit_distance("", "ab"), 2);
        assert_eq!(super::edit_distance("abc", "abc"), 0);
    }
}
