"""Make weights/photo-replay.npz: a small, class-balanced set of the shipped photo model's own
pooled features (1280-d, float16) of its training images, so that "Fine-tune with my photos"
retrains the head on the user's photos *and* these, and does not forget the ten classes.

    .venv/bin/python weights/make_photo_replay.py weights/photo.pt \
        --photos weights/realworld-train-labels.csv --photo-root ../shared/realworld-train \
        --data /usr/share/datasets/fashion-mnist --per-class 60 --out weights/photo-replay.npz

Only training senders' photos are used (the held-out senders stay unseen), plus Fashion-MNIST
training images for the classes the photos lack.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fmnist_desktop.core.data.fashion_mnist import load_dataset  # noqa: E402
from fmnist_desktop.core.data.labelled_photos import split_by_sender  # noqa: E402
from fmnist_desktop.core.data.photo_features import NONE_CLASS, fashion_mnist_photo  # noqa: E402
from fmnist_desktop.core.jobs.photo_model import load_labelled_photos  # noqa: E402
from fmnist_desktop.core.photo.model_input import load_photo_input, letterbox, to_unit_tensor  # noqa: E402
from fmnist_desktop.core.store.checkpoint import load_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--photos", required=True)
    ap.add_argument("--photo-root")
    ap.add_argument("--data")
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--out", default="weights/photo-replay.npz")
    args = ap.parse_args()
    net, meta = load_model(args.model)
    size = meta.input_size
    rng = np.random.default_rng(0)
    photos, root = load_labelled_photos(args.photos, args.photo_root)
    train, _held_out = split_by_sender(photos)
    images, labels = [], []
    for cls in list(range(10)) + [NONE_CLASS]:
        mine = [p for p in train if (NONE_CLASS if p.label < 0 else p.label) == cls]
        for k in rng.permutation(len(mine))[: args.per_class]:
            images.append(load_photo_input(root / mine[k].file, size))
            labels.append(cls)
    data = load_dataset(args.data, val_size=0)
    fm_labels = data.train.labels.numpy()
    fm_images = data.train.images.numpy()
    for cls in range(10):
        have = labels.count(cls)
        idx = rng.choice(np.where(fm_labels == cls)[0], max(0, args.per_class - have), replace=False)
        for j, i in enumerate(idx):
            images.append(letterbox(fashion_mnist_photo(fm_images[i], invert=j % 2 == 0, size=size), size))
            labels.append(cls)
    feats = []
    with torch.inference_mode():
        for k in range(0, len(images), 8):
            feats.append(net.features(to_unit_tensor(images[k:k + 8])))
    features = torch.cat(feats).numpy().astype(np.float16)
    np.savez_compressed(args.out, features=features, labels=np.array(labels, np.int64))
    print(f"{args.out}: {len(labels)} features, per class {np.bincount(labels, minlength=11).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
