//! The workspace's integration tests: one crate, so burn links once.
//!
//! - `parity`: our yolov3-tiny against OpenCV DNN's committed outputs on real photos (cpu), and
//!   the same input on cpu vs wgpu;
//! - `models`: every built-in architecture builds and runs;
//! - `cli`: the `yolov3` binary end to end, including every bad-input path;
//! - `security`: hostile pickles are listed, refused, never run;
//! - `hostile`: the bad-input corpus (containers, pickles, tensors, semantics, formats, cfg,
//!   images, arguments) under memory and time limits, and output safety;
//! - `val`: `yolov3 val` vs pycocotools on the labelled fixture, both layouts, bad datasets;
//! - `cpu_kernels`: the measured CPU kernel table is saved, read back, and never fails a run;
//! - `wgpu_cache`: the wgpu autotune store is reused across processes, and never fails a run;
//! - `detect_options`: class filters, caps, label files, COCO results, quiet stderr, devices.

mod cli;
mod common;
mod cpu_kernels;
mod detect_options;
mod hostile;
mod import;
mod models;
mod parity;
mod security;
mod val;
mod wgpu_cache;
