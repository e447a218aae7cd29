//! The project's own corpus of broken and hostile inputs, built at test time (nothing big is
//! committed): checkpoint containers, pickles, tensors, semantics, the other weight formats, cfg
//! files, images and arguments. Every case runs the real `yolov3` binary under a 2 GiB address-
//! space limit and a time limit, and must end the way its row says: a non-zero exit with a
//! message naming the file and the defect (never a panic, a signal, a hang or the limit), or
//! success where the input is odd but legitimate. Output safety (read-only, missing, onto the
//! input, EFBIG) is `outputs.rs`.

mod cases;
mod outputs;
pub mod pickle;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::root;

/// What a case must end with.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Non-zero exit; stderr names the input and holds each of these words (case-insensitive).
    Fails(Vec<&'static str>),
    /// Exit 0; stdout or stderr holds each of these words.
    Succeeds(Vec<&'static str>),
    /// stdout holds each of these words (`inspect`'s findings); a failure must name the input.
    Reports(Vec<&'static str>),
    /// Odd but harmless either way (a zip whose entry count lies, read by its real directory):
    /// within the limits, and a failure names the input.
    Either,
}

/// One row of the corpus.
#[derive(Debug, Clone)]
pub struct Case {
    pub group: &'static str,
    pub name: String,
    /// The file under test (named in the message); `None` for argument cases.
    pub file: Option<PathBuf>,
    pub args: Vec<OsString>,
    pub expect: Expect,
}

/// The address-space limit every case runs under (the brief's "about 2 GiB" of memory, with
/// room for the thread stacks and allocator reservations a normal run maps but never touches).
const ADDRESS_SPACE_KIB: u64 = 6 * 1024 * 1024;
/// Resident memory a case may reach (checked from the child's peak RSS).
const MAX_RSS_KIB: u64 = 2 * 1024 * 1024;
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Runs one case under the limits; `Err` says how it broke its row.
pub fn run_case(case: &Case) -> Result<(), String> {
    let bin = env!("CARGO_BIN_EXE_yolov3");
    // `ulimit -v` bounds what a run can map; the peak RSS comes back from the kernel's record of
    // the process (`VmHWM`), which the shell prints after the binary exits.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB}; \"$0\" \"$@\" & pid=$!; hwm=0; \
             while kill -0 $pid 2>/dev/null; do \
               v=$(sed -n 's/^VmHWM:[[:space:]]*\\([0-9]*\\).*/\\1/p' /proc/$pid/status 2>/dev/null); \
               [ -n \"$v\" ] && [ \"$v\" -gt \"$hwm\" ] && hwm=$v; sleep 0.05; done; \
             wait $pid; rc=$?; echo \"@@hwm=$hwm\" >&2; exit $rc"
        ))
        .arg(bin)
        .args(&case.args)
        .current_dir(root())
        .env("RAYON_NUM_THREADS", "2")
        .env("YOLOV3_CPU_KERNELS", "fixed")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            return Err(format!("still running after {TIME_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let hwm = stderr
        .rfind("@@hwm=")
        .map(|at| {
            let value = stderr[at + 6..].trim().parse::<u64>().unwrap_or(0);
            stderr.truncate(at);
            value
        })
        .unwrap_or(0);
    let show = || format!("exit {:?}\n--- stderr\n{stderr}--- stdout\n{}", status.code(), tail(&stdout));
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(format!("panicked: {}", show()));
    }
    if hwm > MAX_RSS_KIB {
        return Err(format!("peak RSS {} MiB over the {} MiB bound: {}", hwm / 1024, MAX_RSS_KIB / 1024, show()));
    }
    // A signal (SIGSEGV, SIGABRT, SIGKILL from the limit) comes back as exit 128 + n via sh.
    match status.code() {
        None => return Err(format!("killed by a signal: {}", show())),
        Some(code) if code > 128 => return Err(format!("killed by signal {}: {}", code - 128, show())),
        _ => {}
    }
    let lower = stderr.to_lowercase();
    let names_the_file = || match &case.file {
        Some(file) => {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match stderr.contains(&name) {
                true => Ok(()),
                false => Err(format!("the message must name `{name}`: {}", show())),
            }
        }
        None => Ok(()),
    };
    match &case.expect {
        Expect::Either => {
            if !status.success() {
                names_the_file()?;
            }
        }
        Expect::Reports(words) => {
            if !status.success() {
                names_the_file()?;
            }
            for w in words {
                if !stdout.contains(w) {
                    return Err(format!("the report must say `{w}`: {}", show()));
                }
            }
        }
        Expect::Fails(words) => {
            if status.success() {
                return Err(format!("must fail: {}", show()));
            }
            names_the_file()?;
            for w in words {
                if !lower.contains(&w.to_lowercase()) {
                    return Err(format!("the message must say `{w}`: {}", show()));
                }
            }
        }
        Expect::Succeeds(words) => {
            if !status.success() {
                return Err(format!("must succeed: {}", show()));
            }
            let both = format!("{stdout}{stderr}").to_lowercase();
            for w in words {
                if !both.contains(&w.to_lowercase()) {
                    return Err(format!("the output must say `{w}`: {}", show()));
                }
            }
        }
    }
    Ok(())
}

fn tail(s: &str) -> &str {
    let cut = s.len().saturating_sub(2000);
    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
    &s[cut..]
}

/// Runs every case on two workers; fails listing every broken row, after all have run.
pub fn run_all(cases: &[Case]) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                if let Err(why) = run_case(case) {
                    failures.lock().expect("lock").push(format!("[{}] {}: {why}", case.group, case.name));
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    let mut groups: Vec<&str> = cases.iter().map(|c| c.group).collect();
    groups.dedup();
    eprintln!(
        "hostile corpus: {} cases in {} groups ({}), {} broken",
        cases.len(),
        groups.len(),
        groups.join(", "),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases broke their row:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// A scratch directory for one test's corpus.
pub fn scratch(name: &str) -> PathBuf {
    crate::cli::temp_dir(&format!("hostile-{name}"))
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write corpus file");
    path
}
