"""Evaluating a model file on the Fashion-MNIST test split: the one way the Evaluate page, `fmnist
evaluate` and the tuner's "save the best model" measure a checkpoint.

`run(EvaluateInputs(path, ...), state)` (see `state.py`) loads the model, reads the test split
(or takes one already read), runs `learn.evaluation.evaluate` and returns a `CheckpointEvaluation`,
or None when stopped. Progress: the model, the test images, then image counts.
`run_photos(PhotoEvaluateInputs(path, folder), state)` measures a photo model on labelled photos
(the real photos shipped with the app, or a folder in the `fmnist evaluate-photos` layout) as the
app answers them, for the Evaluate page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base.edition import NeedsFullEdition, has_torch, require_torch
from ..data.fashion_mnist import Split, load_test_split
from ..learn.metrics import EvaluationResult, result_from_probabilities
from ..store.meta import CheckpointMeta
from .state import TaskState

LOAD_SHARE = 0.1  # of the progress bar, for loading the model and reading the test images


@dataclass(frozen=True)
class EvaluateInputs:
    checkpoint: str | os.PathLike[str]
    data_dir: str | os.PathLike[str] | None = None  # where the test files are (None: the usual places)
    test_split: Any = None  # a (data.Split, DataSource or None) pair already read, to reuse
    device: str = "cpu"
    batch_size: int = 1000
    # Answer through the model's ONNX twin (made if needed) on the CPU, as the app answers; the
    # result then holds no torch model (`model` None). The tuner keeps torch: it needs the model.
    use_twin: bool = False


@dataclass(frozen=True)
class CheckpointEvaluation:
    result: EvaluationResult
    model: Any  # the loaded nn.Module (eval mode, on `device`); None when the ONNX twin answered
    meta: CheckpointMeta
    split: Any  # the data.Split evaluated on
    source: Any  # its data.DataSource (None when the caller gave a split without one)
    engine_note: str = ""  # why torch answered although the twin was asked for ("" otherwise)


def report(result: EvaluationResult, *, name: str, path: Any, preset: str | None, data_source: str) -> dict:
    """The evaluation as JSON values: what `fmnist evaluate --json` prints and the Evaluate page
    exports (File ▸ Export…)."""
    out = result.to_dict()
    out.update(model={"path": str(path), "name": name, "preset": preset}, data_source=data_source)
    return out


def _twin_engine(inputs: EvaluateInputs):
    """(the OnnxEngine of the model's twin or None, why not). The lite edition has no torch to
    fall back on: there the twin answers whatever `use_twin` says, or NeedsFullEdition is raised."""
    lite = not has_torch()
    if not lite and (not inputs.use_twin or str(inputs.device) != "cpu"):
        return None, ""
    from ..base.errors import FmnistError
    from ..predict.engines import OnnxEngine
    from .twins import ensure_twin

    try:
        twin = ensure_twin(inputs.checkpoint)
        if twin.kind == "fmnist":
            return OnnxEngine(twin, lazy=False), ""
    except NeedsFullEdition:
        raise
    except FmnistError as exc:
        if lite:
            raise
        from ..store.checkpoint import load_model

        load_model(inputs.checkpoint)  # a model file that does not load says so, as before
        return None, str(exc).rstrip(".")
    require_torch("Measuring the photo model on the Fashion-MNIST test images")  # a photo model: torch, as before
    return None, ""


def _as_tensors(split: Split) -> Split:
    """The test split as torch tensors (it is read as numpy arrays, which the twin takes)."""
    import torch

    if isinstance(split.images, np.ndarray):
        return Split(torch.from_numpy(np.array(split.images)), torch.from_numpy(np.array(split.labels)))
    return split


def _twin_evaluation(engine, split, batch_size: int, progress, state) -> EvaluationResult | None:
    """The test split through the twin, batch by batch (progress, stop), as `learn.evaluation.evaluate`."""
    images, labels = np.asarray(split.images), np.asarray(split.labels)
    probs = []
    for start in range(0, len(labels), batch_size):
        if state.is_interruption_requested():
            return None
        probs.append(engine.fmnist_probabilities(images[start:start + batch_size]))
        progress(min(start + batch_size, len(labels)), len(labels))
    return result_from_probabilities(np.concatenate(probs) if probs else np.zeros((0, 10), np.float32), labels)


def run(inputs: EvaluateInputs, state: TaskState) -> CheckpointEvaluation | None:
    state.set_progress(0.02, "Step 1 of 3: loading the model…")
    engine, note = _twin_engine(inputs)
    if engine is not None:
        model, meta = None, engine.meta
    else:
        from ..store.checkpoint import load_model

        model, meta = load_model(inputs.checkpoint, device=inputs.device)
        note = f"{meta.name} is answered by torch: {note}." if note else ""
    if state.is_interruption_requested():
        return None
    if inputs.test_split is None:
        state.set_progress(LOAD_SHARE / 2, "Step 2 of 3: reading the test images…")
        split, source = load_test_split(inputs.data_dir, tensors=False)
    else:
        split, source = inputs.test_split
    if state.is_interruption_requested():
        return None

    def progress(done: int, total: int) -> None:
        fraction = LOAD_SHARE + (1 - LOAD_SHARE) * done / max(1, total)
        state.set_progress(fraction, f"Step 3 of 3: {done:,} of {total:,} images", done=done, total=total)

    if engine is not None:
        result = _twin_evaluation(engine, split, inputs.batch_size, progress, state)
    else:
        from ..learn.evaluation import evaluate

        split = _as_tensors(split)
        result = evaluate(model, split, meta.input_size, meta.mean, meta.std, device=inputs.device,
                          batch_size=inputs.batch_size, progress=progress, stop=state)
    if result is None or state.is_interruption_requested():
        return None
    return CheckpointEvaluation(result, model, meta, split, source, note)


# --------------------------------------------------------------------------------------------
# The photo model: on labelled photos (the real photos shipped with the app, or a folder in the
# `fmnist evaluate-photos` layout), with the verdict the app shows for each photo.

GALLERY_THUMBNAIL = 224  # each photo's copy kept for the galleries (the largest thumbnail size)
SHIPPED_PHOTOS = None  # PhotoEvaluateInputs.folder for the real photos shipped with the app


@dataclass(frozen=True)
class PhotoEvaluateInputs:
    checkpoint: str | os.PathLike[str]
    folder: str | os.PathLike[str] | None = SHIPPED_PHOTOS  # labelled sub-folders; None: the shipped real photos
    device: str = "cpu"


@dataclass(frozen=True)
class PhotoEvaluation:
    """A photo model on labelled photos: `result` (confusion, per-class figures, galleries' order)
    covers the photos of the ten classes; `photo_result` adds the not-sure and confidently-wrong
    rates and the none-of-the-ten photos; `thumbnails[i]`/`names[i]` belong to `result`'s image i."""

    result: EvaluationResult
    photo_result: Any  # core.predict.photo_eval.PhotoEvalResult
    thumbnails: list  # uint8 (h, w, 3) arrays
    names: list[str]
    not_sure: Any  # bool array, one per image of `result`: the app would say "not sure"
    description: str  # "the 80 real photos shipped with the app" / "the photos in <folder>"


def photo_items(folder) -> tuple[list, str]:
    """(path, class) pairs and their description; FmnistError when the folder holds no labelled photo."""
    from ..base.errors import FmnistError
    from ..predict.photo_eval_result import labelled_photos
    from ..predict.photo_score import shipped_photos

    if folder is None:
        items = shipped_photos()
        if not items:
            raise FmnistError("The real photos shipped with the app are missing.",
                              hint="Reinstall the app, or pick a labelled folder of your own.")
        return items, f"the {len(items)} real photos shipped with the app"
    items = labelled_photos(folder)
    noun = "photo" if len(items) == 1 else "photos"
    return items, f"the {len(items)} labelled {noun} in {folder}"


def run_photos(inputs: PhotoEvaluateInputs, state: TaskState) -> PhotoEvaluation | None:
    """Evaluate a photo model file on labelled photos as the app answers them; None when stopped."""
    import numpy as np

    from ..learn.metrics import result_from_probabilities
    from ..predict.routed_eval import evaluate_photo_items_routed
    from .twins import predictor_for

    state.set_progress(0.0, "Step 1 of 2: loading the model…")
    items, description = photo_items(inputs.folder)
    predictor = predictor_for([inputs.checkpoint], inputs.device)  # its ONNX twin answers, as the app's
    if state.is_interruption_requested():
        return None

    def progress(done: int, total: int) -> None:
        state.set_progress(done / max(1, total), f"Step 2 of 2: {done:,} of {total:,} photos", done=done, total=total)

    photo_result, predictions = evaluate_photo_items_routed(predictor, items, progress, state,
                                                            root=description, thumbnail_size=GALLERY_THUMBNAIL)
    if state.is_interruption_requested():
        return None
    label_of = {path: label for path, label in items}
    kept = [p for p in predictions if p.ok and 0 <= label_of[p.path] < 10]
    probabilities = np.array([p.probabilities for p in kept], np.float32).reshape(len(kept), 10)
    result = result_from_probabilities(probabilities, np.array([label_of[p.path] for p in kept], np.int64))
    thumbnails = [np.asarray(p.thumbnail.convert("RGB"), np.uint8) for p in kept]
    return PhotoEvaluation(result, photo_result, thumbnails, [p.name for p in kept],
                           np.array([p.not_sure for p in kept], bool), description)
