//! The `yolov3` command. Parsing and the exit code live here; the work is in the library.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc keeps freed activation buffers for reuse; glibc unmaps blocks over its mmap
/// threshold (32 MiB at most), so large batches paid fresh page faults in every layer.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_vulkan_layers();
    let cli = yolo_cli::args::Cli::parse();
    match yolo_cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if yolo_cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {}", yolo_cli::error_message(&err));
            ExitCode::FAILURE
        }
    }
}

/// Mesa's implicit device-select Vulkan layer connects to a Wayland display to find the
/// "default" GPU whenever an instance enables the Wayland surface extension (wgpu enables
/// every surface extension, even headless). On a machine without a compositor libwayland then
/// prints `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` for each instance:
/// a line that looks like ours but is not. We order adapters ourselves, so the layer is
/// switched off with its documented variable, unless the user set it. This runs first, while
/// the process has one thread (`set_var` is not thread-safe).
fn quiet_vulkan_layers() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}
