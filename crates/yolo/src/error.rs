//! The library's one error type: each variant names the file, setting or device at fault.
//!
//! Messages do not repeat their cause: where a variant has a `source`, the caller's chain
//! printer (`anyhow`'s `{:#}`, or [`std::error::Error::source`]) adds it once.

use std::path::PathBuf;

/// Why a detector could not be built or an image could not be detected.
// Each variant is documented; its fields are named for what they hold.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be opened, listed or read.
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is neither JPEG nor PNG (by its content, whatever its extension).
    #[error("{} is not a JPEG or PNG image", path.display())]
    NotAnImage { path: PathBuf },
    /// An image's header or pixels could not be decoded.
    #[error("cannot decode image {}", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// An image (or its header's claim) is larger than [`crate::image_io::MAX_IMAGE_PIXELS`].
    #[error(
        "{} is {width}x{height}: larger than the {} px a side / {} megapixel limit",
        path.display(),
        crate::image_io::MAX_IMAGE_SIDE,
        crate::image_io::MAX_IMAGE_PIXELS / 1_000_000
    )]
    ImageTooLarge { path: PathBuf, width: u32, height: u32 },
    /// A JPEG that ends before its image data does.
    #[error("{} is not a whole JPEG", path.display())]
    Truncated {
        path: PathBuf,
        #[source]
        defect: crate::jpeg::JpegDefect,
    },
    /// A directory given as input holds no image files.
    #[error("directory {} holds no .jpg, .jpeg or .png files", path.display())]
    NoImages { path: PathBuf },
    /// The weights could not be read or do not fit the architecture.
    #[error(transparent)]
    Import(#[from] yolo_import::ImportError),
    /// A darknet cfg is malformed or inconsistent.
    #[error(transparent)]
    Cfg(#[from] yolo_model::cfg::CfgError),
    /// Darknet weights without a cfg whose size matches no built-in architecture.
    #[error(
        "{source_name}: {floats} weights match none of the built-in COCO architectures (yolov3, yolov3-tiny, \
         yolov3-spp); pass the cfg it was trained with"
    )]
    UnknownDarknetSize { source_name: String, floats: usize },
    /// A cfg was given for a `.bpk`, which carries its own.
    #[error("{0} is a converted model that carries its own architecture; drop the cfg")]
    CfgForBurnpack(String),
    /// The class names do not match the model's class count.
    #[error("{from} has {found} names but the model has {classes} classes")]
    Names { from: String, found: usize, classes: usize },
    /// A class filter names a class the model does not have.
    #[error("unknown class `{name}`: the model's classes are ids 0..{classes} or their names")]
    UnknownClass { name: String, classes: usize },
    /// A setting is out of range.
    #[error("{name} {message}")]
    Setting { name: &'static str, message: String },
    /// An environment variable this crate reads holds a value it does not take.
    #[error("${variable} {message}")]
    Environment { variable: &'static str, message: String },
    /// The input size does not fit the network.
    #[error("input size {size}")]
    InputSize {
        size: usize,
        #[source]
        source: yolo_model::InputError,
    },
    /// A batch tensor did not fit the network (channels or size).
    #[error(transparent)]
    Input(#[from] yolo_model::InputError),
    /// The requested device is not available.
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    /// The network's output could not be read back from the device.
    #[error("reading predictions from the device: {0}")]
    Readback(String),
    /// A JSON file (COCO annotations) is malformed.
    #[error("{} is not a valid COCO annotation file", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// An image is not listed in the COCO annotation file that assigns image ids.
    #[error("{} is not among the images of {annotations}", path.display())]
    UnknownImage { path: PathBuf, annotations: String },
    /// The forward pass of the batch this image was in failed.
    #[error("the batch this image was in failed: {0}")]
    Batch(String),
    /// The background image loader thread could not be started.
    #[error("cannot start the image loader thread")]
    Thread(#[source] std::io::Error),
    /// The background image loader stopped before delivering every image.
    #[error("the image loader thread stopped early")]
    LoaderStopped,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn setting(name: &'static str, message: impl Into<String>) -> Self {
        Self::Setting { name, message: message.into() }
    }
}
