#!/usr/bin/env bash
# wgpu on a real GPU vs PyTorch CUDA eager, same machine, same input: one prepared command for
# a lent device machine (under 10 minutes with a warm cargo cache; the first burn build is long).
#
#   bash benches/gpu.sh            # from the repository root
#
# Prints `yolov3 bench --device wgpu` (JSON) for yolov3-416 at batch 1 and 8, then PyTorch's
# eager CUDA latency for the same network (pytorchyolo's Darknet from our cfg) if torch with
# CUDA is importable.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --package yolo-cli 2>&1 | tail -2
bin="$CARGO_TARGET_DIR/release/yolov3"
for batch in 1 8; do
  "$bin" bench --device wgpu --arch yolov3 --size 416 --batch "$batch" -n 20 --warmup 5 --format json
done
python3 - <<'PY' || echo "PyTorch CUDA baseline unavailable"
import statistics, sys, time
from unittest import mock
import torch
assert torch.cuda.is_available(), "no CUDA"
for n in ["imgaug", "imgaug.augmenters", "imgaug.augmentables", "imgaug.augmentables.bbs"]:
    sys.modules.setdefault(n, mock.MagicMock(name=n))
try:
    from pytorchyolo.models import Darknet
except ImportError:
    sys.exit("pip install --no-deps pytorchyolo==1.8.0 torchvision for the baseline")
model = Darknet("crates/yolo-model/cfg/yolov3.cfg").cuda().eval()
for batch in (1, 8):
    x = torch.rand(batch, 3, 416, 416, device="cuda")
    times = []
    with torch.no_grad():
        for i in range(25):
            torch.cuda.synchronize(); t = time.perf_counter(); model(x); torch.cuda.synchronize()
            if i >= 5:
                times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1e3
    print(f'{{"engine":"torch-cuda-eager","batch":{batch},"median_ms":{ms:.3f},"images_per_s":{batch / ms * 1e3:.1f}}}')
PY
