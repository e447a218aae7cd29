//! `yolov3 import`: a checkpoint in, a self-contained `.bpk` out, and a report of what was done.
//! Nothing is written unless the import is complete (or `--allow-partial`) and the imported
//! model passes a forward pass on a dummy input.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Instant;

use anyhow::{bail, Context as _};
use burn::tensor::{Device, Distribution, Tensor};
use serde_json::json;
use yolo_import::bpk;
use yolo_import::pytorch;
use yolo_model::Yolo;

use yolo::weights::{self, Format};

use crate::args::{DialectArg, FormatArg, ImportArgs};
use crate::inspect::{options, summary, to_json};
use crate::{atomic, errors, progress};

/// Runs one forward pass on a random input and checks the output's shape and finiteness.
/// Convolutions run through the plain CPU kernel (`Yolo::with_light_convs`): burn's generic
/// conv copied every weight tensor into a new layout per call, most of this pass's time.
pub fn validate(model: &Yolo, device: &Device) -> anyhow::Result<String> {
    let model = model.clone().with_light_convs(true);
    let spec = &model.config().spec;
    let size = spec.max_stride; // the smallest valid input: one cell on the coarsest head
    let dims = [1, spec.channels, size, size];
    model.check_input(dims)?;
    let out = model.forward(Tensor::<4>::random(dims, Distribution::Uniform(0.0, 1.0), device));
    let got = out.dims();
    let expected = [1, spec.rows_for(size, size), 5 + spec.classes()];
    if got != expected {
        bail!("validation forward pass on {dims:?} gave {got:?}, expected {expected:?}");
    }
    let values = out.into_data().try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading output: {e:?}"))?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        bail!("validation forward pass produced a non-finite value at {i}: the weights hold NaN or inf");
    }
    Ok(format!("forward on {dims:?} -> {got:?}, all finite"))
}

pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    atomic::Inputs::new([args.checkpoint.as_path()]).refuse(&args.output)?;
    let spinner = progress::spinner(args.quiet);
    spinner.set_message(format!("reading {}", args.checkpoint.display()));
    // Importing runs on the CPU: it reads and writes host memory, the forward check is tiny.
    let device = yolo::device::select(yolo::DeviceChoice::Cpu)?.device;
    // Declared before the model, so dropped after it: the model's weights may be views of
    // the checkpoint's map until then.
    #[cfg(unix)]
    let mut _sigbus_guard = None;
    let source = args.checkpoint.display().to_string();
    let mut provenance = BTreeMap::from([("file".to_string(), source.clone())]);
    let (model, mut report_text, mut report_json, applied) = match weights::sniff(&args.checkpoint)? {
        Format::Burnpack => bail!("{source} is already a burnpack"),
        Format::Darknet => {
            let s = &args.source;
            let pytorch_only = [
                ("--arch", s.arch.is_some()),
                ("--classes", s.classes.is_some()),
                ("--dialect", s.dialect != DialectArg::Auto),
                ("--key", s.key.is_some()),
                ("--remap", !s.remaps.is_empty()),
                ("--remap-file", s.remap_file.is_some()),
                ("--allow-partial", args.allow_partial),
            ];
            let given: Vec<&str> = pytorch_only.iter().filter(|(_, set)| *set).map(|(flag, _)| *flag).collect();
            if !given.is_empty() {
                bail!(
                    "{source} is darknet .weights: only --cfg applies ({} are for PyTorch checkpoints)",
                    given.join(", ")
                );
            }
            let loaded =
                weights::load(Some(&args.checkpoint), args.source.cfg.as_deref(), &device).map_err(errors::cli)?;
            provenance.insert("format".into(), "darknet".into());
            let text = format!("  file:          darknet weights\n  architecture:  {}\n", loaded.architecture);
            let json = json!({"format": "darknet", "architecture": loaded.architecture});
            (loaded.model, text, json, loaded.tensors)
        }
        Format::Pytorch => {
            let mut options = options(&args.source)?;
            options.allow_partial = args.allow_partial;
            // The tensors come straight from a map of the checkpoint (no copy into fresh
            // pages); a file shrinking meanwhile becomes an error, not a crash (sigbus.rs).
            #[cfg(unix)]
            {
                options.map_file = true;
                _sigbus_guard = Some(crate::sigbus::install(&args.checkpoint, Some(&bpk::temp_path(&args.output))));
            }
            let (model, report, apply) = pytorch::import(&args.checkpoint, &options, &device)?;
            provenance.insert("format".into(), report.format.clone());
            provenance.insert("dialect".into(), report.dialect.dialect.name().into());
            for (k, v) in &report.metadata.values {
                provenance.insert(format!("checkpoint.{k}"), v.clone());
            }
            let mut text = summary(&report);
            let mut json = to_json(&report);
            if !apply.is_complete() {
                text.push_str(&format!("  partial load (--allow-partial):\n{}", apply.problems()));
                json["partial"] = json!(apply.problems());
            }
            (model, text, json, apply.applied)
        }
    };
    let loaded_in = started.elapsed();
    spinner.set_message("validating");
    let validation = validate(&model, &device).with_context(|| format!("{source} imported but is unusable"))?;
    let validated_in = started.elapsed() - loaded_in;
    spinner.set_message(format!("writing {}", args.output.display()));
    bpk::write(&args.output, &model, &provenance, args.keep_half)?;
    spinner.finish_and_clear();
    let elapsed = started.elapsed();
    let written_in = elapsed - loaded_in - validated_in;
    report_text.push_str(&format!(
        "  numerics:      {}\n  loaded:        {applied} tensors in {loaded_in:.2?}\n  validated:     {validation} in {validated_in:.2?}\n  wrote:         {} ({}) in {written_in:.2?}; {elapsed:.2?} in all\n",
        model.config().numerics.to_text(),
        args.output.display(),
        if args.keep_half { "float16" } else { "float32" },
    ));
    report_json["numerics"] = json!(model.config().numerics.to_text());
    report_json["loaded"] = json!(applied);
    report_json["validated"] = json!(validation);
    report_json["output"] = json!(args.output.display().to_string());
    let out = match args.format {
        FormatArg::Text => format!("imported {source}\n{report_text}"),
        FormatArg::Json => report_json.to_string() + "\n",
    };
    std::io::stdout().write_all(out.as_bytes()).context("writing the report")?;
    Ok(())
}
