"""Interpolate two checkpoints of the same network: (1 - alpha) * BASE + alpha * TUNED.

This is how `default.pt` was made from the `standard` model and its `realworld` fine-tune
(weight-space ensembling, "WiSE-FT": Wortsman et al., CVPR 2022). A fine-tune that starts from
the base stays in its basin, so the average of the two is a working network that keeps most of
the fine-tune's robustness to photos and most of the base's Fashion-MNIST accuracy. See
weights/README.md for the commands and docs/BENCHMARKS.md for the figures.

    .venv/bin/python weights/interpolate.py BASE.pt TUNED.pt --alpha 0.5 --name NAME --out OUT.pt

The result is evaluated on the test set (the same single path the app uses) and its accuracy is
stored in its metadata. Its history is BASE's epochs followed by TUNED's (numbered on), its
epoch count and training time are the two runs' together, and `training.stages` keeps both runs'
settings, so the Models page shows the whole path that made the weights, not only the last run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from fmnist_desktop.core.store.checkpoint import load_checkpoint, load_model, save_checkpoint
from fmnist_desktop.core.data.fashion_mnist import load_test_split
from fmnist_desktop.core.learn.evaluation import evaluate


def combined_record(base_meta, tuned_meta) -> dict:
    """`training` and `history` for a model made by running BASE's training, then TUNED's."""
    base_epochs = len(base_meta.history)
    total_epochs = base_epochs + len(tuned_meta.history)
    history = [{**e, "epochs": total_epochs} for e in base_meta.history]
    history += [{**e, "epoch": base_epochs + e["epoch"], "epochs": total_epochs} for e in tuned_meta.history]
    training = dict(tuned_meta.training)
    training["epochs"] = total_epochs
    training["elapsed_s"] = float(base_meta.training.get("elapsed_s", 0.0)) + float(tuned_meta.training.get("elapsed_s", 0.0))
    training["stages"] = [
        {k: v for k, v in stage.training.items() if k != "stages"} for stage in (base_meta, tuned_meta)
    ]
    return {"training": training, "history": history}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("tuned")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of TUNED (0 = BASE, 1 = TUNED)")
    parser.add_argument("--name", required=True)
    parser.add_argument("--data", help="folder with the Fashion-MNIST test files (default: the usual places)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    base, base_meta = load_checkpoint(args.base)
    tuned, tuned_meta = load_checkpoint(args.tuned)
    if base_meta.arch != tuned_meta.arch or base.keys() != tuned.keys():
        print(f"interpolate: {args.base} and {args.tuned} are different networks", file=sys.stderr)
        return 2
    a = args.alpha
    mixed = {
        # Integer buffers (BatchNorm's batch counters) are not weights: keep the tuned model's.
        key: (base[key] * (1 - a) + tuned[key] * a).to(base[key].dtype) if base[key].is_floating_point() else tuned[key]
        for key in base
    }
    meta = dataclasses.replace(tuned_meta, name=args.name, metrics={}, **combined_record(base_meta, tuned_meta))
    meta.training["interpolated"] = {"base": str(args.base), "tuned": str(args.tuned), "alpha": a}
    save_checkpoint(args.out, mixed, meta)

    # Score the saved file exactly as the app will load it (mirror averaging included).
    model, meta = load_model(args.out)
    split, _ = load_test_split(args.data)
    result = evaluate(model, split, meta.input_size, meta.mean, meta.std)
    meta = dataclasses.replace(meta, metrics={"test_accuracy": result.accuracy, "test_loss": result.loss})
    save_checkpoint(args.out, mixed, meta)
    print(f"{args.out}: alpha {a}, test accuracy {result.accuracy:.2f}% (loss {result.loss:.4f}, {len(result):,} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
