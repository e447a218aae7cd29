//! What a checkpoint's pickle would import and call under `torch.load(weights_only=False)`,
//! found by reading its opcodes, never running them (as picklescan and modelscan do).
//!
//! A pickle names code by `GLOBAL module name` (protocols 0-3) or `STACK_GLOBAL` on two strings
//! (4-5), and calls it with `REDUCE`, `BUILD`, `NEWOBJ` or `INST`/`OBJ`. Each global is
//! classified as *safe* (in torch's weights-only allowlist: tensor rebuilding, storages,
//! `OrderedDict`), *dangerous* (runs commands, evaluates code, opens files or sockets) or
//! *unknown* (any other class or function: importing it runs its module's code). The loader in
//! this workspace never executes any of it; the scan is what tells a user the file is hostile.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

/// How a global is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Safety {
    /// In `torch.load(weights_only=True)`'s allowlist.
    Safe,
    /// Not in the allowlist: importing it runs the code of its module (a model class, ...).
    Unknown,
    /// Known to execute commands or code, or to reach the file system or network.
    Dangerous,
}

impl Safety {
    pub fn name(self) -> &'static str {
        match self {
            Self::Safe => "safe",
            Self::Unknown => "unknown",
            Self::Dangerous => "dangerous",
        }
    }
}

/// One `module.name` the pickle imports, how often, and how it is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub module: String,
    pub name: String,
    pub count: usize,
    pub safety: Safety,
}

impl Global {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

/// The scan of one checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PickleScan {
    /// Sorted by module and name.
    pub globals: Vec<Global>,
    /// Opcodes that call something (REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, INST, OBJ).
    pub calls: usize,
    /// Why part of the pickle could not be read (truncated, unknown opcode), if so.
    pub incomplete: Option<String>,
}

impl PickleScan {
    /// Whether `torch.load(weights_only=False)` would import code outside torch's allowlist.
    pub fn runs_code(&self) -> bool {
        self.globals.iter().any(|g| g.safety != Safety::Safe)
    }

    /// The dangerous globals, qualified.
    pub fn dangerous(&self) -> Vec<String> {
        self.globals.iter().filter(|g| g.safety == Safety::Dangerous).map(Global::qualified).collect()
    }
}

/// Modules (and their submodules) whose globals execute code or reach the outside world;
/// picklescan's list, trimmed to what exists in CPython and common packages.
const DANGEROUS_MODULES: &[&str] = &[
    "os",
    "posix",
    "nt",
    "subprocess",
    "sys",
    "socket",
    "shutil",
    "runpy",
    "pty",
    "webbrowser",
    "pickle",
    "_pickle",
    "dill",
    "importlib",
    "ctypes",
    "code",
    "codeop",
    "commands",
    "pip",
    "httplib",
    "http",
    "urllib",
    "requests",
    "aiohttp",
    "ssl",
    "asyncio",
    "multiprocessing",
    "threading",
    "signal",
    "platform",
    "pydoc",
    "timeit",
    "bdb",
    "pdb",
    "torch._dynamo",
    "torch.hub",
    "torch.jit",
    "numpy.testing",
    "marshal",
];

/// Builtins that execute code or open files.
const DANGEROUS_BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "execfile",
    "compile",
    "open",
    "__import__",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "input",
    "breakpoint",
    "apply",
    "file",
    "memoryview",
    "help",
];

/// `torch.load(weights_only=True)`'s default allowlist (torch/_weights_only_unpickler.py).
fn is_safe(module: &str, name: &str) -> bool {
    match module {
        "collections" => name == "OrderedDict",
        "torch._utils" => matches!(
            name,
            "_rebuild_tensor"
                | "_rebuild_tensor_v2"
                | "_rebuild_tensor_v3"
                | "_rebuild_parameter"
                | "_rebuild_parameter_with_state"
                | "_rebuild_sparse_tensor"
                | "_rebuild_meta_tensor_no_storage"
                | "_rebuild_nested_tensor"
                | "_rebuild_wrapper_subclass"
                | "_rebuild_device_tensor_from_cpu_tensor"
                | "_rebuild_device_tensor_from_numpy"
                | "_rebuild_qtensor"
        ),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch" => {
            name.ends_with("Storage")
                || matches!(name, "Size" | "Tensor" | "device" | "dtype" | "layout" | "memory_format" | "complex32")
                || is_dtype(name)
        }
        "torch.storage" => matches!(name, "UntypedStorage" | "TypedStorage" | "_load_from_bytes"),
        "torch.nn.parameter" => name == "Parameter",
        "torch.serialization" => name == "_get_layout",
        "builtins" => matches!(
            name,
            "set"
                | "frozenset"
                | "complex"
                | "bytearray"
                | "slice"
                | "range"
                | "bool"
                | "int"
                | "float"
                | "str"
                | "tuple"
                | "list"
                | "dict"
                | "bytes"
        ),
        "_codecs" => name == "encode",
        _ => false,
    }
}

fn is_dtype(name: &str) -> bool {
    matches!(
        name,
        "float32"
            | "float"
            | "float64"
            | "double"
            | "float16"
            | "half"
            | "bfloat16"
            | "int8"
            | "uint8"
            | "int16"
            | "short"
            | "int32"
            | "int"
            | "int64"
            | "long"
            | "bool"
            | "complex64"
            | "complex128"
            | "cfloat"
            | "cdouble"
            | "float8_e4m3fn"
            | "float8_e5m2"
            | "uint16"
            | "uint32"
            | "uint64"
            | "contiguous_format"
            | "channels_last"
            | "preserve_format"
            | "strided"
            | "sparse_coo"
    )
}

/// Judges one global.
pub fn classify(module: &str, name: &str) -> Safety {
    if is_safe(module, name) {
        return Safety::Safe;
    }
    let top_match = |m: &&str| module == *m || module.strip_prefix(*m).is_some_and(|rest| rest.starts_with('.'));
    if DANGEROUS_MODULES.iter().any(top_match) {
        return Safety::Dangerous;
    }
    if matches!(module, "builtins" | "__builtin__" | "__builtins__") && DANGEROUS_BUILTINS.contains(&name) {
        return Safety::Dangerous;
    }
    Safety::Unknown
}

/// At most this many bytes of pickle are scanned (the pickle of a checkpoint is kilobytes to a
/// few megabytes; tensor data lives outside it).
const MAX_PICKLE: u64 = 256 << 20;

/// Scans the checkpoint at `path`: the `data.pkl` of a zip archive, or the pickles at the
/// start of a legacy file.
pub fn scan_file(path: &Path) -> std::io::Result<PickleScan> {
    let mut file = std::fs::File::open(path)?;
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic)?;
    if magic[..n].starts_with(b"PK\x03\x04") {
        let archive = zip::ZipArchive::with_config(
            zip::read::Config { archive_offset: zip::read::ArchiveOffset::Known(0) },
            std::io::BufReader::new(std::fs::File::open(path)?),
        );
        let mut archive = archive.map_err(std::io::Error::other)?;
        let names = archive.file_names().collect::<zip::result::ZipResult<Vec<_>>>().map_err(std::io::Error::other)?;
        let name = names
            .iter()
            .filter(|n| n.ends_with("data.pkl"))
            .min_by_key(|n| n.len())
            .map(|n| n.to_string())
            .ok_or_else(|| std::io::Error::other("the archive holds no data.pkl"))?;
        let entry = archive.by_name(&name).map_err(std::io::Error::other)?;
        let mut bytes = Vec::new();
        entry.take(MAX_PICKLE).read_to_end(&mut bytes)?;
        return Ok(scan(&bytes, 1));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_PICKLE).read_to_end(&mut bytes)?;
    // Legacy files: magic number, protocol, system info, the object, storage keys; then raw
    // storage bytes, which are not pickle.
    Ok(scan(&bytes, 5))
}

/// Scans up to `pickles` consecutive pickles in `bytes`.
pub fn scan(bytes: &[u8], pickles: usize) -> PickleScan {
    let mut walker =
        Walker { bytes, at: 0, strings: Vec::new(), memo: BTreeMap::new(), found: BTreeMap::new(), calls: 0 };
    let mut incomplete = None;
    for _ in 0..pickles {
        if walker.at >= bytes.len() {
            break;
        }
        if let Err(why) = walker.one_pickle() {
            incomplete = Some(why);
            break;
        }
    }
    let globals = walker
        .found
        .into_iter()
        .map(|((module, name), count)| {
            let safety = classify(&module, &name);
            Global { module, name, count, safety }
        })
        .collect();
    PickleScan { globals, calls: walker.calls, incomplete }
}

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Recently pushed strings (for STACK_GLOBAL), newest last; `None` for a non-string push.
    strings: Vec<Option<String>>,
    /// Memoised strings, for BINGET before STACK_GLOBAL.
    memo: BTreeMap<u64, String>,
    found: BTreeMap<(String, String), usize>,
    calls: usize,
}

impl Walker<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("the pickle ends inside an opcode at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().rev().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let len =
            rest.iter().position(|&b| b == b'\n').ok_or_else(|| format!("unterminated line at byte {}", self.at))?;
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.at += len + 1;
        Ok(text)
    }

    fn sized(&mut self, len_bytes: usize) -> Result<Vec<u8>, String> {
        let len = usize::try_from(self.uint(len_bytes)?).map_err(|_| "length overflows".to_string())?;
        Ok(self.take(len)?.to_vec())
    }

    fn push_string(&mut self, s: Option<String>) {
        self.strings.push(s);
        if self.strings.len() > 8 {
            self.strings.remove(0);
        }
    }

    fn record(&mut self, module: String, name: String) {
        *self.found.entry((module, name)).or_insert(0) += 1;
    }

    fn one_pickle(&mut self) -> Result<(), String> {
        loop {
            let op = self.take(1)?[0];
            match op {
                b'.' => return Ok(()), // STOP
                b'c' | b'i' => {
                    // GLOBAL / INST: "module\nname\n"
                    let (module, name) = (self.line()?, self.line()?);
                    self.record(module, name);
                    if op == b'i' {
                        self.calls += 1;
                    }
                    self.push_string(None);
                }
                0x93 => {
                    // STACK_GLOBAL: the two most recent pushes, when they are strings.
                    let name = self.strings.pop().flatten();
                    let module = self.strings.pop().flatten();
                    match (module, name) {
                        (Some(m), Some(n)) => self.record(m, n),
                        _ => self.record("<unresolved>".into(), "STACK_GLOBAL".into()),
                    }
                    self.push_string(None);
                }
                b'R' | b'b' | 0x81 | 0x92 | b'o' => {
                    self.calls += 1;
                    self.push_string(None);
                }
                // Strings: remembered for STACK_GLOBAL.
                b'X' => {
                    let s = self.sized(4)?;
                    self.push_string(Some(String::from_utf8_lossy(&s).into_owned()));
                }
                0x8c => {
                    let s = self.sized(1)?;
                    self.push_string(Some(String::from_utf8_lossy(&s).into_owned()));
                }
                0x8d => {
                    let s = self.sized(8)?;
                    self.push_string(Some(String::from_utf8_lossy(&s).into_owned()));
                }
                b'V' | b'S' => {
                    let s = self.line()?;
                    self.push_string(Some(s.trim_matches(|c| c == '\'' || c == '"').to_string()));
                }
                b'T' => {
                    let s = self.sized(4)?;
                    self.push_string(Some(String::from_utf8_lossy(&s).into_owned()));
                }
                b'U' => {
                    let s = self.sized(1)?;
                    self.push_string(Some(String::from_utf8_lossy(&s).into_owned()));
                }
                // Memo: strings put there can come back for STACK_GLOBAL.
                0x94 => {
                    let index = self.memo.len() as u64;
                    if let Some(Some(s)) = self.strings.last() {
                        self.memo.insert(index, s.clone());
                    }
                }
                b'q' | b'r' => {
                    let index = self.uint(if op == b'q' { 1 } else { 4 })?;
                    if let Some(Some(s)) = self.strings.last() {
                        self.memo.insert(index, s.clone());
                    }
                }
                b'p' => {
                    let index = self.line()?.trim().parse::<u64>().unwrap_or(u64::MAX);
                    if let Some(Some(s)) = self.strings.last() {
                        self.memo.insert(index, s.clone());
                    }
                }
                b'h' | b'j' => {
                    let index = self.uint(if op == b'h' { 1 } else { 4 })?;
                    let s = self.memo.get(&index).cloned();
                    self.push_string(s);
                }
                b'g' => {
                    let index = self.line()?.trim().parse::<u64>().unwrap_or(u64::MAX);
                    let s = self.memo.get(&index).cloned();
                    self.push_string(s);
                }
                // Everything else: skip the argument.
                b'(' | b'0' | b'1' | b'2' | b'N' | b'Q' | b'a' | b'd' | b'}' | b'e' | b'l' | b']' | b's' | b't'
                | b')' | b'u' | 0x85 | 0x86 | 0x87 | 0x88 | 0x89 | 0x8f | 0x90 | 0x91 | 0x97 | 0x98 => {
                    self.push_string(None)
                }
                b'F' | b'I' | b'L' | b'P' => {
                    self.line()?;
                    self.push_string(None);
                }
                b'J' | 0x84 => drop(self.take(4)?),
                b'K' | 0x82 | 0x80 => drop(self.take(1)?),
                b'M' | 0x83 => drop(self.take(2)?),
                b'G' | 0x95 => drop(self.take(8)?),
                0x8a | b'C' => drop(self.sized(1)?),
                0x8b | b'B' => drop(self.sized(4)?),
                0x8e | 0x96 => drop(self.sized(8)?),
                other => return Err(format!("unknown pickle opcode 0x{other:02x} at byte {}", self.at - 1)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_system_is_dangerous_and_tensors_are_safe() {
        // protocol 2: GLOBAL 'os system', the command, TUPLE1, REDUCE, STOP
        let evil = b"\x80\x02cos\nsystem\nX\x06\x00\x00\x00id > x\x85R.";
        let s = scan(evil, 1);
        assert_eq!(s.dangerous(), vec!["os.system"]);
        assert!(s.runs_code());
        assert_eq!(s.calls, 1);
        // protocol 4: STACK_GLOBAL on memoised strings
        let v4 = b"\x80\x04\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94.";
        let s = scan(v4, 1);
        assert_eq!(s.globals.len(), 1);
        assert_eq!((s.globals[0].qualified(), s.globals[0].safety), ("collections.OrderedDict".into(), Safety::Safe));
        assert!(!s.runs_code());
        let builtins_eval = b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94.";
        assert_eq!(scan(builtins_eval, 1).dangerous(), vec!["builtins.eval"]);
    }

    #[test]
    fn model_classes_are_unknown_and_truncation_is_reported() {
        assert_eq!(classify("models", "Darknet"), Safety::Unknown);
        assert_eq!(classify("torch.nn.modules.conv", "Conv2d"), Safety::Unknown);
        assert_eq!(classify("subprocess", "Popen"), Safety::Dangerous);
        assert_eq!(classify("os.path", "join"), Safety::Dangerous);
        assert_eq!(classify("torch._utils", "_rebuild_tensor_v2"), Safety::Safe);
        assert_eq!(classify("osmosis", "x"), Safety::Unknown, "prefix match is by module path");
        let cut = scan(b"\x80\x02cos\nsys", 1);
        assert!(cut.incomplete.is_some());
    }
}
