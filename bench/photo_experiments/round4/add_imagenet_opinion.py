"""Give a trained photo model ImageNet's frozen opinion and calibrate its "not sure" level again,
on the held-out senders of the labels file it was trained with: the step `fmnist train --kind
photo` now ends with (core.jobs.photo_model), for a model trained before it did.

    .venv/bin/python bench/photo_experiments/round4/add_imagenet_opinion.py weights/photo.pt \\
        --photos weights/realworld-train-labels.csv --photo-root ../shared/realworld-train \\
        --out weights/photo.pt

The held-out photos go through the app's own path (decode, letterbox, the whole model), so the
level is set on what a user sees.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from fmnist_desktop.core.data.labelled_photos import read_labels, split_by_sender  # noqa: E402
from fmnist_desktop.core.learn.calibration import calibrate_photo  # noqa: E402
from fmnist_desktop.core.models.photo_net import INPUT_SIZE, PhotoNet  # noqa: E402
from fmnist_desktop.core.photo.model_input import load_photo_input, to_unit_tensor  # noqa: E402
from fmnist_desktop.core.store.checkpoint import load_model, save_checkpoint  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--photos", default=str(REPO / "weights" / "realworld-train-labels.csv"))
    ap.add_argument("--photo-root", default=str(REPO.parent / "shared" / "realworld-train"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    net, meta = load_model(args.model)
    if not isinstance(net, PhotoNet):
        print(f"{args.model} is not a photo model", file=sys.stderr)
        return 2
    start = int(meta.training.get("from_block", 13))
    net.attach_imagenet_opinion(start).eval()
    _, held = split_by_sender(read_labels(args.photos, args.photo_root))
    labels = np.array([10 if p.is_none else p.label for p in held])
    probs = []
    with torch.inference_mode():
        for k in range(0, len(held), 16):
            images = [load_photo_input(Path(args.photo_root) / p.file, INPUT_SIZE) for p in held[k:k + 16]]
            probs.append(net(to_unit_tensor(images)).softmax(1).numpy())
            print(f"\r{min(k + 16, len(held))}/{len(held)} held-out photos", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    calibration = calibrate_photo(np.concatenate(probs), labels)
    meta.metrics.update(calibration)
    meta.metrics["val_accuracy"] = 100 * calibration["held_out_photos"]["accuracy"]
    meta.training["imagenet_opinion_from_block"] = start
    save_checkpoint(args.out, net, meta)
    print(f"{args.out}: not sure below {100 * calibration['not_sure_threshold']:.1f} %; held-out senders "
          + ", ".join(f"{k} {v}" for k, v in calibration["held_out_photos"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
