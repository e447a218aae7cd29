//! Developer automation. Thin: it orchestrates other tools and holds no project logic.
//!
//! `cargo xtask import ...` runs `yolov3 import ...` (the CLI holds the logic; xtask does not
//! link burn a second time). `cargo xtask fixtures` regenerates the OpenCV parity fixtures in a
//! throwaway venv.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  import ARGS...  `yolov3 import ARGS...` through the release build (see `yolov3 import --help`)
  bench-peers [ARGS...]  this project vs PyTorch, OpenCV DNN and ONNX Runtime on the CPU, one table
                         (builds the release binary; throwaway venv; ARGS go to benches/peers.py)
  fixtures    regenerate tests/fixtures/parity with OpenCV DNN 4.x in a throwaway venv
              (needs python3 and access to PyPI)";

fn main() -> std::process::ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("fixtures") => fixtures(),
        Some("bench-peers") => bench_peers(&args[1..]),
        Some("import") => sh(Command::new(env!("CARGO"))
            .current_dir(root())
            .args(["run", "--quiet", "--release", "--package", "yolo-cli", "--bin", "yolov3", "--", "import"])
            .args(&args[1..])),
        Some("-h" | "--help") | None => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> anyhow::Result<()> {
    let root = root();
    let venv = std::env::temp_dir().join("yolov3-burn-fixtures-venv");
    if !venv.join("bin/python").exists() {
        sh(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    sh(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "opencv-python-headless<5",
        "numpy",
        "scikit-image",
        "pillow",
    ]))?;
    sh(Command::new(venv.join("bin/python")).arg(root.join("tests/fixtures/generate_parity.py")))
}

fn bench_peers(args: &[String]) -> anyhow::Result<()> {
    let root = root();
    sh(Command::new(env!("CARGO")).current_dir(&root).args(["build", "--release", "--package", "yolo-cli"]))?;
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root.join("target"), PathBuf::from);
    let venv = std::env::temp_dir().join("yolov3-burn-peers-venv");
    if !venv.join("bin/python").exists() {
        sh(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    // torch's CPU build keeps the download small where its index is reachable; PyPI's default
    // wheel works too. onnx is needed by torch.onnx.export.
    sh(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "torch",
        "numpy",
        "onnx",
        "onnxruntime",
        "opencv-python-headless<5",
        "tqdm",
        "pillow",
    ]))?;
    sh(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--no-deps",
        "pytorchyolo==1.8.0",
        "torchvision",
    ]))?;
    sh(Command::new(venv.join("bin/python"))
        .arg(root.join("benches/peers.py"))
        .arg("--bin")
        .arg(target.join("release/yolov3"))
        .args(args))
}

fn sh(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
