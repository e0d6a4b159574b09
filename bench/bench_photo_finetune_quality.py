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


def cached_embeddings(net, photos, n_augmented: int, what: str):
    from fmnist_desktop.core.base.paths import app_data_dir
    from fmnist_desktop.core.data.photo_embeddings import EmbeddingStore, embedding_key
    from fmnist_desktop.core.jobs.photo_finetune import photo_embeddings
    from fmnist_desktop.core.models.photo_net import INPUT_SIZE

    store = EmbeddingStore(app_data_dir() / "cache" / "bench-photo-finetune" /
                           embedding_key(net, INPUT_SIZE, 1 + n_augmented))
    t0 = time.perf_counter()
    x, y, errors, computed = photo_embeddings(net, photos, store, n_augmented)
    print(f"{what}: {len(y)} photos ({computed} through the backbone, {time.perf_counter() - t0:.0f} s; "
          f"{len(errors)} unreadable)", flush=True)
    return x, y


def wrong_of_parent(head, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which photos the parent names wrong: the best of the ten for a garment, "none" for the rest."""
    import torch

    with torch.inference_mode():
        logits = head(torch.from_numpy(x))
    ten = logits[:, :10].argmax(1).numpy()
    all_ = logits.argmax(1).numpy()
    return np.where(y == 10, all_ != 10, ten != y)


def right_of(head, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        logits = head(torch.from_numpy(x))
    return np.where(y == 10, logits.argmax(1).numpy() == 10, logits[:, :10].argmax(1).numpy() == y)


def one_case(parent, recipe, pool_x, pool_y, picked, others, shipped_x, shipped_y, replay, seed: int) -> dict:
    from fmnist_desktop.core.learn.head_finetune import mean_confidence, train_head

    t0 = time.perf_counter()
    run = train_head(parent, pool_x[picked], pool_y[picked], *replay, recipe=recipe, seed=seed)
    seconds = time.perf_counter() - t0
    head = run.head
    classes = set(pool_y[picked].tolist())
    of_classes = np.isin(shipped_y, list(classes))
    unseen = [i for i in others if pool_y[i] in classes]
    return {
        "classes_before": int(right_of(parent, shipped_x[of_classes], shipped_y[of_classes]).sum()),
        "shipped": int(right_of(head, shipped_x, shipped_y).sum()),
        "classes": int(right_of(head, shipped_x[of_classes], shipped_y[of_classes]).sum()),
        "classes_n": int(of_classes.sum()),
        "learned": int(right_of(head, pool_x[picked][:, 0], pool_y[picked]).sum()),
        "unseen_fixed": int(right_of(head, pool_x[unseen][:, 0], pool_y[unseen]).sum()) if unseen else 0,
        "unseen_n": len(unseen),
        "confidence": mean_confidence(head, shipped_x),
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
    from fmnist_desktop.core.learn.head_finetune import HeadRecipe, mean_confidence
    from fmnist_desktop.core.predict.photo_score import shipped_photos
    from fmnist_desktop.core.store.checkpoint import load_model

    torch.set_num_threads(1)  # the head's steps are too small to share; the machine is shared
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    net, _meta = load_model(ROOT / "weights/photo.pt")
    parent = net.head.float().eval()
    replay = load_replay(ROOT / "weights/photo-replay.npz")
    shipped = [SimpleExample(p, label) for p, label in shipped_photos(ROOT / "resources/real-photos")]
    shipped_x, shipped_y = cached_embeddings(net, shipped, 0, "the 80 shipped real photos")
    shipped_x = shipped_x[:, 0]
    pool = load_pool(args.photo_root, args.pool)
    clean_x, clean_y = cached_embeddings(net, pool, 0, "other senders' photos (clean view)")
    if len(clean_y) != len(pool):
        raise SystemExit("Some of the other senders' photos cannot be read; the bench needs them all.")
    wrong = np.flatnonzero(wrong_of_parent(parent, clean_x[:, 0], clean_y))
    print(f"the shipped model names {int(right_of(parent, shipped_x, shipped_y).sum())} of {len(shipped_y)} "
          f"shipped photos right; {len(wrong)} of {len(clean_y)} other senders' photos wrong "
          f"(classes {np.bincount(clean_y[wrong], minlength=11).tolist()})", flush=True)
    pool_x, pool_y = cached_embeddings(net, [pool[i] for i in wrong], 2,
                                       "the wrong ones (clean + 2 augmented views)")
    recipes = {"earlier": HeadRecipe(max_steps=300, stop_when_learned=False, pull_to_parent=1e-2, user_share=0.5,
                                     label_smoothing=0.0, no_more_confident=False),
               "current": HeadRecipe()}
    base = {"shipped": int(right_of(parent, shipped_x, shipped_y).sum()),
            "confidence": mean_confidence(parent, shipped_x)}
    rows = []
    for n in args.sizes:
        for name, recipe in recipes.items():
            cases = []
            for seed in args.seeds:
                order = np.random.default_rng(seed).permutation(len(pool_y))
                picked, others = order[:n], order[n:]
                cases.append(one_case(parent, recipe, pool_x, pool_y, picked, others, shipped_x, shipped_y, replay,
                                      seed))
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
