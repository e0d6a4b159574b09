"""Write one model file's metadata as the whole path that made it: several training runs, each
fine-tuning the one before (`fmnist train --init`), recorded as one history.

    .venv/bin/python weights/stages.py FIRST.pt SECOND.pt [THIRD.pt ...] --name NAME --out OUT.pt

OUT gets the LAST file's weights, unchanged (checked), and its metrics (test accuracy, the
calibrated "not sure" thresholds); its history is every file's epochs in order, numbered on; its
training record keeps each run's settings in `training.stages` and their time added up. This is
what the Models page shows for the shipped model (weights/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from interpolate import combined_record  # noqa: E402  (beside this file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if len(args.files) < 2:
        parser.error("give at least two model files, oldest first")
    metas = [load_checkpoint(f)[1] for f in args.files]
    weights, last = load_checkpoint(args.files[-1])
    path = metas[0]
    for meta in metas[1:]:
        record = combined_record(path, meta)
        stages = path.training.get("stages") or [{k: v for k, v in path.training.items() if k != "stages"}]
        record["training"]["stages"] = stages + [{k: v for k, v in meta.training.items() if k != "stages"}]
        path = dataclasses.replace(meta, **record)
    out_meta = dataclasses.replace(path, name=args.name, metrics=dict(last.metrics))
    save_checkpoint(args.out, weights, out_meta)
    again, _ = load_checkpoint(args.out)
    assert all(torch.equal(again[k], weights[k]) for k in weights), "weights changed"
    print(f"{args.out}: {len(out_meta.history)} epochs in {len(out_meta.training['stages'])} stages, "
          f"metrics {sorted(out_meta.metrics)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
