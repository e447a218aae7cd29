//! Output files appear whole or not at all: write to a temporary sibling, then rename.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// The identity of an existing file: device and inode on unix (hard links and every spelling of
/// a path agree), the canonical path elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileId {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Path(PathBuf),
}

fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        fs::metadata(path).ok().map(|m| FileId::Inode(m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        fs::canonicalize(path).ok().map(FileId::Path)
    }
}

/// The inputs of a run, to refuse output paths that are one of them: writing such a path would
/// destroy what is being read.
#[derive(Debug, Default)]
pub struct Inputs<'a>(std::collections::HashMap<FileId, &'a Path>);

impl<'a> Inputs<'a> {
    pub fn new(paths: impl IntoIterator<Item = &'a Path>) -> Self {
        Inputs(paths.into_iter().filter_map(|p| file_id(p).map(|id| (id, p))).collect())
    }

    /// An error when `output` exists and is one of the inputs.
    pub fn refuse(&self, output: &Path) -> anyhow::Result<()> {
        match file_id(output).and_then(|id| self.0.get(&id)) {
            Some(input) => anyhow::bail!(
                "refusing to write {}: it is the input {} (choose another output path)",
                output.display(),
                input.display()
            ),
            None => Ok(()),
        }
    }
}

/// Creates an output directory (and parents) if needed.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create output directory {}", dir.display()))
}
