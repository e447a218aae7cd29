//! Architecture inference: which built-in topology the checkpoint's conv layers fit, with the
//! widths, class count and anchors read off its tensors.

use std::collections::BTreeMap;

use yolo_model::cfg::{self, LayerSpec, NetworkSpec};
use yolo_model::Arch;

use crate::error::PytorchError;

/// What the checkpoint says about each conv layer: `layer -> weight shape [out, in, k, k]`.
pub type ConvShapes = BTreeMap<usize, Vec<usize>>;

/// The architecture to build.
#[derive(Debug, Clone)]
pub enum ArchChoice {
    /// Infer the topology among the built-ins.
    Auto,
    /// This built-in topology (widths and classes still come from the tensors).
    Builtin(Arch),
    /// Exactly this cfg; the tensors must fit it.
    Cfg(NetworkSpec),
}

/// A spec and how it was found.
#[derive(Debug, Clone)]
pub struct Inferred {
    pub spec: NetworkSpec,
    pub how: String,
}

/// Finds the spec for `convs` (and `anchors` per `[yolo]` layer, when the checkpoint has them).
pub fn infer(
    choice: &ArchChoice,
    convs: &ConvShapes,
    anchors: &BTreeMap<usize, Vec<[f32; 2]>>,
) -> Result<Inferred, PytorchError> {
    let candidates: Vec<Arch> = match choice {
        ArchChoice::Cfg(spec) => return Ok(Inferred { spec: spec.clone(), how: "given cfg".into() }),
        ArchChoice::Builtin(arch) => vec![*arch],
        ArchChoice::Auto => Arch::ALL.to_vec(),
    };
    let mut reasons = Vec::new();
    for arch in candidates {
        match fit(arch, convs, anchors) {
            Ok(spec) => {
                let how = match choice {
                    ArchChoice::Builtin(_) => format!("--arch {}", arch.name()),
                    _ => format!("conv layers match the {} topology", arch.name()),
                };
                return Ok(Inferred { spec, how });
            }
            Err(reason) => reasons.push(format!("{}: {reason}", arch.name())),
        }
    }
    Err(PytorchError::Architecture(reasons.join("; ")))
}

/// Fits one topology: same conv layer indices and kernel sizes; widths from the tensors.
fn fit(arch: Arch, convs: &ConvShapes, anchors: &BTreeMap<usize, Vec<[f32; 2]>>) -> Result<NetworkSpec, String> {
    let mut spec = arch.spec();
    let expected: Vec<usize> =
        spec.layers.iter().enumerate().filter(|(_, l)| matches!(l, LayerSpec::Conv(_))).map(|(i, _)| i).collect();
    let found: Vec<usize> = convs.keys().copied().collect();
    if let Some(i) = expected.iter().zip(&found).position(|(a, b)| a != b) {
        return Err(format!("conv layer {} expected, the checkpoint's next conv is layer {}", expected[i], found[i]));
    }
    if expected.len() != found.len() {
        return Err(format!("{} conv layers expected, the checkpoint has {}", expected.len(), found.len()));
    }
    let heads: Vec<usize> = spec.heads().map(|(i, _)| i).collect();
    let mut classes = None;
    for i in 0..spec.layers.len() {
        match &mut spec.layers[i] {
            LayerSpec::Conv(conv) => {
                let shape = &convs[&i];
                if shape.len() != 4 || shape[2] != conv.size || shape[3] != conv.size {
                    return Err(format!(
                        "layer {i} is a {0}x{0} conv, the checkpoint's weight is {shape:?}",
                        conv.size
                    ));
                }
                conv.filters = shape[0];
            }
            LayerSpec::Yolo(yolo) => {
                if let Some(a) = anchors.get(&i) {
                    if a.is_empty() {
                        return Err(format!("the checkpoint's anchors for head layer {i} are empty"));
                    }
                    yolo.anchors = a.clone();
                }
                let Some(&filters) = i.checked_sub(1).and_then(|c| convs.get(&c)).and_then(|s| s.first()) else {
                    return Err(format!("no conv weight feeds the head at layer {i}"));
                };
                let per_anchor = filters / yolo.anchors.len();
                if !filters.is_multiple_of(yolo.anchors.len()) || per_anchor < 6 {
                    return Err(format!(
                        "head conv {} has {filters} filters, not {} anchors x (5 + classes)",
                        i - 1,
                        yolo.anchors.len()
                    ));
                }
                let c = per_anchor - 5;
                if *classes.get_or_insert(c) != c {
                    return Err(format!("heads disagree on the class count (layers {heads:?})"));
                }
                yolo.classes = c;
            }
            _ => {}
        }
    }
    // Re-parse the edited spec: this recomputes every input width and validates the graph.
    cfg::parse(&format!("inferred:{}", arch.name()), &spec.to_cfg_text()).map_err(|e| e.to_string())
}
