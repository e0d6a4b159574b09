"""Measuring the library's models on the measuring photos, as a task (see `state.py`): the Models
page starts it while it is shown and fills its "Real photos" column from the partial results.

Preparing the photos for the 28×28 networks (GrabCut) is the slow part the first time (13 s for
the 80 shipped photos on 2 shared CPU cores), then they come from the disk cache (0.02 s); a
28×28 network is scored in about a second, a photo model in about 12 s (80 photos through
EfficientNet-Lite0 on the CPU). The page keeps the prepared set and the scores, so a later visit
only scores the models it has not seen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..base.errors import FmnistError
from ..predict import photo_score
from ..predict.predictor import Predictor
from .state import TaskState


@dataclass(frozen=True)
class ScoreInputs:
    # (key the page files the score under, model file path[, kind: "photo" or "fmnist"])
    models: Sequence[tuple[Any, ...]]
    photo_set: Any = None  # a photo_score photo set prepared before, reused when still current
    done: frozenset = frozenset()  # (model key, photo set key) pairs already scored


def run(inputs: ScoreInputs, state: TaskState) -> None:
    """Partial results: ("set", the prepared photo set) when it had to be prepared, then
    ("score", (model key, photo set key), score) per model. A model file that cannot be loaded
    is skipped (the page's table already says what is wrong with it)."""
    source, description, items = photo_score.measuring_photos()
    key = tuple((str(p), int(label)) for p, label in items)
    current = inputs.photo_set
    if current is None or current.key != key:
        def progress(done: int, total: int) -> None:
            state.set_progress(done / total if total else None, f"Preparing {description} ({done} of {total})…",
                               done=done, total=total)

        current = photo_score.prepare_photo_set(items, source, description, stop=state.is_interruption_requested,
                                                progress=progress)
        if state.is_interruption_requested():
            return  # a half-prepared set would be scored as if it were the whole one
        state.set_partial_result(("set", current))
    todo = [m for m in inputs.models if (m[0], current.key) not in inputs.done]
    for number, (model_key, path, *kind) in enumerate(todo, start=1):
        if state.is_interruption_requested():
            return
        state.set_progress((number - 1) / len(todo), f"Scoring model {number} of {len(todo)} on {current.description}…",
                           done=(number - 1) * len(current), total=len(todo) * len(current))
        try:
            predictor = Predictor.from_checkpoint(path, device="cpu")
        except FmnistError:
            continue
        # A photo model sees the photos themselves; a 28×28 network the set's prepared 28×28 images.
        def photo_progress(done: int, total: int, number=number) -> None:
            state.set_progress((number - 1 + done / max(1, total)) / len(todo),
                               f"Scoring model {number} of {len(todo)} on {current.description} ({done} of {total})…",
                               done=(number - 1) * total + done, total=len(todo) * total)

        scored = (photo_score.score_photo_model(predictor, current, stop=state.is_interruption_requested,
                                                progress=photo_progress)
                  if kind and kind[0] == "photo" else photo_score.score(predictor, current))
        if state.is_interruption_requested():
            return  # a photo model stopped half-way scored only part of the set
        state.set_partial_result(("score", (model_key, current.key), scored))
