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

fn sh(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
