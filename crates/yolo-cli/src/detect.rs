//! `yolov3 detect`: images in, detections out (stdout), optional annotated copies and raw
//! predictions. Every input is checked before anything is written.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _};
use burn::tensor::{Device, Tensor, TensorData};
use yolo_model::{detect as postprocess, PostprocessConfig, Yolo};

use crate::args::{DetectArgs, FormatArg, ResizeArg};
use crate::draw::{annotate, Label};
use crate::output::{DetectionRecord, ImageRecord};
use crate::preprocess::{prepare, Placement};
use crate::{atomic, device, image_io, names, npy, weights};

/// Settings of one detection run, independent of argument parsing.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub size: usize,
    pub resize: ResizeArg,
    pub post: PostprocessConfig,
}

/// One image's results before formatting.
#[derive(Debug, Clone)]
pub struct ImageResult {
    pub placement: Placement,
    /// Decoded rows `[N, 5 + C]`, row-major, network-input pixels.
    pub raw: Vec<f32>,
    pub columns: usize,
    /// Detections mapped to original pixels.
    pub detections: Vec<yolo_model::Detection>,
}

/// A batch ready for the network: letterboxed planar pixels and where each image went.
#[derive(Debug)]
pub struct Prepared {
    input: Vec<f32>,
    dims: [usize; 4],
    placements: Vec<Placement>,
}

/// Letterboxes (or stretches) a batch of decoded images into one network input.
pub fn prepare_batch(images: &[image::DynamicImage], settings: &Settings) -> Prepared {
    let size = settings.size;
    let mut input = Vec::with_capacity(images.len() * 3 * size * size);
    let mut placements = Vec::with_capacity(images.len());
    for image in images {
        let (planar, placement) = prepare(&image_io::to_planar(image), size, settings.resize);
        input.extend_from_slice(&planar.data);
        placements.push(placement);
    }
    Prepared { input, dims: [images.len(), 3, size, size], placements }
}

/// Runs the network on a batch of decoded images.
pub fn run_batch(
    model: &Yolo,
    images: &[image::DynamicImage],
    settings: &Settings,
    device: &Device,
) -> anyhow::Result<Vec<ImageResult>> {
    run_prepared(model, prepare_batch(images, settings), settings, device)
}

/// Runs the network on a prepared batch, then thresholds, NMS and maps boxes back.
pub fn run_prepared(
    model: &Yolo,
    prepared: Prepared,
    settings: &Settings,
    device: &Device,
) -> anyhow::Result<Vec<ImageResult>> {
    let Prepared { input, dims, placements } = prepared;
    model.check_input(dims)?;
    let x = Tensor::<4>::from_data(TensorData::new(input, dims), device);
    let out = model.forward(x);
    let [_, rows, columns] = out.dims();
    let data = out.into_data().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading predictions: {e:?}"))?;
    Ok(placements
        .into_iter()
        .zip(data.chunks_exact(rows * columns))
        .map(|(placement, raw)| {
            let detections = postprocess(raw, columns, &settings.post)
                .into_iter()
                .map(|d| yolo_model::Detection { bbox: placement.to_original(&d.bbox), ..d })
                .collect();
            ImageResult { placement, raw: raw.to_vec(), columns, detections }
        })
        .collect())
}

/// The `detect` command.
pub fn run(args: &DetectArgs) -> anyhow::Result<()> {
    let settings = validate(args)?;
    let inputs = image_io::collect_inputs(&args.inputs)?;
    for path in &inputs {
        image_io::probe(path)?;
    }
    check_unique_stems(&inputs, args.out.is_some() || args.raw.is_some())?;

    let started = Instant::now();
    let selected = device::select(args.device)?;
    let loaded = weights::load(args.weights.as_deref(), args.cfg.as_deref(), &selected.device)?.for_inference();
    let spec = &loaded.model.config().spec;
    // The model knows which sizes it takes (a multiple of its largest stride).
    loaded
        .model
        .check_input([1, spec.channels, args.size, args.size])
        .with_context(|| format!("--size {}", args.size))?;
    let classes = spec.classes();
    let labels = names::load(args.names.as_deref(), classes)?;
    for dir in [&args.out, &args.raw].into_iter().flatten() {
        atomic::ensure_dir(dir)?;
    }
    if args.verbose {
        eprintln!(
            "model {} ({} classes) from {}: {} tensors loaded on {} in {:.2?}",
            loaded.architecture,
            classes,
            loaded.source,
            loaded.tensors,
            selected.name,
            started.elapsed()
        );
    }

    let mut stdout = std::io::stdout().lock();
    let chunks: Vec<&[PathBuf]> = inputs.chunks(args.batch).collect();
    // Decoding and letterboxing of the next batch run on a second thread while the network
    // works on this one (they are serial code; the forward pass does not keep every core busy).
    let load = |chunk: &[PathBuf]| -> anyhow::Result<(Vec<image::DynamicImage>, Prepared)> {
        let images = chunk.iter().map(|p| image_io::load(p)).collect::<anyhow::Result<Vec<_>>>()?;
        let prepared = prepare_batch(&images, &settings);
        Ok((images, prepared))
    };
    std::thread::scope(|scope| -> anyhow::Result<()> {
        // One long-lived loader, one batch ahead (a thread per batch churned the allocator's
        // per-thread heaps: fresh pages, zeroed by the kernel, for every image).
        let (sender, batches) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for &chunk in &chunks {
                // A closed channel means the main loop stopped (an error): stop too.
                if sender.send(load(chunk)).is_err() {
                    break;
                }
            }
        });
        for chunk in inputs.chunks(args.batch) {
            let batch_start = Instant::now();
            let (images, prepared) =
                batches.recv().map_err(|_| anyhow::anyhow!("the image loader thread stopped early"))??;
            let results = run_prepared(&loaded.model, prepared, &settings, &selected.device)?;
            for ((path, image), result) in chunk.iter().zip(&images).zip(&results) {
                let record = record(path, result, &labels);
                if let Some(dir) = &args.raw {
                    let rows = result.raw.len() / result.columns;
                    let file = dir.join(format!("{}.npy", stem(path)));
                    atomic::write(&file, &npy::encode_f32(&[rows, result.columns], &result.raw))?;
                }
                if let Some(dir) = &args.out {
                    write_annotated(dir, path, image, &record)?;
                }
                let line = match args.format {
                    FormatArg::Json => record.to_json_line() + "\n",
                    FormatArg::Text => record.to_text(),
                };
                stdout.write_all(line.as_bytes()).context("writing results")?;
            }
            stdout.flush().context("writing results")?;
            if args.verbose {
                eprintln!("{} image(s) in {:.2?}", chunk.len(), batch_start.elapsed());
            }
        }
        Ok(())
    })
}

fn validate(args: &DetectArgs) -> anyhow::Result<Settings> {
    if !(0.0..=1.0).contains(&args.conf) {
        bail!("--conf must be within [0, 1], got {}", args.conf);
    }
    if !(0.0..=1.0).contains(&args.iou) {
        bail!("--iou must be within [0, 1], got {}", args.iou);
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    Ok(Settings { size: args.size, resize: args.resize, post: PostprocessConfig { conf: args.conf, iou: args.iou } })
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

fn record(path: &Path, result: &ImageResult, labels: &[String]) -> ImageRecord {
    ImageRecord {
        image: path.display().to_string(),
        width: result.placement.width as u32,
        height: result.placement.height as u32,
        detections: result
            .detections
            .iter()
            .map(|d| DetectionRecord {
                class_id: d.class_id,
                label: labels[d.class_id].clone(),
                score: d.score,
                bbox: d.bbox,
            })
            .collect(),
    }
}

fn write_annotated(dir: &Path, path: &Path, image: &image::DynamicImage, record: &ImageRecord) -> anyhow::Result<()> {
    let mut canvas = image.to_rgb8();
    let labels: Vec<Label<'_>> = record
        .detections
        .iter()
        .map(|d| Label { bbox: d.bbox, class_id: d.class_id, text: &d.label, score: d.score })
        .collect();
    annotate(&mut canvas, &labels);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("png").to_ascii_lowercase();
    let format = if ext == "png" { image::ImageFormat::Png } else { image::ImageFormat::Jpeg };
    let mut bytes = std::io::Cursor::new(Vec::new());
    canvas.write_to(&mut bytes, format).with_context(|| format!("encoding annotated {}", path.display()))?;
    atomic::write(&dir.join(format!("{}.{ext}", stem(path))), &bytes.into_inner())
}
