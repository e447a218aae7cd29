//! `yolov3 bench`: forward-pass latency and throughput, after warm-up, on random input.
//!
//! Each timed run includes reading the decoded output back to the host, so asynchronous
//! backends (wgpu) are timed to completion.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use burn::tensor::{Distribution, Tensor};
use serde_json::json;
use yolo_model::{Arch, Yolo, YoloConfig};

use crate::args::{BenchArgs, FormatArg};
use crate::{errors, profile};

/// Latency statistics of one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
    pub images_per_s: f64,
}

/// Summarises run times of `batch` images each.
pub fn stats(mut times: Vec<Duration>, batch: usize) -> Stats {
    times.sort_unstable();
    let median = times[times.len() / 2];
    let images_per_s = batch as f64 / median.as_secs_f64();
    Stats { min: times[0], median, max: times[times.len() - 1], images_per_s }
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.runs == 0 {
        bail!("--batch and -n must be at least 1");
    }
    let selected = yolo::device::select(args.device.into())?;
    let device = &selected.device;
    let cpu_kernels = yolo::CpuKernels::resolve(args.cpu_kernels.map(Into::into)).map_err(errors::cli)?;
    yolo::cpu_kernels::install(cpu_kernels);
    let (model, name) = match args.arch {
        Some(arch) => {
            let arch = Arch::from(arch);
            device.seed(0);
            let model = Yolo::new(YoloConfig::builtin(arch), device).fold_batchnorm();
            (model, format!("{} (random weights)", arch.name()))
        }
        None => {
            let loaded = yolo::weights::load(args.weights.as_deref(), args.cfg.as_deref(), device)
                .map_err(errors::cli)?
                .for_inference();
            (loaded.model, loaded.architecture)
        }
    };
    let model = model.with_generic_ops(args.generic_ops);
    let dims = [args.batch, model.config().spec.channels, args.size, args.size];
    model.check_input(dims).with_context(|| format!("--size {}", args.size))?;
    let input = Tensor::<4>::random(dims, Distribution::Uniform(0.0, 1.0), device);
    let once = || -> anyhow::Result<Duration> {
        let start = Instant::now();
        let out = model.forward(input.clone()).into_data();
        let elapsed = start.elapsed();
        out.try_into_vec::<f32>().map_err(|e| anyhow::anyhow!("reading the output: {e:?}"))?;
        Ok(elapsed)
    };
    let warm_start = Instant::now();
    for _ in 0..args.warmup {
        once()?;
    }
    let warmup = warm_start.elapsed();
    // Warm-up measured the kernels of each new layer shape (tuned): keep them for next time.
    yolo::cpu_kernels::save();
    let times = (0..args.runs).map(|_| once()).collect::<anyhow::Result<Vec<_>>>()?;
    let s = stats(times, args.batch);
    let on_kernels = !args.generic_ops && yolo_model::cpu::runs_on(device);
    let layers = args.profile.then(|| profile::measure(&model, &input, args.runs, on_kernels));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let text = match args.format {
        FormatArg::Json => {
            json!({
                "model": name,
                "device": selected.name,
                "size": args.size,
                "batch": args.batch,
                "runs": args.runs,
                "threads": yolo_model::cpu::threads(),
                "ops": if args.generic_ops { "generic" } else { "kernels" },
                "cpu_kernels": cpu_kernels.name(),
                "warmup_ms": ms(warmup),
                "min_ms": ms(s.min),
                "median_ms": ms(s.median),
                "max_ms": ms(s.max),
                "images_per_s": s.images_per_s,
                "layers": layers.as_deref().map(profile::json),
            })
            .to_string()
                + "\n"
        }
        FormatArg::Text => format!(
            "model       {name}\ndevice      {} ({} threads, {} ops, {} cpu kernels)\ninput       {dims:?}\nwarm-up     {} runs in {:.1} ms\n\
             latency     min {:.2} ms | median {:.2} ms | max {:.2} ms  ({} runs)\nthroughput  {:.2} images/s\n",
            selected.name,
            yolo_model::cpu::threads(),
            if args.generic_ops { "generic" } else { "kernels" },
            cpu_kernels.name(),
            args.warmup,
            ms(warmup),
            ms(s.min),
            ms(s.median),
            ms(s.max),
            args.runs,
            s.images_per_s
        ) + &layers.as_deref().map(profile::text).unwrap_or_default(),
    };
    std::io::stdout().write_all(text.as_bytes()).context("writing the results")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn median_and_throughput() {
        let ms = Duration::from_millis;
        let s = super::stats(vec![ms(30), ms(10), ms(20)], 2);
        assert_eq!((s.min, s.median, s.max), (ms(10), ms(20), ms(30)));
        assert!((s.images_per_s - 100.0).abs() < 1e-9);
    }
}
