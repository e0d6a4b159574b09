"""How well a model does on real photos, as the Models page shows it for every model.

The measuring set is the user's kept-out photos (`user_photos`, never trained on) once there are
at least `MIN_USER_PHOTOS` of them, else the real photos shipped in `resources/real-photos` (80
CC0 phone photos of 8 classes from senders no shipped model was trained on; see its README and
`resources/make_real_photos.py`). Both kinds of model are scored on the same photos: a 28×28
network on the photos as the app prepares them for it (`photo.prepare_photo`, GrabCut: the slow
part, done once and cached on disk by `data.labelled_photos.prepare_photos`), a photo model on the
photos themselves.

No Qt here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..base import paths
from ..base.errors import FmnistError
from ..base.labels import CLASS_NAMES

# Kept-out photos needed before they replace the shipped set: fewer would be a coarser measure
# than the 80 shipped photos (one photo more or less moves 10 photos' score by 10 points).
MIN_USER_PHOTOS = 20
REAL_PHOTOS = "resources/real-photos"  # inside the app (build.spec ships it)
REAL_PHOTOS_ENV = "FMNIST_DESKTOP_REAL_PHOTOS"  # another folder of the same layout (tests)
CACHE_FOLDER = "real-photo-scores"  # under paths.photo_cache_dir(): the prepared 28×28 images
PREPARE_CHUNK = 8  # photos prepared between two looks at Stop (and two progress reports)


@dataclass(frozen=True)
class PhotoSet:
    """The prepared photos every model is measured on."""

    description: str  # "the 80 real photos shipped with the app" / "your 24 kept-out photos"
    source: str  # "shipped" | "user"
    images: np.ndarray  # uint8 (N, 28, 28), as a 28×28 network sees them
    labels: np.ndarray  # int64 (N,)
    key: tuple  # changes when the photos change (paths and labels)
    files: tuple = ()  # the N readable photos' paths (what a photo model sees)

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
        """For a table cell, with the set's size: "70 % of 80 photos" ("2 of 3 photos" for a few)."""
        noun = "photo" if self.total == 1 else "photos"
        if self.total < 10:
            return f"{self.right} of {self.total} {noun}"
        return f"{100 * self.accuracy:.0f} % of {self.total} {noun}"

    def sentence(self) -> str:
        return f"{self.right} of {self.description} right"


def real_photos_folder() -> Path:
    override = os.environ.get(REAL_PHOTOS_ENV)
    return Path(override) if override else paths.bundled_path(REAL_PHOTOS)


def shipped_photos(folder: Path | None = None) -> list[tuple[Path, int]]:
    """The labelled real photos shipped with the app (`<index>_<class>/` folders), in file order."""
    from ..data.labelled_photos import PhotoLabelsError, read_photo_folder

    folder = Path(folder) if folder is not None else real_photos_folder()
    try:
        photos = read_photo_folder(folder)
    except PhotoLabelsError:
        return []
    return [(folder / p.file, p.label) for p in photos if 0 <= p.label < len(CLASS_NAMES)]


def measuring_photos(min_user: int = MIN_USER_PHOTOS, samples_folder: Path | None = None,
                     user_root: Path | None = None) -> tuple[str, str, list[tuple[Path, int]]]:
    """(source, description, [(path, class)]): the user's kept-out photos of the ten classes when
    there are enough, else the real photos shipped with the app."""
    from ..store import user_photos

    try:
        kept_out = [e for e in user_photos.list_examples(user_root)
                    if e.kept_out and 0 <= int(e.label) < len(CLASS_NAMES)]
    except (FmnistError, OSError):
        kept_out = []
    if len(kept_out) >= min_user:
        return "user", f"your {len(kept_out)} kept-out photos", [(Path(e.path), int(e.label)) for e in kept_out]
    shipped = shipped_photos(samples_folder)
    noun = "photo" if len(shipped) == 1 else "photos"
    return "shipped", f"the {len(shipped)} real {noun} shipped with the app", shipped


class _StopFlag:
    """`stop()` as the Event-like object data.labelled_photos.prepare_photos looks at."""

    def __init__(self, stop: Callable[[], bool] | None):
        self._stop = stop

    def is_set(self) -> bool:
        return bool(self._stop is not None and self._stop())


def prepare_photo_set(items: Sequence[tuple[Path, int]], source: str, description: str, stop=None,
                      progress: Callable[[int, int], None] | None = None,
                      cache_dir: Path | None = None) -> PhotoSet:
    """Prepare every readable photo for a 28×28 network (unreadable ones are left out of the
    measure). The prepared images are cached on disk (`cache_dir`, default the app's photo cache),
    so only new or changed photos go through GrabCut again; `progress(done, total)` after each
    chunk; `stop()` is looked at between chunks (what was not prepared is left out)."""
    from ..data.labelled_photos import prepare_photos

    items = [(Path(p), int(label)) for p, label in items]
    if cache_dir is None:
        cache_dir = paths.photo_cache_dir() / CACHE_FOLDER
    flag = _StopFlag(stop)
    images, labels, files = [], [], []
    for start in range(0, len(items), PREPARE_CHUNK):
        if flag.is_set():
            break
        chunk = items[start:start + PREPARE_CHUNK]
        prepared, ok = prepare_photos([p for p, _ in chunk], cache_dir, stop=flag, workers=2)
        for (path, label), image, usable in zip(chunk, prepared, ok):
            if usable:
                images.append(image)
                labels.append(label)
                files.append(path)
        if progress is not None:
            progress(min(start + PREPARE_CHUNK, len(items)), len(items))
    arr = np.stack(images).astype(np.uint8) if images else np.zeros((0, 28, 28), np.uint8)
    key = tuple((str(p), int(label)) for p, label in items)
    if len(labels) != len(items):
        description = description.replace(f"the {len(items)} ", f"the {len(labels)} readable ", 1)
    return PhotoSet(description, source, arr, np.asarray(labels, np.int64), key, tuple(files))


def score(predictor, photo_set: PhotoSet) -> PhotoScore:
    """How many of the set's photos the predictor (core.predict.predictor.Predictor) names right."""
    if len(photo_set) == 0:
        return PhotoScore(0, 0, photo_set.description)
    probs = predictor.probabilities(photo_set.images)  # numpy: no torch (the lite edition)
    right = int((np.asarray(probs).argmax(1) == photo_set.labels).sum())
    return PhotoScore(right, len(photo_set), photo_set.description)


def class_list(photo_set: PhotoSet) -> str:
    """The classes the set covers, for a tooltip ("T-shirt/top, Trouser, Dress")."""
    return ", ".join(CLASS_NAMES[i] for i in sorted(set(int(x) for x in photo_set.labels)))


def score_photo_model(predictor, photo_set: PhotoSet, stop=None,
                      progress: Callable[[int, int], None] | None = None) -> PhotoScore:
    """A photo model's score on the measuring photos: it sees the photos themselves, decoded and
    letterboxed as on the Predict page (the set's 28×28 images are what a 28×28 network sees).
    `progress(done, total)` after each photo."""
    items = list(zip(photo_set.files, photo_set.labels.tolist()))
    if not items:
        return PhotoScore(0, 0, photo_set.description)
    predictions = predictor.predict_paths([path for path, _ in items], progress=progress, stop=_StopFlag(stop))
    readable = [(p, label) for p, (_path, label) in zip(predictions, items) if p.ok]
    right = sum(1 for p, label in readable if p.index == label)
    return PhotoScore(right, len(readable), photo_set.description)
