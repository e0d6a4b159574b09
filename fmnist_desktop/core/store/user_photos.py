""""Teach it your photos": the user's labelled photos, as they are stored.

Store layout: `paths.user_photos_dir()/<index>_<name>/<sha256-prefix><ext>`, and
`10_none_of_the_ten/` for photos the user said are none of the ten (a hat, a skirt: label
`NONE_INDEX`, the photo model's "none of these" output). The original file
is kept byte for byte (so a better future pipeline can reprocess it), named by a hash of its
content so the same photo added twice is stored once. Moving a photo between class folders is
how it is relabelled. About one photo in five is *kept out* of fine-tuning, chosen by its hash
(stable as photos are added or removed), to measure honestly whether fine-tuning helped.

The photo model's embeddings of each kept photo are stored beside them (`EMBEDDINGS_FOLDER`, one
sub-folder per backbone and input recipe, a file per content hash), so its fine-tune runs only
the head's steps.

Fine-tuning a model on them is `core.jobs.finetune` (the 28×28 network: a "none of the ten"
photo is trained towards a flat distribution, the outlier exposure of core.learn.training) and
`core.jobs.photo_finetune` (the photo model's head: its class 10, "none of these").
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ..base import paths
from ..base.errors import FmnistError, ImageLoadError
from ..base.formats import is_photo_file, open_listed_image
from ..base.labels import CLASS_NAMES, NONE_INDEX, NONE_OF_THE_TEN, NUM_CLASSES, class_index, label_name
from ..data.labelled_photos import NONE_LABEL
from ..data.photo_embeddings import EmbeddingStore
from ..photo import load_image, prepare_photo

HASH_CHARS = 16  # 64 bits of SHA-256: collisions are not a concern for a personal photo folder
KEPT_OUT_EVERY = 5  # one photo in five (by hash) is kept out of fine-tuning, for measuring


NONE_FOLDER = f"{NONE_INDEX}_{NONE_OF_THE_TEN.lower().replace(' ', '_')}"  # "10_none_of_the_ten"


def class_folder_name(label: int) -> str:
    """`0_T-shirt_top`, `9_Ankle_boot`: the same naming as labelled photo trees elsewhere;
    `10_none_of_the_ten` for NONE_INDEX."""
    if label == NONE_INDEX:
        return NONE_FOLDER
    return f"{label}_{CLASS_NAMES[label].replace('/', '_').replace(' ', '_')}"


def _folder_label(name: str) -> int:
    """The label of a class folder (KeyError for a stray folder)."""
    return NONE_INDEX if name == NONE_FOLDER else class_index(name)


@dataclass(frozen=True)
class Example:
    """One stored, labelled photo."""

    path: Path
    label: int  # 0..9, or NONE_INDEX (10): none of the ten
    digest: str  # content hash prefix (the file name without extension)

    @property
    def label_name(self) -> str:
        return label_name(self.label)

    @property
    def is_none(self) -> bool:
        """The user said this is none of the ten kinds of clothing."""
        return self.label == NONE_INDEX

    @property
    def kept_out(self) -> bool:
        """True for the photos used only to measure fine-tuning, never to train on."""
        return int(self.digest[:8], 16) % KEPT_OUT_EVERY == 0


def _root(root: str | os.PathLike[str] | None) -> Path:
    base = Path(root) if root is not None else paths.user_photos_dir()
    base.mkdir(parents=True, exist_ok=True)
    return base


def _check_label(label: int) -> int:
    if isinstance(label, str):
        label = class_index(label)
    label = int(label)
    if not 0 <= label <= NONE_INDEX:
        raise FmnistError(f"There is no class number {label}; classes are 0 to {NUM_CLASSES - 1} "
                          f"({NONE_INDEX}: none of the ten).")
    return label


def list_examples(root: str | os.PathLike[str] | None = None) -> list[Example]:
    """Every stored photo, sorted by class then hash. Stray files and folders are ignored."""
    base = _root(root)
    out: list[Example] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        try:
            label = _folder_label(folder.name)
        except KeyError:
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and is_photo_file(path.name) and not path.name.startswith("."):
                out.append(Example(path=path, label=label, digest=path.stem))
    return out


_FORMAT_EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif"}


def _encode(source) -> tuple[bytes, str]:
    """The bytes to keep and their extension: the original file when its format is common,
    otherwise (or for an in-memory image, e.g. pasted) a PNG of it."""
    if isinstance(source, Image.Image):
        return _png(load_image(source, max_side=None)), ".png"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(os.fspath(source))
        load_image(path)  # a readable message for missing/unreadable/non-image files
        data = path.read_bytes()
    img = load_image(data, max_side=None)  # validates; raises ImageLoadError
    fmt = open_listed_image(io.BytesIO(data)).format or ""
    if fmt in _FORMAT_EXTENSIONS:
        return data, _FORMAT_EXTENSIONS[fmt]
    return _png(img), ".png"


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def add_example(image_or_path, label: int, root: str | os.PathLike[str] | None = None) -> Example:
    """Store a photo under `label`; returns its Example.

    The same photo (same bytes) is stored once: adding it again with another label relabels it.
    Raises `ImageLoadError` for files that are not usable images, `SaveError` if the disk refuses.
    """
    label = _check_label(label)
    data, ext = _encode(image_or_path)
    digest = hashlib.sha256(data).hexdigest()[:HASH_CHARS]
    for existing in list_examples(root):
        if existing.digest == digest:
            return existing if existing.label == label else relabel(existing, label, root)
    target = _root(root) / class_folder_name(label) / f"{digest}{ext}"
    paths.atomic_write_bytes(target, data)
    return Example(path=target, label=label, digest=digest)


def relabel(example: Example, new_label: int, root: str | os.PathLike[str] | None = None) -> Example:
    """Move a stored photo to another class; returns the updated Example."""
    new_label = _check_label(new_label)
    if new_label == example.label:
        return example
    target = _root(root) / class_folder_name(new_label) / example.path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(example.path, target)
    except FileNotFoundError:
        raise FmnistError(f"{example.path.name} is no longer in the photo folder.") from None
    except OSError as exc:
        raise FmnistError(f"Cannot move {example.path.name}: {exc.strerror or exc}.") from None
    return Example(path=target, label=new_label, digest=example.digest)


def delete(example: Example) -> None:
    """Remove a stored photo (already gone is fine), and its embeddings."""
    try:
        example.path.unlink(missing_ok=True)
    except OSError as exc:
        raise FmnistError(f"Cannot delete {example.path.name}: {exc.strerror or exc}.") from None
    folder = example.path.parent.parent / EMBEDDINGS_FOLDER
    for keyed in (folder.iterdir() if folder.is_dir() else ()):
        EmbeddingStore(keyed).discard(example.digest)


# --------------------------------------------------------------------------------------------
# Embeddings: each kept photo's backbone features, stored when it is kept (core.data.photo_embeddings)

# A hidden folder beside the class folders (list_examples reads class folders only), one
# sub-folder per backbone and input recipe (`photo_embeddings.embedding_key`).
EMBEDDINGS_FOLDER = ".embeddings"


def embedding_store(key: str, root: str | os.PathLike[str] | None = None) -> EmbeddingStore:
    """Where the embeddings made by one backbone and input recipe (`key`) of the kept photos are."""
    return EmbeddingStore(_root(root) / EMBEDDINGS_FOLDER / key)


def store_embeddings(examples: Sequence[Example], backbone, input_size: int, n_augmented: int,
                     root: str | os.PathLike[str] | None = None, progress=None, stop=None):
    """The photo model's embeddings of kept photos (`photo_embeddings.Embedded`) by `backbone` (the
    model's twin, core.predict.photo_twin.TwinBackbone, or data.torch_backbone's): those stored
    already are read, the others computed once and stored. None when stopped."""
    from ..data.photo_embeddings import embed_photos, embedding_key

    store = embedding_store(embedding_key(backbone, input_size, 1 + n_augmented), root)
    return embed_photos(backbone, [(Path(e.path), e.digest) for e in examples], store, input_size, n_augmented,
                        progress=progress, stop=stop)


def split_examples(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(for training, kept out for measuring); deterministic by content hash."""
    train = [e for e in examples if not e.kept_out]
    kept = [e for e in examples if e.kept_out]
    return train, kept


MIN_FINETUNE_PHOTOS = 3  # photos to train on (kept-out ones do not count) before a fine-tune is offered


@dataclass(frozen=True)
class FinetuneReadiness:
    """Whether the stored photos are enough to fine-tune, and what to tell the user.

    `needed` counts new photos, allowing for one in KEPT_OUT_EVERY being kept out for measuring;
    the Predict page's button and the Train page show `button_text()` / `explanation()`.
    """

    n_photos: int
    n_train: int  # photos a fine-tune would train on
    n_kept_out: int  # photos kept out to measure the result
    needed: int  # more photos to save before a fine-tune can run (0 = it can)

    @property
    def can_run(self) -> bool:
        return self.needed == 0

    def button_text(self) -> str:
        if self.can_run:
            return "Fine-tune with my photos"
        return f"Fine-tune (needs {self.needed} more photo{'s' if self.needed != 1 else ''})"

    def explanation(self) -> str:
        kept = (f"{self.n_train} of your {self.n_photos} photo{'s' if self.n_photos != 1 else ''} can be trained "
                f"on ({self.n_kept_out} kept out to measure the result: one in {KEPT_OUT_EVERY})")
        if self.can_run:
            return f"{kept}."
        return (f"Fine-tuning needs at least {MIN_FINETUNE_PHOTOS} photos to train on: {kept}. "
                f"Confirm or correct about {self.needed} more prediction{'s' if self.needed != 1 else ''} "
                "on the Predict page.")


def finetune_readiness(examples: Sequence[Example], minimum: int = MIN_FINETUNE_PHOTOS) -> FinetuneReadiness:
    train, kept = split_examples(examples)
    missing = max(0, minimum - len(train))
    # Each new photo is kept out with probability 1/KEPT_OUT_EVERY: ask for enough to expect `missing`.
    needed = math.ceil(missing * KEPT_OUT_EVERY / (KEPT_OUT_EVERY - 1)) if missing else 0
    return FinetuneReadiness(n_photos=len(examples), n_train=len(train), n_kept_out=len(kept), needed=needed)


def counts_by_class(examples: Sequence[Example]) -> dict[str, int]:
    """{class name: photos}, the ten classes then "None of the ten"."""
    counts = {name: 0 for name in (*CLASS_NAMES, NONE_OF_THE_TEN)}
    for e in examples:
        counts[e.label_name] += 1
    return counts


# --------------------------------------------------------------------------------------------
# Fine-tuning


def examples_to_arrays(examples: Sequence[Example],
                       progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(uint8 (M,28,28) as the model sees them, int64 labels (M,), errors) for stored photos.

    A "none of the ten" photo gets NONE_LABEL (-1): the 28×28 network has no "none" output, so
    core.learn.training trains it towards a flat distribution (outlier exposure), as it does
    the "none" photos of a labelled photo set. A photo that can no longer be read is skipped
    and named in `errors`.
    """
    images, labels, errors = [], [], []
    for i, ex in enumerate(examples):
        try:
            images.append(np.asarray(prepare_photo(load_image(ex.path)).final, dtype=np.uint8))
            labels.append(NONE_LABEL if ex.label == NONE_INDEX else ex.label)
        except ImageLoadError as exc:
            errors.append(str(exc))
        if progress is not None:
            progress(i + 1, len(examples))
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.int64), errors
    return np.stack(images), np.asarray(labels, np.int64), errors
