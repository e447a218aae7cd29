//! [`Detector`]: a loaded model on a device with its thresholds, and its builder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::tensor::{Device, Tensor, TensorData};
use image::DynamicImage;
use yolo_model::{PostprocessConfig, Yolo};

use crate::batch::{Frame, Prepared, Preprocess};
use crate::cpu_kernels::{self, CpuKernels};
use crate::detection::Detection;
use crate::device::{self, DeviceChoice};
use crate::error::{Error, Result};
use crate::preprocess::Resize;
use crate::weights::{self, Format};
use crate::{image_io, names};

/// What a detector runs, for logs and `--verbose` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorInfo {
    /// `builtin:yolov3-tiny`, the cfg path, or what the checkpoint importer recognised.
    pub architecture: String,
    /// The weights file, or `bundled yolov3-tiny.weights`.
    pub source: String,
    /// The weights file's format.
    pub format: Format,
    /// The model's class count.
    pub classes: usize,
    /// Tensors loaded from the weights.
    pub tensors: usize,
    /// `cpu (flex)`, `wgpu (...)`.
    pub device: String,
    /// Why [`DeviceChoice::Auto`] chose this device.
    pub device_reason: Option<String>,
    /// Network input size in pixels.
    pub input_size: usize,
}

/// Builds a [`Detector`]; every setting has the CLI's default.
#[derive(Debug, Clone)]
pub struct DetectorBuilder {
    weights: Option<PathBuf>,
    cfg: Option<PathBuf>,
    names: Option<Names>,
    device: DeviceChoice,
    conf: f32,
    iou: f32,
    size: usize,
    resize: Resize,
    max_det: usize,
    agnostic: bool,
    classes: Option<Vec<String>>,
    ignore_pickle_code: bool,
    cpu_kernels: Option<CpuKernels>,
}

#[derive(Debug, Clone)]
enum Names {
    File(PathBuf),
    List(Vec<String>),
}

impl Default for DetectorBuilder {
    fn default() -> Self {
        let post = PostprocessConfig::default();
        Self {
            weights: None,
            cfg: None,
            names: None,
            device: DeviceChoice::Auto,
            conf: post.conf,
            iou: post.iou,
            size: 416,
            resize: Resize::Letterbox,
            max_det: post.max_det,
            agnostic: post.agnostic,
            classes: None,
            ignore_pickle_code: false,
            cpu_kernels: None,
        }
    }
}

impl DetectorBuilder {
    /// darknet `.weights`, a PyTorch checkpoint (`.pt`, `.pth`, `.ckpt`: any dialect and
    /// wrapper the importer knows) or a `.bpk` from `yolov3 import`; the format is read from the
    /// file's first bytes. Default: the bundled COCO yolov3-tiny.
    pub fn weights(mut self, path: impl AsRef<Path>) -> Self {
        self.weights = Some(path.as_ref().to_path_buf());
        self
    }

    /// The darknet cfg the weights were trained with. Default: the built-in yolov3 / tiny / spp
    /// whose size fits darknet weights; for checkpoints, inferred from the tensors.
    pub fn cfg(mut self, path: impl AsRef<Path>) -> Self {
        self.cfg = Some(path.as_ref().to_path_buf());
        self
    }

    /// A names file, one class per line. Default: COCO's names for 80 classes, `class<N>` else.
    pub fn names_file(mut self, path: impl AsRef<Path>) -> Self {
        self.names = Some(Names::File(path.as_ref().to_path_buf()));
        self
    }

    /// Class names in class-id order.
    pub fn names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.names = Some(Names::List(names.into_iter().map(Into::into).collect()));
        self
    }

    /// Where the network runs. Default: [`DeviceChoice::Auto`].
    pub fn device(mut self, device: DeviceChoice) -> Self {
        self.device = device;
        self
    }

    /// Minimum `objectness * class score`, in `[0, 1]`. Default 0.25.
    pub fn conf(mut self, conf: f32) -> Self {
        self.conf = conf;
        self
    }

    /// NMS IoU threshold, in `[0, 1]`. Default 0.45.
    pub fn iou(mut self, iou: f32) -> Self {
        self.iou = iou;
        self
    }

    /// Network input size (a multiple of the network's largest stride, 32). Default 416.
    pub fn size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// Letterbox (default), rect letterbox (smaller non-square inputs) or stretch.
    pub fn resize(mut self, resize: Resize) -> Self {
        self.resize = resize;
        self
    }

    /// At most this many detections per image. Default 300.
    pub fn max_det(mut self, max_det: usize) -> Self {
        self.max_det = max_det;
        self
    }

    /// NMS across classes instead of per class. Default off.
    pub fn agnostic_nms(mut self, agnostic: bool) -> Self {
        self.agnostic = agnostic;
        self
    }

    /// Keep only these classes, given by id (`"16"`) or name (`"dog"`). Default: all.
    pub fn classes(mut self, classes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.classes = Some(classes.into_iter().map(Into::into).collect());
        self
    }

    /// Load a PyTorch checkpoint whose pickle names dangerous code (`os.system`, `eval`, ...):
    /// its tensors are read and nothing in it is executed. Default: such a file is refused
    /// with [`yolo_import::PytorchError::DangerousPickle`].
    pub fn ignore_pickle_code(mut self, ignore: bool) -> Self {
        self.ignore_pickle_code = ignore;
        self
    }

    /// How the CPU backend picks each layer's kernel ([`CpuKernels`]; default: `YOLOV3_CPU_KERNELS`,
    /// else measured on this machine). Process-wide, like the CPU thread pool: the last
    /// detector built sets it.
    pub fn cpu_kernels(mut self, mode: CpuKernels) -> Self {
        self.cpu_kernels = Some(mode);
        self
    }

    /// Checks the settings, picks the device, loads the weights (BatchNorm folded for speed)
    /// and the class names.
    pub fn build(self) -> Result<Detector> {
        self.check_ranges()?;
        let cpu_kernels = CpuKernels::resolve(self.cpu_kernels)?;
        let selected = device::select(self.device)?;
        let loaded = weights::load_with(
            self.weights.as_deref(),
            self.cfg.as_deref(),
            &selected.device,
            self.ignore_pickle_code,
        )?
        .for_inference();
        // Only a detector that loads changes the process's kernel choice.
        cpu_kernels::install(cpu_kernels);
        let spec = &loaded.model.config().spec;
        loaded
            .model
            .check_input([1, spec.channels, self.size, self.size])
            .map_err(|source| Error::InputSize { size: self.size, source })?;
        let classes = spec.classes();
        let stride = spec.max_stride;
        let names = match self.names {
            None => names::load(None, classes)?,
            Some(Names::File(path)) => names::load(Some(&path), classes)?,
            Some(Names::List(list)) if list.len() == classes => list,
            Some(Names::List(list)) => {
                return Err(Error::Names { from: "the given names".into(), found: list.len(), classes });
            }
        };
        let filter = match &self.classes {
            None => None,
            Some(specs) => Some(specs.iter().map(|s| names::resolve(s, &names)).collect::<Result<Vec<_>>>()?),
        };
        let info = DetectorInfo {
            architecture: loaded.architecture,
            source: loaded.source,
            format: loaded.format,
            classes,
            tensors: loaded.tensors,
            device: selected.name,
            device_reason: selected.reason,
            input_size: self.size,
        };
        Ok(Detector {
            model: loaded.model,
            device: selected.device,
            names,
            info,
            preprocess: Preprocess { size: self.size, resize: self.resize, stride },
            post: PostprocessConfig {
                conf: self.conf,
                iou: self.iou,
                max_det: self.max_det,
                agnostic: self.agnostic,
                classes: filter,
            },
        })
    }

    fn check_ranges(&self) -> Result<()> {
        for (name, value) in [("conf", self.conf), ("iou", self.iou)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::setting(name, format!("must be within [0, 1], got {value}")));
            }
        }
        // The batch buffer is 12 bytes per pixel per image: refuse sizes no YOLOv3 is run at
        // before anything is allocated.
        if self.size > MAX_INPUT_SIZE {
            return Err(Error::setting("size", format!("must be at most {MAX_INPUT_SIZE}, got {}", self.size)));
        }
        Ok(())
    }
}

/// The largest accepted input size (YOLOv3 is trained at 320-608; 4096 is a 200 MB input).
pub const MAX_INPUT_SIZE: usize = 4096;

/// A YOLOv3 model ready to detect objects, with its device, class names and thresholds.
///
/// `Detector` is `Send + Sync`: one instance can serve several threads (the CPU kernels split
/// each forward pass over the cores already, so concurrent calls share them).
#[derive(Debug)]
pub struct Detector {
    model: Yolo,
    device: Device,
    names: Vec<String>,
    info: DetectorInfo,
    preprocess: Preprocess,
    post: PostprocessConfig,
}

impl Detector {
    /// A builder with the defaults: bundled yolov3-tiny, auto device, conf 0.25, IoU 0.45, 416.
    pub fn builder() -> DetectorBuilder {
        DetectorBuilder::default()
    }

    /// Detects objects in one image; boxes are in the image's own pixels.
    pub fn detect(&self, image: &DynamicImage) -> Result<Vec<Detection>> {
        Ok(self.detect_batch(std::slice::from_ref(image))?.pop().unwrap_or_default())
    }

    /// Detects objects in several images with one forward pass.
    pub fn detect_batch(&self, images: &[DynamicImage]) -> Result<Vec<Vec<Detection>>> {
        Ok(self.frames(images)?.into_iter().map(|f| f.detections).collect())
    }

    /// Decodes an image file (EXIF orientation applied) and detects objects in it.
    pub fn detect_path(&self, path: impl AsRef<Path>) -> Result<Vec<Detection>> {
        self.detect(&image_io::load(path.as_ref())?)
    }

    /// Detects in a batch and keeps what produced the detections: raw predictions, placement.
    pub fn frames(&self, images: &[DynamicImage]) -> Result<Vec<Frame>> {
        self.check_batch(images.len())?;
        self.run(self.preprocess.prepare(images))
    }

    /// Whether batches of `images` images fit at this detector's size (the activation limit
    /// of [`yolo_model::Yolo::check_input`]); checked before a batch buffer is reserved.
    /// Rect inputs are never larger than the square, so the square bounds them.
    pub fn check_batch(&self, images: usize) -> Result<()> {
        let size = self.preprocess.size;
        self.model
            .check_input([images.max(1), self.model.config().spec.channels, size, size])
            .map_err(|source| Error::InputSize { size, source })
    }

    /// How this detector turns images into input ([`Preprocess::prepare`] may run on any
    /// thread; [`Detector::run`] takes its result).
    pub fn preprocess(&self) -> Preprocess {
        self.preprocess
    }

    /// Runs the network on a prepared batch, then thresholds, NMS and maps boxes back.
    pub fn run(&self, prepared: Prepared) -> Result<Vec<Frame>> {
        self.run_timed(prepared).map(|(frames, _, _)| frames)
    }

    /// [`Detector::run`], with how long the forward pass (output read back) and the
    /// postprocessing took.
    pub(crate) fn run_timed(&self, prepared: Prepared) -> Result<(Vec<Frame>, Duration, Duration)> {
        let Prepared { input, dims, placements } = prepared;
        if placements.is_empty() {
            return Ok((Vec::new(), Duration::ZERO, Duration::ZERO));
        }
        let start = Instant::now();
        self.model.check_input(dims)?;
        let x = Tensor::<4>::from_data(TensorData::new(input, dims), &self.device);
        let out = self.model.forward(x);
        let [_, rows, columns] = out.dims();
        let data = out.into_data().try_into_vec::<f32>().map_err(|e| Error::Readback(format!("{e:?}")))?;
        let forward = start.elapsed();
        cpu_kernels::save(); // writes only when this pass measured new layer shapes
        let post_start = Instant::now();
        // Each image's raw rows as its own vector, split off the end of the read-back buffer
        // so the first image keeps the buffer itself (no copy at batch 1).
        let per_image = rows * columns;
        let mut data = data;
        data.truncate(placements.len() * per_image);
        let mut raws: Vec<Vec<f32>> = (1..placements.len()).rev().map(|i| data.split_off(i * per_image)).collect();
        raws.push(data);
        raws.reverse();
        let frames = placements
            .into_iter()
            .zip(raws)
            .map(|(placement, raw)| {
                let detections = yolo_model::detect(&raw, columns, &self.post)
                    .into_iter()
                    .map(|d| Detection {
                        class_id: d.class_id,
                        label: self.names[d.class_id].clone(),
                        score: d.score,
                        bbox: placement.to_original(&d.bbox),
                    })
                    .collect();
                Frame { placement, raw, columns, detections }
            })
            .collect();
        Ok((frames, forward, post_start.elapsed()))
    }

    /// Class names, indexed by [`Detection::class_id`].
    pub fn class_names(&self) -> &[String] {
        &self.names
    }

    /// Architecture, weights, classes and device.
    pub fn info(&self) -> &DetectorInfo {
        &self.info
    }

    /// The thresholds and limits applied after the network.
    pub fn postprocess(&self) -> &PostprocessConfig {
        &self.post
    }

    /// The underlying burn model (BatchNorm folded).
    pub fn model(&self) -> &Yolo {
        &self.model
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn detector_is_send_and_sync() {
        assert_send_sync::<Detector>();
    }

    #[test]
    fn out_of_range_settings_are_refused_before_loading() {
        let err = Detector::builder().conf(1.5).build().expect_err("conf > 1");
        assert!(matches!(err, Error::Setting { name: "conf", .. }), "{err}");
        let err = Detector::builder().iou(f32::NAN).build().expect_err("NaN iou");
        assert!(matches!(err, Error::Setting { name: "iou", .. }), "{err}");
        let err = Detector::builder().size(65536).build().expect_err("huge size");
        assert!(matches!(err, Error::Setting { name: "size", .. }), "{err}");
    }
}
