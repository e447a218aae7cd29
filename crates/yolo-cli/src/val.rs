//! `yolov3 val`: the model on a labelled dataset, scored as pycocotools' COCOeval scores it.
//!
//! Steps: read the dataset (COCO JSON or YOLO layout) and map model classes to its categories;
//! detect on every image (decoding one batch ahead, as `detect`); evaluate; print; then write
//! the optional results file and plots. Any unreadable image stops the run before anything is
//! written: a metric over part of a dataset would be silently wrong.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _};
use serde_json::json;
use yolo::{coco, Detector};
use yolo_eval::report::{report, Report};
use yolo_eval::{evaluate, Dataset, DetectionResult, Evaluation, STAT_NAMES};

use crate::args::{FormatArg, ValArgs};
use crate::{atomic, errors, plots, progress};

/// The COCO results of one run, and how long the parts took.
struct Detections {
    results: Vec<DetectionResult>,
    seconds: f64,
}

pub fn run(args: &ValArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let detector = match &args.results {
        Some(_) => None,
        None => Some(build_detector(args)?),
    };
    let model_names: Option<Vec<String>> = detector.as_ref().map(|d| d.class_names().to_vec());
    let dataset = load_dataset(args, model_names.as_deref())?;
    let detections = match (&detector, &args.results) {
        (_, Some(path)) => read_results(path)?,
        (Some(detector), None) => {
            let map = category_map(args, detector.class_names(), &dataset)?;
            detect(detector, &dataset, &map, args)?
        }
        (None, None) => bail!("no model and no --results"),
    };
    let eval_start = Instant::now();
    let evaluation = evaluate(&dataset, &detections.results)?;
    let eval_seconds = eval_start.elapsed().as_secs_f64();
    let report = report(&evaluation, &dataset);
    let text = match args.format {
        FormatArg::Json => to_json(&evaluation, &report, &dataset, &detections, eval_seconds).to_string() + "\n",
        FormatArg::Text => to_text(&evaluation, &report, &dataset, &detections, eval_seconds),
    };
    if let Some(path) = &args.save_json {
        let json = serde_json::to_string(&detections.results).context("encoding COCO results")?;
        atomic::write(path, (json + "\n").as_bytes())?;
    }
    if let Some(dir) = &args.plots {
        plots::write_all(dir, &evaluation, &report, &dataset, &detections.results)?;
    }
    std::io::stdout().write_all(text.as_bytes()).context("writing the results")?;
    if detector.is_some() && args.format == FormatArg::Text && !args.quiet {
        eprintln!("val: {:.2?} in all", started.elapsed());
    }
    Ok(())
}

fn build_detector(args: &ValArgs) -> anyhow::Result<Detector> {
    let mut builder = crate::detect::model_builder(
        args.weights.as_deref(),
        args.cfg.as_deref(),
        args.names.as_deref(),
        args.ignore_pickle_code,
    )
    .device(args.device.into())
    .conf(args.conf)
    .iou(args.iou)
    .size(args.size)
    .resize(crate::args::resize(args.resize, args.rect))
    .max_det(args.max_det);
    if let Some(mode) = args.cpu_kernels {
        builder = builder.cpu_kernels(mode.into());
    }
    builder.build().map_err(errors::cli)
}

/// Whether `--data` names a COCO instances file (else a YOLO layout).
fn is_coco(data: &Path) -> bool {
    data.is_file() && data.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

fn load_dataset(args: &ValArgs, model_names: Option<&[String]>) -> anyhow::Result<Dataset> {
    if is_coco(&args.data) {
        return Ok(yolo_eval::coco::load(&args.data, args.images.as_deref())?);
    }
    if args.images.is_some() {
        bail!("--images is for COCO datasets; a YOLO dataset's images are given by {}", args.data.display());
    }
    let layout = yolo_eval::yolo::layout(&args.data)?;
    let names: Vec<String> = match (&layout.names, model_names) {
        (Some(names), _) => names.clone(),
        (None, Some(names)) => names.to_vec(),
        (None, None) => bail!(
            "{} has no data.yaml with `names`: the class names come from the model, so --results needs a data.yaml",
            args.data.display()
        ),
    };
    let size = |p: &Path| yolo::image_io::probe(p).map_err(|e| format!("{:#}", anyhow::Error::from(e)));
    Ok(yolo_eval::yolo::load(&layout, &names, &size)?)
}

/// Model class index -> dataset category id (`None`: the class is not evaluated).
fn category_map(args: &ValArgs, names: &[String], dataset: &Dataset) -> anyhow::Result<Vec<Option<u64>>> {
    let ids: Vec<u64> = dataset.categories.iter().map(|c| c.id).collect();
    if let Some(path) = &args.category_map {
        return read_category_map(path, names, &ids);
    }
    if !is_coco(&args.data) {
        if dataset.categories.len() != names.len() {
            bail!(
                "{} has {} classes but the model has {}: pass --category-map FILE",
                dataset.source,
                dataset.categories.len(),
                names.len()
            );
        }
        return Ok((0..names.len() as u64).map(Some).collect());
    }
    if names.len() == coco::CATEGORY_IDS.len()
        && ids.iter().all(|id| coco::CATEGORY_IDS.iter().any(|&c| u64::from(c) == *id))
    {
        return Ok((0..names.len()).map(|c| Some(coco::category_id(c, names.len()))).collect());
    }
    let by_name: HashMap<String, u64> =
        dataset.categories.iter().map(|c| (c.name.to_ascii_lowercase(), c.id)).collect();
    let map: Vec<Option<u64>> = names.iter().map(|n| by_name.get(&n.to_ascii_lowercase()).copied()).collect();
    if map.iter().flatten().count() == dataset.categories.len() {
        return Ok(map);
    }
    bail!(
        "cannot map the model's {} classes to the {} categories of {} (neither COCO's ids nor the same names): \
         pass --category-map FILE",
        names.len(),
        dataset.categories.len(),
        dataset.source
    )
}

fn read_category_map(path: &Path, names: &[String], ids: &[u64]) -> anyhow::Result<Vec<Option<u64>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut map = vec![None; names.len()];
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let (class, category) = match line.split_whitespace().collect::<Vec<_>>()[..] {
            [class, category] => (class, category),
            _ => bail!("{}: expected `CLASS CATEGORY_ID`, found `{line}`", at()),
        };
        let class = yolo::names::resolve(class, names).with_context(at)?;
        let category: u64 = category.parse().with_context(|| format!("{}: `{category}` is not a category id", at()))?;
        if !ids.contains(&category) {
            bail!("{}: category {category} is not in the dataset", at());
        }
        map[class] = Some(category);
    }
    Ok(map)
}

/// f32 values as the COCO results file holds them (their shortest decimal form), so that `val`
/// and pycocotools on `--save-json` see the same numbers.
fn widen(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

fn detect(detector: &Detector, dataset: &Dataset, map: &[Option<u64>], args: &ValArgs) -> anyhow::Result<Detections> {
    let started = Instant::now();
    let ids: HashMap<&Path, u64> = dataset.images.iter().map(|i| (i.path.as_path(), i.id)).collect();
    let paths: Vec<_> = dataset.images.iter().map(|i| i.path.clone()).collect();
    let bar = progress::images(paths.len(), args.quiet);
    let mut results = Vec::new();
    for file in detector.detect_files(paths, args.batch).map_err(errors::cli)? {
        let (_, frame) = file.outcome.map_err(anyhow::Error::from).context("val needs every image of the dataset")?;
        let Some(&image_id) = ids.get(file.path.as_path()) else {
            bail!("{} came back from detection but is not an image of {}", file.path.display(), dataset.source);
        };
        for d in &frame.detections {
            let Some(category_id) = map.get(d.class_id).copied().flatten() else { continue };
            let bbox = d.xywh().map(widen);
            results.push(DetectionResult { image_id, category_id, bbox, score: widen(d.score) });
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Detections { results, seconds: started.elapsed().as_secs_f64() })
}

fn read_results(path: &Path) -> anyhow::Result<Detections> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let results: Vec<DetectionResult> = serde_json::from_str(&text).with_context(|| {
        format!("{} is not a COCO results array (image_id, category_id, bbox, score)", path.display())
    })?;
    Ok(Detections { results, seconds: 0.0 })
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

fn to_text(e: &Evaluation, r: &Report, d: &Dataset, det: &Detections, eval_seconds: f64) -> String {
    let mut out = format!(
        "{}: {} images, {} objects in {} categories; {} detections\n",
        d.source,
        d.images.len(),
        d.annotations.iter().filter(|a| !a.iscrowd).count(),
        d.categories.len(),
        det.results.len()
    );
    for (name, value) in STAT_NAMES.iter().zip(e.stats) {
        out.push_str(&format!("  {name:<14} {value:.4}\n"));
    }
    out.push_str(&format!(
        "  best F1 {:.4} at score >= {:.3}: precision {:.4}, recall {:.4}\n",
        r.best.f1, r.best.threshold, r.best.precision, r.best.recall
    ));
    out.push_str(&format!(
        "  {:<16} {:>9} {:>7} {:>7} {:>7} {:>9}\n",
        "class", "instances", "P", "R", "AP50", "AP50-95"
    ));
    for c in &r.classes {
        out.push_str(&format!(
            "  {:<16} {:>9} {:>7.4} {:>7.4} {:>7} {:>9}\n",
            c.name,
            c.instances,
            c.precision,
            c.recall,
            fmt(c.ap50),
            fmt(c.ap)
        ));
    }
    out.push_str(&format!("  timing: detection {:.2} s, metrics {:.1} ms\n", det.seconds, eval_seconds * 1e3));
    out
}

fn to_json(e: &Evaluation, r: &Report, d: &Dataset, det: &Detections, eval_seconds: f64) -> serde_json::Value {
    json!({
        "dataset": d.source,
        "images": d.images.len(),
        "detections": det.results.len(),
        "stats": e.stats,
        "stat_names": STAT_NAMES,
        "best_f1": {"threshold": r.best.threshold, "precision": r.best.precision, "recall": r.best.recall, "f1": r.best.f1},
        "per_class": r.classes.iter().map(|c| json!({
            "category_id": c.category_id,
            "name": c.name,
            "instances": c.instances,
            "ap50": c.ap50,
            "ap": c.ap,
            "precision": c.precision,
            "recall": c.recall,
        })).collect::<Vec<_>>(),
        "timing": {"detection_s": det.seconds, "metrics_ms": eval_seconds * 1e3},
    })
}
