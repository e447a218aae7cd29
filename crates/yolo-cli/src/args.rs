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
    /// List the wgpu adapters and the CPU, and what `--device auto` picks.
    Devices(DevicesArgs),
    /// Score the model on a labelled dataset: COCO mAP exactly as pycocotools computes it.
    Val(ValArgs),
}

#[derive(Debug, Args)]
pub struct ValArgs {
    #[arg(short, long, long_help = WEIGHTS_HELP, help = "Weights: darknet .weights, a PyTorch checkpoint or a .bpk (default: the bundled yolov3-tiny)")]
    pub weights: Option<PathBuf>,
    /// Darknet cfg of the weights. Default: the built-in yolov3/-tiny/-spp cfg whose size fits.
    #[arg(long)]
    pub cfg: Option<PathBuf>,
    /// Load a PyTorch checkpoint whose pickle names dangerous code (os.system, eval, ...)
    /// anyway: its tensors are read and nothing in it is ever executed.
    #[arg(long)]
    pub ignore_pickle_code: bool,
    /// Class names of the model, one per line. Default: COCO's 80.
    #[arg(long)]
    pub names: Option<PathBuf>,
    /// A COCO instances `.json`, a YOLO `data.yaml` (its `val` split), or a folder holding
    /// `images/` and `labels/`.
    #[arg(long)]
    pub data: PathBuf,
    /// Where a COCO dataset's images are (by `file_name`). Default: the JSON's folder, then its
    /// `images/` subfolder.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Model class -> dataset category, one `CLASS CATEGORY_ID` pair per line (class by id or
    /// name; `#` comments). Default: COCO's table for an 80-class model on COCO ids, the class
    /// index for YOLO datasets, else matching names.
    #[arg(long, value_name = "FILE")]
    pub category_map: Option<PathBuf>,
    /// Minimum score kept (low: the metrics integrate over all thresholds).
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    pub conf: f32,
    /// NMS IoU threshold (per class).
    #[arg(long, default_value_t = 0.65, allow_negative_numbers = true)]
    pub iou: f32,
    /// At most this many detections per image.
    #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
    pub max_det: usize,
    /// Network input size in pixels.
    #[arg(long, default_value_t = 416, allow_negative_numbers = true)]
    pub size: usize,
    #[arg(long, value_enum, default_value_t = ResizeArg::Letterbox)]
    pub resize: ResizeArg,
    /// Same as `--resize rect` (ultralytics' spelling).
    #[arg(long, conflicts_with = "resize")]
    pub rect: bool,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// How the CPU backend picks each layer's kernel: `tuned` times the candidates of each new
    /// layer shape once and keeps the fastest (saved per CPU in the cache directory,
    /// $YOLOV3_CACHE_DIR), `fixed` uses rules measured on one CPU. Default: $YOLOV3_CPU_KERNELS,
    /// else tuned.
    #[arg(long, value_enum)]
    pub cpu_kernels: Option<CpuKernelsArg>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub batch: usize,
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Also write the detections as a COCO results file (as `detect --format coco`).
    #[arg(long, value_name = "FILE")]
    pub save_json: Option<PathBuf>,
    /// Evaluate this COCO results file instead of running the model.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["weights", "cfg", "save_json"])]
    pub results: Option<PathBuf>,
    /// Write precision-recall curves and a confusion matrix here, as PNG images.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// No progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
}

/// The formats `-w` takes, for its help text.
pub const WEIGHTS_HELP: &str =
    "Weights: darknet `.weights` (with --cfg, or a built-in yolov3/-tiny/-spp matched by size), \
a PyTorch checkpoint (.pt/.pth/.ckpt: pytorchyolo, ultralytics/yolov3, yolov5-style, mmdetection; \
DataParallel/DDP/torch.compile wrappers, state_dict/model/ema containers, fp16, legacy and whole \
pickled modules; never executed), or a `.bpk` from `yolov3 import`. The format is read from the \
file's first bytes. Default: the bundled COCO yolov3-tiny";

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[arg(short, long, long_help = WEIGHTS_HELP, help = "Weights: darknet .weights, a PyTorch checkpoint or a .bpk (default: the bundled yolov3-tiny)")]
    pub weights: Option<PathBuf>,
    /// Darknet cfg for darknet weights.
    #[arg(long)]
    pub cfg: Option<PathBuf>,
    /// A built-in architecture with seeded random weights instead of `--weights`.
    #[arg(long, value_enum, conflicts_with_all = ["weights", "cfg"])]
    pub arch: Option<ArchArg>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// How the CPU backend picks each layer's kernel: `tuned` times the candidates of each new
    /// layer shape once and keeps the fastest (saved per CPU in the cache directory,
    /// $YOLOV3_CACHE_DIR), `fixed` uses rules measured on one CPU. Default: $YOLOV3_CPU_KERNELS,
    /// else tuned.
    #[arg(long, value_enum)]
    pub cpu_kernels: Option<CpuKernelsArg>,
    /// Input size (a multiple of the network's largest stride: 32 for YOLOv3).
    #[arg(long, default_value_t = 416, allow_negative_numbers = true)]
    pub size: usize,
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub batch: usize,
    /// Timed runs.
    #[arg(short = 'n', long, default_value_t = 20, allow_negative_numbers = true)]
    pub runs: usize,
    /// Untimed runs first (shader compilation, autotuning, caches).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
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
    #[arg(long, allow_negative_numbers = true)]
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
    /// Load a checkpoint whose pickle names dangerous code (os.system, eval, ...) anyway: its
    /// tensors are read and nothing in it is ever executed. Without this such files are refused.
    #[arg(long)]
    pub ignore_pickle_code: bool,
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
    /// No progress spinner (it is shown only when stderr is a terminal anyway).
    #[arg(short, long)]
    pub quiet: bool,
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

/// How the CPU backend picks each layer's kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CpuKernelsArg {
    /// Measured on this machine once per layer shape, kept on disk.
    Tuned,
    /// Rules measured on one CPU: deterministic, nothing measured or written.
    Fixed,
}

impl From<CpuKernelsArg> for yolo::CpuKernels {
    fn from(arg: CpuKernelsArg) -> Self {
        match arg {
            CpuKernelsArg::Tuned => yolo::CpuKernels::Tuned,
            CpuKernelsArg::Fixed => yolo::CpuKernels::Fixed,
        }
    }
}

/// How images are fitted to the network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResizeArg {
    /// Keep the aspect ratio, pad with gray 0.5, centred (darknet).
    Letterbox,
    /// Letterbox into the smallest input holding the aspect: long side --size, short side the
    /// next multiple of 32 (ultralytics' rect inference; fewer pixels, same model).
    Rect,
    /// Stretch to the input size (AlexeyAB darknet, OpenCV's sample).
    Stretch,
}

/// How `detect` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectFormat {
    /// One readable block per image.
    Text,
    /// JSON Lines: one object per image.
    Json,
    /// One COCO results JSON array (`image_id`, `category_id`, `bbox` [x, y, w, h], `score`)
    /// for all images, as pycocotools' `loadRes` reads it.
    Coco,
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
    #[arg(short, long, long_help = WEIGHTS_HELP, help = "Weights: darknet .weights, a PyTorch checkpoint or a .bpk (default: the bundled yolov3-tiny)")]
    pub weights: Option<PathBuf>,
    /// Darknet cfg of the weights. Default: the built-in yolov3/-tiny/-spp cfg whose size fits.
    #[arg(long)]
    pub cfg: Option<PathBuf>,
    /// Load a PyTorch checkpoint whose pickle names dangerous code (os.system, eval, ...)
    /// anyway: its tensors are read and nothing in it is ever executed.
    #[arg(long)]
    pub ignore_pickle_code: bool,
    /// Class names, one per line. Default: COCO's 80.
    #[arg(long)]
    pub names: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// How the CPU backend picks each layer's kernel: `tuned` times the candidates of each new
    /// layer shape once and keeps the fastest (saved per CPU in the cache directory,
    /// $YOLOV3_CACHE_DIR), `fixed` uses rules measured on one CPU. Default: $YOLOV3_CPU_KERNELS,
    /// else tuned.
    #[arg(long, value_enum)]
    pub cpu_kernels: Option<CpuKernelsArg>,
    /// Minimum objectness x class score.
    #[arg(long, default_value_t = 0.25, allow_negative_numbers = true)]
    pub conf: f32,
    /// NMS IoU threshold (per class).
    #[arg(long, default_value_t = 0.45, allow_negative_numbers = true)]
    pub iou: f32,
    /// Network input size in pixels (a multiple of the network's largest stride: 32 for YOLOv3).
    #[arg(long, default_value_t = 416, allow_negative_numbers = true)]
    pub size: usize,
    #[arg(long, value_enum, default_value_t = ResizeArg::Letterbox)]
    pub resize: ResizeArg,
    /// Same as `--resize rect` (ultralytics' spelling).
    #[arg(long, conflicts_with = "resize")]
    pub rect: bool,
    /// Only these classes: ids or names, comma-separated (`--classes 0,2,dog`).
    #[arg(long, value_delimiter = ',', value_name = "CLASS,...")]
    pub classes: Option<Vec<String>>,
    /// At most this many detections per image (the highest scores).
    #[arg(long, default_value_t = 300, allow_negative_numbers = true)]
    pub max_det: usize,
    /// NMS across classes (a box suppresses overlapping boxes of any class).
    #[arg(long)]
    pub agnostic_nms: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub batch: usize,
    #[arg(long, value_enum, default_value_t = DetectFormat::Text)]
    pub format: DetectFormat,
    /// COCO annotation file whose `images` supply the image ids of `--format coco` (matched by
    /// file name). Without it, COCO-style numeric file names (`000000000139.jpg`) are the ids
    /// when every input has one, else inputs are numbered 1, 2, ... in order.
    #[arg(long, value_name = "INSTANCES_JSON")]
    pub coco_annotations: Option<PathBuf>,
    /// Write YOLO label files here: `<stem>.txt`, one `class cx cy w h` line per detection,
    /// normalised to the image size.
    #[arg(long, value_name = "DIR")]
    pub save_txt: Option<PathBuf>,
    /// Append each detection's score to its `--save-txt` line.
    #[arg(long, requires = "save_txt")]
    pub save_conf: bool,
    /// No progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(short, long)]
    pub quiet: bool,
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

impl From<DeviceArg> for yolo::DeviceChoice {
    fn from(arg: DeviceArg) -> Self {
        match arg {
            DeviceArg::Auto => yolo::DeviceChoice::Auto,
            DeviceArg::Cpu => yolo::DeviceChoice::Cpu,
            DeviceArg::Wgpu => yolo::DeviceChoice::Wgpu,
            DeviceArg::Ndarray => yolo::DeviceChoice::Ndarray,
        }
    }
}

/// `--resize`, with `--rect` as its shorthand.
pub fn resize(resize: ResizeArg, rect: bool) -> yolo::Resize {
    if rect {
        yolo::Resize::Rect
    } else {
        resize.into()
    }
}

impl From<ResizeArg> for yolo::Resize {
    fn from(arg: ResizeArg) -> Self {
        match arg {
            ResizeArg::Letterbox => yolo::Resize::Letterbox,
            ResizeArg::Rect => yolo::Resize::Rect,
            ResizeArg::Stretch => yolo::Resize::Stretch,
        }
    }
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
