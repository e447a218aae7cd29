//! The library's typed errors in the CLI's words: settings become the flags that set them.

use yolo::Error;

/// Rewrites errors whose natural wording is a flag (`--conf`, `--size`, `--cfg`).
pub fn cli(err: Error) -> anyhow::Error {
    match err {
        Error::Setting { name, message } => anyhow::anyhow!("--{} {message}", name.replace('_', "-")),
        Error::InputSize { size, source } => anyhow::Error::from(source).context(format!("--size {size}")),
        e @ Error::UnknownDarknetSize { .. } => anyhow::anyhow!("{e}: --cfg PATH"),
        e @ Error::CfgForBurnpack(_) => anyhow::anyhow!("{e} (--cfg)"),
        e @ Error::UnknownClass { .. } => anyhow::Error::from(e).context("--classes"),
        e => e.into(),
    }
}
