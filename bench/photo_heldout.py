"""Photo models on the held-out senders of a labels file, each with its own "not sure" level, as
the app judges a dropped photo (Predictor, file -> verdict): the comparison that chooses between
photo-model recipes (issue 20: "choose by the held-out senders").

    nice -n 19 .venv/bin/python bench/photo_heldout.py MODEL.pt [MODEL.pt ...]
        [--photos weights/realworld-train-labels.csv] [--photo-root ../shared/realworld-train]

For each model: share of the held-out photos of the ten classes answered right, "not sure",
confidently wrong (wrong and not flagged), right per class, and share of the held-out "none"
photos flagged (not sure or "may not be one of the ten"). Every model is measured on the same
photos with the same labels, so a labels change is applied to the old model too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fmnist_desktop.core.base.labels import CLASS_NAMES  # noqa: E402
from fmnist_desktop.core.data.labelled_photos import read_labels, split_by_sender  # noqa: E402
from fmnist_desktop.core.predict.predictor import Predictor  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--photos", default=str(REPO / "weights" / "realworld-train-labels.csv"))
    ap.add_argument("--photo-root", default=str(REPO.parent / "shared" / "realworld-train"))
    args = ap.parse_args()
    photos = read_labels(args.photos, args.photo_root)
    _, held = split_by_sender(photos)
    files = [str(Path(args.photo_root) / p.file) for p in held]
    labels = [p.label for p in held]
    known = [i for i, y in enumerate(labels) if 0 <= y < 10]
    none = [i for i, p in enumerate(held) if p.is_none]
    print(f"{len(held)} held-out photos ({len(known)} of the ten, {len(none)} none), load {os.getloadavg()[0]:.1f}")
    for path in args.models:
        predictor = Predictor.from_checkpoint(path)
        t = time.perf_counter()
        preds = predictor.predict_paths(files)
        elapsed = time.perf_counter() - t
        right = [preds[i].index == labels[i] for i in known]
        flagged = [preds[i].verdict.not_sure for i in range(len(preds))]
        acc = sum(right) / len(known)
        not_sure = sum(flagged[i] for i in known) / len(known)
        conf_wrong = sum((not r) and not flagged[i] for r, i in zip(right, known)) / len(known)
        none_flagged = sum(flagged[i] for i in none) / len(none) if none else float("nan")
        per = []
        for c in range(10):
            idx = [i for i in known if labels[i] == c]
            if idx:
                per.append(f"{CLASS_NAMES[c]} {100 * sum(preds[i].index == c for i in idx) / len(idx):.1f} ({len(idx)})")
        print(f"\n{path}: {predictor.meta.name}  (threshold {100 * predictor.threshold:.1f} %, {elapsed:.0f} s)")
        print(f"  right {100 * acc:.1f} %, not sure {100 * not_sure:.1f} %, confidently wrong {100 * conf_wrong:.1f} %, "
              f"none flagged {100 * none_flagged:.1f} %")
        print("  per class: " + ", ".join(per))
    return 0


if __name__ == "__main__":
    sys.exit(main())
