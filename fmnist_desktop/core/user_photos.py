""""Teach it your photos": the user's labelled photos, and fine-tuning a model on them.

Store layout: `paths.user_photos_dir()/<index>_<name>/<sha256-prefix><ext>`. The original file
is kept byte for byte (so a better future pipeline can reprocess it), named by a hash of its
content so the same photo added twice is stored once. Moving a photo between class folders is
how it is relabelled. About one photo in five is *kept out* of fine-tuning, chosen by its hash
(stable as photos are added or removed), to measure honestly whether fine-tuning helped.

Fine-tuning (`finetune_config`) continues training the active model for a short time on
Fashion-MNIST plus the user's photos (processed by `photo.prepare_photo`, each expanded into
several photo-augmented copies and weighted), at a tenth of the preset's learning rate.
`before_after_report` gives accuracy before and after on the Fashion-MNIST test set and on the
kept-out photos. The GUI runs both in its worker; nothing here imports Qt.
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
import torch
from PIL import Image

from . import paths
from .errors import FmnistError, ImageLoadError
from .formats import is_photo_file
from .labels import CLASS_NAMES, NUM_CLASSES, class_index
from .photo import load_image, prepare_photo

HASH_CHARS = 16  # 64 bits of SHA-256: collisions are not a concern for a personal photo folder
KEPT_OUT_EVERY = 5  # one photo in five (by hash) is kept out of fine-tuning, for measuring


def class_folder_name(label: int) -> str:
    """`0_T-shirt_top`, `9_Ankle_boot`: the same naming as labelled photo trees elsewhere."""
    return f"{label}_{CLASS_NAMES[label].replace('/', '_').replace(' ', '_')}"


@dataclass(frozen=True)
class Example:
    """One stored, labelled photo."""

    path: Path
    label: int
    digest: str  # content hash prefix (the file name without extension)

    @property
    def label_name(self) -> str:
        return CLASS_NAMES[self.label]

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
    if not 0 <= label < NUM_CLASSES:
        raise FmnistError(f"There is no class number {label}; classes are 0 to {NUM_CLASSES - 1}.")
    return label


def list_examples(root: str | os.PathLike[str] | None = None) -> list[Example]:
    """Every stored photo, sorted by class then hash. Stray files and folders are ignored."""
    base = _root(root)
    out: list[Example] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        try:
            label = class_index(folder.name)
        except KeyError:
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and is_photo_file(path.name) and not path.name.startswith("."):
                out.append(Example(path=path, label=label, digest=path.stem))
    return out


_FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif"}


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
    fmt = Image.open(io.BytesIO(data)).format or ""
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
    """Remove a stored photo (already gone is fine)."""
    try:
        example.path.unlink(missing_ok=True)
    except OSError as exc:
        raise FmnistError(f"Cannot delete {example.path.name}: {exc.strerror or exc}.") from None


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
    counts = {name: 0 for name in CLASS_NAMES}
    for e in examples:
        counts[e.label_name] += 1
    return counts


# --------------------------------------------------------------------------------------------
# Fine-tuning


def examples_to_arrays(examples: Sequence[Example],
                       progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(uint8 (M,28,28) as the model sees them, int64 labels (M,), errors) for stored photos.

    A photo that can no longer be read is skipped and named in `errors`.
    """
    images, labels, errors = [], [], []
    for i, ex in enumerate(examples):
        try:
            images.append(np.asarray(prepare_photo(load_image(ex.path)).final, dtype=np.uint8))
            labels.append(ex.label)
        except ImageLoadError as exc:
            errors.append(str(exc))
        if progress is not None:
            progress(i + 1, len(examples))
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.int64), errors
    return np.stack(images), np.asarray(labels, np.int64), errors


def augmented_copies(images: np.ndarray, copies: int, seed: int = 0) -> np.ndarray:
    """`copies` photo-augmented versions of each 28x28 uint8 image (originals first)."""
    from .realworld_aug import RealWorldAugConfig, realworld_augment

    if copies <= 1 or len(images) == 0:
        return images
    strong = RealWorldAugConfig(p_any=1.0)
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0).unsqueeze(1)
    gen = torch.Generator().manual_seed(seed)
    out = [images]
    for _ in range(copies - 1):
        y = realworld_augment(x, gen, strong)
        out.append((y[:, 0] * 255.0).round_().clamp_(0, 255).to(torch.uint8).numpy())
    return np.concatenate(out)


FINETUNE_EPOCHS = 2
FINETUNE_WEIGHT = 10.0  # each photo's copies repeated this often per epoch
FINETUNE_COPIES = 8  # photo-augmented versions of each photo


def finetune_config(active_checkpoint_path: str | os.PathLike[str], examples: Sequence[Example],
                    epochs: int = FINETUNE_EPOCHS, weight: float = FINETUNE_WEIGHT, copies: int = FINETUNE_COPIES,
                    lr_scale: float = 0.1,
                    device: str = "auto", seed: int = 0, data_dir: str | os.PathLike[str] | None = None,
                    progress: Callable[[int, int], None] | None = None):
    """A `training.TrainConfig` that continues training the active model on the user's photos.

    Only photos not kept out are used. Each becomes `copies` photo-augmented 28x28 images, and
    the set is repeated `weight` times per epoch next to Fashion-MNIST (so a few dozen photos
    count without drowning the 55,000 dataset images that keep the model general).
    Raises `FmnistError` when there is nothing to learn from.
    """
    from .checkpoint import read_meta
    from .models import PRESETS
    from .training import TrainConfig

    train, _ = split_examples(examples)
    if not train:
        raise FmnistError("There are no photos to fine-tune on yet.",
                          hint="Confirm or correct a few predictions on the Predict page first.")
    images, labels, errors = examples_to_arrays(train, progress)
    if len(labels) == 0:
        raise FmnistError("None of your saved photos can be read any more. " + "; ".join(errors[:2]))
    images = augmented_copies(images, copies, seed)
    labels = np.tile(labels, max(1, copies))
    meta = read_meta(active_checkpoint_path)
    preset = meta.preset if meta.preset in PRESETS else None
    if preset is None:
        preset = next((p.name for p in PRESETS.values() if p.arch == meta.arch and p.input_size == meta.input_size), None)
    if preset is None:
        raise FmnistError(f"The active model ({meta.arch}) does not match any training preset, so it cannot be fine-tuned.")
    base_lr = PRESETS[preset].lr
    return TrainConfig(preset=preset, epochs=epochs, lr=base_lr * lr_scale, device=device, seed=seed,
                       data_dir=data_dir, init_checkpoint=Path(active_checkpoint_path),
                       extra_train=(torch.from_numpy(images), torch.from_numpy(labels), float(weight)))


@dataclass(frozen=True)
class FinetuneReport:
    """Accuracy (0..1) before and after fine-tuning; user_* is on the kept-out photos (None if none)."""

    before_fashion_mnist: float
    after_fashion_mnist: float
    before_user: float | None
    after_user: float | None
    n_test: int
    n_user_kept_out: int

    def lines(self) -> list[str]:
        def pct(v):
            return "n/a" if v is None else f"{100 * v:.1f}%"

        out = [f"Fashion-MNIST test ({self.n_test} images): {pct(self.before_fashion_mnist)} -> "
               f"{pct(self.after_fashion_mnist)}"]
        if self.n_user_kept_out:
            out.append(f"Your kept-out photos ({self.n_user_kept_out}): {pct(self.before_user)} -> {pct(self.after_user)}")
        else:
            out.append("Your kept-out photos: none yet (about one photo in five is kept out to measure this)")
        return out


def _runner(model_source):
    from .photo_eval import as_runner

    return as_runner(model_source)


def _split_accuracy(runner, images: torch.Tensor, labels: torch.Tensor, stop=None) -> float | None:
    """Accuracy in 0..1; None when `stop` (anything with `is_set()`) was set between batches."""
    from .inference import iter_logits

    if len(labels) == 0:
        return float("nan")
    correct = done = 0
    runner.model.eval()
    for done, logits in iter_logits(runner.model, images, runner.input_size, runner.mean, runner.std,
                                    device=runner.device, batch_size=1000, stop=stop):
        correct += int((logits.argmax(1).cpu() == labels[done - logits.shape[0] : done]).sum())
    if done < len(labels):  # stopped
        return None
    return correct / len(labels)


def before_after_report(before, after, examples: Sequence[Example], test_split=None,
                        data_dir: str | os.PathLike[str] | None = None, stop=None,
                        after_test_accuracy: float | None = None) -> FinetuneReport | None:
    """Compare two models (checkpoint paths, Predictors or (model, meta) pairs).

    `test_split` is a `data.Split` (default: the Fashion-MNIST test set found by `data`).
    `stop` (a threading.Event, or anything with `is_set()`) is checked between batches of 1,000
    images; once it is set the comparison ends and None is returned (two models on 10,000 images
    take several seconds on a CPU, too long to keep Stop or closing the window waiting).
    `after_test_accuracy` (0..1): the `after` model's test accuracy when the caller has measured it
    already (core.runs does, right after training), so the test set is not run through it twice.
    """
    if test_split is None:
        from .data import load_test_split

        test_split, _ = load_test_split(data_dir)
    _, kept = split_examples(examples)
    images, labels, _ = examples_to_arrays(kept)
    user_x, user_y = torch.from_numpy(images), torch.from_numpy(labels)
    results = []
    for source, known in ((before, None), (after, after_test_accuracy)):
        runner = _runner(source)
        fm = known if known is not None else _split_accuracy(runner, test_split.images, test_split.labels, stop)
        user = _split_accuracy(runner, user_x, user_y, stop) if len(user_y) else None
        if fm is None or (stop is not None and stop.is_set()):
            return None
        results.append((fm, user))
    return FinetuneReport(before_fashion_mnist=results[0][0], after_fashion_mnist=results[1][0],
                          before_user=results[0][1], after_user=results[1][1],
                          n_test=int(len(test_split.labels)), n_user_kept_out=int(len(user_y)))
