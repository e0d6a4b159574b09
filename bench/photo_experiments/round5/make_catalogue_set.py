"""Issue 28, point 2: a catalogue-style copy of the held-out senders' photos of the ten classes, as
files. The garment is cut out by the app's own GrabCut step (core.photo.prepare_photo), put on
white with an 8 % margin and squared, and written as PNG into `OUT/<index>_<class>/`, so any model
can be measured on it with `fmnist evaluate-photos OUT --model FILE`. Photos whose cut-out is
empty or the whole frame are left out (as round four's probe did).

    .venv/bin/python bench/photo_experiments/round5/make_catalogue_set.py OUT
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from fmnist_desktop.core.base.labels import CLASS_NAMES
from fmnist_desktop.core.data.labelled_photos import read_labels, split_by_sender
from fmnist_desktop.core.photo import prepare_photo
from fmnist_desktop.core.photo.loading import load_image

ROOT = Path(__file__).resolve().parents[3]
PHOTOS = ROOT.parent / "shared" / "realworld-train"


def catalogue(path: Path) -> Image.Image | None:
    img = load_image(path, max_side=448)
    mask = prepare_photo(img).mask.resize(img.size, Image.BILINEAR)
    inside = np.asarray(mask) > 127
    if inside.mean() < 0.02 or inside.all():
        return None
    ys, xs = np.where(inside)
    comp = Image.composite(img.convert("RGB"), Image.new("RGB", img.size, (255, 255, 255)), mask)
    left, top, right, bottom = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    pad = int(0.08 * max(right - left, bottom - top))
    crop = comp.crop((max(0, left - pad), max(0, top - pad), min(img.width, right + pad), min(img.height, bottom + pad)))
    side = max(crop.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(crop, ((side - crop.width) // 2, (side - crop.height) // 2))
    return square


def main(out: Path) -> None:
    _, held = split_by_sender(read_labels(ROOT / "weights" / "realworld-train-labels.csv", PHOTOS))
    items = [p for p in held if not p.is_none and 0 <= p.label < 10]
    kept = 0
    for n, p in enumerate(items, 1):
        image = catalogue(PHOTOS / p.file)
        if image is not None:
            folder = out / f"{p.label}_{CLASS_NAMES[p.label].replace('/', '_')}"
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / (Path(p.file).stem + ".png"))
            kept += 1
        if n % 50 == 0:
            print(f"{n}/{len(items)} photos, {kept} cut out", flush=True)
    print(f"{kept} of {len(items)} held-out photos of the ten cut out into {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
