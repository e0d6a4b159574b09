"""ONNX and TorchScript exports of a model: sizes, agreement with torch on the 10,000 test images,
single-image latency of each runtime.

    .venv/bin/python bench/bench_export.py [--weights weights/default.pt] [--data DIR] [--threads 2]
                                           [--repeats 300] [--json]

Exports `--weights` with `core.jobs.export.export_model` (each export verifies itself on the bundled
samples), then on the Fashion-MNIST test split (found as `fmnist evaluate` finds it):
- top-1 agreement and the largest probability difference of onnxruntime and TorchScript vs
  torch (eager, the app's own path), and each one's test accuracy;
- single-image latency (batch of 1, already prepared 28×28 input; median, p90, p99 of
  `--repeats` calls after 30 warm-up calls) with `--threads` threads for each runtime: torch
  (`torch.set_num_threads`), TorchScript (same), onnxruntime (`intra_op_num_threads`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _latency(fn, x, repeats: int) -> dict[str, float]:
    for _ in range(30):
        fn(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(times, n=100)
    return {"median_ms": round(statistics.median(times), 3), "p90_ms": round(q[89], 3), "p99_ms": round(q[98], 3)}


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch

    from fmnist_desktop.core.jobs import export
    from fmnist_desktop.core.store.checkpoint import load_model
    from fmnist_desktop.core.data.fashion_mnist import load_test_split

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(REPO / "weights" / "default.pt"))
    p.add_argument("--data")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    model, meta = load_model(args.weights)
    split, source = load_test_split(args.data)
    x = export.model_input(split.images.numpy(), meta)
    labels = split.labels.numpy()
    report: dict = {"weights": args.weights, "model": meta.name, "checkpoint_bytes": Path(args.weights).stat().st_size,
                    "data": source.description, "n": int(len(labels)), "threads": args.threads}
    t = time.perf_counter()
    want = export.torch_probabilities(model, x)
    report["torch_eager"] = {"accuracy": round(float((want.argmax(1) == labels).mean() * 100), 2),
                             "batch_seconds": round(time.perf_counter() - t, 2)}
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for fmt, name in (("onnx", "model.onnx"), ("torchscript", "model.ts.pt")):
            result = export.export_model((model, meta), Path(folder) / name, fmt)
            results[fmt] = result
        session = export.onnx_session(results["onnx"].path, threads=args.threads)
        module = export.torchscript_module(results["torchscript"].path)
        for fmt, run in (("onnx", lambda a: export.onnx_probabilities(session, a)),
                         ("torchscript", lambda a: export.torchscript_probabilities(module, a))):
            t = time.perf_counter()
            got = run(x)
            seconds = time.perf_counter() - t
            report[fmt] = {
                "file_bytes": results[fmt].size_bytes,
                "export_seconds": round(results[fmt].seconds, 1),
                "sample_verification": results[fmt].verification.to_dict(),
                "top1_agreement_pct": round(float((got.argmax(1) == want.argmax(1)).mean() * 100), 3),
                "disagreements": int((got.argmax(1) != want.argmax(1)).sum()),
                "max_abs_prob_diff": float(np.abs(got - want).max()),
                "accuracy": round(float((got.argmax(1) == labels).mean() * 100), 2),
                "batch_seconds": round(seconds, 2),
            }
        one = x[:1].copy()
        wrapped = export._WithSoftmax(model).eval()

        def eager(a):
            with torch.inference_mode():
                return wrapped(torch.from_numpy(a)).numpy()

        def scripted(a):
            with torch.inference_mode():
                return module(torch.from_numpy(a)).numpy()

        report["latency_1_image"] = {
            "torch_eager": _latency(eager, one, args.repeats),
            "torchscript": _latency(scripted, one, args.repeats),
            "onnxruntime": _latency(lambda a: session.run(["probabilities"], {"image": a}), one, args.repeats),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"model: {meta.name} ({args.weights}, {report['checkpoint_bytes'] / 1e6:.2f} MB checkpoint)")
    print(f"data: {report['data']}, {report['n']:,} test images; torch eager accuracy {report['torch_eager']['accuracy']}%")
    for fmt in ("onnx", "torchscript"):
        r = report[fmt]
        print(f"{fmt:<12} {r['file_bytes'] / 1e6:.2f} MB, exported in {r['export_seconds']} s; vs torch on {report['n']:,}: "
              f"top-1 agreement {r['top1_agreement_pct']}% ({r['disagreements']} differ), max |Δp| {r['max_abs_prob_diff']:.2e}, "
              f"accuracy {r['accuracy']}%, all images in {r['batch_seconds']} s")
    print(f"single image, {args.threads} threads, {args.repeats} calls:")
    for name, r in report["latency_1_image"].items():
        print(f"  {name:<12} median {r['median_ms']} ms, p90 {r['p90_ms']} ms, p99 {r['p99_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
