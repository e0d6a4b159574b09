"""How well a model does on real photos, as the Models page shows it for every model.

The measuring set is the user's kept-out photos (`user_photos`, never trained on) once there are
at least `MIN_USER_PHOTOS` of them, else the real photos shipped in `resources/samples`
(`photo_<index>_<class>.jpg`). The photos are prepared once (`photo.prepare_photo`, the slow
part) and every model is then scored on the same 28×28 images (milliseconds per model).

No Qt here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..base import paths
from ..base.errors import FmnistError
from ..base.labels import CLASS_NAMES

MIN_USER_PHOTOS = 10  # kept-out photos needed before they replace the shipped samples
SAMPLE_PATTERN = re.compile(r"^photo_(\d)_.+\.(jpe?g|png|webp)$", re.IGNORECASE)


@dataclass(frozen=True)
class PhotoSet:
    """The prepared photos every model is measured on."""

    description: str  # "the 3 sample photos shipped with the app" / "your 12 kept-out photos"
    source: str  # "samples" | "user"
    images: np.ndarray  # uint8 (N, 28, 28), as the model sees them
    labels: np.ndarray  # int64 (N,)
    key: tuple  # changes when the photos change (paths and labels)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class PhotoScore:
    right: int
    total: int
    description: str

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else float("nan")

    def short(self) -> str:
        """For a table cell: "2 of 3" (few photos) or "75 % of 12"."""
        if self.total < 10:
            return f"{self.right} of {self.total}"
        return f"{100 * self.accuracy:.0f} % of {self.total}"

    def sentence(self) -> str:
        return f"{self.right} of {self.description} right"


def sample_photos(folder: Path | None = None) -> list[tuple[Path, int]]:
    """The real photos shipped with the app, with their classes (from their names)."""
    folder = Path(folder) if folder is not None else paths.bundled_path("resources/samples")
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        match = SAMPLE_PATTERN.match(path.name)
        if match and path.is_file():
            found.append((path, int(match.group(1))))
    return found


def measuring_photos(min_user: int = MIN_USER_PHOTOS, samples_folder: Path | None = None,
                     user_root: Path | None = None) -> tuple[str, str, list[tuple[Path, int]]]:
    """(source, description, [(path, class)]): the user's kept-out photos when there are enough,
    else the shipped samples."""
    from ..store import user_photos

    try:
        kept_out = [e for e in user_photos.list_examples(user_root) if e.kept_out]
    except (FmnistError, OSError):
        kept_out = []
    if len(kept_out) >= min_user:
        return "user", f"your {len(kept_out)} kept-out photos", [(Path(e.path), e.label) for e in kept_out]
    samples = sample_photos(samples_folder)
    noun = "photo" if len(samples) == 1 else "photos"
    return "samples", f"the {len(samples)} sample {noun} shipped with the app", samples


def prepare_photo_set(items: Sequence[tuple[Path, int]], source: str, description: str, stop=None) -> PhotoSet:
    """Prepare every readable photo (unreadable ones are left out of the measure)."""
    from ..photo import load_image, prepare_photo

    images, labels = [], []
    for path, label in items:
        if stop is not None and stop():
            break
        try:
            images.append(np.asarray(prepare_photo(load_image(path)).final, dtype=np.uint8))
        except (FmnistError, OSError, ValueError):
            continue
        labels.append(int(label))
    arr = np.stack(images).astype(np.uint8) if images else np.zeros((0, 28, 28), np.uint8)
    key = tuple((str(p), int(label)) for p, label in items)
    if len(labels) != len(items):
        description = description.replace(f"the {len(items)} ", f"the {len(labels)} readable ", 1)
    return PhotoSet(description, source, arr, np.asarray(labels, np.int64), key)


def score(predictor, photo_set: PhotoSet) -> PhotoScore:
    """How many of the set's photos the predictor (core.predict.predictor.Predictor) names right."""
    if len(photo_set) == 0:
        return PhotoScore(0, 0, photo_set.description)
    probs = predictor.probabilities(torch.from_numpy(photo_set.images))
    right = int((np.asarray(probs).argmax(1) == photo_set.labels).sum())
    return PhotoScore(right, len(photo_set), photo_set.description)


def class_list(photo_set: PhotoSet) -> str:
    """The classes the set covers, for a tooltip ("T-shirt/top, Trouser, Dress")."""
    return ", ".join(CLASS_NAMES[i] for i in sorted(set(int(x) for x in photo_set.labels)))


def score_photo_model(predictor, photo_set) -> "PhotoScore":
    """A photo model's score on the measuring photos: it sees the photos themselves (the set's
    28×28 images are what a 28×28 network sees)."""
    items = [(Path(path), int(label)) for path, label in photo_set.key]
    if not items:
        return PhotoScore(0, 0, photo_set.description)
    predictions = predictor.predict_paths([path for path, _ in items])
    readable = [(p, label) for p, (_path, label) in zip(predictions, items) if p.ok]
    right = sum(1 for p, label in readable if p.index == label)
    return PhotoScore(right, len(readable), photo_set.description)
