//! Opening a PyTorch checkpoint and finding the weights in it.
//!
//! Reading is burn-store's `pytorch_reader` (zip, legacy and tar containers, whole pickled
//! modules read as their `state_dict()`, CUDA storage locations ignored; it never executes
//! pickle code). Here we decide which top-level entry holds the weights and keep the rest as
//! metadata to show.

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::pytorch_reader::{FileFormat, PickleValue, PytorchReader, Tensor};

use crate::error::PytorchError;

/// Top-level entries that hold weights, most preferred first: an EMA copy is what trainers
/// evaluate with, then the model, then the plain state-dict spellings.
pub const WEIGHT_ENTRIES: [&str; 5] = ["ema", "model", "state_dict", "model_state_dict", "net"];

/// Keys that are never weights: BN's step counter and thop's profiler buffers.
pub fn is_ignored_buffer(key: &str) -> bool {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    matches!(leaf, "num_batches_tracked" | "total_ops" | "total_params")
}

/// One top-level entry as shown by `inspect`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopEntry {
    pub key: String,
    /// A short description: `dict of 59 tensors`, `int 7`, `None`, `str "2024-01-01"`.
    pub kind: String,
}

/// Scalar training metadata worth showing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub values: BTreeMap<String, String>,
    pub optimizer: bool,
}

/// A checkpoint with its weights located.
#[derive(Debug)]
pub struct Checkpoint {
    pub format: String,
    /// `None` when the root is not a dictionary (a whole pickled module).
    pub top_level: Option<Vec<TopEntry>>,
    /// The entry the weights were taken from (`None`: the root) and why.
    pub entry: Option<String>,
    pub reason: String,
    /// The weight tensors, keyed relative to `entry`, ignored buffers removed.
    pub tensors: BTreeMap<String, Tensor>,
    /// How many `num_batches_tracked`/profiler buffers were dropped.
    pub ignored: usize,
    pub metadata: Metadata,
}

/// Opens `path`, choosing the weights entry (`key` forces one).
pub fn open(path: &Path, key: Option<&str>) -> Result<Checkpoint, PytorchError> {
    let display = path.display().to_string();
    let fail = |source| PytorchError::Read { path: display.clone(), source };
    let reader = PytorchReader::new(path).map_err(fail)?;
    let format = match reader.metadata().format_type {
        FileFormat::Zip => "zip (torch.save, PyTorch >= 1.6)",
        FileFormat::Legacy => "legacy pickle stream (PyTorch 0.1.10-1.5, or _use_new_zipfile_serialization=False)",
        FileFormat::Tar => "tar (PyTorch < 0.1.10)",
        FileFormat::Pickle => "plain pickle",
    }
    .to_string();
    let root = PytorchReader::read_pickle_data(path, None).map_err(fail)?;
    let (top_level, metadata) = describe_root(&root, reader.tensors());
    let all: BTreeMap<String, Tensor> = reader.into_tensors().into_iter().collect();

    let (entry, reason) = choose_entry(&all, top_level.as_deref(), key, &display)?;
    let mut tensors = BTreeMap::new();
    let mut ignored = 0;
    for (name, tensor) in all {
        let relative = match &entry {
            Some(e) => match name.strip_prefix(e.as_str()).and_then(|r| r.strip_prefix('.')) {
                Some(r) => r.to_string(),
                None => continue,
            },
            // At the root, skip the optimizer's state and other trainer entries.
            None if name.starts_with("optimizer.") => continue,
            None => name,
        };
        if is_ignored_buffer(&relative) {
            ignored += 1;
        } else {
            tensors.insert(relative, tensor);
        }
    }
    if tensors.is_empty() {
        return Err(PytorchError::NoWeights { path: display, entry: entry.clone() });
    }
    Ok(Checkpoint { format, top_level, entry, reason, tensors, ignored, metadata })
}

fn choose_entry(
    all: &BTreeMap<String, Tensor>,
    top_level: Option<&[TopEntry]>,
    key: Option<&str>,
    path: &str,
) -> Result<(Option<String>, String), PytorchError> {
    let holds = |entry: &str| all.keys().any(|k| k.starts_with(entry) && k[entry.len()..].starts_with('.'));
    if let Some(key) = key {
        if holds(key) {
            return Ok((Some(key.to_string()), format!("--key {key}")));
        }
        let available = top_level.map_or_else(Vec::new, |t| t.iter().map(|e| e.key.clone()).collect());
        return Err(PytorchError::KeyNotFound { path: path.into(), key: key.into(), available });
    }
    let Some(top) = top_level else {
        return Ok((None, "the file holds a whole pickled module, read as its state_dict()".into()));
    };
    for candidate in WEIGHT_ENTRIES {
        if top.iter().any(|e| e.key == candidate) && holds(candidate) {
            let skipped: Vec<&str> = WEIGHT_ENTRIES
                .iter()
                .take_while(|c| **c != candidate)
                .filter(|c| top.iter().any(|e| e.key == **c))
                .copied()
                .collect();
            let why = if skipped.is_empty() {
                format!("`{candidate}` is the preferred weights entry present")
            } else {
                format!("`{candidate}` holds tensors; {} present but empty (None)", skipped.join(", "))
            };
            return Ok((Some(candidate.to_string()), why));
        }
    }
    Ok((None, "the root is a state dict (no ema/model/state_dict/model_state_dict/net entry)".into()))
}

fn describe_root(
    root: &PickleValue,
    tensors: &std::collections::HashMap<String, Tensor>,
) -> (Option<Vec<TopEntry>>, Metadata) {
    let PickleValue::Dict(dict) = root else {
        return (None, Metadata::default());
    };
    // A bare state dict has dotted tensor names as its keys; describe it as one entry.
    let mut metadata = Metadata::default();
    let mut entries = Vec::new();
    let mut keys: Vec<&String> = dict.keys().collect();
    keys.sort();
    let tensor_keys_at_root = keys.iter().filter(|k| tensors.contains_key(k.as_str())).count();
    if tensor_keys_at_root > 0 && tensor_keys_at_root * 2 >= keys.len() {
        return (
            Some(vec![TopEntry { key: "(root)".into(), kind: format!("state dict of {} tensors", tensors.len()) }]),
            metadata,
        );
    }
    for key in keys {
        let value = &dict[key];
        let count = tensors.keys().filter(|t| t.starts_with(key.as_str()) && t[key.len()..].starts_with('.')).count();
        let kind = match value {
            PickleValue::None => "None".to_string(),
            PickleValue::Bool(b) => format!("bool {b}"),
            PickleValue::Int(i) => format!("int {i}"),
            PickleValue::Float(f) => format!("float {f}"),
            PickleValue::String(s) => format!("str {s:?}"),
            PickleValue::Dict(_) if count > 0 => format!("dict of {count} tensors"),
            PickleValue::Dict(d) => format!("dict of {} entries", d.len()),
            PickleValue::List(l) => format!("list of {}", l.len()),
            PickleValue::Bytes(b) => format!("{} bytes", b.len()),
            PickleValue::Unsupported(t) if tensors.contains_key(key.as_str()) => format!("tensor ({t})"),
            PickleValue::Unsupported(t) => format!("object {t}"),
        };
        match value {
            PickleValue::Int(i) => drop(metadata.values.insert(key.clone(), i.to_string())),
            PickleValue::Float(f) => drop(metadata.values.insert(key.clone(), f.to_string())),
            PickleValue::String(s) => drop(metadata.values.insert(key.clone(), s.clone())),
            PickleValue::Bool(b) => drop(metadata.values.insert(key.clone(), b.to_string())),
            _ => {}
        }
        // mmdetection keeps epoch/iter/versions in a `meta` dict.
        if let (true, PickleValue::Dict(meta)) = (key == "meta", value) {
            for (k, v) in meta {
                let text = match v {
                    PickleValue::Int(i) => i.to_string(),
                    PickleValue::Float(f) => f.to_string(),
                    PickleValue::String(s) => s.clone(),
                    _ => continue,
                };
                metadata.values.insert(format!("meta.{k}"), text);
            }
        }
        if key == "optimizer" || key == "optimizer_state_dict" {
            metadata.optimizer = !matches!(value, PickleValue::None);
        }
        entries.push(TopEntry { key: key.clone(), kind });
    }
    (Some(entries), metadata)
}
