"""The cost of ImageNet's opinion in the photo model (issue 28): the shipped model with and without
it, batch 1, the same letterboxed photo, torch and (when installed) onnxruntime, interleaved
blocks of calls so both see the same load.

    nice -n 0 .venv/bin/python bench/bench_imagenet_opinion.py [--rounds 7] [--calls 10]

Prints the median and p90 per call of each and the ratio with/without, and the load average.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fmnist_desktop.core.photo.model_input import load_photo_input, to_unit_tensor  # noqa: E402
from fmnist_desktop.core.store.checkpoint import load_model  # noqa: E402


def onnx_session(model: torch.nn.Module, x: torch.Tensor, folder: str):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    path = os.path.join(folder, f"m{id(model)}.onnx")
    torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"x": x.contiguous().numpy()})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(2)
    with_opinion, meta = load_model(REPO / "weights" / "photo.pt")
    if with_opinion.opinion is None:
        print("weights/photo.pt has no ImageNet opinion")
        return 2
    plain = copy.deepcopy(with_opinion)
    plain.opinion = None
    x = to_unit_tensor([load_photo_input(REPO / "tests" / "data" / "photo_sneaker.jpg", 224)])
    runs = {"torch, photo model alone": lambda: plain(x), "torch, with ImageNet's opinion": lambda: with_opinion(x)}
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        for name, model in (("onnxruntime, photo model alone", plain), ("onnxruntime, with ImageNet's opinion", with_opinion)):
            call = onnx_session(model, x, folder)
            if call is not None:
                runs[name] = call
        times: dict[str, list[float]] = {name: [] for name in runs}
        for call in runs.values():
            for _ in range(3):
                call()
        for _ in range(args.rounds):
            for name, call in runs.items():
                for _ in range(args.calls):
                    t = time.perf_counter()
                    call()
                    times[name].append(1000 * (time.perf_counter() - t))
    print(f"load average {os.getloadavg()[0]:.1f}, {args.rounds} rounds × {args.calls} calls, batch 1, 2 threads")
    for name, values in times.items():
        print(f"  {name:40s} median {np.median(values):6.1f} ms   p90 {np.percentile(values, 90):6.1f} ms")
    for engine in ("torch", "onnxruntime"):
        a, b = f"{engine}, photo model alone", f"{engine}, with ImageNet's opinion"
        if a in times and b in times:
            print(f"  {engine}: with / without = {np.median(times[b]) / np.median(times[a]):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
