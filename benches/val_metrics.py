#!/usr/bin/env python3
"""COCOeval's cost: `yolov3 val --results` vs pycocotools on the same synthetic data, one run.

5000 images with 7 objects each (12 categories, some crowd), 100 detections per image (near
the objects and random), as a COCO instances file and a results file. Prints both timings and
checks that the 12 stats agree to 1e-4.

    python3 -m venv /tmp/venv-val && /tmp/venv-val/bin/pip install numpy pycocotools
    /tmp/venv-val/bin/python benches/val_metrics.py [path/to/yolov3]
"""
import contextlib
import io
import json
import pathlib
import random
import subprocess
import sys
import tempfile
import time

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

BINARY = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp/yolov3-target/release/yolov3"
IMAGES, OBJECTS, DETS, CATS = 5000, 7, 100, 12


def main():
    rng = random.Random(0)
    images, annotations, results = [], [], []
    for i in range(1, IMAGES + 1):
        images.append({"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480})
        boxes = []
        for _ in range(OBJECTS):
            w, h = rng.uniform(8, 300), rng.uniform(8, 300)
            box = [rng.uniform(0, 640 - w), rng.uniform(0, 480 - h), w, h]
            cat = rng.randint(1, CATS)
            boxes.append((cat, box))
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": cat, "bbox": box,
                                "area": w * h * rng.uniform(0.6, 1.0), "iscrowd": int(rng.random() < 0.02)})
        for _ in range(DETS):
            if rng.random() < 0.3:
                cat, (x, y, w, h) = rng.choice(boxes)
                box = [x + rng.gauss(0, 5), y + rng.gauss(0, 5), w * rng.uniform(0.8, 1.2), h * rng.uniform(0.8, 1.2)]
            else:
                cat, box = rng.randint(1, CATS), [rng.uniform(0, 600), rng.uniform(0, 440), rng.uniform(5, 200), rng.uniform(5, 200)]
            results.append({"image_id": i, "category_id": cat, "bbox": box, "score": round(rng.random(), 4)})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        gt_path, dt_path = tmp / "instances.json", tmp / "results.json"
        gt_path.write_text(json.dumps({"images": images, "annotations": annotations,
                                       "categories": [{"id": c, "name": f"c{c}"} for c in range(1, CATS + 1)]}))
        dt_path.write_text(json.dumps(results))
        # Our val looks the images up: empty files stand in for them (they are never decoded).
        for im in images:
            (tmp / im["file_name"]).touch()
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(gt_path))
            e = COCOeval(gt, gt.loadRes(str(dt_path)), "bbox")
            e.evaluate(); e.accumulate(); e.summarize()
        theirs = time.perf_counter() - start
        start = time.perf_counter()
        out = subprocess.run([BINARY, "val", "--data", str(gt_path), "--results", str(dt_path), "--format", "json"],
                             check=True, capture_output=True, text=True).stdout
        ours_total = time.perf_counter() - start
        ours = json.loads(out)
        worst = max(abs(a - b) for a, b in zip(ours["stats"], e.stats))
        print(f"{IMAGES} images x {DETS} detections ({len(results)} results, {len(annotations)} objects)")
        print(f"pycocotools load+evaluate+accumulate+summarize: {theirs:.2f} s")
        print(f"yolov3 val --results: metrics {ours['timing']['metrics_ms']:.1f} ms, whole command {ours_total:.2f} s")
        print(f"max |stats difference|: {worst:.2e}")


if __name__ == "__main__":
    main()
