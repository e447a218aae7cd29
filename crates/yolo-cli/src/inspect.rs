//! `yolov3 inspect`: what a checkpoint holds and how it would be imported, without loading it.

use anyhow::Context as _;
use serde_json::{json, Value};
use yolo_import::pytorch::dialect::Dialect;
use yolo_import::pytorch::remap::RemapRule;
use yolo_import::pytorch::scan::{self, PickleScan, Safety};
use yolo_import::pytorch::{self, ArchChoice, PytorchOptions, PytorchReport};
use yolo_model::YoloConfig;

use crate::args::{CheckpointArgs, DialectArg, FormatArg, InspectArgs};

/// Turns the shared checkpoint flags into importer options.
pub fn options(args: &CheckpointArgs) -> anyhow::Result<PytorchOptions> {
    let arch = match (&args.cfg, args.arch) {
        (Some(path), _) => {
            let text = yolo_import::read_text(path, "cfg")?;
            ArchChoice::Cfg(YoloConfig::from_cfg(&path.display().to_string(), &text)?.spec)
        }
        (None, Some(a)) => ArchChoice::Builtin(a.into()),
        (None, None) => ArchChoice::Auto,
    };
    let dialect = match args.dialect {
        DialectArg::Auto => None,
        DialectArg::Pytorchyolo => Some(Dialect::Pytorchyolo),
        DialectArg::UltralyticsArchive => Some(Dialect::UltralyticsArchive),
        DialectArg::Yolov5 => Some(Dialect::Yolov5),
        DialectArg::Mmdet => Some(Dialect::Mmdet),
        DialectArg::Native => Some(Dialect::Native),
    };
    let mut remaps = args.remaps.iter().map(|r| RemapRule::parse(r)).collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = &args.remap_file {
        let text = yolo_import::read_text(path, "remap file")?;
        remaps.extend(RemapRule::parse_file(&text)?);
    }
    Ok(PytorchOptions {
        arch,
        classes: args.classes,
        dialect,
        key: args.key.clone(),
        remaps,
        allow_partial: false,
        ignore_pickle_code: args.ignore_pickle_code,
        map_file: false,
    })
}

pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let options = options(&args.source)?;
    // The pickle scan comes first and is shown even when the rest cannot be read: a hostile
    // file is exactly the one a user inspects before loading.
    let found = scan::scan_file(&args.checkpoint)
        .with_context(|| format!("cannot scan the pickle of {}", args.checkpoint.display()))?;
    let analysis = match pytorch::analyse(&args.checkpoint, &options) {
        Ok(analysis) => analysis,
        Err(err) => {
            let text = match args.format {
                FormatArg::Json => {
                    json!({"checkpoint": args.checkpoint.display().to_string(), "pickle": scan_json(&found)})
                        .to_string()
                        + "\n"
                }
                FormatArg::Text => format!("{}\n{}", args.checkpoint.display(), scan_text(&found)),
            };
            use std::io::Write as _;
            std::io::stdout().write_all(text.as_bytes()).context("writing the report")?;
            return Err(err.into());
        }
    };
    let r = &analysis.report;
    let text = match args.format {
        FormatArg::Json => {
            let mut v = to_json(r);
            v["pickle"] = scan_json(&found);
            v["checkpoint"] = json!(args.checkpoint.display().to_string());
            v["numerics"] = json!(analysis.config.numerics.to_text());
            v["tensors"] = r
                .tensors
                .iter()
                .map(|(name, dtype, shape)| json!({"name": name, "dtype": dtype, "shape": shape}))
                .collect();
            v.to_string() + "\n"
        }
        FormatArg::Text => {
            let mut out = format!("{}\n", args.checkpoint.display());
            out.push_str(&summary(r));
            out.push_str(&format!("  numerics:      {}\n", analysis.config.numerics.to_text()));
            out.push_str(&scan_text(&found));
            out.push_str(&format!("  tensors ({}):\n", r.tensors.len()));
            for (name, dtype, shape) in &r.tensors {
                out.push_str(&format!("    {name:<48} {dtype:<5} {shape:?}\n"));
            }
            out
        }
    };
    use std::io::Write as _;
    std::io::stdout().write_all(text.as_bytes()).context("writing the report")?;
    Ok(())
}

/// The report as indented lines, shared by `import` and `inspect`.
pub fn summary(r: &PytorchReport) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("  {label:<14} {value}\n"));
    line("file:", r.format.clone());
    if let Some(top) = &r.top_level {
        let entries: Vec<String> = top.iter().map(|e| format!("{} ({})", e.key, e.kind)).collect();
        line("top level:", entries.join(", "));
    }
    line("weights:", format!("{} — {}", r.entry.as_deref().unwrap_or("root"), r.entry_reason));
    line(
        "prefixes:",
        if r.stripped.is_empty() { "none stripped".into() } else { format!("stripped {}", r.stripped.concat()) },
    );
    if r.remapped > 0 {
        line("remapped:", format!("{} keys", r.remapped));
    }
    line("dialect:", r.dialect.to_string());
    if let Some(runner_up) = r.ranking.iter().find(|e| e.dialect != r.dialect.dialect) {
        line("runner-up:", runner_up.to_string());
    }
    line("architecture:", format!("{}; {} classes", r.architecture, r.classes));
    let dtypes: Vec<String> = r.dtypes.iter().map(|(d, n)| format!("{n} {d}")).collect();
    line("dtypes:", dtypes.join(", "));
    line("ignored:", format!("{} num_batches_tracked/profiler buffers", r.ignored_buffers));
    let mut meta: Vec<String> = r.metadata.values.iter().map(|(k, v)| format!("{k}={}", one_line(v))).collect();
    meta.push(format!("optimizer {}", if r.metadata.optimizer { "present" } else { "absent" }));
    line("metadata:", meta.join(", "));
    out
}

/// The pickle's globals, grouped by safety, and whether `torch.load` would run code.
pub fn scan_text(s: &PickleScan) -> String {
    let runs = if s.runs_code() { "YES" } else { "no" };
    let mut out = format!(
        "  pickle:        {} globals, {} calls; runs code under torch.load(weights_only=False): {runs}\n",
        s.globals.len(),
        s.calls
    );
    for safety in [Safety::Dangerous, Safety::Unknown, Safety::Safe] {
        let names: Vec<String> = s
            .globals
            .iter()
            .filter(|g| g.safety == safety)
            .map(|g| format!("{} ({})", g.qualified(), g.count))
            .collect();
        if !names.is_empty() {
            out.push_str(&format!("    {:<10} {}\n", safety.name(), names.join(", ")));
        }
    }
    if !s.dangerous().is_empty() {
        out.push_str(
            "    import/detect refuse this file (nothing is executed); --ignore-pickle-code loads its tensors\n",
        );
    }
    if let Some(why) = &s.incomplete {
        out.push_str(&format!("    scan incomplete: {why}\n"));
    }
    out
}

pub fn scan_json(s: &PickleScan) -> Value {
    json!({
        "globals": s.globals.iter().map(|g| json!({"module": g.module, "name": g.name, "count": g.count, "safety": g.safety.name()})).collect::<Vec<_>>(),
        "calls": s.calls,
        "runs_code": s.runs_code(),
        "dangerous": s.dangerous(),
        "incomplete": s.incomplete,
    })
}

/// The longest metadata value shown in text mode; `--format json` keeps every value whole.
const METADATA_WIDTH: usize = 60;

/// A metadata value on one line: its first line, cut at [`METADATA_WIDTH`] characters, with
/// what was left out said (an mmdetection checkpoint's `config` is a 300-line Python file).
pub fn one_line(value: &str) -> String {
    let lines = value.lines().count();
    let first = value.lines().next().unwrap_or("").trim_end();
    let cut: String = first.chars().take(METADATA_WIDTH).collect();
    let chars = value.chars().count();
    if lines <= 1 && cut.chars().count() == chars {
        return cut;
    }
    let mut out = format!("{cut}...");
    out.push_str(&if lines > 1 {
        format!(" ({lines} lines, see --format json)")
    } else {
        format!(" ({chars} chars, see --format json)")
    });
    out
}

pub fn to_json(r: &PytorchReport) -> Value {
    json!({
        "format": r.format,
        "top_level": r.top_level.as_ref().map(|t| t.iter().map(|e| json!({"key": e.key, "kind": e.kind})).collect::<Vec<_>>()),
        "weights_entry": r.entry,
        "weights_reason": r.entry_reason,
        "prefixes_stripped": r.stripped,
        "remapped": r.remapped,
        "dialect": r.dialect.dialect.name(),
        "dialect_evidence": r.dialect.to_string(),
        "dialect_ranking": r.ranking.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "architecture": r.architecture,
        "classes": r.classes,
        "dtypes": r.dtypes,
        "ignored_buffers": r.ignored_buffers,
        "metadata": r.metadata.values,
        "optimizer": r.metadata.optimizer,
    })
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn metadata_values_stay_on_one_line() {
        assert_eq!(one_line("7"), "7");
        let config = "model = dict(\n    type='YOLOV3',\n)\n";
        assert_eq!(one_line(config), "model = dict(... (3 lines, see --format json)");
        let long = "x".repeat(100);
        assert_eq!(one_line(&long), format!("{}... (100 chars, see --format json)", "x".repeat(60)));
    }
}
