"""Per-photo time from file to verdict, step by step, and folder throughput.

    .venv/bin/python bench/bench_photo_speed.py [--photos DIR] [--weights FILE] [--repeat 1]

Single photos: each photo of DIR (default ../shared/realworld-dev, 260 phone photos, mostly
400x533) goes file -> load -> prepare_photo -> model -> verdict alone, as a dropped photo does;
the time of each step is taken by wrapping the pipeline's functions (median and 90th percentile
over the photos). A baseline in the same run: the pipeline with GrabCut at the previous settings
(5 iterations), so the ratio is measured under the same load.

Folder: `Predictor.predict_paths` over the whole folder (preparation on both cores, batched
inference): photos/s, against the same folder on one worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fmnist_desktop.core import photo  # noqa: E402
from fmnist_desktop.core.predict import predictor as predict
from fmnist_desktop.core.predict.predictor import Predictor  # noqa: E402


def load_avg() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average n/a"


def timed_steps(predictor: Predictor, files: list[Path]) -> tuple[dict[str, list[float]], list[float]]:
    """Per-step times (ms) for each photo, by wrapping the pipeline's functions."""
    steps: dict[str, list[float]] = defaultdict(list)
    current: dict[str, float] = {}
    names = ("estimate_background", "foreground_mask", "clean_mask", "grabcut", "grabcut_trimap", "fit_to_frame")
    # The pipeline is a package (core/photo/): each module holds its own reference to the
    # functions it calls, so every module's reference is wrapped.
    modules = [photo.loading, photo.background, photo.masks, photo.segmentation, photo.pipeline]
    originals = {(m, name): getattr(m, name) for m in modules for name in names if hasattr(m, name)}

    def wrap(name, fn):
        def inner(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                current[name] = current.get(name, 0.0) + (time.perf_counter() - t) * 1e3
        return inner

    for (m, name), fn in originals.items():
        setattr(m, name, wrap(name, fn))
    totals = []
    try:
        for f in files:
            current.clear()
            t0 = time.perf_counter()
            img = photo.load_image(f)
            t1 = time.perf_counter()
            steps_ = photo.prepare_photo(img)
            t2 = time.perf_counter()
            [pred] = predictor._finish([(f, f.name, None, steps_.final, None, None)], top_k=3)
            t3 = time.perf_counter()
            _ = pred.verdict.describe()
            steps["load (decode, EXIF, downscale)"].append((t1 - t0) * 1e3)
            steps["prepare_photo (all)"].append((t2 - t1) * 1e3)
            for name in names:
                steps[f"  of which {name}"].append(current.get(name, 0.0))
            steps["model + verdict"].append((t3 - t2) * 1e3)
            totals.append((time.perf_counter() - t0) * 1e3)
    finally:
        for (m, name), fn in originals.items():
            setattr(m, name, fn)
    return steps, totals


def folder_rate(predictor: Predictor, folder: Path, workers: int) -> float:
    old = predict.PREPARE_WORKERS
    predict.PREPARE_WORKERS = workers
    try:
        t = time.perf_counter()
        results = predictor.predict_paths([folder])
        return len(results) / (time.perf_counter() - t)
    finally:
        predict.PREPARE_WORKERS = old


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "realworld-dev")
    ap.add_argument("--weights", type=Path, default=REPO / "weights" / "default.pt")
    ap.add_argument("--baseline-iters", type=int, default=5, help="GrabCut iterations of the baseline run")
    args = ap.parse_args()
    files = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    predictor = Predictor.from_checkpoint(args.weights)
    predictor.predict_paths(files[:3])  # warm-up: imports, OpenCV, first allocations
    print(f"{len(files)} photos from {args.photos}; {load_avg()}")

    steps, totals = timed_steps(predictor, files)
    print(f"\nfile -> verdict, one photo at a time (ms): median {statistics.median(totals):.1f}, "
          f"p90 {np.percentile(totals, 90):.1f}")
    for name, values in steps.items():
        print(f"  {name:<34} median {statistics.median(values):7.1f}   p90 {np.percentile(values, 90):7.1f}")

    current_iters = photo.segmentation.GRABCUT_ITERS  # where grabcut() reads it
    photo.segmentation.GRABCUT_ITERS = args.baseline_iters
    _, base = timed_steps(predictor, files)
    photo.segmentation.GRABCUT_ITERS = current_iters
    print(f"\nbaseline (GrabCut {args.baseline_iters} iterations): median {statistics.median(base):.1f} ms, "
          f"p90 {np.percentile(base, 90):.1f} ms; ratio of medians {statistics.median(totals) / statistics.median(base):.2f}")

    one = folder_rate(predictor, args.photos, 1)
    two = folder_rate(predictor, args.photos, 2)
    print(f"\nfolder of {len(files)}: {two:.1f} photos/s with 2 workers, {one:.1f} with 1 ({two / one:.2f}x); {load_avg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
