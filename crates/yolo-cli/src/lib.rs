//! The `yolov3` command line: argument types, output formats, progress, drawing, and the
//! commands, over the `yolo` library (weights, devices, images, the detection pipeline).
//!
//! `main.rs` only parses and maps errors to an exit code; tests drive the same functions.

pub mod args;
pub mod atomic;
pub mod bench;
pub mod detect;
pub mod devices;
pub mod draw;
pub mod errors;
pub mod import;
pub mod inspect;
pub mod npy;
pub mod output;
pub mod plots;
pub mod profile;
pub mod progress;
#[cfg(unix)]
pub mod sigbus;
pub mod val;

use args::{Cli, Command};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Detect(args) => detect::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Devices(args) => devices::run(&args),
        Command::Val(args) => val::run(&args),
    }
}

/// A closed stdout (`yolov3 detect ... | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, each said once: a library error that already prints
/// its source's text (burn-store's do) is not followed by that source again.
pub fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || message.contains(text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(text);
    }
    message
}

#[cfg(test)]
mod message_tests {
    #[test]
    fn each_cause_is_said_once() {
        let inner = anyhow::anyhow!("invalid Zip archive: X");
        let err = inner.context("zip archive error: invalid Zip archive: X").context("cannot read a.pt");
        assert_eq!(super::error_message(&err), "cannot read a.pt: zip archive error: invalid Zip archive: X");
        let err = anyhow::anyhow!("disk full").context("cannot write out.bpk");
        assert_eq!(super::error_message(&err), "cannot write out.bpk: disk full");
    }
}
