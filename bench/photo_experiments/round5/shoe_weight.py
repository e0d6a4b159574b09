"""Issue 28, point 5: does a shoe-only loss weight help? On a trained photo model's own pooled
features (its cached activations at the first trained block, run through its trained blocks once,
clean view of every training image), the head is trained on for 150 more full-batch steps with the
recipe's class weights and the three shoe classes' weight multiplied by m (m = 1 is the control:
the same extra steps without the emphasis). Each variant is calibrated as training does (the level
that leaves <= 3 % confidently wrong on the held-out senders) and measured there, with ImageNet's
opinion mixed in as the model answers.

    .venv/bin/python bench/photo_experiments/round5/shoe_weight.py MODEL.pt FEATURE_CACHE_DIR

Run from the repository root: the feature cache is keyed by the photo paths as the training
command named them (relative ones), so the training run's cache is found only that way.
"""
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from fmnist_desktop.core.data.fashion_mnist import load_dataset
from fmnist_desktop.core.data.photo_features import build_activations
from fmnist_desktop.core.data.labelled_photos import split_by_sender
from fmnist_desktop.core.jobs.photo_model import _weights_id, fashion_mnist_items, load_labelled_photos, photo_items
from fmnist_desktop.core.learn.calibration import calibrate_photo
from fmnist_desktop.core.learn.photo_training import class_weights
from fmnist_desktop.core.models.photo_net import pretrained_weights_path
from fmnist_desktop.core.store.checkpoint import load_model

ROOT = Path(__file__).resolve().parents[3]
SHOES = (5, 7, 9)


@torch.no_grad()
def pooled(net, acts, start, rows, with_opinion=False):
    b, feats, qs = net.backbone, [], []
    for k in range(0, len(rows), 128):
        x = torch.from_numpy(np.asarray(acts[rows[k:k + 128]], np.float32)).contiguous(memory_format=torch.channels_last)
        feats.append(b.head_features(b.blocks(x, start)))
        if with_opinion:
            qs.append(net.opinion.imagenet_probabilities(x))
    return torch.cat(feats), (torch.cat(qs) if with_opinion else None)


def main(model_path: str, cache: str) -> None:
    torch.set_num_threads(2)
    net, meta = load_model(model_path)
    start = net.opinion.start_block
    labelled, root = load_labelled_photos("weights/realworld-train-labels.csv", "../shared/realworld-train")
    train_p, val_p = split_by_sender(labelled)
    fm = load_dataset("/usr/share/datasets/fashion-mnist")
    train_items = photo_items(train_p, root) + fashion_mnist_items(fm.train.labels.numpy(), 500, 0)
    val_items = photo_items(val_p, root)
    wid = "imagenet:" + _weights_id(pretrained_weights_path())
    images = fm.train.images.numpy()
    tr = build_activations(net.backbone, train_items, 3, start, 224, images, wid, Path(cache))
    va = build_activations(net.backbone, val_items, 1, start, 224, images, wid, Path(cache))
    xtr, _ = pooled(net, tr.activations, start, np.arange(tr.n_items))
    xva, qva = pooled(net, va.activations, start, np.arange(va.n_items), with_opinion=True)
    ytr = torch.from_numpy(tr.labels)
    w0, b0 = net.head.weight.detach().clone(), net.head.bias.detach().clone()
    print("| shoe weight × | held-out right | shoes right (31) | not sure at <= 3 % wrong | level | none flagged |")
    for m in (1.0, 2.0, 3.0):
        torch.manual_seed(0)
        head = torch.nn.Linear(w0.shape[1], w0.shape[0])
        head.weight.data.copy_(w0)
        head.bias.data.copy_(b0)
        weights = class_weights(tr.labels)
        weights[list(SHOES)] *= m
        opt = torch.optim.AdamW(head.parameters(), lr=5e-4, weight_decay=0.0)
        for _ in range(150):
            loss = F.cross_entropy(head(xtr), ytr, weight=weights, label_smoothing=0.1) \
                + 1e-3 * ((head.weight - w0) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            probs = net.opinion.mix_probabilities(head(xva), qva).exp().numpy()
        cal = calibrate_photo(probs, va.labels)
        held = cal["held_out_photos"]
        shoe = np.isin(va.labels, SHOES)
        shoes_right = float((probs[shoe, :10].argmax(1) == va.labels[shoe]).mean() * 100)
        print(f"| {m:g} | {100 * held['accuracy']:.1f} % | {shoes_right:.1f} % | {100 * held['not_sure_rate']:.1f} % | "
              f"{100 * cal['not_sure_threshold']:.1f} % | {100 * held['none_flagged_rate']:.1f} % |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
