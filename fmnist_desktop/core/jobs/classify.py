"""Classifying photos as tasks: one photo with every preparation step (`classify_one`), or the
files and folders a user dropped (`run(ClassifyInputs(...), state)`, see `state.py`).

The Predict page runs both in its worker thread and only shows what they return; the folder job
streams through `Predictor.iter_predict_paths`, handing on predictions in small groups as partial
results, so a folder of 20,000 photos shows its first rows at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..base.errors import FmnistError
from ..photo import load_image, prepare_photo
from ..predict.predictor import iter_image_paths
from .state import TaskState

GROUP_SIZE = 16  # predictions handed on together...
GROUP_LATENCY_S = 0.25  # ...or after this long, whichever comes first


@dataclass(frozen=True)
class Classified:
    """One classified file of a folder job: the prediction and the name to show (the path below
    the dropped folder, so sub-folders stay visible)."""

    prediction: Any  # core.predict.predictor.Prediction
    path: str
    shown: str


@dataclass(frozen=True)
class ClassifyInputs:
    items: Sequence[str]  # files and folders, as dropped or opened
    load_predictor: Callable[[], Any]  # the Predictor (called in the worker: loading takes a while)
    known: frozenset[str] = frozenset()  # paths already classified: not done again
    thumbnail_size: int = 40  # each prediction keeps a thumbnail of its photo this big


def list_files(items: Sequence[str], known: frozenset[str] = frozenset(),
               state: TaskState | None = None) -> tuple[list[str], dict[str, str], int]:
    """(files to classify, {path: name to show}, how many were already `known`). Folders are
    expanded by `iter_image_paths`; a file named explicitly is kept, so a bad one shows why."""
    files: list[str] = []
    shown: dict[str, str] = {}
    for item in items:
        if Path(item).is_dir():
            for found in iter_image_paths([item]):
                path = str(found)
                files.append(path)
                shown[path] = found.relative_to(item).as_posix() if found.is_relative_to(item) else found.name
        else:
            files.append(item)
            shown[item] = Path(item).name
        if state is not None and state.is_interruption_requested():
            break
    unique = list(dict.fromkeys(files))
    new = [f for f in unique if f not in known]
    return new, shown, len(unique) - len(new)


def run(inputs: ClassifyInputs, state: TaskState) -> tuple[int, int]:
    """Classify `inputs.items`; partial results are lists of `Classified`. Returns (files
    classified or attempted, files skipped as already known)."""
    state.set_progress(None, "Looking for images…")
    files, shown, skipped = list_files(inputs.items, inputs.known, state)
    if state.is_interruption_requested():
        return 0, 0
    total = len(files)
    state.set_progress(done=0, total=total)
    if not files:
        return 0, skipped
    predictor = inputs.load_predictor()
    group: list[Classified] = []
    started = time.monotonic()
    done = 0
    for prediction in predictor.iter_predict_paths([], stop=state, files=[Path(f) for f in files],
                                                   thumbnail_size=inputs.thumbnail_size):
        path = files[done]
        done += 1
        group.append(Classified(prediction, path, shown.get(path, Path(path).name)))
        if len(group) >= GROUP_SIZE or done == total or time.monotonic() - started > GROUP_LATENCY_S:
            state.set_partial_result(group)
            state.set_progress(done=done, total=total)
            group, started = [], time.monotonic()
    if group:
        state.set_partial_result(group)
        state.set_progress(done=done, total=total)
    return total, skipped


def classify_one(predictor, kind: str, payload) -> tuple[Any, Any, Any]:
    """One image with every preparation step: `kind` "single-path" (a file) or "single-bytes"
    (pasted pixels). Returns (prediction, its PhotoSteps or None when unreadable, the source:
    the path or the decoded image)."""
    if kind == "single-path":
        prediction = predictor.predict_paths([payload], keep_steps=True)[0]
        source = payload
    else:
        try:
            image = load_image(payload)
        except FmnistError as exc:
            raise FmnistError(f"The pasted image cannot be read: {exc}") from exc
        prediction = predictor.predict_images([image], names=["Pasted image"])[0]
        source = image
    if getattr(prediction, "error", None) or getattr(prediction, "model_kind", None) == "photo":
        return prediction, None, source  # the photo model saw one letterboxed image: no 28×28 steps
    steps = getattr(prediction, "steps", None)
    if steps is None:
        steps = prepare_photo(load_image(payload) if kind == "single-path" else source)
    return prediction, steps, source
