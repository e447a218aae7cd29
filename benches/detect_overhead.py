#!/usr/bin/env python3
"""End-to-end `yolov3 detect` vs the bare forward pass, in one run (issue 4: detect should add
under 10% to the forward).

    cargo build --release
    python3 benches/detect_overhead.py [--bin target/release/yolov3] [--image weights/dog.jpg] [-n 40]
        [--weights W [--cfg C]] [--large]

`--large` also times upscaled copies of the image at 1920x1080 and 4000x3000 (JPEG quality 95,
made with OpenCV: run it with a Python that has `cv2`, e.g. the peers venv), where decoding
dominates; `--weights` times another model (e.g. a full yolov3).

Per-image detect time = (wall time on N copies - wall time on 1 copy) / (N - 1), so process
start-up and model loading cancel out; it includes JPEG decoding, letterboxing, the forward
pass, decoding, NMS and JSON output. The forward time is `yolov3 bench`'s minimum on the same
model, size and thread count: minima on both sides, because this shared machine's noise only
ever adds time. Each row is followed by detect's own `--verbose` account of one such run
(decode and letterbox on its loader thread, the network's wait for them, forward,
postprocess). Standard library only, except `--large`.
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
    parser.add_argument("--weights", help="weights to time (default: the bundled yolov3-tiny)")
    parser.add_argument("--cfg", help="darknet cfg for --weights")
    parser.add_argument("--large", action="store_true", help="also 1920x1080 and 4000x3000 copies")
    args = parser.parse_args()
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    model = (["--weights", args.weights] if args.weights else []) + (["--cfg", args.cfg] if args.cfg else [])
    bench = [args.bin, "bench", "--device", "cpu", "-n", str(args.n), "--format", "json"] + model
    forward = json.loads(subprocess.run(bench, check=True, env=env, capture_output=True, text=True).stdout)
    print(f"forward (bench min)    {forward['min_ms']:8.2f} ms  (threads={args.threads})")
    with tempfile.TemporaryDirectory() as tmp:
        photos = [("original", pathlib.Path(args.image))]
        if args.large:
            import cv2  # only for --large

            image = cv2.imread(args.image)
            for w, h in [(1920, 1080), (4000, 3000)]:
                path = pathlib.Path(tmp, f"{w}x{h}.jpg")
                cv2.imwrite(str(path), cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
                photos.append((f"{w}x{h}", path))
        for label, photo in photos:
            one, many = pathlib.Path(tmp, label, "one"), pathlib.Path(tmp, label, "many")
            one.mkdir(parents=True)
            many.mkdir()
            shutil.copy(photo, one / "0.jpg")
            for i in range(args.n):
                shutil.copy(photo, many / f"{i}.jpg")
            detect = [args.bin, "detect", "--device", "cpu", "--format", "json"] + model
            t_one = min(wall(detect + [str(one)], env) for _ in range(3))
            t_many = min(wall(detect + [str(many)], env) for _ in range(3))
            per_image = (t_many - t_one) / (args.n - 1) * 1e3
            print(f"detect, per image      {per_image:8.2f} ms  ({args.n} copies of {photo.name}, {label})"
                  f"  adds {100 * (per_image / forward['min_ms'] - 1):6.1f} %")
            # detect's own account of the same run (`--verbose`): where each image's time went.
            verbose = subprocess.run(detect + ["--verbose", str(many)], check=True, env=env, capture_output=True,
                                     text=True).stderr
            speed = [line for line in verbose.splitlines() if line.startswith("speed per image:")]
            print(f"  {speed[-1] if speed else '(no speed line)'}")


if __name__ == "__main__":
    main()
