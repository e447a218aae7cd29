//! `yolov3 detect`: images in, detections out (stdout), optional annotated copies, label files
//! and raw predictions. Every input's header is checked before the model loads; an image that
//! cannot be read (there or later: a cut scan) is named on stderr, the others are still
//! reported, and the exit is non-zero.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _};
use yolo::{image_io, Detector, Frame};

use crate::args::{DetectArgs, DetectFormat};
use crate::draw::{annotate, Label};
use crate::output::{CocoIds, ImageRecord};
use crate::{atomic, errors, npy, progress};

/// A builder with the weights, cfg, names and pickle policy `detect` and `val` both take.
pub fn model_builder(
    weights: Option<&Path>,
    cfg: Option<&Path>,
    names: Option<&Path>,
    ignore_pickle_code: bool,
) -> yolo::DetectorBuilder {
    let mut builder = Detector::builder().ignore_pickle_code(ignore_pickle_code);
    if let Some(path) = weights {
        builder = builder.weights(path);
    }
    if let Some(path) = cfg {
        builder = builder.cfg(path);
    }
    if let Some(path) = names {
        builder = builder.names_file(path);
    }
    builder
}

/// The detector `detect` runs, from its arguments. (`--batch` is checked by the library's
/// `detect_files`.)
pub fn build_detector(args: &DetectArgs) -> anyhow::Result<Detector> {
    let mut builder =
        model_builder(args.weights.as_deref(), args.cfg.as_deref(), args.names.as_deref(), args.ignore_pickle_code)
            .device(args.device.into())
            .conf(args.conf)
            .iou(args.iou)
            .size(args.size)
            .resize(crate::args::resize(args.resize, args.rect))
            .max_det(args.max_det)
            .agnostic_nms(args.agnostic_nms);
    if let Some(mode) = args.cpu_kernels {
        builder = builder.cpu_kernels(mode.into());
    }
    if let Some(classes) = &args.classes {
        builder = builder.classes(classes);
    }
    builder.build().map_err(errors::cli)
}

/// The `detect` command.
pub fn run(args: &DetectArgs) -> anyhow::Result<()> {
    let listed = image_io::collect_inputs(&args.inputs)?;
    let total = listed.len();
    let files = Files::new(args);
    check_unique_stems(&listed, files.any())?;
    files.refuse_overwriting(&listed)?;
    // COCO image ids are assigned over every listed input, so a bad one does not shift them.
    let mut printer = Printer::new(args, &listed)?;
    let (inputs, mut failed) = readable(listed);
    if inputs.is_empty() {
        bail!("none of the {total} input(s) is a readable image");
    }

    let started = Instant::now();
    let detector = build_detector(args)?;
    files.create_dirs()?;
    if args.verbose {
        eprintln!("{} in {:.2?}", summary(detector.info()), started.elapsed());
    }
    let bar = progress::images(inputs.len(), args.quiet);
    let run_start = Instant::now();
    let mut results = detector.detect_files(inputs, args.batch).map_err(errors::cli)?;
    for file in results.by_ref() {
        match file.outcome {
            Ok((image, frame)) => {
                files.write(&file.path, &image, &frame)?;
                bar.suspend(|| printer.image(&file.path, &frame, detector.class_names().len()))?;
            }
            Err(err) => {
                bar.suspend(|| eprintln!("error: {:#}", anyhow::Error::from(err)));
                failed.push(file.path.display().to_string());
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    printer.finish()?;
    if args.verbose {
        eprintln!("{total} image(s) in {:.2?}", run_start.elapsed());
        eprintln!("{}", speed_line(&results.speed(), run_start.elapsed()));
    }
    match failed.len() {
        0 => Ok(()),
        n => bail!("{n} of {total} image(s) could not be processed: {}", failed.join(", ")),
    }
}

/// Splits inputs into those whose header reads and the names of those that do not (each
/// named on stderr now, so the others still run).
fn readable(listed: Vec<PathBuf>) -> (Vec<PathBuf>, Vec<String>) {
    let mut failed = Vec::new();
    let mut inputs = Vec::with_capacity(listed.len());
    for path in listed {
        match image_io::probe(&path) {
            Ok(_) => inputs.push(path),
            Err(err) => {
                eprintln!("error: {:#}", anyhow::Error::from(err));
                failed.push(path.display().to_string());
            }
        }
    }
    (inputs, failed)
}

/// `speed per image: ...`, as `--verbose` prints it: the loader thread's decode and letterbox
/// run beside the network, so only the wait for them adds to the wall time.
/// The forward time is the steady one where later batches ran: the first batch's (one-time
/// weight transforms, kernel measuring) is shown apart.
fn speed_line(speed: &yolo::Speed, wall: std::time::Duration) -> String {
    let per = |d: std::time::Duration, images: usize| d.as_secs_f64() * 1e3 / images.max(1) as f64;
    let ms = |d: std::time::Duration| per(d, speed.images);
    let later = speed.images.saturating_sub(speed.first_images);
    let forward = if later > 0 && speed.first_images > 0 {
        format!(
            "forward {:.1} ms (first batch {:.1} ms, with one-time weight preparation)",
            per(speed.forward.saturating_sub(speed.first_forward), later),
            per(speed.first_forward, speed.first_images)
        )
    } else {
        format!("forward {:.1} ms", ms(speed.forward))
    };
    format!(
        "speed per image: decode {:.1} ms + letterbox {:.1} ms (loader thread; waited for {:.1} ms), \
         {forward}, postprocess {:.1} ms; wall {:.1} ms ({} images)",
        ms(speed.decode),
        ms(speed.letterbox),
        ms(speed.waited),
        ms(speed.postprocess),
        ms(wall),
        speed.images
    )
}

fn summary(info: &yolo::DetectorInfo) -> String {
    format!(
        "model {} ({} classes) from {}: {} tensors loaded on {}{}",
        info.architecture,
        info.classes,
        info.source,
        info.tensors,
        info.device,
        info.device_reason.as_deref().map(|r| format!(" [auto: {r}]")).unwrap_or_default(),
    )
}

/// The per-image files `detect` may write, each atomically: raw predictions, label files,
/// annotated copies.
struct Files<'a> {
    raw: Option<&'a Path>,
    labels: Option<&'a Path>,
    with_score: bool,
    annotated: Option<&'a Path>,
}

impl<'a> Files<'a> {
    fn new(args: &'a DetectArgs) -> Self {
        Self {
            raw: args.raw.as_deref(),
            labels: args.save_txt.as_deref(),
            with_score: args.save_conf,
            annotated: args.out.as_deref(),
        }
    }

    fn any(&self) -> bool {
        self.raw.is_some() || self.labels.is_some() || self.annotated.is_some()
    }

    /// Every output file each input would get (whether or not it exists yet).
    fn outputs_of(&self, path: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(dir) = self.raw {
            out.push(dir.join(format!("{}.npy", stem(path))));
        }
        if let Some(dir) = self.labels {
            out.push(dir.join(format!("{}.txt", stem(path))));
        }
        if let Some(dir) = self.annotated {
            out.push(dir.join(format!("{}.{}", stem(path), annotated_ext(path))));
        }
        out
    }

    /// An output that is one of the inputs (`--out` pointed at the photos' own directory) is
    /// refused before anything runs.
    fn refuse_overwriting(&self, inputs: &[PathBuf]) -> anyhow::Result<()> {
        if !self.any() {
            return Ok(());
        }
        let ids = atomic::Inputs::new(inputs.iter().map(PathBuf::as_path));
        inputs.iter().flat_map(|path| self.outputs_of(path)).try_for_each(|output| ids.refuse(&output))
    }

    fn create_dirs(&self) -> anyhow::Result<()> {
        [self.raw, self.labels, self.annotated].into_iter().flatten().try_for_each(atomic::ensure_dir)
    }

    fn write(&self, path: &Path, image: &image::DynamicImage, frame: &Frame) -> anyhow::Result<()> {
        if let Some(dir) = self.raw {
            let file = dir.join(format!("{}.npy", stem(path)));
            atomic::write(&file, &npy::encode_f32(&[frame.rows(), frame.columns], &frame.raw))?;
        }
        if let Some(dir) = self.labels {
            atomic::write(&dir.join(format!("{}.txt", stem(path))), label_file(frame, self.with_score).as_bytes())?;
        }
        if let Some(dir) = self.annotated {
            write_annotated(dir, path, image, frame)?;
        }
        Ok(())
    }
}

/// Results on stdout: a block or a JSON line per image as it is done, or one COCO array at
/// the end.
struct Printer {
    format: DetectFormat,
    stdout: std::io::StdoutLock<'static>,
    coco_ids: Option<CocoIds>,
    coco: Vec<crate::output::CocoResult>,
}

impl Printer {
    fn new(args: &DetectArgs, inputs: &[PathBuf]) -> anyhow::Result<Self> {
        let coco_ids = match args.format {
            DetectFormat::Coco => Some(CocoIds::new(inputs, args.coco_annotations.as_deref())?),
            _ => None,
        };
        Ok(Self { format: args.format, stdout: std::io::stdout().lock(), coco_ids, coco: Vec::new() })
    }

    fn image(&mut self, path: &Path, frame: &Frame, classes: usize) -> anyhow::Result<()> {
        let text = match (self.format, &self.coco_ids) {
            (DetectFormat::Json, _) => ImageRecord::new(path, frame).to_json_line() + "\n",
            (DetectFormat::Text, _) => ImageRecord::new(path, frame).to_text(),
            (DetectFormat::Coco, Some(ids)) => {
                self.coco.extend(ids.records(path, frame, classes)?);
                return Ok(());
            }
            (DetectFormat::Coco, None) => return Ok(()),
        };
        self.stdout.write_all(text.as_bytes()).context("writing results")?;
        self.stdout.flush().context("writing results")
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if self.format == DetectFormat::Coco {
            let json = serde_json::to_string(&self.coco).context("encoding COCO results")?;
            self.stdout.write_all((json + "\n").as_bytes()).context("writing results")?;
        }
        Ok(())
    }
}

/// A YOLO label file: `class cx cy w h [score]`, normalised to the image, one line a detection.
pub fn label_file(frame: &Frame, with_score: bool) -> String {
    let (w, h) = frame.image_size();
    let mut out = String::new();
    for d in &frame.detections {
        let [cx, cy, bw, bh] = d.yolo_label(w, h);
        out.push_str(&format!("{} {cx:.6} {cy:.6} {bw:.6} {bh:.6}", d.class_id));
        if with_score {
            out.push_str(&format!(" {:.6}", d.score));
        }
        out.push('\n');
    }
    out
}

fn stem(path: &Path) -> String {
    path.file_stem().map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned())
}

/// Output files are named by stem; two inputs with one stem would overwrite each other.
fn check_unique_stems(inputs: &[PathBuf], writes_files: bool) -> anyhow::Result<()> {
    if !writes_files {
        return Ok(());
    }
    let mut seen = HashSet::new();
    for path in inputs {
        if !seen.insert(stem(path)) {
            bail!("two inputs are named `{}`: their output files would collide", stem(path));
        }
    }
    Ok(())
}

/// The annotated copy keeps the input's extension (lower-cased), PNG where it has none.
fn annotated_ext(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("png").to_ascii_lowercase()
}

fn write_annotated(dir: &Path, path: &Path, image: &image::DynamicImage, frame: &Frame) -> anyhow::Result<()> {
    let mut canvas = image.to_rgb8();
    let labels: Vec<Label<'_>> = frame
        .detections
        .iter()
        .map(|d| Label { bbox: d.bbox, class_id: d.class_id, text: &d.label, score: d.score })
        .collect();
    annotate(&mut canvas, &labels)?;
    let ext = annotated_ext(path);
    let format = if ext == "png" { image::ImageFormat::Png } else { image::ImageFormat::Jpeg };
    let mut bytes = std::io::Cursor::new(Vec::new());
    canvas.write_to(&mut bytes, format).with_context(|| format!("encoding annotated {}", path.display()))?;
    atomic::write(&dir.join(format!("{}.{ext}", stem(path))), &bytes.into_inner())
}
