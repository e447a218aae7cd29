#!/usr/bin/env python3
"""Import speed and memory: `yolov3 import` of a full 248 MB DataParallel yolov3 checkpoint vs
PyTorch's own `torch.load` + strip `module.` + `torch.save` of the same file, in one run.

    python3 -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install torch numpy
    /tmp/venv-torch/bin/pip install --no-deps pytorchyolo==1.8.0
    cargo build --release
    /tmp/venv-torch/bin/python benches/import_vs_torch.py [--bin target/release/yolov3] [--runs 3]

The checkpoint is pytorchyolo's Darknet built from our yolov3.cfg (random weights: speed does
not depend on values), wrapped in nn.DataParallel. Prints best-of-N wall times, their ratio,
and peak resident memory relative to the file size. Targets (issue 3/4): time ratio <= 1,
peak memory < 2x the file.
"""
import argparse
import pathlib
import resource
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = f"{tmp}/yolov3_dp.pt"
        checkpoint(src)
        size = pathlib.Path(src).stat().st_size
        theirs = min(torch_roundtrip(src, f"{tmp}/re.pt") for _ in range(args.runs))
        runs = [ours(args.bin, src, f"{tmp}/out.bpk") for _ in range(args.runs)]
        mine = min(t for t, _ in runs)
        peak = max(p for _, p in runs)
    print(f"checkpoint            {size / 1e6:8.1f} MB (DataParallel yolov3, fp32)")
    print(f"torch load+strip+save {theirs:8.3f} s")
    print(f"yolov3 import         {mine:8.3f} s   ratio {mine / theirs:.2f}x torch")
    print(f"yolov3 import peak    {peak / 1e6:8.1f} MB  = {peak / size:.2f}x the file")


if __name__ == "__main__":
    main()
