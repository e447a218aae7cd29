#!/usr/bin/env python3
"""Import speed and memory: `yolov3 import` of a full 248 MB DataParallel yolov3 checkpoint vs
PyTorch's own `torch.load` + strip `module.` + `torch.save` of the same file, in one run.

    python3 -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install torch numpy
    /tmp/venv-torch/bin/pip install --no-deps pytorchyolo==1.8.0
    cargo build --release
    /tmp/venv-torch/bin/python benches/import_vs_torch.py [--bin target/release/yolov3] [--runs 3]

The checkpoint is pytorchyolo's Darknet built from our yolov3.cfg (random weights: speed does
not depend on values), wrapped in nn.DataParallel. Prints the times, their ratios,
and peak resident memory relative to the file size. The runs alternate torch (in its own
process loop, then in a new process) and `yolov3 import` on the same file, keeping every output
(issue 9's setting); each run's row is printed, then medians. Targets (issue 9): time ratio
<= 1, peak memory <= 1.5x the file.
"""
import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from unittest import mock

ROOT = pathlib.Path(__file__).resolve().parents[1]


def checkpoint(path):
    for name in ["imgaug", "imgaug.augmenters", "imgaug.augmentables", "imgaug.augmentables.bbs"]:
        sys.modules.setdefault(name, mock.MagicMock(name=name))
    import torch.nn as nn
    import torch
    from pytorchyolo.models import Darknet

    model = Darknet(str(ROOT / "crates/yolo-model/cfg/yolov3.cfg"))
    torch.save(nn.DataParallel(model).state_dict(), path)


def torch_roundtrip(src, dst):
    import torch

    start = time.perf_counter()
    sd = torch.load(src, map_location="cpu")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    torch.save(sd, dst)
    return time.perf_counter() - start


FRESH = """
import sys, time, torch
start = time.perf_counter()
sd = torch.load(sys.argv[1], map_location="cpu")
sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
torch.save(sd, sys.argv[2])
print(time.perf_counter() - start)
"""


def torch_fresh(src, dst):
    """torch's load+strip+save in a new Python process, as a user converting from the shell
    runs it: (time inside the process, wall time including Python and torch start-up)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FRESH, src, dst], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def ours(binary, src, dst):
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "import", src, "-o", dst],
                         capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    peak_kib = int(out.stderr.strip().splitlines()[-1])
    return elapsed, peak_kib * 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / "target/release/yolov3"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--src", help="an existing checkpoint to convert (default: make the DataParallel yolov3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = args.src or f"{tmp}/yolov3_dp.pt"
        if not args.src:
            checkpoint(src)
        size = pathlib.Path(src).stat().st_size
        # Alternating on the same disk, every output kept (as a user converting several
        # checkpoints does): the page cache is never quiet, which is where the variance is.
        rows = []
        for i in range(args.runs):
            theirs = torch_roundtrip(src, f"{tmp}/re{i}.pt")
            fresh_inside, fresh_wall = torch_fresh(src, f"{tmp}/fresh{i}.pt")
            mine, peak = ours(args.bin, src, f"{tmp}/out{i}.bpk")
            rows.append((theirs, fresh_inside, fresh_wall, mine, peak))
            print(f"run {i}: torch in-process {theirs:6.3f} s | torch new process {fresh_inside:6.3f} s "
                  f"({fresh_wall:6.3f} s wall) | yolov3 import {mine:6.3f} s, peak {peak / 1e6:6.1f} MB")
    median = lambda k: statistics.median(r[k] for r in rows)
    best = lambda k: min(r[k] for r in rows)
    print(f"checkpoint            {size / 1e6:8.1f} MB (DataParallel yolov3, fp32)")
    print(f"torch load+strip+save {median(0):8.3f} s median, {best(0):.3f} best (in-process loop)")
    print(f"  in a new process    {median(1):8.3f} s median, {best(1):.3f} best ({median(2):.3f} s wall)")
    print(f"yolov3 import         {median(3):8.3f} s median, {best(3):.3f} best (whole process)")
    print(f"ratio (medians)       {median(3) / median(0):8.2f}x torch in-process, "
          f"{median(3) / median(1):.2f}x torch in a new process, {median(3) / median(2):.2f}x its wall time")
    print(f"yolov3 import peak    {max(r[4] for r in rows) / 1e6:8.1f} MB  = {max(r[4] for r in rows) / size:.2f}x the file")


if __name__ == "__main__":
    main()
