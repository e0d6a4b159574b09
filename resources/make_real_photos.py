"""Make the real-photo set in resources/real-photos/ (the Models page's "Real photos" column).

Run from the repository root:
`python resources/make_real_photos.py [--labels weights/realworld-train-labels.csv] [--photos ../shared/realworld-train]`

Every model, of both kinds, is measured on these photos until the user has kept out enough photos
of their own (core.predict.photo_score). They come from the CC0 phone photos the photo model
learns from, but ONLY from the senders held out of training (core.data.labelled_photos'
split_by_sender, the same split the training runs use), so no model that ships with the app or
that the user trains from the labels file has seen them. `../shared/realworld-dev` is never used:
it is the measuring stick for the app itself.

The choice is deterministic: per class a fixed number of photos (the set has no bags and few
shoes), taken one sender at a time in a hash order so that no one person's background dominates.
Each photo is downscaled (longest side PHOTO_MAX_SIDE px, JPEG quality 85) and written to
`<index>_<class>/<source file name>`, the layout `core.data.labelled_photos.read_photo_folder`
reads; `SOURCES.csv` records where each came from.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fmnist_desktop.core.base.labels import CLASS_NAMES  # noqa: E402
from fmnist_desktop.core.data.labelled_photos import read_labels, split_by_sender  # noqa: E402

TARGET = ROOT / "resources" / "real-photos"
PHOTO_MAX_SIDE = 288
QUALITY = 85
# Photos per class (index -> count). The held-out senders have no bags and no ankle boots, and
# only 12 sandals and 19 sneakers.
PER_CLASS = {0: 12, 1: 12, 2: 10, 3: 10, 4: 10, 5: 6, 6: 12, 7: 8}


def folder_name(index: int) -> str:
    return f"{index}_{CLASS_NAMES[index].replace('/', '_').replace(' ', '_')}"


def _order(text: str) -> str:
    return hashlib.sha1(f"fmnist-real-photos:{text}".encode()).hexdigest()


def choose(labels: Path, photos: Path) -> list:
    """The chosen LabelledPhoto rows, class by class, spread over held-out senders."""
    _train, held_out = split_by_sender(read_labels(labels, photos))
    chosen = []
    for index, count in PER_CLASS.items():
        by_sender = defaultdict(list)
        for photo in held_out:
            if photo.label == index:
                by_sender[photo.sender].append(photo)
        queues = [sorted(by_sender[s], key=lambda p: _order(p.file)) for s in sorted(by_sender, key=_order)]
        picked = []
        while len(picked) < count and any(queues):
            for queue in queues:
                if queue and len(picked) < count:
                    picked.append(queue.pop(0))
        if len(picked) < count:
            raise SystemExit(f"only {len(picked)} held-out photos of {CLASS_NAMES[index]} (wanted {count})")
        chosen += picked
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=ROOT / "weights" / "realworld-train-labels.csv")
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "realworld-train")
    args = parser.parse_args()
    chosen = choose(args.labels, args.photos)
    for old in TARGET.glob("[0-9]_*"):
        shutil.rmtree(old)
    rows = []
    for photo in chosen:
        out = TARGET / folder_name(photo.label) / Path(photo.file).name
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(args.photos / photo.file) as img:
            img = img.convert("RGB")
            img.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE), Image.Resampling.LANCZOS)
            img.save(out, quality=QUALITY, optimize=True)
        rows.append((out.relative_to(TARGET).as_posix(), CLASS_NAMES[photo.label], photo.sender, photo.file))
    with open(TARGET / "SOURCES.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("file", "class", "sender_id", "source_file"))
        writer.writerows(rows)
    size = sum(p.stat().st_size for p in TARGET.rglob("*.jpg"))
    senders = len({r[2] for r in rows})
    print(f"{len(rows)} photos from {senders} held-out senders, {size / 1e6:.2f} MB in {TARGET}")


if __name__ == "__main__":
    main()
