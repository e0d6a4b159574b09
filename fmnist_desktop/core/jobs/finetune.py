"""Fine-tuning the active model on the user's photos, and measuring whether it helped.

`finetune_config` continues training the active model for a short time on Fashion-MNIST plus the
user's photos (`core.store.user_photos`, processed by `photo.prepare_photo`, each expanded into
several photo-augmented copies and weighted), at a tenth of the preset's learning rate.
`before_after_report` gives accuracy before and after on the Fashion-MNIST test set and on the
kept-out photos. The GUI runs both in its worker; nothing here imports Qt.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..base.errors import FmnistError
from ..learn.inference import iter_logits
from ..learn.realworld_aug import RealWorldAugConfig, realworld_augment
from ..learn.training import TrainConfig
from ..models.presets import PRESETS
from ..predict.photo_eval import as_runner
from ..store.checkpoint import read_meta
from ..store.user_photos import Example, examples_to_arrays, list_examples, split_examples
from .state import TaskState


def augmented_copies(images: np.ndarray, copies: int, seed: int = 0) -> np.ndarray:
    """`copies` photo-augmented versions of each 28x28 uint8 image (originals first)."""
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
    return as_runner(model_source)


def _split_accuracy(runner, images: torch.Tensor, labels: torch.Tensor, stop=None) -> float | None:
    """Accuracy in 0..1; None when `stop` (anything with `is_set()`) was set between batches."""
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
    already (core.jobs.runs does, right after training), so the test set is not run through it twice.
    """
    if test_split is None:
        from ..data.fashion_mnist import load_test_split

        test_split, _ = load_test_split(data_dir)
    _, kept = split_examples(examples)
    # A "none of the ten" photo has no right class for a 28×28 network to name: not counted.
    kept = [e for e in kept if not e.is_none]
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


@dataclass(frozen=True)
class FinetuneInputs:
    checkpoint: str | os.PathLike[str]  # the model to fine-tune (the active one)
    device: str = "auto"
    data_dir: str | os.PathLike[str] | None = None
    val_size: int | None = None  # the Train page's validation size (None: the config's default)


def prepare_run(inputs: FinetuneInputs, state: TaskState):
    """The task before a fine-tune: read and augment the user's photos into a TrainConfig.
    Returns (config, the examples used); the run itself is `jobs.train.run` with that config."""
    examples = list_examples()
    config = finetune_config(
        inputs.checkpoint, examples, device=inputs.device, data_dir=inputs.data_dir,
        progress=lambda done, total: state.set_progress(None, "Preparing your photos…", done=done, total=total),
    )
    if inputs.val_size is not None:  # the form's validation size applies to fine-tuning too
        config = dataclasses.replace(config, val_size=inputs.val_size)
    return config, examples
