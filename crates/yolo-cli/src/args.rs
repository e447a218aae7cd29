//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// YOLOv3 object detection on burn, from darknet or PyTorch weights.
#[derive(Debug, Parser)]
#[command(name = "yolov3", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Detect objects in images (files or directories).
    Detect(DetectArgs),
    /// Convert a PyTorch checkpoint (or darknet weights) into a self-contained `.bpk`.
    Import(ImportArgs),
    /// Show what a PyTorch checkpoint holds and how it would be imported.
    Inspect(InspectArgs),
    /// Time the network's forward pass (after warm-up) on random input.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Weights as for `detect` (default: the bundled yolov3-tiny).
    #[arg(short, long)]
    pub weights: Option<PathBuf>,
    /// Darknet cfg for darknet weights.
    #[arg(long)]
    pub cfg: Option<PathBuf>,
    /// A built-in architecture with seeded random weights instead of `--weights`.
    #[arg(long, value_enum, conflicts_with_all = ["weights", "cfg"])]
    pub arch: Option<ArchArg>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Input size (a multiple of the network's largest stride: 32 for YOLOv3).
    #[arg(long, default_value_t = 416)]
    pub size: usize,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Timed runs.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub runs: usize,
    /// Untimed runs first (shader compilation, autotuning, caches).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Run every layer through burn's generic ops instead of the CPU kernels (to measure
    /// what the kernels gain; no effect on GPU devices).
    #[arg(long)]
    pub generic_ops: bool,
    /// Also time every layer (median over -n more runs, each layer read back before the next).
    #[arg(long)]
    pub profile: bool,
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

/// Checkpoint key families (`auto` detects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    Auto,
    /// eriklindernoren/pytorchyolo and other darknet-cfg ports: module_list.{i}.conv_{i}.
    Pytorchyolo,
    /// ultralytics/yolov3 archive branch: module_list.{i}.Conv2d.
    UltralyticsArchive,
    /// ultralytics/yolov3 v9 and yolov5's hub yolov3 models: model.{i}.conv, model.{d}.m.{k}.
    Yolov5,
    /// mmdetection's YOLOV3: backbone.conv_res_block{s}, neck.detect{d}, bbox_head.convs_pred.
    Mmdet,
    /// This project's own names: layers.{i}.conv, layers.{i}.bn.
    Native,
}

/// Built-in architectures for `--arch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    Yolov3,
    Yolov3Tiny,
    Yolov3Spp,
}

/// Options shared by `import` and `inspect`: how to read a checkpoint.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Darknet cfg the weights must fit exactly.
    #[arg(long, conflicts_with = "arch")]
    pub cfg: Option<PathBuf>,
    /// Built-in topology to fit (widths and classes still come from the checkpoint).
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// Expected class count; an error if the checkpoint's head disagrees.
    #[arg(long)]
    pub classes: Option<usize>,
    #[arg(long, value_enum, default_value_t = DialectArg::Auto)]
    pub dialect: DialectArg,
    /// Top-level entry holding the weights (default: ema, model, state_dict, model_state_dict,
    /// net, or the root, whichever holds tensors first).
    #[arg(long)]
    pub key: Option<String>,
    /// Rename keys: 'REGEX=REPLACEMENT', applied in order after wrapper prefixes are stripped.
    #[arg(long = "remap", value_name = "REGEX=REPLACEMENT")]
    pub remaps: Vec<String>,
    /// A file of remap rules, one per line, `#` comments.
    #[arg(long)]
    pub remap_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A PyTorch checkpoint (.pt/.pth/.ckpt; zip or legacy) or darknet .weights.
    pub checkpoint: PathBuf,
    /// The burnpack to write.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub source: CheckpointArgs,
    /// Load even when some weights are missing or unused (reported).
    #[arg(long)]
    pub allow_partial: bool,
    /// Store float16 weights in the burnpack (exact for fp16 checkpoints; half the size).
    #[arg(long)]
    pub keep_half: bool,
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A PyTorch checkpoint.
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub source: CheckpointArgs,
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

/// Where the network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// A hardware GPU through wgpu when one exists, else the CPU.
    Auto,
    /// burn's flex backend (pure Rust CPU).
    Cpu,
    /// burn's wgpu backend (Vulkan/Metal/DX12; a software Vulkan driver counts).
    Wgpu,
    /// burn's ndarray CPU backend (needs the `ndarray` cargo feature).
    Ndarray,
}

/// How images are fitted to the network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResizeArg {
    /// Keep the aspect ratio, pad with gray 0.5, centred (darknet).
    Letterbox,
    /// Stretch to the input size (AlexeyAB darknet, OpenCV's sample).
    Stretch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One readable block per image.
    Text,
    /// JSON Lines: one object per image.
    Json,
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Image files (JPEG, PNG) or directories of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Weights: a darknet `.weights` file. Default: the bundled COCO yolov3-tiny.
    #[arg(short, long)]
    pub weights: Option<PathBuf>,
    /// Darknet cfg of the weights. Default: the built-in yolov3/-tiny/-spp cfg whose size fits.
    #[arg(long)]
    pub cfg: Option<PathBuf>,
    /// Class names, one per line. Default: COCO's 80.
    #[arg(long)]
    pub names: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Minimum objectness x class score.
    #[arg(long, default_value_t = 0.25)]
    pub conf: f32,
    /// NMS IoU threshold (per class).
    #[arg(long, default_value_t = 0.45)]
    pub iou: f32,
    /// Network input size in pixels (a multiple of the network's largest stride: 32 for YOLOv3).
    #[arg(long, default_value_t = 416)]
    pub size: usize,
    #[arg(long, value_enum, default_value_t = ResizeArg::Letterbox)]
    pub resize: ResizeArg,
    /// Images per forward pass.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Write annotated copies of the images here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write each image's decoded predictions before thresholding here, as `<stem>.npy`.
    #[arg(long)]
    pub raw: Option<PathBuf>,
    /// Print timings and the model summary to stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

impl From<ArchArg> for yolo_model::Arch {
    fn from(arch: ArchArg) -> Self {
        match arch {
            ArchArg::Yolov3 => yolo_model::Arch::Yolov3,
            ArchArg::Yolov3Tiny => yolo_model::Arch::Yolov3Tiny,
            ArchArg::Yolov3Spp => yolo_model::Arch::Yolov3Spp,
        }
    }
}
