//! The per-user directory where what the backends learn about this machine is kept between
//! processes: `wgpu/` (cubecl's autotune store, [`crate::gpu_cache`]) and `cpu/` (the measured
//! CPU kernel table, [`crate::cpu_kernels`]).
//!
//! - `$YOLOV3_CACHE_DIR` when that variable is set (an empty value disables both stores:
//!   every process measures from scratch);
//! - otherwise `$XDG_CACHE_HOME/yolov3-burn` or `~/.cache/yolov3-burn` (Linux, BSD),
//!   `~/Library/Caches/yolov3-burn` (macOS), `%LOCALAPPDATA%\yolov3-burn` (Windows).
//!
//! Never the working directory: the same user gets the same warm start wherever they run.

use std::path::PathBuf;

/// The environment variable that overrides the cache location (empty: no on-disk stores).
pub const CACHE_DIR_VAR: &str = "YOLOV3_CACHE_DIR";

/// The cache root, or `None` when the stores are disabled (or no home directory is known).
pub fn root() -> Option<PathBuf> {
    match std::env::var_os(CACHE_DIR_VAR) {
        Some(dir) if dir.is_empty() => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => user_cache_dir().map(|dir| dir.join("yolov3-burn")),
    }
}

/// The platform's per-user cache directory.
fn user_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(windows) {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|home| home.join("Library").join("Caches"))
    } else {
        var("XDG_CACHE_HOME").filter(|p| p.is_absolute()).or_else(|| var("HOME").map(|h| h.join(".cache")))
    }
}

/// `text` (an adapter and driver, a CPU model) as a file name: `[A-Za-z0-9.-]`, everything
/// else `_`, at most 120 characters, `default` when nothing is left.
pub fn file_stem(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
        .take(120)
        .collect();
    if cleaned.trim_matches(['_', '.', '-']).is_empty() { "default".into() } else { cleaned }
}
