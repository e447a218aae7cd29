//! The `yolov3` command line: argument types, device choice, image IO, and the commands.
//!
//! `main.rs` only parses and maps errors to an exit code; tests drive the same functions.

pub mod args;
pub mod atomic;
pub mod bench;
pub mod detect;
pub mod device;
pub mod draw;
pub mod image_io;
pub mod import;
pub mod inspect;
pub mod names;
pub mod npy;
pub mod output;
pub mod preprocess;
pub mod profile;
pub mod weights;

use args::{Cli, Command};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Detect(args) => detect::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::Bench(args) => bench::run(&args),
    }
}

/// A closed stdout (`yolov3 detect ... | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
