#!/usr/bin/env python3
"""This project vs the tools users would use instead, on the same forward pass, in one run.

Usually run through `cargo xtask bench-peers`, which builds the release binary and prepares a
throwaway venv (torch CPU, onnxruntime, opencv-python-headless 4.x, pytorchyolo). By hand:

    python benches/peers.py --bin target/release/yolov3 [--threads 2] [--runs 10]

Every engine gets the same architecture (our built-in cfgs), the same 416x416 input size, the
same batch sizes and the same thread count. Ours runs twice: with the fixed kernel rules and
with kernels measured on this machine (`--cpu-kernels tuned`, a fresh table: the measuring is
part of the warm-up, whose time is printed too). Weights: the bundled yolov3-tiny; random for full
yolov3 (speed does not depend on values). Network only: no image decoding, resizing or NMS.
Only ratios measured in one run mean anything on a shared machine.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from unittest import mock

ROOT = pathlib.Path(__file__).resolve().parents[1]
CFG = {"yolov3-tiny": ROOT / "weights/yolov3-tiny.cfg", "yolov3": ROOT / "crates/yolo-model/cfg/yolov3.cfg"}


def timed(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def darknet_weights(arch, tmp):
    """The bundled weights for tiny; for yolov3, pytorchyolo's own random initialisation
    (BatchNorm variances 1, as a real checkpoint's are positive) saved as a darknet file."""
    if arch == "yolov3-tiny":
        return ROOT / "weights/yolov3-tiny.weights"
    path = pathlib.Path(tmp) / "yolov3-random.weights"
    if not path.exists():
        import torch

        torch.manual_seed(0)
        darknet_class()(str(CFG[arch])).save_darknet_weights(str(path))
        # pytorchyolo writes five int32 with version 0.0, which darknet reads as a 16-byte
        # header; version 0.2 makes the same 20 bytes a header with a 64-bit `seen`.
        with open(path, "r+b") as f:
            f.seek(4)
            f.write((2).to_bytes(4, "little"))
    return path


def darknet_class():
    for name in ["imgaug", "imgaug.augmenters", "imgaug.augmentables", "imgaug.augmentables.bbs"]:
        sys.modules.setdefault(name, mock.MagicMock(name=name))
    from pytorchyolo.models import Darknet

    return Darknet


def torch_model(arch, weights):
    model = darknet_class()(str(CFG[arch]))
    model.load_darknet_weights(str(weights))
    return model.eval()


SIMD_FLAGS = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
              "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve"]


def cpu_header():
    """`lscpu`'s model name, the logical CPU count and the SIMD flags that matter to the kernels:
    a speed table means nothing without the machine it was measured on."""
    model, flags = "unknown CPU", set()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        import platform

        model = platform.processor() or platform.machine()
    simd = " ".join(f for f in SIMD_FLAGS if f in flags) or "none listed"
    return f"CPU: {model}, {os.cpu_count()} logical CPUs; SIMD: {simd}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / "target/release/yolov3"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=416)
    args = parser.parse_args()

    import cv2
    import numpy as np
    import onnxruntime as ort
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ["yolov3-tiny", "yolov3"]:
            weights = darknet_weights(arch, tmp)
            model = torch_model(arch, weights)
            onnx_path = pathlib.Path(tmp) / f"{arch}.onnx"
            dummy = torch.rand(1, 3, args.size, args.size)
            torch.onnx.export(model, dummy, str(onnx_path), input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, dynamo=False)
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            net = cv2.dnn.readNetFromDarknet(str(CFG[arch]), str(weights))
            for batch in [1, 8]:
                x = np.random.default_rng(1).random((batch, 3, args.size, args.size), dtype=np.float32)
                # Ours first, after a pause: the peers' idle worker threads (OpenMP, ORT) spin
                # for a while after each run and would otherwise steal our cores.
                time.sleep(1.0)
                ours_cmd = [args.bin, "bench", "--device", "cpu", "--size", str(args.size), "--batch", str(batch),
                            "-n", str(args.runs), "--format", "json"]
                ours_cmd += ["-w", str(weights), "--cfg", str(CFG[arch])]
                # Ours twice: the fixed rules, then measured kernels (a fresh table in `tmp`: the
                # measuring happens in the warm-up, whose time is reported apart).
                env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), YOLOV3_CACHE_DIR=tmp)
                ours = {}
                for mode in ["fixed", "tuned"]:
                    run = subprocess.run(ours_cmd + ["--cpu-kernels", mode], capture_output=True, text=True,
                                         check=True, env=env)
                    ours[mode] = json.loads(run.stdout)
                xt = torch.from_numpy(x)
                with torch.no_grad():
                    t_torch = timed(lambda: model(xt), args.runs)
                t_ort = timed(lambda: session.run(None, {"x": x}), args.runs)

                def opencv():
                    net.setInput(x)
                    net.forward(net.getUnconnectedOutLayersNames())

                t_cv = timed(opencv, args.runs)
                rows.append((arch, batch, ours["fixed"]["median_ms"], ours["tuned"]["median_ms"],
                             ours["tuned"]["warmup_ms"], t_torch, t_cv, t_ort))
    print(cpu_header())
    print(f"peers: torch {torch.__version__}, OpenCV {cv2.__version__}, ONNX Runtime {ort.__version__}")
    print(f"{'model':<12} {'batch':>5} {'fixed ms':>9} {'tuned ms':>9} {'torch ms':>9} {'opencv ms':>10} "
          f"{'ort ms':>8} {'tuned/ort':>10} {'tuning warm-up ms':>18}")
    for arch, batch, fixed, tuned, warmup, t_torch, t_cv, t_ort in rows:
        print(f"{arch:<12} {batch:>5} {fixed:>9.1f} {tuned:>9.1f} {t_torch:>9.1f} {t_cv:>10.1f} {t_ort:>8.1f} "
              f"{tuned / t_ort:>10.2f} {warmup:>18.0f}")
    print(f"threads={args.threads} size={args.size} runs={args.runs}; medians; network only")


if __name__ == "__main__":
    main()
