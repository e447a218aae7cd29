//! The workspace's integration tests: one crate, so burn links once.
//!
//! - `parity`: our yolov3-tiny against OpenCV DNN's committed outputs on real photos (cpu), and
//!   the same input on cpu vs wgpu;
//! - `models`: every built-in architecture builds and runs;
//! - `cli`: the `yolov3` binary end to end, including every bad-input path.

mod cli;
mod common;
mod import;
mod models;
mod parity;
