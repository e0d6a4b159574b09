"""Fine-tune with my photos, photo model: does teaching a few corrected photos cost the model what
it knew? (issue 26, item 1). Figures in docs/BENCHMARKS.md, "Fine-tuning the photo model on a few
photos".

    nice -n 10 .venv/bin/python bench/bench_photo_finetune_quality.py \
        --photo-root ../shared/realworld-train [--sizes 3 10 30] [--seeds 0 1 2 3 4] [--pool 400]

The "corrections" are photos of senders that are not in resources/real-photos (the held-out
senders' other photos, then a sample of the training senders'; labels from
weights/realworld-train-labels.csv) that the shipped photo model (weights/photo.pt) gets wrong:
what a user would correct. For 3 / 10 / 30 of them (drawn per seed) the head is fine-tuned on
their stored embeddings (clean + 2 augmented views, as the app) with the replay set, by the
earlier recipe (300 steps, half of every batch the user's photos, L2-SP weight 0.01, no
smoothing, no confidence cap) and by the current one (`core.learn.head_finetune.HeadRecipe()`),
and measured on the 80 real photos shipped with the app: photos right (the parent's figure beside it), those of the
corrected classes, the corrections learned, the wrong pool photos of the corrected classes that
were not taught but are now right, and the mean top probability on the 80.

Embeddings are computed once and kept (core.data.photo_embeddings) under the app's cache, so a
second run costs only the head's steps. Prints the load average: the machine may be shared.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load_pool(photo_root: Path, n_train_senders: int, seed: int = 0) -> list:
    """Labelled photos of senders not in resources/real-photos: all the held-out senders', then a
    sample of the training senders'. Label -1 (none of the ten) becomes 10, the model's output."""
    from fmnist_desktop.core.data.labelled_photos import split_by_sender
    from fmnist_desktop.core.jobs.photo_finetune import SimpleExample
    from fmnist_desktop.core.jobs.photo_model import load_labelled_photos

    photos, root = load_labelled_photos(str(ROOT / "weights/realworld-train-labels.csv"), str(photo_root))
    with open(ROOT / "resources/real-photos/SOURCES.csv", newline="") as f:
        shipped_senders = {row["sender_id"] for row in csv.DictReader(f)}
    train, held_out = split_by_sender(photos)
    others = [p for p in held_out if str(p.sender) not in shipped_senders]
    rng = np.random.default_rng(seed)
    sample = [train[i] for i in rng.permutation(len(train))[:n_train_senders]
              if str(train[i].sender) not in shipped_senders]
    return [SimpleExample(Path(root) / p.file, 10 if p.label < 0 else int(p.label)) for p in others + sample]


class Photos:
    """Embeddings (M, views, 1280), labels (M,) and ImageNet's opinion of the clean views (M, 1000)
    (None: not computed, or the model has no opinion)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, q: np.ndarray | None):
        self.x, self.y, self.q = x, y, q

    def take(self, idx) -> "Photos":
        return Photos(self.x[idx], self.y[idx], None if self.q is None else self.q[idx])


def cached_embeddings(net, photos, n_augmented: int, what: str, opinion: bool = True) -> Photos:
    from fmnist_desktop.core.base.paths import app_data_dir
    from fmnist_desktop.core.data.photo_embeddings import EmbeddingStore, embedding_key, opinion_key
    from fmnist_desktop.core.data.torch_backbone import TorchBackbone
    from fmnist_desktop.core.jobs.photo_finetune import PhotoStores, photo_embeddings
    from fmnist_desktop.core.models.photo_net import INPUT_SIZE

    net = TorchBackbone(net)
    folder = app_data_dir() / "cache" / "bench-photo-finetune"
    imagenet = opinion_key(net, INPUT_SIZE) if opinion else None
    stores = PhotoStores(EmbeddingStore(folder / embedding_key(net, INPUT_SIZE, 1 + n_augmented)),
                         None if imagenet is None else EmbeddingStore(folder / imagenet, dtype="float32"))
    t0 = time.perf_counter()
    got = photo_embeddings(net, photos, stores, n_augmented)
    print(f"{what}: {len(got.labels)} photos ({got.computed} through the backbone, {time.perf_counter() - t0:.0f} s; "
          f"{len(got.errors)} unreadable)", flush=True)
    return Photos(got.features, got.labels, got.imagenet)


def answers(rule, head, x, q) -> np.ndarray:
    """The model's probabilities with `head` (core.learn.head_finetune.LinearHead), its ImageNet
    opinion's `rule` (core.models.opinion_rule) mixed in when `q` is known."""
    from fmnist_desktop.core.models.opinion_rule import head_probabilities

    return head_probabilities(head.weight, head.bias, x, getattr(rule, "rule", rule), q)


def right_of(net, head, photos: Photos) -> np.ndarray:
    """Which photos the model with `head` names right, as it answers (ImageNet's opinion mixed in
    when known): the best of the ten for a garment, "none" for the rest. `net`: the opinion's rule."""
    probs = answers(net, head, photos.x[:, 0], photos.q)
    return np.where(photos.y == 10, probs.argmax(1) == 10, probs[:, :10].argmax(1) == photos.y)


def confidence_of(net, head, photos: Photos) -> float:
    return float(answers(net, head, photos.x[:, 0], photos.q).max(1).mean())


def one_case(net, recipe, taught: Photos, picked, others, shipped: Photos, replay, seed: int) -> dict:
    from fmnist_desktop.core.learn.head_finetune import train_head

    from fmnist_desktop.core.learn.head_finetune import LinearHead

    parent = LinearHead.of(net.head.weight.detach().numpy(), net.head.bias.detach().numpy())
    t0 = time.perf_counter()
    run = train_head(parent, taught.x[picked], taught.y[picked], *replay, recipe=recipe, seed=seed)
    seconds = time.perf_counter() - t0
    head = run.head
    classes = set(taught.y[picked].tolist())
    of_classes = np.isin(shipped.y, list(classes))
    unseen = [i for i in others if taught.y[i] in classes]
    return {
        "classes_before": int(right_of(net, parent, shipped.take(of_classes)).sum()),
        "shipped": int(right_of(net, head, shipped).sum()),
        "classes": int(right_of(net, head, shipped.take(of_classes)).sum()),
        "classes_n": int(of_classes.sum()),
        "learned": int(right_of(net, head, taught.take(picked)).sum()),
        "unseen_fixed": int(right_of(net, head, taught.take(unseen)).sum()) if unseen else 0,
        "unseen_n": len(unseen),
        "confidence": confidence_of(net, head, shipped),
        "steps": run.steps,
        "seconds": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo-root", type=Path, default=ROOT.parent / "shared" / "realworld-train")
    ap.add_argument("--sizes", type=int, nargs="+", default=[3, 10, 30])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--pool", type=int, default=400, help="training senders' photos screened for corrections")
    args = ap.parse_args()

    import torch

    from fmnist_desktop.core.jobs.photo_finetune import SimpleExample, load_replay
    from fmnist_desktop.core.learn.head_finetune import LinearHead
    from fmnist_desktop.core.models.opinion_rule import OpinionRule
    from fmnist_desktop.core.store.pt_file import read_pt
    from fmnist_desktop.core.learn.head_finetune import HeadRecipe
    from fmnist_desktop.core.predict.photo_score import shipped_photos
    from fmnist_desktop.core.store.checkpoint import load_model

    torch.set_num_threads(1)  # the head's steps are too small to share; the machine is shared
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    net, _meta = load_model(ROOT / "weights/photo.pt")
    net.rule = OpinionRule.from_state(read_pt(ROOT / "weights/photo.pt")[0])
    parent = LinearHead.of(net.head.weight.detach().numpy(), net.head.bias.detach().numpy())
    replay = load_replay(ROOT / "weights/photo-replay.npz")
    shipped = cached_embeddings(net, [SimpleExample(p, label) for p, label in shipped_photos(ROOT / "resources/real-photos")],
                                0, "the 80 shipped real photos")
    pool = load_pool(args.photo_root, args.pool)
    # The head alone on every photo first; ImageNet's opinion (the slow part) only where the head
    # is wrong or below 90 %: the opinion moves at most 70 % of a class's mass.
    clean = cached_embeddings(net, pool, 0, "other senders' photos (clean view, the head alone)", opinion=False)
    if len(clean.y) != len(pool):
        raise SystemExit("Some of the other senders' photos cannot be read; the bench needs them all.")
    head_alone = answers(net, parent, clean.x[:, 0], None)
    unsure = np.flatnonzero(~right_of(net, parent, clean) | (head_alone.max(1) < 0.9))
    candidates = cached_embeddings(net, [pool[i] for i in unsure], 0, "of them, wrong or below 90 % (with the opinion)")
    wrong = unsure[~right_of(net, parent, candidates)]
    print(f"the shipped model names {int(right_of(net, parent, shipped).sum())} of {len(shipped.y)} shipped photos "
          f"right; {len(wrong)} of {len(pool)} other senders' photos wrong "
          f"(classes {np.bincount(clean.y[wrong], minlength=11).tolist()})", flush=True)
    taught = cached_embeddings(net, [pool[i] for i in wrong], 2, "the wrong ones (clean + 2 augmented views)")
    recipes = {"earlier": HeadRecipe(max_steps=300, stop_when_learned=False, pull_to_parent=1e-2, user_share=0.5,
                                     label_smoothing=0.0, no_more_confident=False),
               "current": HeadRecipe()}
    base = {"shipped": int(right_of(net, parent, shipped).sum()), "confidence": confidence_of(net, parent, shipped)}
    rows = []
    for n in args.sizes:
        for name, recipe in recipes.items():
            cases = []
            for seed in args.seeds:
                order = np.random.default_rng(seed).permutation(len(taught.y))
                picked, others = order[:n], order[n:]
                cases.append(one_case(net, recipe, taught, picked, others, shipped, replay, seed))
            rows.append((n, name, cases))
            print(row_text(n, name, cases, base), flush=True)
    print()
    print(table(rows, base, args.seeds))
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def row_text(n, name, cases, base) -> str:
    d = [c["shipped"] - base["shipped"] for c in cases]
    return (f"{n:>3} photos, {name:8}: shipped Δ {d}, learned {[c['learned'] for c in cases]}, "
            f"steps {[c['steps'] for c in cases]}, confidence {[round(100 * c['confidence'], 1) for c in cases]}")


def table(rows, base, seeds) -> str:
    out = [f"Shipped model: {base['shipped']} of 80 right, mean top probability {100 * base['confidence']:.1f} %. "
           f"Each cell: the seeds {', '.join(map(str, seeds))}.",
           "",
           "| photos taught | recipe | change on the 80 (right) | of them, the taught classes | taught photos learned "
           "| not-taught wrong photos of those classes now right | mean top probability on the 80 | head steps | s |",
           "|---|---|---|---|---|---|---|---|---|"]
    for n, name, cases in rows:
        delta = " / ".join(f"{c['shipped'] - base['shipped']:+d}" for c in cases)
        classes = " / ".join(f"{c['classes_before']}→{c['classes']} of {c['classes_n']}" for c in cases)
        learned = " / ".join(f"{c['learned']}" for c in cases) + f" of {n}"
        unseen = " / ".join(f"{c['unseen_fixed']} of {c['unseen_n']}" for c in cases)
        conf = " / ".join(f"{100 * c['confidence']:.1f}" for c in cases)
        steps = " / ".join(str(c["steps"]) for c in cases)
        secs = f"{np.mean([c['seconds'] for c in cases]):.2f}"
        out.append(f"| {n} | {name} | {delta} | {classes} | {learned} | {unseen} | {conf} % | {steps} | {secs} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
