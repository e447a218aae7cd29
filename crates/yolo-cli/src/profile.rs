//! `yolov3 bench --profile`: where one forward pass spends its time, layer by layer.

use std::time::Duration;

use burn::tensor::Tensor;
use serde_json::{json, Value};
use yolo_model::cfg::LayerSpec;
use yolo_model::Yolo;

/// The median time of one cfg layer over the profiled runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerTime {
    pub index: usize,
    pub layer: String,
    /// The CPU kernel a convolution ran (`None` off the CPU kernels).
    pub kernel: Option<&'static str>,
    pub median: Duration,
}

/// Median per-layer times over `runs` profiled forward passes; `cpu_kernels`: whether the
/// model runs the CPU kernels (Flex, not `--generic-ops`), so each convolution names its own.
pub fn measure(model: &Yolo, input: &Tensor<4>, runs: usize, cpu_kernels: bool) -> Vec<LayerTime> {
    let samples: Vec<Vec<Duration>> = (0..runs.max(1)).map(|_| model.profile(input.clone())).collect();
    let spec = &model.config().spec;
    let [batch, _, h, w] = input.dims();
    // Each layer's output size (the input passed `check_input`, so these exist): a convolution
    // reads the previous layer's map.
    let sizes = if cpu_kernels { yolo_model::shapes::map_sizes(spec, h, w).ok() } else { None };
    spec.layers
        .iter()
        .enumerate()
        .map(|(index, layer)| {
            let mut times: Vec<Duration> = samples.iter().map(|s| s[index]).collect();
            times.sort_unstable();
            let kernel = match (layer, &sizes) {
                (LayerSpec::Conv(c), Some(sizes)) => {
                    let [ih, iw] = if index == 0 { [h, w] } else { sizes[index - 1] };
                    Some(yolo_model::cpu::kernel_name(
                        [batch, c.in_channels, ih, iw],
                        c.size,
                        c.stride,
                        c.padding,
                        c.filters,
                        model.fuses_pool(index),
                    ))
                }
                // Timed with the convolution before it (that row's time is the pair's).
                (LayerSpec::MaxPool(_), Some(_)) if index > 0 && model.fuses_pool(index - 1) => Some("with the conv"),
                _ => None,
            };
            LayerTime { index, layer: describe(layer), kernel, median: times[times.len() / 2] }
        })
        .collect()
}

/// A one-line darknet-style description: `conv 3x3/1 16->32 leaky`, `maxpool 2/2`, ...
pub fn describe(layer: &LayerSpec) -> String {
    match layer {
        LayerSpec::Conv(c) => {
            format!("conv {0}x{0}/{1} {2}->{3} {4}", c.size, c.stride, c.in_channels, c.filters, c.activation.name())
        }
        LayerSpec::MaxPool(p) => format!("maxpool {}/{}", p.size, p.stride),
        LayerSpec::Upsample { stride } => format!("upsample x{stride}"),
        LayerSpec::Shortcut { from } => format!("shortcut {from}"),
        LayerSpec::Route { layers } => format!("route {layers:?}"),
        LayerSpec::Yolo(_) => "yolo".to_string(),
    }
}

/// The table: one row per layer, with its share of the total.
pub fn text(layers: &[LayerTime]) -> String {
    let total: Duration = layers.iter().map(|l| l.median).sum();
    let mut out = String::from("layer  kind                             kernel                    ms       share\n");
    for l in layers {
        let share = 100.0 * l.median.as_secs_f64() / total.as_secs_f64().max(f64::MIN_POSITIVE);
        let (ms, kernel) = (l.median.as_secs_f64() * 1e3, l.kernel.unwrap_or(""));
        out += &format!("{:5}  {:32} {kernel:20} {ms:8.3}  {share:5.1}%\n", l.index, l.layer);
    }
    out + &format!("total (sum of medians)                                       {:8.3}\n", total.as_secs_f64() * 1e3)
}

pub fn json(layers: &[LayerTime]) -> Value {
    Value::Array(
        layers
            .iter()
            .map(
                |l| json!({"index": l.index, "layer": l.layer, "kernel": l.kernel, "ms": l.median.as_secs_f64() * 1e3}),
            )
            .collect(),
    )
}
