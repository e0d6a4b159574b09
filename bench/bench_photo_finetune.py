"""Fine-tune with my photos, photo model: how long `finetune_photo_head` takes for N photos.

    .venv/bin/python bench/bench_photo_finetune.py [--photos 20] [--photo-dir DIR] [--steps N]

Uses the shipped photo model (weights/photo.pt) when present, else the ImageNet backbone with a
fresh head saved to a temporary file. The photos are DIR's images (any labelled folder tree, the
class from the folder name) or generated coloured shapes. Prints the wall time and the process CPU
time of two fine-tunes in a fresh app folder: the first with no embeddings stored (clean + 2
augmented views per photo through the frozen backbone, the head's steps, the measuring photos
through the backbone), the second as after the photos were kept (their embeddings stored, the
measuring photos' cached: only the head's steps and the comparison); and the load average: the
machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


@dataclass(frozen=True)
class Photo:
    path: Path
    label: int
    kept_out: bool = False


def generated(folder: Path, n: int) -> list[Photo]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        img = Image.new("RGB", (640, 480), tuple(int(v) for v in rng.integers(150, 255, 3)))
        label = int(rng.integers(0, 10))
        ImageDraw.Draw(img).rectangle((100 + 20 * label, 60, 400, 420), fill=tuple(int(v) for v in rng.integers(0, 90, 3)))
        path = folder / f"{k}.jpg"
        img.save(path, quality=90)
        out.append(Photo(path, label))
    return out


def from_folder(folder: Path, n: int) -> list[Photo]:
    from fmnist_desktop.core.base.labels import class_index

    out = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}:
            try:
                out.append(Photo(path, class_index(path.parent.name)))
            except (KeyError, ValueError):
                continue
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--photo-dir", type=Path)
    ap.add_argument("--steps", type=int, default=None, help="at most this many head steps (default: the recipe's)")
    args = ap.parse_args()

    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.jobs.photo_finetune import RECIPE, finetune_photo_head
    from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, PhotoNet
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        base = paths.photo_weights_path()
        if not base.is_file():
            base = Path(tmp) / "photo.pt"
            save_checkpoint(base, PhotoNet.pretrained(), CheckpointMeta(
                name="ImageNet + fresh head", preset="photo-model", arch=PHOTO_ARCH, input_size=224, mean=0.0,
                std=1.0, metrics={"not_sure_threshold": 0.4}))
        photos = from_folder(args.photo_dir, args.photos) if args.photo_dir else generated(Path(tmp), args.photos)
        os.environ["FMNIST_DESKTOP_HOME"] = str(Path(tmp) / "home")  # no embedding stored yet
        for when in ("nothing stored", "embeddings stored"):
            t0, c0 = time.perf_counter(), time.process_time()
            run = finetune_photo_head(base, photos, steps=args.steps)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            report = run.finetune_report
            steps = f"{report.steps} of at most {args.steps or RECIPE.max_steps} steps"
            print(f"{when}: base {base.name}; {len(photos)} photos ({report.computed} through the backbone), "
                  f"{steps}: {wall:.1f} s wall, {cpu:.1f} s CPU; new model “{run.meta.name}”")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine)")


if __name__ == "__main__":
    main()
