//! Each layer's kernel chosen on the machine it runs on: the first time a layer shape meets
//! the CPU path with a [`KernelTable`] installed, every candidate kernel ([`Pick::candidates`])
//! computes it a few times and the fastest is kept for that shape (the input shape, the output
//! channels, the batch and the thread count). Later calls, and later processes that load the
//! table back ([`KernelTable::parse`]), go straight to the winner.
//!
//! Why: the fixed rules ([`Pick::rules`]) were measured on one 2-core Sapphire Rapids; on
//! another core count, cache or vector width the crossovers move (Winograd F2 vs F4, bands vs
//! a threaded product, the direct kernel vs im2col). Measuring costs a few runs of each
//! candidate per shape, once ([`KernelTable::measure`] bounds it); the table is small text that an application can persist (the
//! `yolo` crate keeps it in the per-user cache directory, per CPU model).
//!
//! Determinism: without an installed table the rules decide, as in the tests. With one, a
//! pick changes only when the table is re-measured, and the rules' pick is kept unless another
//! kernel is faster by more than [`MARGIN`], so near-ties do not flip between processes.
//!
//! A table is data from disk: its header must name this build's kernel set and this machine
//! ([`KernelTable::parse`] refuses anything else as stale), and every entry must name a kernel
//! that can compute its shape, so a damaged or hostile file can never select a kernel that
//! does not apply.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use super::choice::Pick;
use super::im2col::ConvGeometry;

/// Bumped whenever a kernel changes in a way that can move the crossovers, so tables measured
/// with the previous kernels are re-measured rather than trusted.
const KERNEL_SET: u32 = 5;

/// The first line of a table file, and its version (2: a layer shape says whether a 2x2/2
/// maxpool follows, fused or not).
const MAGIC: &str = "yolov3-burn cpu kernel table";
const FORMAT: u32 = 2;

/// Another kernel replaces the rules' pick only when it is faster by more than this fraction.
const MARGIN: f64 = 0.03;

/// Timed runs per candidate and pass: at most [`MAX_RUNS`], fewer once they add up to
/// [`RUN_BUDGET_MS`].
const MAX_RUNS: usize = 3;

/// Passes over the candidates, each keeping its best time: a burst of noise from the rest of
/// a shared machine then has to hit a kernel in both passes to cost it the pick. (With one
/// pass, four fresh tables on a 2-core AMD EPYC picked the fused or the unfused kernel for
/// yolov3-tiny's first layer at random: 0.91-1.78 ms vs 1.09-3.24 ms.)
const PASSES: usize = 2;
const RUN_BUDGET_MS: f64 = 30.0;

/// A non-Winograd candidate whose first timed run is slower than this multiple of the best
/// time so far is not timed further (that run is its time): it has lost. (Judged on the run
/// after the untimed one: the direct kernel's first run faults in its 22 MB phased copy of the
/// input and took 4-6x its later runs, 84 vs 15 ms, on yolov3's 32->64 416->208.)
const HOPELESS: f64 = 2.0;

/// A layer whose rules' kernel takes longer than this (ms, first run) is not measured: the
/// other candidates would cost seconds each, and at that size the products are wide enough
/// for the rules' choice.
const SLOW_MS: f64 = 250.0;

/// The most entries a table holds (a parsed file with more is refused).
const MAX_ENTRIES: usize = 4096;

/// One layer shape as the kernels see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LayerKey {
    pub geometry: ConvGeometry,
    pub out_channels: usize,
    pub batch: usize,
    pub threads: usize,
    /// A 2x2/2 maxpool that tiles the output follows (timed together: the fused kernel
    /// against each other kernel plus the pool).
    pub pooled: bool,
}

/// Sizes at the start of a table line: `in h w k s p out batch threads pool`.
const FIELDS: usize = 10;

impl LayerKey {
    /// The key of `g` (`pooled`: followed by a 2x2/2 maxpool that tiles its output).
    pub fn new(g: &ConvGeometry, out_channels: usize, batch: usize, threads: usize, pooled: bool) -> LayerKey {
        LayerKey { geometry: *g, out_channels, batch, threads, pooled }
    }

    fn candidates(&self) -> Vec<Pick> {
        Pick::candidates(&self.geometry, self.out_channels, self.batch, self.pooled)
    }

    /// `in h w k s p out batch threads pool`, as a table line starts (`pool`: 1 when pooled).
    fn fields(&self) -> [usize; FIELDS] {
        let ConvGeometry { in_channels, height, width, kernel, stride, padding } = self.geometry;
        let pool = usize::from(self.pooled);
        [in_channels, height, width, kernel, stride, padding, self.out_channels, self.batch, self.threads, pool]
    }

    fn from_fields(fields: [usize; FIELDS]) -> Option<LayerKey> {
        let [in_channels, height, width, kernel, stride, padding, out_channels, batch, threads, pool] = fields;
        let geometry = ConvGeometry { in_channels, height, width, kernel, stride, padding };
        let pooled = match pool {
            0 => false,
            1 => true,
            _ => return None,
        };
        Some(LayerKey { geometry, out_channels, batch, threads, pooled })
    }

    /// A geometry the kernels can run (what [`ConvGeometry`] assumes of its callers), and a
    /// pooled one only where the pool tiles the output.
    fn is_valid(&self) -> bool {
        let [cin, h, w, k, s, p, cout, batch, threads, _] = self.fields();
        [cin, h, w, k, s, cout, batch, threads].iter().all(|&d| (1..=1 << 20).contains(&d))
            && p <= 1 << 20
            && h + 2 * p >= k
            && w + 2 * p >= k
            && (!self.pooled || self.geometry.pools_2x2())
    }
}

#[derive(Debug, Clone)]
struct Entry {
    pick: Pick,
    /// Each candidate's best time in ms, as measured (empty for entries read without them).
    timings: Vec<(Pick, f64)>,
}

/// Why a kernel table's text was not used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    /// Written by another build's kernels or on another machine: re-measure.
    #[error("stale: {what} is {found:?}, this build expects {expected:?}")]
    Stale { what: &'static str, found: String, expected: String },
    /// Not a kernel table, or damaged.
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: String },
}

/// The measured kernel of each layer shape on one machine (see the module docs). Shared by
/// every model of the process once installed with [`set_kernel_table`].
#[derive(Debug)]
pub struct KernelTable {
    machine: String,
    entries: Mutex<BTreeMap<LayerKey, Entry>>,
    changed: AtomicBool,
}

impl KernelTable {
    /// An empty table for `machine` (a CPU description, e.g. its model name and vector width:
    /// a table parsed later must name the same).
    pub fn new(machine: &str) -> KernelTable {
        KernelTable {
            machine: one_line(machine),
            entries: Mutex::new(BTreeMap::new()),
            changed: AtomicBool::new(false),
        }
    }

    /// Reads a table written by [`KernelTable::to_text`] for the same build and `machine`.
    pub fn parse(text: &str, machine: &str) -> Result<KernelTable, TableError> {
        let table = KernelTable::new(machine);
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        let malformed = |line, reason: &str| TableError::Malformed { line, reason: reason.to_string() };
        let mut header = |what: &'static str, expected: String| -> Result<(), TableError> {
            let (line, found) = lines.next().ok_or_else(|| malformed(0, "the header ends early"))?;
            match found.strip_prefix(what).map(str::trim) {
                Some(found) if found == expected => Ok(()),
                Some(found) => Err(TableError::Stale { what, found: found.to_string(), expected }),
                None => Err(malformed(line, &format!("expected the `{what}` line"))),
            }
        };
        header("format", format!("{MAGIC} {FORMAT}"))?;
        header("kernels", kernel_set())?;
        header("machine", table.machine.clone())?;
        let mut entries = BTreeMap::new();
        for (line, text) in lines.filter(|(_, l)| !l.is_empty() && !l.starts_with('#')) {
            let (key, entry) = parse_entry(text).map_err(|reason| malformed(line, &reason))?;
            if entries.insert(key, entry).is_some() {
                return Err(malformed(line, "a layer shape listed twice"));
            }
            if entries.len() > MAX_ENTRIES {
                return Err(malformed(line, &format!("more than {MAX_ENTRIES} entries")));
            }
        }
        *table.entries.lock().unwrap_or_else(PoisonError::into_inner) = entries;
        Ok(table)
    }

    /// The table as text: a header naming the build and the machine, then one line per layer
    /// shape with the kept kernel and every candidate's time.
    pub fn to_text(&self) -> String {
        let mut out = format!("format {MAGIC} {FORMAT}\nkernels {}\nmachine {}\n", kernel_set(), self.machine);
        out += "# in_channels height width kernel stride padding out_channels batch threads pool: kernel | best ms of each\n";
        for (key, entry) in self.lock().iter() {
            let fields: Vec<String> = key.fields().iter().map(usize::to_string).collect();
            out += &format!("{}: {}", fields.join(" "), entry.pick.name());
            if !entry.timings.is_empty() {
                let times: Vec<String> = entry.timings.iter().map(|(p, ms)| format!("{} {ms:.3}", p.name())).collect();
                out += &format!(" | {}", times.join(" "));
            }
            out.push('\n');
        }
        out
    }

    /// Layer shapes measured.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is measured yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the table holds as many shapes as a file may ([`MAX_ENTRIES`]).
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= MAX_ENTRIES
    }

    /// Whether shapes were measured since the last call (then worth saving).
    pub fn take_changed(&self) -> bool {
        self.changed.swap(false, Ordering::AcqRel)
    }

    /// Adds `other`'s entries for shapes this table has not measured (another process's
    /// measurements, read back before saving).
    pub fn merge(&self, other: KernelTable) {
        let theirs = other.entries.into_inner().unwrap_or_else(PoisonError::into_inner);
        let mut ours = self.lock();
        for (key, entry) in theirs {
            if ours.len() >= MAX_ENTRIES {
                break;
            }
            ours.entry(key).or_insert(entry);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<LayerKey, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the kernel of `key` (tests: force a kernel).
    #[cfg(test)]
    pub(crate) fn insert(&self, key: LayerKey, pick: Pick) {
        self.lock().insert(key, Entry { pick, timings: Vec::new() });
    }

    /// The kept kernel of `key`, if measured.
    pub(crate) fn get(&self, key: &LayerKey) -> Option<Pick> {
        self.lock().get(key).map(|e| e.pick)
    }

    /// Times every candidate of `key` through `run` (which computes the layer with the given
    /// kernel), records the winner and returns it with the kernel that ran last: the caller
    /// runs the winner once more when they differ, so the first call gives the same numbers
    /// as every later one.
    ///
    /// The rules' pick runs first. A layer whose first run takes over [`SLOW_MS`] keeps it
    /// unmeasured (a 1280-pixel batch of 16 would otherwise spend minutes measuring), and a
    /// non-Winograd candidate whose first timed run is [`HOPELESS`] times the best so far is
    /// dropped.
    pub(crate) fn measure(&self, key: LayerKey, mut run: impl FnMut(Pick)) -> (Pick, Pick) {
        self.measure_timed(key, |pick| time(|| run(pick)))
    }

    /// [`KernelTable::measure`] with `run` returning how long it took (ms): tests give times.
    fn measure_timed(&self, key: LayerKey, mut run: impl FnMut(Pick) -> f64) -> (Pick, Pick) {
        let candidates = key.candidates();
        let rules = candidates[0];
        // Each candidate's best time so far (infinite before it is timed), and whether it is
        // still in (not hopeless, and the layer is not too slow to measure).
        let mut times = vec![f64::INFINITY; candidates.len()];
        let mut active = vec![true; candidates.len()];
        let mut last = rules;
        'passes: for pass in 0..PASSES {
            for (i, &pick) in candidates.iter().enumerate() {
                if !active[i] {
                    continue;
                }
                // The first run pays first-use costs (transformed weights, fresh buffers): untimed.
                // In later passes only Winograd needs it (the cache holds one variant's weights).
                if pass == 0 || pick.variant().is_some() {
                    let first = run(pick);
                    last = pick;
                    if pass == 0 && pick == rules && first > SLOW_MS {
                        times[i] = first;
                        break 'passes;
                    }
                }
                let others = times.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &t)| t);
                let best_other = others.fold(f64::INFINITY, f64::min);
                let mut spent = 0.0;
                for _ in 0..MAX_RUNS {
                    let ms = run(pick);
                    last = pick;
                    times[i] = times[i].min(ms);
                    spent += ms;
                    if spent >= RUN_BUDGET_MS || (pick.variant().is_none() && ms > HOPELESS * best_other) {
                        break;
                    }
                }
                // A kernel this far behind has lost: its time is kept, it runs no more.
                active[i] = pick.variant().is_some() || times[i] <= HOPELESS * best_other;
            }
        }
        let timings: Vec<(Pick, f64)> =
            candidates.iter().zip(&times).filter(|(_, t)| t.is_finite()).map(|(&p, &t)| (p, t)).collect();
        let pick = choose(&timings, rules);
        self.lock().insert(key, Entry { pick, timings });
        self.changed.store(true, Ordering::Release);
        (pick, last)
    }
}

/// The fastest of `timings`, except that `rules` stays unless beaten by more than [`MARGIN`].
fn choose(timings: &[(Pick, f64)], rules: Pick) -> Pick {
    let (fastest, best) = timings.iter().copied().fold((rules, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
    match timings.iter().find(|t| t.0 == rules) {
        Some(&(_, ms)) if ms <= best * (1.0 + MARGIN) => rules,
        _ => fastest,
    }
}

fn time(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64() * 1e3
}

fn kernel_set() -> String {
    format!("yolo-model {} set {KERNEL_SET}", env!("CARGO_PKG_VERSION"))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `in h w k s p out batch threads pool: kernel [| name ms ...]`.
fn parse_entry(text: &str) -> Result<(LayerKey, Entry), String> {
    let (head, times) = text.split_once('|').unwrap_or((text, ""));
    let (numbers, name) = head.split_once(':').ok_or("no `:` before the kernel")?;
    let fields: Vec<usize> = numbers
        .split_whitespace()
        .map(|n| n.parse().map_err(|_| format!("{n:?} is not a size")))
        .collect::<Result<_, _>>()?;
    let Ok(fields) = <[usize; FIELDS]>::try_from(fields.as_slice()) else {
        return Err(format!("{} sizes, expected {FIELDS}", fields.len()));
    };
    let key = LayerKey::from_fields(fields).ok_or("the pool field is neither 0 nor 1")?;
    if !key.is_valid() {
        return Err("not a convolution the kernels run".into());
    }
    let pick = Pick::from_name(name.trim()).ok_or_else(|| format!("unknown kernel {:?}", name.trim()))?;
    let candidates = key.candidates();
    if !candidates.contains(&pick) {
        return Err(format!("{} cannot compute this layer on this CPU", pick.name()));
    }
    let words: Vec<&str> = times.split_whitespace().collect();
    let timings = words
        .chunks(2)
        .map(|pair| match pair {
            [name, ms] => match (Pick::from_name(name), ms.parse::<f64>()) {
                (Some(p), Ok(ms)) if ms.is_finite() && ms >= 0.0 => Ok((p, ms)),
                _ => Err(format!("bad timing {name} {ms}")),
            },
            _ => Err("a timing without its value".to_string()),
        })
        .collect::<Result<_, _>>()?;
    Ok((key, Entry { pick, timings }))
}

/// The table the CPU path consults; `None`: the fixed rules.
static TABLE: RwLock<Option<Arc<KernelTable>>> = RwLock::new(None);

/// Installs `table` for every model in this process (`None`: back to the fixed rules). Like
/// the thread pool, the choice is process-wide.
pub fn set_kernel_table(table: Option<Arc<KernelTable>>) {
    *TABLE.write().unwrap_or_else(PoisonError::into_inner) = table;
}

/// The installed table, if any.
pub fn kernel_table() -> Option<Arc<KernelTable>> {
    TABLE.read().unwrap_or_else(PoisonError::into_inner).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(in_channels: usize, size: usize, kernel: usize, stride: usize, out_channels: usize) -> LayerKey {
        let padding = kernel / 2;
        LayerKey::new(
            &ConvGeometry { in_channels, height: size, width: size, kernel, stride, padding },
            out_channels,
            1,
            2,
            false,
        )
    }

    fn with_header(machine: &str, body: &str) -> String {
        format!("format {MAGIC} {FORMAT}\nkernels {}\nmachine {machine}\n{body}", kernel_set())
    }

    #[test]
    fn text_round_trips() {
        let table = KernelTable::new("Some  CPU\tmodel; avx2+fma");
        table.insert(key(64, 52, 3, 1, 128), Pick::WinogradF2);
        table.insert(key(32, 416, 3, 2, 64), Pick::Im2col);
        let pooled = LayerKey { pooled: true, ..key(16, 208, 3, 1, 32) };
        table.insert(pooled, Pick::Im2colBands);
        table.lock().get_mut(&key(32, 416, 3, 2, 64)).expect("inserted").timings =
            vec![(Pick::Im2colBands, 12.5), (Pick::Im2col, 11.25)];
        let text = table.to_text();
        assert!(text.contains("machine Some CPU model; avx2+fma\n"), "{text}");
        assert!(text.contains("32 416 416 3 2 1 64 1 2 0: im2col | im2col-bands 12.500 im2col 11.250\n"), "{text}");
        let back = KernelTable::parse(&text, "Some CPU model; avx2+fma").expect("parses");
        assert_eq!(back.to_text(), text);
        assert_eq!(back.get(&key(64, 52, 3, 1, 128)), Some(Pick::WinogradF2));
        assert!(text.contains("16 208 208 3 1 1 32 1 2 1: im2col-bands\n"), "{text}");
        assert_eq!(back.get(&pooled), Some(Pick::Im2colBands));
        assert_eq!(back.get(&key(16, 208, 3, 1, 32)), None, "pooled and unpooled are different shapes");
        assert!(!back.take_changed(), "a table read back has nothing to save");
    }

    #[test]
    fn tables_of_other_machines_and_builds_are_stale() {
        let text = KernelTable::new("cpu A").to_text();
        let err = KernelTable::parse(&text, "cpu B").expect_err("another machine");
        assert!(matches!(err, TableError::Stale { what: "machine", .. }), "{err}");
        let old = text.replace(&kernel_set(), "yolo-model 0.0.1 set 0");
        let err = KernelTable::parse(&old, "cpu A").expect_err("another build");
        assert!(matches!(err, TableError::Stale { what: "kernels", .. }), "{err}");
    }

    #[test]
    fn damaged_tables_are_refused_naming_the_line() {
        let cases = [
            ("", "header ends early"),
            ("something else\n", "expected the `format` line"),
            ("1 2 3: im2col", "expected 10"),
            ("64 52 52 3 1 1 128 1 2 0: fastest", "unknown kernel"),
            ("64 52 52 3 1 1 128 1 2 0 im2col", "no `:`"),
            ("64 52 52 3 x 1 128 1 2 0: im2col", "not a size"),
            ("64 52 52 3 1 1 128 0 2 0: im2col", "not a convolution"),
            ("64 1 1 5 1 0 128 1 2 0: im2col", "not a convolution"),
            // Kernels that cannot compute the shape: Winograd off 3x3/1, a 1x1 through im2col.
            ("64 52 52 3 2 1 128 1 2 0: winograd-f4", "cannot compute"),
            ("64 52 52 1 1 0 128 1 2 0: im2col", "cannot compute"),
            ("64 52 52 3 1 1 128 1 2 0: winograd-f4-stacked", "cannot compute"),
            ("64 52 52 3 1 1 128 1 2 0: im2col | im2col NaN", "bad timing"),
            ("64 52 52 3 1 1 128 1 2 0: im2col | im2col", "without its value"),
            ("64 52 52 3 1 1 128 1 2 0: im2col\n64 52 52 3 1 1 128 1 2 0: winograd-f2", "listed twice"),
            // The pool field: 0 or 1, and 1 only where a 2x2/2 pool tiles the output.
            ("64 52 52 3 1 1 128 1 2 2: im2col", "neither 0 nor 1"),
            ("64 13 13 3 1 1 128 1 2 1: im2col", "not a convolution"),
            // The fused pool names a layer followed by its pool.
            ("16 52 52 3 1 1 32 1 2 0: direct-pooled", "cannot compute"),
        ];
        for (body, reason) in cases {
            let text = if body.is_empty() || body.starts_with("something") {
                body.to_string()
            } else {
                with_header("m", body)
            };
            let err = KernelTable::parse(&text, "m").expect_err(body);
            assert!(matches!(err, TableError::Malformed { .. }) && err.to_string().contains(reason), "{body:?}: {err}");
        }
        let fine = with_header("m", "# comment\n\n64 52 52 3 1 1 128 1 2 0: winograd-f2\n");
        assert_eq!(KernelTable::parse(&fine, "m").expect("comments and blank lines are fine").len(), 1);
    }

    /// A 3x3/1 layer at batch 2 (rules: stacked F2 on a 13x13 map) measured with given times.
    fn measured(ms: impl Fn(Pick) -> f64) -> (Pick, Pick, Vec<(Pick, usize)>) {
        let key = LayerKey { batch: 2, ..key(512, 13, 3, 1, 1024) };
        let table = KernelTable::new("m");
        let mut runs: Vec<(Pick, usize)> = Vec::new();
        let (pick, last) = table.measure_timed(key, |p| {
            match runs.last_mut() {
                Some((q, n)) if *q == p => *n += 1,
                _ => runs.push((p, 1)),
            }
            ms(p)
        });
        assert_eq!(table.get(&key), Some(pick));
        (pick, last, runs)
    }

    #[test]
    fn measuring_runs_the_rules_first_and_keeps_the_fastest() {
        let rules = Pick::WinogradF2Stacked;
        // Rules first; each candidate: one untimed run, then up to 3 timed ones (30 ms budget).
        let (pick, last, runs) = measured(|p| if p == Pick::WinogradF4 { 4.0 } else { 6.0 });
        assert_eq!(pick, Pick::WinogradF4);
        assert_eq!(runs[0], (rules, 4));
        assert_eq!(last, runs.last().expect("ran").0);
        // Non-Winograd candidates twice as slow as the best on their first timed run are cut
        // there (after their untimed run).
        let (pick, _, runs) = measured(|p| if p.variant().is_some() { 5.0 } else { 50.0 });
        assert_eq!(pick, rules, "a tie among Winograd kernels keeps the rules' pick");
        assert!(runs.iter().all(|&(p, n)| p.variant().is_some() || n == 2), "{runs:?}");
        // A slow first run alone (first-use costs) does not cut a kernel that is fastest after.
        let seen = std::cell::RefCell::new(Vec::new());
        let (pick, _, _) = measured(|p| {
            let mut seen = seen.borrow_mut();
            let again = seen.contains(&p);
            seen.push(p);
            match (p, again) {
                (Pick::Im2col, false) => 50.0,
                (Pick::Im2col, true) => 2.0,
                _ => 5.0,
            }
        });
        assert_eq!(pick, Pick::Im2col);
        // Every candidate that is still in runs in each pass, so a burst of noise during one
        // kernel's first pass does not decide: im2col is slow for its first four runs only.
        let (_, _, runs) = measured(|_| 5.0);
        assert_eq!(runs.iter().filter(|(p, _)| *p == rules).count(), PASSES, "{runs:?}");
        let seen = std::cell::RefCell::new(0);
        let (pick, _, _) = measured(|p| {
            if p != Pick::Im2col {
                return 5.0;
            }
            *seen.borrow_mut() += 1;
            if *seen.borrow() <= 4 {
                9.0
            } else {
                3.0
            }
        });
        assert_eq!(pick, Pick::Im2col);
        // Long layers spend fewer timed runs: 20 ms each, budget reached after two.
        let (_, _, runs) = measured(|_| 20.0);
        assert_eq!(runs[0], (rules, 3));
        // A layer whose rules' kernel takes longer than SLOW_MS is not measured further.
        let (pick, last, runs) = measured(|_| 300.0);
        assert_eq!((pick, last, runs), (rules, rules, vec![(rules, 1)]));
    }

    #[test]
    fn a_full_table_still_parses_and_merges_no_further() {
        let table = KernelTable::new("m");
        for batch in 1..=MAX_ENTRIES {
            table.insert(LayerKey { batch, ..key(64, 52, 3, 1, 128) }, Pick::WinogradF2);
        }
        assert!(table.is_full());
        let back = KernelTable::parse(&table.to_text(), "m").expect("a full table is a valid file");
        assert_eq!(back.len(), MAX_ENTRIES);
        let other = KernelTable::new("m");
        other.insert(key(32, 13, 3, 1, 64), Pick::Im2col);
        back.merge(other);
        assert_eq!(back.len(), MAX_ENTRIES, "merging never grows a table past what a file may hold");
    }

    #[test]
    fn the_rules_pick_survives_near_ties() {
        let t = [(Pick::WinogradF2, 9.8), (Pick::Im2col, 12.0), (Pick::WinogradF4, 10.0)];
        assert_eq!(choose(&t, Pick::WinogradF4), Pick::WinogradF4, "within 3%");
        let t = [(Pick::WinogradF2, 9.0), (Pick::WinogradF4, 10.0)];
        assert_eq!(choose(&t, Pick::WinogradF4), Pick::WinogradF2, "10% faster");
    }
}
