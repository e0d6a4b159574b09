"""Real-world photo benchmark: how well a model classifies real photos, per preprocessing pipeline.

For each model given, prints:
- overall and per-class accuracy on a labelled photo folder (default /work/shared/realworld-dev)
  with the origin notebook's preprocessing, the quick "simple" baseline and the app's pipeline;
  also on two halves of the folder (split by a hash of the file name) to show how much the
  figure moves with the sample;
- a generality check that needs no photos: Fashion-MNIST test images turned back into
  "packshots" (upscaled, inverted onto white or a coloured background, with a margin) and run
  through the app pipeline; accuracy on those vs on the original 28x28 images (ratio = how much
  the pipeline loses on studio photos);
- Fashion-MNIST test accuracy of the model (the real-world model must keep >= 93 %);
- the pipeline's speed (photos per second on this machine).

    .venv/bin/python bench/bench_realworld.py --weights weights/default.pt [--weights other.pt]
        [--root DIR] [--pipelines notebook,simple,app] [--packshots 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fmnist_desktop.core.photo import prepare_photo  # noqa: E402
from fmnist_desktop.core.predict.photo_eval import as_runner, evaluate_photo_items, labelled_photos  # noqa: E402
from fmnist_desktop.core.learn.transforms import to_model_input  # noqa: E402

DEFAULT_ROOT = Path("/work/shared/realworld-dev")
PACKSHOT_BACKGROUNDS = [(255, 255, 255), (250, 246, 238), (214, 226, 240), (236, 214, 170), (190, 200, 190)]


def half_of(path: str, root: Path) -> int:
    return zlib.crc32(str(Path(path).relative_to(root)).encode()) % 2


def accuracy(runner, images: torch.Tensor, labels: torch.Tensor) -> float:
    x = to_model_input(images, runner.input_size, runner.mean, runner.std)
    return float((runner.probabilities(x).argmax(1) == labels).float().mean())


def packshot(item: np.ndarray, background, scale: int = 10, margin: int = 40) -> Image.Image:
    """A Fashion-MNIST item as the studio photo it came from: upscaled, dark on a light ground."""
    big = np.asarray(Image.fromarray(item).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC), np.float32)
    alpha = np.clip(big / 40.0, 0, 1)[..., None]
    rgb = (1 - alpha) * np.array(background, np.float32) + alpha * (255.0 - big)[..., None]
    canvas = Image.new("RGB", (28 * scale + 2 * margin,) * 2, tuple(background))
    canvas.paste(Image.fromarray(rgb.clip(0, 255).astype(np.uint8)), (margin, margin))
    return canvas


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", action="append", required=True, help="checkpoint (repeatable)")
    ap.add_argument("--root", default=str(DEFAULT_ROOT))
    ap.add_argument("--pipelines", default="notebook,simple,app")
    ap.add_argument("--packshots", type=int, default=1000, help="Fashion-MNIST test images for the packshot check (0: skip)")
    ap.add_argument("--json", help="also write all figures to this file")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    root = Path(args.root)
    items = labelled_photos(root)
    report: dict = {"root": str(root), "photos": len(items), "models": []}
    print(f"Photos: {root} ({len(items)})")

    test = None
    try:
        from fmnist_desktop.core.data.fashion_mnist import load_test_split

        test, _ = load_test_split()
    except Exception as exc:  # noqa: BLE001 — the photo figures are still worth printing
        print(f"(Fashion-MNIST test set not available: {exc})")

    for weights in args.weights:
        runner = as_runner(weights)
        entry: dict = {"weights": weights, "pipelines": {}}
        print(f"\n=== {weights} (input {runner.input_size}px)")
        if test is not None:
            entry["fashion_mnist_test_accuracy"] = accuracy(runner, test.images, test.labels)
            print(f"Fashion-MNIST test accuracy: {100 * entry['fashion_mnist_test_accuracy']:.2f}%")
        for pipeline in args.pipelines.split(","):
            t0 = time.perf_counter()
            result = evaluate_photo_items(runner, items, pipeline, root=str(root))
            seconds = time.perf_counter() - t0
            halves = []
            for h in (0, 1):
                rows = [f for f in result.files if f["pred"] is not None and half_of(f["path"], root) == h]
                halves.append(float(np.mean([f["pred"] == f["true"] for f in rows])) if rows else float("nan"))
            per_class = {c["name"]: c["accuracy"] for c in result.classes_present()}
            worst = result.worst_class()
            entry["pipelines"][pipeline] = {"accuracy": result.accuracy, "halves": halves, "per_class": per_class,
                                            "photos_per_s": len(items) / seconds, "confusion": result.confusion.tolist()}
            print(f"[{pipeline:>8}] overall {100 * result.accuracy:5.1f}%  halves {100 * halves[0]:.1f}% / "
                  f"{100 * halves[1]:.1f}%  worst {worst['name']} {100 * worst['accuracy']:.0f}%  "
                  f"({len(items) / seconds:.1f} photos/s incl. model)")
            print("           " + "  ".join(f"{name}: {100 * acc:.0f}%" for name, acc in per_class.items()))
        if test is not None and args.packshots:
            n = min(args.packshots, len(test))
            idx = torch.arange(n)
            originals = test.images[idx]
            rebuilt = []
            t0 = time.perf_counter()
            for i in range(n):
                bg = PACKSHOT_BACKGROUNDS[i % len(PACKSHOT_BACKGROUNDS)]
                rebuilt.append(np.asarray(prepare_photo(packshot(originals[i].numpy(), bg)).final))
            per_photo = (time.perf_counter() - t0) / n
            acc_orig = accuracy(runner, originals, test.labels[idx])
            acc_pack = accuracy(runner, torch.from_numpy(np.stack(rebuilt)), test.labels[idx])
            entry["packshots"] = {"n": n, "original_accuracy": acc_orig, "packshot_accuracy": acc_pack,
                                  "ratio": acc_pack / acc_orig, "pipeline_ms_per_photo": 1000 * per_photo}
            print(f"Packshot round trip ({n} test images on {len(PACKSHOT_BACKGROUNDS)} backgrounds): "
                  f"{100 * acc_pack:.1f}% vs {100 * acc_orig:.1f}% on the originals "
                  f"(ratio {acc_pack / acc_orig:.3f}); pipeline {1000 * per_photo:.0f} ms/photo")
        report["models"].append(entry)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
