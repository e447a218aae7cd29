#!/usr/bin/env python3
"""End-to-end `yolov3 detect` vs the bare forward pass, in one run (issue 4: detect should add
under 10% to the forward).

    cargo build --release
    python3 benches/detect_overhead.py [--bin target/release/yolov3] [--image weights/dog.jpg] [-n 40]

Per-image detect time = (wall time on N copies - wall time on 1 copy) / (N - 1), so process
start-up and model loading cancel out; it includes JPEG decoding, letterboxing, the forward
pass, decoding, NMS and JSON output. The forward time is `yolov3 bench`'s minimum on the same
model, size and thread count: minima on both sides, because this shared machine's noise only
ever adds time. Standard library only.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def wall(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / "target/release/yolov3"))
    parser.add_argument("--image", default=str(ROOT / "weights/dog.jpg"))
    parser.add_argument("-n", type=int, default=40)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        one, many = pathlib.Path(tmp, "one"), pathlib.Path(tmp, "many")
        one.mkdir()
        many.mkdir()
        shutil.copy(args.image, one / "0.jpg")
        for i in range(args.n):
            shutil.copy(args.image, many / f"{i}.jpg")
        detect = [args.bin, "detect", "--device", "cpu", "--format", "json"]
        t_one = min(wall(detect + [str(one)], env) for _ in range(3))
        t_many = min(wall(detect + [str(many)], env) for _ in range(3))
    bench = [args.bin, "bench", "--device", "cpu", "-n", str(args.n), "--format", "json"]
    forward = json.loads(subprocess.run(bench, check=True, env=env, capture_output=True, text=True).stdout)
    per_image = (t_many - t_one) / (args.n - 1) * 1e3
    print(f"detect, per image      {per_image:8.2f} ms  ({args.n} copies of {pathlib.Path(args.image).name})")
    print(f"forward (bench min)    {forward['min_ms']:8.2f} ms")
    print(f"detect adds            {100 * (per_image / forward['min_ms'] - 1):8.1f} %  (threads={args.threads})")


if __name__ == "__main__":
    main()
