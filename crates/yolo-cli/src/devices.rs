//! `yolov3 devices`: the wgpu adapters, the CPU, and what `--device auto` picks and why.

use std::io::Write as _;

use anyhow::Context as _;
use serde_json::json;
use yolo::cpu_kernels::Loaded;
use yolo::device::{self, AdapterKind};

use crate::args::{DevicesArgs, FormatArg};

pub fn run(args: &DevicesArgs) -> anyhow::Result<()> {
    let adapters = device::adapters();
    let cpu = device::cpu_info();
    // What auto would do, without initialising a device: the first hardware adapter, else cpu.
    let hardware = adapters.iter().find(|a| a.kind != AdapterKind::Software);
    let (auto, why) = match hardware {
        Some(a) => (format!("wgpu ({})", a.describe()), "a hardware GPU is present".to_string()),
        None if adapters.is_empty() => ("cpu".into(), "no wgpu adapter found".into()),
        None => ("cpu".into(), "only software adapters, which are slower than the CPU backend".into()),
    };
    let cache = yolo::gpu_cache::location();
    let table = yolo::cpu_kernels::status();
    let table_text = match (&table.path, &table.loaded) {
        (None, _) => "off".to_string(),
        (Some(path), loaded) => {
            let state = match loaded {
                Loaded::Entries(n) => format!("{n} layer shapes measured"),
                Loaded::Missing => "nothing measured yet".to_string(),
                Loaded::Ignored(why) => format!("ignored ({why}); re-measured on first use"),
            };
            format!("{} ({state})", path.display())
        }
    };
    let table_error = table.save_error.clone();
    let cache_text = cache.as_ref().map_or("off".to_string(), |p| p.display().to_string());
    let text = match args.format {
        FormatArg::Json => {
            let list: Vec<_> = adapters
                .iter()
                .map(|a| json!({"name": a.name, "backend": a.backend, "type": a.kind.name(), "driver": a.driver}))
                .collect();
            json!({
                "adapters": list,
                "cpu": {"model": cpu.model, "signature": cpu.signature, "threads": cpu.threads, "simd": cpu.simd},
                "cpu_kernel_table": {"path": table.path, "entries": table.entries, "read": table_text, "save_error": table_error},
                "auto": {"device": auto, "reason": why},
                "wgpu_cache": cache,
            })
            .to_string()
                + "\n"
        }
        FormatArg::Text => {
            let mut out = String::from("wgpu adapters:\n");
            if adapters.is_empty() {
                out.push_str("  none (no Vulkan, Metal or DX12 driver found)\n");
            }
            for a in &adapters {
                out.push_str(&format!("  {:<40} {:<7} {:<11} {}\n", a.name, a.backend, a.kind.name(), a.driver));
            }
            out.push_str(&format!("  autotune cache: {cache_text} (${})\n", yolo::gpu_cache::CACHE_DIR_VAR));
            let signature = cpu.signature.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            out.push_str(&format!(
                "cpu:\n  {}{signature}, {} threads, kernels use {}\n  kernel table: {table_text} (${})\n\
                 --device auto: {auto} ({why})\n",
                cpu.model,
                cpu.threads,
                cpu.simd,
                yolo::cache_dir::CACHE_DIR_VAR
            ));
            out
        }
    };
    std::io::stdout().write_all(text.as_bytes()).context("writing the device list")?;
    Ok(())
}
