"""Labelled real photos as training data: the labels file, the split by sender, the prepared cache.

A labels file is a CSV with one row per photo (`file,class,sender_id,source_label,how,reason`),
`file` relative to the photo folder, `class` a Fashion-MNIST class name, `none` (an object that
is none of the ten: trained towards "not sure") or `skip` (recorded but not used). The shipped
one is `weights/realworld-train-labels.csv`; `weights/PHOTO_LABELS.md` says how it was made.
A folder of `<index>_<name>/` subfolders (plus an optional `none/`) is read as the same list by
`read_photo_folder` (sender = the sub-folder below the class folder, else the photo itself);
`load_photo_training_set` takes either.

Photos go through the same `photo.prepare_photo` as at prediction time. That takes 50-100 ms
a photo, so the 28x28 results are cached per pipeline fingerprint (a hash of the photo
pipeline's source): a change to the pipeline invalidates the cache, anything else reuses it.

No Qt here.
"""

from __future__ import annotations

import csv
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..base import paths
from ..base.errors import FmnistError
from ..base.formats import is_hidden, iter_photo_files
from ..base.labels import CLASS_NAMES, class_index

NONE_LABEL = -1  # "none of the ten": trained towards a flat distribution (outlier exposure)
NONE_NAME = "none"
SKIP_NAME = "skip"
COLUMNS = ("file", "class", "sender_id", "source_label", "how", "reason")
VAL_SHARE = 0.2  # share of senders (not photos) held out for validation and calibration


class PhotoLabelsError(FmnistError):
    """A labels file that cannot be used (missing, malformed, naming files that do not exist)."""


@dataclass(frozen=True)
class LabelledPhoto:
    file: str  # relative to the photo folder, "/"-separated
    label: int  # 0..9, or NONE_LABEL
    sender: str

    @property
    def is_none(self) -> bool:
        return self.label == NONE_LABEL


def parse_class(text: str) -> int | None:
    """A labels-file class cell -> 0..9, NONE_LABEL, or None for `skip`."""
    value = text.strip()
    if value.lower() == NONE_NAME:
        return NONE_LABEL
    if value.lower() == SKIP_NAME:
        return None
    return class_index(value)


def read_labels(csv_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                check_files: bool = True) -> list[LabelledPhoto]:
    """The usable rows of a labels file (`skip` rows left out). `root` is the photo folder
    (default: the labels file's folder). Raises PhotoLabelsError naming the first bad row."""
    csv_path = Path(csv_path)
    root = Path(root) if root is not None else csv_path.parent
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"file", "class"} - set(reader.fieldnames or ())
            if missing:
                raise PhotoLabelsError(f"{csv_path.name} is not a photo labels file: it has no "
                                       f"{', '.join(sorted(missing))} column.")
            rows = list(reader)
    except OSError as exc:
        raise PhotoLabelsError(f"Cannot read the photo labels file {csv_path}: {exc.strerror or exc}.") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PhotoLabelsError(f"{csv_path.name} is not a readable CSV file ({exc}).") from exc
    out: list[LabelledPhoto] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        file = (row.get("file") or "").strip().replace("\\", "/")
        if not file or file.startswith("/") or ".." in file.split("/"):
            raise PhotoLabelsError(f"{csv_path.name}, line {line}: {file!r} is not a path inside the photo folder.")
        if file in seen:
            raise PhotoLabelsError(f"{csv_path.name}, line {line}: {file} is listed twice.")
        seen.add(file)
        try:
            label = parse_class(row.get("class") or "")
        except (KeyError, ValueError):
            raise PhotoLabelsError(f"{csv_path.name}, line {line}: unknown class {row.get('class')!r} "
                                   f"(use a class name, {NONE_NAME!r} or {SKIP_NAME!r}).") from None
        if label is None:
            continue
        if check_files and not (root / file).is_file():
            raise PhotoLabelsError(f"{csv_path.name}, line {line}: {file} does not exist in {root}.")
        out.append(LabelledPhoto(file=file, label=label, sender=(row.get("sender_id") or "").strip() or file))
    return out


def read_photo_folder(root: str | os.PathLike[str]) -> list[LabelledPhoto]:
    """Labelled photos from a folder of class subfolders, as a labels file would list them.

    Class folders are named `<index>_<name>` (`0_T-shirt_top` … `9_Ankle_boot`, any name
    `labels.class_index` accepts); a `none/` folder holds things that are none of the ten. Other
    folders, hidden entries and non-photo files are ignored. The sender (for the split by sender)
    is the first sub-folder below the class folder (`3_Dress/anna/x.jpg` -> "anna": keep one
    person's photos in one sub-folder), or the photo itself when it sits directly in the class
    folder. Raises PhotoLabelsError when the folder holds no labelled photo.
    """
    root = Path(root)
    if not root.is_dir():
        raise PhotoLabelsError(f"{root} is not a folder.")
    out: list[LabelledPhoto] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not is_hidden((p.name,))):
        if sub.name.lower() == NONE_NAME:
            label = NONE_LABEL
        else:
            try:
                label = class_index(sub.name)
            except (KeyError, ValueError):
                continue
        for path in iter_photo_files(sub):
            rel = path.relative_to(root)
            inner = path.relative_to(sub).parts
            sender = f"{sub.name}/{inner[0]}" if len(inner) > 1 else rel.as_posix()
            out.append(LabelledPhoto(file=rel.as_posix(), label=label, sender=sender))
    if not out:
        raise PhotoLabelsError(f"No labelled photos in {root}: photos go in subfolders named like "
                               "0_T-shirt_top, 1_Trouser, … 9_Ankle_boot (and none/ for other things).")
    return out


def is_validation_sender(sender: str, val_share: float = VAL_SHARE) -> bool:
    """Whether a sender's photos are held out. A hash of the sender id, so the split is the same
    on every machine and a sender's photos are never on both sides (one person's photos share
    backgrounds, light and garments: a random split would flatter the figures)."""
    digest = hashlib.sha1(f"fmnist-photos:{sender}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < val_share


def split_by_sender(photos: Sequence[LabelledPhoto], val_share: float = VAL_SHARE
                    ) -> tuple[list[LabelledPhoto], list[LabelledPhoto]]:
    """(train, validation), split by sender id."""
    train, val = [], []
    for p in photos:
        (val if is_validation_sender(p.sender, val_share) else train).append(p)
    return train, val


# ---------------------------------------------------------------------------------------------
# The prepared-photo cache


def pipeline_fingerprint() -> str:
    """A hash of the photo pipeline's source code and the libraries it leans on: it changes
    whenever what `prepare_photo` produces may change, so the cache is never stale."""
    from .. import photo

    h = hashlib.sha256()
    module_file = Path(getattr(photo, "__file__", "") or "")
    files = sorted(module_file.parent.glob("*.py")) if module_file.name == "__init__.py" else [module_file]
    for f in files:
        try:
            h.update(f.name.encode() + f.read_bytes())
        except OSError:  # a frozen app without sources: its version stands for the code
            from ... import __version__

            h.update(f"frozen-{__version__}".encode())
    import PIL

    h.update(f"PIL {PIL.__version__}".encode())
    try:
        import cv2

        h.update(f"cv2 {cv2.__version__}".encode())
    except Exception:  # noqa: BLE001 — no OpenCV: a different pipeline, a different key
        h.update(b"no cv2")
    return h.hexdigest()[:16]


def _file_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _prepare_one(path: Path) -> np.ndarray | None:
    from ..photo import load_image, prepare_photo

    try:
        return np.asarray(prepare_photo(load_image(path)).final, dtype=np.uint8)
    except (FmnistError, MemoryError):  # one photo too large for the memory left is skipped (issue 12)
        return None


def prepare_photos(files: Sequence[str | os.PathLike[str]], cache_dir: str | os.PathLike[str] | None = None,
                   progress: Callable[[int, int], None] | None = None, stop: threading.Event | None = None,
                   workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images (N, 28, 28) of `files` as the model sees them, and a boolean `ok` (N,)
    (False for unreadable photos, whose image is blank). Results are cached in `cache_dir`
    (default: the app's photo-cache folder) under the pipeline's fingerprint; only photos not in
    the cache are prepared, on `workers` threads (OpenCV and numpy release the GIL)."""
    files = [Path(f) for f in files]
    cache_dir = Path(cache_dir) if cache_dir is not None else paths.photo_cache_dir()
    cache_file = cache_dir / f"photos-{pipeline_fingerprint()}.npz"
    cached: dict[str, np.ndarray] = {}
    if cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as npz:
                cached = dict(zip(npz["keys"].tolist(), npz["images"]))
        except Exception:  # noqa: BLE001 — a damaged cache is rebuilt, never trusted
            cached = {}
    keys = [_file_key(f) for f in files]
    todo = [i for i, k in enumerate(keys) if k not in cached]
    out = np.zeros((len(files), 28, 28), np.uint8)
    ok = np.ones(len(files), bool)
    done = len(files) - len(todo)
    if progress is not None:
        progress(done, len(files))
    new: dict[str, np.ndarray] = {}
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for start in range(0, len(todo), 64):  # chunks: Stop is honoured between them
                if stop is not None and stop.is_set():
                    break
                chunk = todo[start:start + 64]
                for i, img in zip(chunk, pool.map(_prepare_one, [files[i] for i in chunk])):
                    if img is not None:
                        new[keys[i]] = img
                    else:
                        ok[i] = False
                done += len(chunk)
                if progress is not None:
                    progress(done, len(files))
    if new:
        cached.update(new)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            with paths.atomic_write(cache_file) as fh:
                np.savez(fh, keys=np.array(list(cached.keys())), images=np.stack(list(cached.values())))
        except (OSError, FmnistError):
            pass  # the cache is an optimisation: a full disk costs time next run, nothing else
    for i, k in enumerate(keys):
        img = cached.get(k)
        if img is None:  # unreadable, or not reached before Stop
            ok[i] = False
        else:
            out[i] = img
    return out, ok


@dataclass(frozen=True)
class PhotoTrainingSet:
    """Prepared photos ready to mix into training: uint8 (N,28,28) and labels (N,) (NONE_LABEL
    for "none of the ten"), split by sender."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    source: str

    def counts(self) -> dict[str, int]:
        return {"train": int(len(self.train_labels)), "val": int(len(self.val_labels)),
                "train_none": int((self.train_labels == NONE_LABEL).sum()),
                "val_none": int((self.val_labels == NONE_LABEL).sum())}


def load_photo_training_set(csv_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                            progress: Callable[[int, int], None] | None = None,
                            stop: threading.Event | None = None, val_share: float = VAL_SHARE,
                            cache_dir: str | os.PathLike[str] | None = None) -> PhotoTrainingSet:
    """Read a labels file (or a folder of class subfolders, `read_photo_folder`), prepare (or
    take from the cache) every photo, split by sender."""
    csv_path = Path(csv_path)
    if csv_path.is_dir():
        root = csv_path
        photos = read_photo_folder(csv_path)
    else:
        root = Path(root) if root is not None else csv_path.parent
        photos = read_labels(csv_path, root)
    if not photos:
        raise PhotoLabelsError(f"{csv_path.name} names no usable photo.")
    train, val = split_by_sender(photos, val_share)

    images, ok = prepare_photos([root / p.file for p in photos], cache_dir, progress, stop)
    labels = np.array([p.label for p in photos], np.int64)
    index = {p.file: i for i, p in enumerate(photos)}

    def take(part: Iterable[LabelledPhoto]) -> tuple[np.ndarray, np.ndarray]:
        idx = np.array([index[p.file] for p in part if ok[index[p.file]]], np.int64)
        if not len(idx):
            return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
        return images[idx], labels[idx]

    tr_x, tr_y = take(train)
    va_x, va_y = take(val)
    return PhotoTrainingSet(tr_x, tr_y, va_x, va_y, source=str(csv_path))


def class_name(label: int) -> str:
    return NONE_NAME if label == NONE_LABEL else CLASS_NAMES[label]
