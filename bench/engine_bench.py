"""torch against onnxruntime, side by side in one run: file → verdict per image, for both kinds.

    .venv/bin/python bench/engine_bench.py [--photos DIR] [--n 40] [--busy] [--json OUT]

The same Predictor code answers both ways: "torch" is the Predictor built from the torch models
(`Predictor(model, meta, ...)`), "onnxruntime" the one the app uses (`jobs.twins.predictor_for`:
each model's ONNX twin). For each kind:

- photo: the shipped photo model (weights/photo.pt) and the 28×28 network together, on phone
  photos (default ../shared/realworld-dev, 400×533 JPEGs), routed as the app routes them;
- fmnist: the same two models on Fashion-MNIST test images written as 28×28 PNGs (routed to the
  28×28 network; the photo model is never loaded for them by the onnxruntime Predictor).

Batch 1: `predict_paths([file])` per file (decode, prepare, route, model, verdict), median and
90th percentile over the files. App batch: `predict_paths(files)` on blocks of the batch the app
uses (8 photos: PHOTO_BATCH; 256 small images: STREAM_BATCH), time per image per block. The two
engines alternate file by file (block by block), so a change of load hits both alike.

`--busy` starts two processes that keep two cores busy (numpy matrix products) for the run: the
"competing 2-core process". The load average is printed before and after; say it beside figures.
`--ort-sweep` also times the photo model's twin alone at batch 1 for intra-op threads 1/2/4 with
and without spinning (how engines.py's thread settings were chosen).
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load_avg() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def _burn(stop_at: float) -> None:
    a = np.random.rand(300, 300)
    while time.time() < stop_at:
        a = a @ a
        a /= np.abs(a).max() + 1e-9


def start_busy(seconds: float) -> list[multiprocessing.Process]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    procs = [multiprocessing.Process(target=_burn, args=(time.time() + seconds,), daemon=True) for _ in range(2)]
    for p in procs:
        p.start()
    return procs


def fmnist_pngs(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    source = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    images = np.frombuffer(gzip.decompress(source.read_bytes()), np.uint8, offset=16).reshape(-1, 28, 28)
    out = []
    for i in range(n):
        path = folder / f"{i:05d}.png"
        Image.fromarray(images[i]).save(path)
        out.append(path)
    return out


def stats(ms: list[float]) -> dict:
    ms = sorted(ms)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return {"median_ms": round(statistics.median(ms), 2), "p90_ms": round(p90, 2), "n": len(ms)}


def time_call(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def compare(engines: dict, files: list[Path], batch: int, rounds: int, n_single: int) -> dict:
    """{engine: {"batch 1": stats, f"batch {batch}": stats}}, the engines alternating: batch 1 on
    the first n_single files, blocks of `batch` on all of them."""
    single = {name: [] for name in engines}
    batched = {name: [] for name in engines}
    for predictor in engines.values():  # warm up: sessions, thread pools, first-call costs
        predictor.predict_paths(files[:2])
    for f in files[:n_single]:
        for name, predictor in engines.items():
            single[name].append(time_call(lambda: predictor.predict_paths([f])))
    blocks = [files[k:k + batch] for k in range(0, len(files) - batch + 1, batch)] or [files]
    for _ in range(rounds):
        for block in blocks:
            for name, predictor in engines.items():
                batched[name].append(time_call(lambda: predictor.predict_paths(block)) / len(block))
    return {name: {"batch 1": stats(single[name]), f"batch {len(blocks[0])}": stats(batched[name])} for name in engines}


def ort_sweep(photo_twin) -> dict:
    from fmnist_desktop.core.predict.engines import onnx_session

    x = np.random.rand(1, 3, 224, 224).astype(np.float32)
    out = {}
    for threads in (1, 2, 4):
        for spinning in (False, True):
            session = onnx_session(photo_twin.onnx_path, threads, spinning)
            session.run(None, {"image": x})
            ms = [time_call(lambda: session.run(None, {"image": x})) for _ in range(30)]
            out[f"threads={threads} spinning={spinning}"] = stats(ms)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", default=str(REPO.parent / "shared" / "realworld-dev"))
    parser.add_argument("--n", type=int, default=40, help="photos for batch 1 (and the batch-8 blocks)")
    parser.add_argument("--n-small", type=int, default=512, help="28×28 PNGs (two blocks of 256)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--busy", action="store_true", help="run beside two processes that keep 2 cores busy")
    parser.add_argument("--ort-sweep", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    from fmnist_desktop.core.base.formats import iter_photo_files
    from fmnist_desktop.core.base.paths import default_weights_path, photo_weights_path
    from fmnist_desktop.core.jobs.twins import ensure_twin, predictor_for
    from fmnist_desktop.core.predict.predictor import PHOTO_BATCH, STREAM_BATCH, Predictor
    from fmnist_desktop.core.store.checkpoint import load_model

    import torch

    weights = [photo_weights_path(), default_weights_path()]
    twins = [ensure_twin(p) for p in weights]  # made before any timing
    loaded = [load_model(p) for p in weights]
    engines = {
        "torch": Predictor(loaded[0][0], loaded[0][1], "cpu", [loaded[1]]),
        "onnxruntime": predictor_for(weights),
    }
    photos = sorted(iter_photo_files(Path(args.photos)))[: args.n]
    if not photos:
        sys.exit(f"No photos in {args.photos}; pass --photos DIR.")
    report = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "busy": args.busy,
              "load_before": load_avg()}
    procs = start_busy(3600) if args.busy else []
    try:
        if procs:
            time.sleep(3)
            report["load_busy_start"] = load_avg()
        with tempfile.TemporaryDirectory() as tmp:
            small = fmnist_pngs(Path(tmp), args.n_small)
            report["photo"] = compare(engines, photos, PHOTO_BATCH, args.rounds, len(photos))
            report["fmnist"] = compare(engines, small, STREAM_BATCH, args.rounds, args.n)
        if args.ort_sweep:
            report["ort_sweep_photo_batch1_model_only"] = ort_sweep(twins[0])
    finally:
        for p in procs:
            p.terminate()
    report["load_after"] = load_avg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
