//! YOLOv3 object detection for Rust applications, on burn: on the CPU or a GPU (wgpu), from
//! weights trained elsewhere (darknet `.weights`, PyTorch checkpoints of pytorchyolo,
//! ultralytics and mmdetection, with any `module.`/`_orig_mod.` wrapper and container, or a
//! `.bpk` from `yolov3 import`). No Python, no printing; every failure is a typed [`Error`].
//!
//! ```
//! # fn main() -> Result<(), yolo::Error> {
//! let detector = yolo::Detector::builder().device(yolo::DeviceChoice::Cpu).conf(0.25).build()?;
//! let image = yolo::image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../weights/dog.jpg")).expect("the photo");
//! for d in detector.detect(&image)? {
//!     println!("{} {:.2} {:?}", d.label, d.score, d.bbox); // bbox in the photo's own pixels
//! }
//! # assert!(detector.detect(&image)?.iter().any(|d| d.label == "dog"));
//! # Ok(())
//! # }
//! ```
//!
//! Without `.weights(..)` the bundled COCO yolov3-tiny is used; pass a checkpoint path to load
//! your own (the format is read from the file):
//!
//! ```no_run
//! # fn main() -> Result<(), yolo::Error> {
//! let detector = yolo::Detector::builder()
//!     .weights("runs/train/best.pt")
//!     .names_file("data/my.names")
//!     .classes(["person", "car"])
//!     .build()?;
//! println!("{:?}", detector.info());
//! # Ok(())
//! # }
//! ```
//!
//! - [`Detector`] / [`DetectorBuilder`]: weights of any format -> a model on a device, with
//!   thresholds; `detect`, `detect_batch`, `detect_files` (decoding one batch ahead);
//! - [`device`]: the one place a backend is chosen, adapter listing, CPU description;
//! - [`cpu_kernels`]: each layer's CPU kernel measured on this machine once, kept in the
//!   per-user cache ([`cache_dir`]) with wgpu's autotune store ([`gpu_cache`]);
//! - [`weights`]: format sniffing and loading; [`image_io`], [`preprocess`]: decoding and
//!   darknet's letterbox, and the exact inverse box mapping;
//! - [`coco`]: COCO category and image ids for results files.
//!
//! A [`Detector`] is `Send + Sync`.

#![warn(missing_docs)]

pub mod batch;
pub mod cache_dir;
pub mod coco;
pub mod cpu_kernels;
pub mod detection;
pub mod detector;
pub mod device;
pub mod error;
pub mod gpu_cache;
pub mod image_io;
pub mod jpeg;
pub mod names;
pub mod preprocess;
pub mod stream;
pub mod weights;

pub use batch::{Frame, Prepared, Preprocess};
pub use cpu_kernels::CpuKernels;
pub use detection::{BBox, Detection};
pub use detector::{Detector, DetectorBuilder, DetectorInfo};
pub use device::{DeviceChoice, SelectedDevice};
pub use error::{Error, Result};
/// The image crate this API takes (`DynamicImage`), re-exported so versions cannot differ.
pub use image;
pub use preprocess::Resize;
pub use stream::{DetectFiles, FileResult, Speed};
pub use weights::Format;
