//! The `yolov3` command. Parsing and the exit code live here; the work is in the library.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc keeps freed activation buffers for reuse; glibc unmaps blocks over its mmap
/// threshold (32 MiB at most), so large batches paid fresh page faults in every layer.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = yolo_cli::args::Cli::parse();
    match yolo_cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if yolo_cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
