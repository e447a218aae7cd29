//! The shared apply-and-report path: named tensors in, a loaded model and a report out.
//!
//! Every source format (darknet now, PyTorch dialects next) ends here, so all of them get the
//! same checks and the same diagnostics.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ApplyError, ModuleSnapshot};
use yolo_model::Yolo;

use crate::error::ImportError;
use crate::names::layer_of;

/// A tensor whose shape differs from the model's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    pub key: String,
    pub layer: Option<usize>,
    pub expected: Vec<usize>,
    pub found: Vec<usize>,
}

/// What applying named tensors to a model did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Number of tensors loaded.
    pub applied: usize,
    /// Model tensors nothing was given for.
    pub missing: Vec<String>,
    /// Given tensors the model has no place for.
    pub unused: Vec<String>,
    pub mismatches: Vec<ShapeMismatch>,
    /// Data type or data errors, already formatted by burn-store.
    pub errors: Vec<String>,
    /// Extra lines for a failure message: closest candidates, the closest dialect.
    pub hints: Vec<String>,
}

impl ApplyReport {
    /// Everything the model needs was loaded and nothing given went unused.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unused.is_empty() && self.mismatches.is_empty() && self.errors.is_empty()
    }

    /// A readable list of what went wrong, grouped by layer, first problems first.
    pub fn problems(&self) -> String {
        let mut out = String::new();
        if let Some(first) = self.mismatches.first() {
            let layer = first.layer.map_or_else(String::new, |l| format!(" (layer {l})"));
            let _ = writeln!(
                out,
                "  first shape mismatch{layer}: {} expects {:?}, found {:?}",
                first.key, first.expected, first.found
            );
            for m in self.mismatches.iter().skip(1).take(9) {
                let _ = writeln!(out, "  shape mismatch: {} expects {:?}, found {:?}", m.key, m.expected, m.found);
            }
            if self.mismatches.len() > 10 {
                let _ = writeln!(out, "  ... {} shape mismatches in all", self.mismatches.len());
            }
        }
        // At most 12 groups of each kind and 10 errors: a checkpoint with thousands of junk keys
        // gets a readable message, with the totals.
        for (label, keys) in [("missing", &self.missing), ("unexpected", &self.unused)] {
            let groups = group_by_layer(keys);
            for (group, members) in groups.iter().take(12) {
                let _ = writeln!(out, "  {label} {} key(s) under {group}: {}", members.len(), members.join(", "));
            }
            if groups.len() > 12 {
                let _ = writeln!(out, "  ... {} {label} key(s) in {} groups in all", keys.len(), groups.len());
            }
        }
        for e in self.errors.iter().take(10) {
            let _ = writeln!(out, "  {e}");
        }
        if self.errors.len() > 10 {
            let _ = writeln!(out, "  ... {} load errors in all", self.errors.len());
        }
        for h in &self.hints {
            let _ = writeln!(out, "  {h}");
        }
        out
    }
}

/// Groups keys by their `layers.{i}` prefix (or first segment), keeping only the leaf names.
fn group_by_layer(keys: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys {
        let (group, leaf) = match layer_of(key) {
            Some(l) => {
                let group = crate::names::layer_prefix(l);
                let leaf = key.get(group.len() + 1..).unwrap_or_default().to_string();
                (group, leaf)
            }
            None => match key.rsplit_once('.') {
                Some((g, leaf)) => (g.to_string(), leaf.to_string()),
                None => (String::new(), key.clone()),
            },
        };
        groups.entry(group).or_default().push(leaf);
    }
    groups
}

/// Applies natively named tensors to `model`.
///
/// Fails, leaving nothing half-applied visible to the caller, unless every model tensor was
/// given and every given tensor was used; `allow_partial` accepts missing and unused tensors
/// (never shape mismatches) and reports them.
/// `foreign` are source keys that never became native names (reported as unexpected), and
/// `hints` explains near misses when the result is refused.
pub fn apply(
    model: &mut Yolo,
    tensors: Vec<PackTensor>,
    foreign: Vec<String>,
    hints: &dyn Fn(&ApplyReport) -> Vec<String>,
    allow_partial: bool,
) -> Result<ApplyReport, ImportError> {
    let result = model.apply(tensors, None, None, false);
    let mut report = ApplyReport {
        applied: result.applied.len(),
        missing: result.missing.iter().map(|(path, _)| path.clone()).collect(),
        unused: result.unused.iter().cloned().chain(foreign).collect(),
        ..ApplyReport::default()
    };
    for error in &result.errors {
        match error {
            ApplyError::ShapeMismatch { path, expected, found } => report.mismatches.push(ShapeMismatch {
                key: path.clone(),
                layer: layer_of(path),
                expected: expected.to_vec(),
                found: found.to_vec(),
            }),
            other => report.errors.push(other.to_string()),
        }
    }
    let acceptable = report.mismatches.is_empty()
        && report.errors.is_empty()
        && (allow_partial || (report.missing.is_empty() && report.unused.is_empty()));
    if acceptable {
        Ok(report)
    } else {
        report.hints = hints(&report);
        Err(ImportError::Mismatch(Box::new(report)))
    }
}
