//! Detection over many image files, with decoding one batch ahead of the network.
//!
//! Decoding and letterboxing are serial code, and the forward pass does not keep every core
//! busy, so one long-lived loader thread prepares batch `k + 1` while the network runs batch
//! `k` (a thread per batch churned the allocator's per-thread heaps: fresh, zeroed pages for
//! every image). A file that cannot be decoded is reported as that file's error and the others
//! go on.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::DynamicImage;

use crate::batch::{Frame, Prepared, Preprocess};
use crate::detector::Detector;
use crate::error::{Error, Result};
use crate::image_io;

/// One file's outcome.
#[derive(Debug)]
pub struct FileResult {
    /// The image file.
    pub path: PathBuf,
    /// The decoded image and its results, or why the file could not be processed.
    pub outcome: Result<(DynamicImage, Frame)>,
}

/// A batch as the loader thread hands it over: each file decoded (or its error), and the
/// decoded ones prepared as one input, with how long each step took.
struct Loaded {
    files: Vec<(PathBuf, Result<DynamicImage>)>,
    prepared: Prepared,
    decode: Duration,
    letterbox: Duration,
}

/// Where the time of [`DetectFiles`] went so far, summed over the images it handed out.
///
/// Decoding and letterboxing run on the loader thread, in parallel with the network: only
/// `waited` (the time the network side spent waiting for a batch) adds to the wall time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Speed {
    /// Images decoded and run.
    pub images: usize,
    /// Reading and decoding the files (loader thread).
    pub decode: Duration,
    /// Letterboxing them into network input (loader thread).
    pub letterbox: Duration,
    /// Waiting for the loader's next batch.
    pub waited: Duration,
    /// The forward pass, with the output read back.
    pub forward: Duration,
    /// Of `forward`, the first batch's, and how many images it held: it includes one-time work
    /// (the Winograd weight transforms, and measuring kernels for a new kernel table), so a
    /// steady per-image time leaves it out.
    pub first_forward: Duration,
    /// Images in the first batch (0 before it ran).
    pub first_images: usize,
    /// Thresholds, NMS and mapping boxes back.
    pub postprocess: Duration,
}

/// Iterator over [`FileResult`]s, in input order. Made by [`Detector::detect_files`].
pub struct DetectFiles<'a> {
    detector: &'a Detector,
    batches: Receiver<Loaded>,
    pending: VecDeque<FileResult>,
    loader: Option<JoinHandle<()>>,
    speed: Speed,
}

impl std::fmt::Debug for DetectFiles<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectFiles").field("pending", &self.pending.len()).finish_non_exhaustive()
    }
}

impl Detector {
    /// Detects objects in image files, `batch` images per forward pass, decoding ahead on a
    /// second thread. Results come in input order; an undecodable file yields its error and
    /// does not stop the others.
    pub fn detect_files(&self, paths: Vec<PathBuf>, batch: usize) -> Result<DetectFiles<'_>> {
        if batch == 0 {
            return Err(Error::setting("batch", "must be at least 1"));
        }
        let preprocess = self.preprocess();
        // The largest batch must fit before any image is read.
        self.check_batch(batch.min(paths.len()))?;
        // One batch in the channel plus one being built: two batches of images in memory.
        let (sender, batches) = sync_channel(1);
        let loader = std::thread::Builder::new()
            .name("yolo-image-loader".into())
            .spawn(move || {
                for chunk in paths.chunks(batch) {
                    // A closed channel means the iterator was dropped: stop too.
                    if sender.send(load(chunk, &preprocess)).is_err() {
                        break;
                    }
                }
            })
            .map_err(Error::Thread)?;
        Ok(DetectFiles {
            detector: self,
            batches,
            pending: VecDeque::new(),
            loader: Some(loader),
            speed: Speed::default(),
        })
    }
}

fn load(chunk: &[PathBuf], preprocess: &Preprocess) -> Loaded {
    let start = Instant::now();
    let files: Vec<(PathBuf, Result<DynamicImage>)> =
        chunk.iter().map(|path| (path.clone(), image_io::load(path))).collect();
    let decoded = Instant::now();
    let prepared = preprocess.prepare(files.iter().filter_map(|(_, r)| r.as_ref().ok()));
    Loaded { files, prepared, decode: decoded - start, letterbox: decoded.elapsed() }
}

impl DetectFiles<'_> {
    /// Where the time went so far ([`Speed`]).
    pub fn speed(&self) -> Speed {
        self.speed
    }
}

impl Iterator for DetectFiles<'_> {
    type Item = FileResult;

    fn next(&mut self) -> Option<FileResult> {
        if let Some(result) = self.pending.pop_front() {
            return Some(result);
        }
        let waiting = Instant::now();
        let Ok(Loaded { files, prepared, decode, letterbox }) = self.batches.recv() else {
            // The loader is done (or died: a panic in decoding is reported, not swallowed).
            let panicked = self.loader.take().is_some_and(|h| h.join().is_err());
            return panicked.then(|| FileResult { path: PathBuf::new(), outcome: Err(Error::LoaderStopped) });
        };
        let images = prepared.len();
        self.speed.waited += waiting.elapsed();
        self.speed.decode += decode;
        self.speed.letterbox += letterbox;
        match self.detector.run_timed(prepared) {
            Ok((frames, forward, postprocess)) => {
                if self.speed.images == 0 {
                    self.speed.first_forward = forward;
                    self.speed.first_images = images;
                }
                self.speed.images += images;
                self.speed.forward += forward;
                self.speed.postprocess += postprocess;
                let mut frames = frames.into_iter();
                for (path, decoded) in files {
                    let outcome = decoded.and_then(|image| {
                        let frame = frames.next().ok_or(Error::LoaderStopped)?;
                        Ok((image, frame))
                    });
                    self.pending.push_back(FileResult { path, outcome });
                }
            }
            Err(err) => {
                // The whole batch failed in the network: every image gets the cause.
                let message = err.to_string();
                for (path, decoded) in files {
                    let outcome = match decoded {
                        Err(e) => Err(e),
                        Ok(_) => Err(Error::Batch(message.clone())),
                    };
                    self.pending.push_back(FileResult { path, outcome });
                }
            }
        }
        self.pending.pop_front()
    }
}
