"""Make the sample images in resources/samples/ (first-run Predict page, and `--self-test`).

Run from the repository root: `python resources/make_samples.py [--weights weights/default.pt]`.

- `fashion-mnist_<index>_<class>.png`: one Fashion-MNIST test image per class, upscaled 4× with
  nearest-neighbour (112 px) so users can see it; downscaling gives back the exact 28×28 image.
  For each class the script takes the first test image, in file order, that the given model
  classifies right with at least MIN_CONFIDENCE through the app's own Predictor. The self-test
  uses these images to prove a *packaged* app reproduces the source tree's answers, so they must
  be clear cases, not a measure of accuracy (that is the Evaluate page's job). The chosen test-set
  indices are printed and listed in resources/samples/README.md.
- `photo_<index>_<class>.jpg`: a few CC0 photos from ../shared/realworld-dev, downscaled so the
  long edge is at most 400 px.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fmnist_desktop.core.data.fashion_mnist import DEBIAN_DIR, read_idx  # noqa: E402
from fmnist_desktop.core.base.labels import CLASS_NAMES  # noqa: E402

SAMPLES = ROOT / "resources" / "samples"
REALWORLD = ROOT.parent / "shared" / "realworld-dev"
UPSCALE = 4
MIN_CONFIDENCE = 0.9
PHOTO_MAX_SIDE = 400
PHOTOS = (  # hand-picked for a clear single item; paths inside realworld-dev
    "0_T-shirt_top/cdf_2aff1c58-d4af-4ac4-ac69-7714e4150be3.jpg",
    "1_Trouser/cdf_2dff871a-a18a-4ab7-bbd2-cfdd1544b3fa.jpg",
    "3_Dress/cdf_230ee7f3-a206-4804-9c23-8b5bda052140.jpg",
)


def file_label(index: int) -> str:
    return f"{index}_{CLASS_NAMES[index].replace('/', '_').replace(' ', '_')}"


def make_fashion_mnist_samples(weights: Path | None, data_dir: Path) -> list[tuple[int, int, float | None]]:
    images = read_idx(data_dir / "t10k-images-idx3-ubyte.gz").numpy()
    labels = read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").numpy()
    predictor = None
    if weights is not None:
        from fmnist_desktop.core.predict.predictor import Predictor

        predictor = Predictor.from_checkpoint(weights)
    chosen = []
    for cls in range(len(CLASS_NAMES)):
        target = SAMPLES / f"fashion-mnist_{file_label(cls)}.png"
        for idx in np.flatnonzero(labels == cls):
            big = Image.fromarray(images[idx], mode="L").resize((28 * UPSCALE,) * 2, Image.Resampling.NEAREST)
            big.save(target, optimize=True)
            if predictor is None:
                chosen.append((cls, int(idx), None))
                break
            (prediction,) = predictor.predict_paths([target])
            if prediction.error is None and prediction.index == cls and prediction.confidence >= MIN_CONFIDENCE:
                chosen.append((cls, int(idx), prediction.confidence))
                break
        else:
            raise SystemExit(f"no test image of class {CLASS_NAMES[cls]} passes; is {weights} trained?")
    return chosen


def make_photo_samples() -> list[str]:
    written = []
    for rel in PHOTOS:
        source = REALWORLD / rel
        label = rel.split("/", 1)[0]
        with Image.open(source) as photo:
            photo = photo.convert("RGB")
            photo.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE), Image.Resampling.LANCZOS)
            target = SAMPLES / f"photo_{label}.jpg"
            photo.save(target, quality=85, optimize=True)
        written.append(f"{target.name} ← realworld-dev/{rel}")
    return written


def update_readme_table(rows: list[str]) -> None:
    """Rewrite the index table in resources/samples/README.md (the rows after its header)."""
    readme = SAMPLES / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines()
    header = lines.index("| file | t10k index |")
    end = header + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines[header + 2 : end] = rows
    readme.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "weights" / "default.pt")
    parser.add_argument("--data-dir", type=Path, default=DEBIAN_DIR)
    args = parser.parse_args()
    SAMPLES.mkdir(parents=True, exist_ok=True)
    weights = args.weights if args.weights.is_file() else None
    if weights is None:
        print(f"{args.weights} not found: taking the first test image of each class unchecked")
    rows = []
    for cls, idx, confidence in make_fashion_mnist_samples(weights, args.data_dir):
        conf = f" ({confidence:.1%})" if confidence is not None else ""
        print(f"fashion-mnist_{file_label(cls)}.png ← t10k index {idx}{conf}")
        rows.append(f"| `fashion-mnist_{file_label(cls)}.png` | {idx} |")
    update_readme_table(rows)
    for line in make_photo_samples():
        print(line)


if __name__ == "__main__":
    main()
