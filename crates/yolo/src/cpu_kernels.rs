//! How the CPU backend picks each layer's kernel, and where what it measured is kept.
//!
//! With [`CpuKernels::Tuned`] (the default) the first forward pass of each layer shape times
//! the kernels that can compute it on this machine and keeps the fastest
//! ([`yolo_model::cpu::KernelTable`]): a few runs of each candidate per shape, once. The table is
//! saved as text in `cpu/<cpu>.txt` under the per-user cache root ([`crate::cache_dir`]), so
//! later processes start with it. [`CpuKernels::Fixed`] uses rules measured on one CPU, with no
//! measuring and no file: the deterministic choice, for tests and comparisons.
//! `YOLOV3_CPU_KERNELS=fixed|tuned` sets the default.
//!
//! Keys: the file is named after the CPU (model name, vendor/family/model/stepping, vector
//! width), and its header names the same plus the kernel set of this build; each entry is one
//! layer shape at one batch size and thread count. A stale file (another build's kernels,
//! another CPU) or a damaged one is ignored and replaced at the next save; an entry that names a
//! kernel unable to compute its shape makes the whole file damaged, so a file can never
//! select a wrong kernel. An unreadable or unwritable location costs measuring again in the
//! next process, never an error for detection.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use yolo_model::cpu::{KernelTable, set_kernel_table};

use crate::error::{Error, Result};

/// The environment variable that sets the default [`CpuKernels`] (`tuned` or `fixed`).
pub const MODE_VAR: &str = "YOLOV3_CPU_KERNELS";

/// The most bytes a table file may have (a full table is a few KiB).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// How the CPU backend picks each layer's kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuKernels {
    /// Measured on this machine, once per layer shape, kept on disk.
    #[default]
    Tuned,
    /// The fixed rules (measured on one CPU): deterministic, nothing measured or written.
    Fixed,
}

impl CpuKernels {
    /// `tuned` or `fixed`.
    pub fn name(self) -> &'static str {
        match self {
            CpuKernels::Tuned => "tuned",
            CpuKernels::Fixed => "fixed",
        }
    }

    /// `chosen`, or the default: [`MODE_VAR`] when set, else [`CpuKernels::Tuned`].
    pub fn resolve(chosen: Option<CpuKernels>) -> Result<CpuKernels> {
        if let Some(mode) = chosen {
            return Ok(mode);
        }
        let bad = |message: String| Error::Environment { variable: MODE_VAR, message };
        match std::env::var(MODE_VAR) {
            Err(std::env::VarError::NotPresent) => Ok(CpuKernels::default()),
            Ok(v) if v.trim().is_empty() => Ok(CpuKernels::default()),
            Ok(v) if v.trim() == "tuned" => Ok(CpuKernels::Tuned),
            Ok(v) if v.trim() == "fixed" => Ok(CpuKernels::Fixed),
            Ok(v) => Err(bad(format!("must be `tuned` or `fixed`, got {v:?}"))),
            Err(e) => Err(bad(e.to_string())),
        }
    }
}

/// What became of the table file when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// No file yet, or no on-disk store ([`Status::path`] is `None`): everything is measured in
    /// this process.
    Missing,
    /// Read back with this many layer shapes.
    Entries(usize),
    /// Ignored (stale, damaged, unreadable), with why; replaced at the next save.
    Ignored(String),
}

/// The table this process uses, read once.
struct State {
    table: Arc<KernelTable>,
    /// [`machine`], as the table's header names it.
    machine: String,
    path: Option<PathBuf>,
    loaded: Loaded,
    /// Why the last save failed, if it did.
    save_error: Mutex<Option<String>>,
}

static STATE: OnceLock<State> = OnceLock::new();

/// The machine a table belongs to: what [`crate::device::cpu_info`] says of the CPU.
pub fn machine() -> String {
    let cpu = crate::device::cpu_info();
    match cpu.signature {
        Some(signature) => format!("{}; {signature}; {}", cpu.model, cpu.simd),
        None => format!("{}; {}", cpu.model, cpu.simd),
    }
}

/// Where this machine's table is kept, or `None` when the on-disk stores are disabled.
pub fn location() -> Option<PathBuf> {
    location_for(&machine())
}

/// `cpu/<machine as a file name>.txt` under the cache root.
fn location_for(machine: &str) -> Option<PathBuf> {
    let stem = crate::cache_dir::file_stem(machine);
    crate::cache_dir::root().map(|root| root.join("cpu").join(format!("{stem}.txt")))
}

fn state() -> &'static State {
    STATE.get_or_init(|| {
        let machine = machine();
        let path = location_for(&machine);
        let (table, loaded) = match &path {
            None => (KernelTable::new(&machine), Loaded::Missing),
            Some(path) => match read(path, &machine) {
                Ok(Some(table)) => {
                    let n = table.len();
                    (table, Loaded::Entries(n))
                }
                Ok(None) => (KernelTable::new(&machine), Loaded::Missing),
                Err(why) => (KernelTable::new(&machine), Loaded::Ignored(why)),
            },
        };
        State { table: Arc::new(table), machine, path, loaded, save_error: Mutex::new(None) }
    })
}

/// `Ok(None)`: no file.
fn read(path: &Path, machine: &str) -> std::result::Result<Option<KernelTable>, String> {
    let meta = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
        Ok(meta) => meta,
    };
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("{} bytes, more than a table's {MAX_FILE_BYTES}", meta.len()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    KernelTable::parse(&text, machine).map(Some).map_err(|e| e.to_string())
}

/// Makes `mode` the CPU backend's choice for this process (the table is read on the first
/// [`CpuKernels::Tuned`]; every model shares it). Nothing else reads or writes the table:
/// [`save`] after a forward pass is a no-op unless that pass measured new shapes.
pub fn install(mode: CpuKernels) {
    match mode {
        CpuKernels::Fixed => set_kernel_table(None),
        CpuKernels::Tuned => set_kernel_table(Some(state().table.clone())),
    }
}

/// Writes the table if this process measured new shapes: the file is read again and its
/// entries merged (another process may have measured other shapes), then replaced atomically
/// (a temporary sibling, then a rename). Failures are kept for [`status`], never returned:
/// a table that cannot be saved costs measuring again later, nothing else.
pub fn save() {
    let Some(state) = STATE.get() else { return };
    let Some(path) = &state.path else { return };
    if !state.table.take_changed() {
        return;
    }
    if let Ok(Some(theirs)) = read(path, &state.machine) {
        state.table.merge(theirs);
    }
    let result = write_atomically(path, state.table.to_text().as_bytes());
    *state.save_error.lock().unwrap_or_else(PoisonError::into_inner) = result.err().map(|e| e.to_string());
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("table");
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temporary).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Err(e)
        }
    }
}

/// The table's state, for `yolov3 devices` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The file, or `None` when disabled.
    pub path: Option<PathBuf>,
    /// What reading it found.
    pub loaded: Loaded,
    /// Layer shapes known now.
    pub entries: usize,
    /// Why the last save failed.
    pub save_error: Option<String>,
}

/// The table's state (reading the file if this process has not yet).
pub fn status() -> Status {
    let state = state();
    Status {
        path: state.path.clone(),
        loaded: state.loaded.clone(),
        entries: state.table.len(),
        save_error: state.save_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
    }
}
