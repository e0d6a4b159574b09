"""The Predict page's worker side: the active models' Predictor, loaded once (in a worker thread),
the tasks that classify one photo or a list (`core.jobs.classify`) or classify the list's photos
again after the active models changed, and the classify job's state that hands its partial
results on as table rows (each stamped with the models that answered: `models_key`)."""

from __future__ import annotations

import threading

from ...widgets.model_answer import entry_names
from .batch_rows import batch_row
from .single_view import single_result


def models_key(entry) -> str:
    """Which models answer: the model files of `entry` (a library entry or `active_entries()`).
    A list row stamped with another key than the active models' is out of date."""
    entries = list(entry) if isinstance(entry, (list, tuple)) else [entry]
    return "|".join(str(e.path) for e in entries if e is not None)


class PredictorCache:
    """The Predictor for the active models, loaded once per set of model files (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._predictors: dict[str, object] = {}

    def get(self, entry):
        """`entry`: a library entry, or the list `active_entries()` (photo model first, then the
        28×28 network). Called in worker threads."""
        from ....core.jobs.twins import predictor_for

        entries = list(entry) if isinstance(entry, (list, tuple)) else [entry]
        key = models_key(entries)
        with self._lock:
            predictor = self._predictors.get(key)
            if predictor is None:
                predictor = predictor_for([e.path for e in entries])  # ONNX twins, made on first use
                self._predictors = {key: predictor}  # keep only the active models' weights
            return predictor


class RowsState:
    """The classify job's state, handing its partial results on as table rows (made in the worker:
    thumbnails are QImages, so the GUI thread only adds them)."""

    def __init__(self, state, model_names: dict[str, str] | None = None, key: str = ""):
        self._state = state
        self._model_names = model_names  # kind -> library name, for the Model column
        self._key = key  # the models that answer (models_key)
        self.is_interruption_requested = state.is_interruption_requested
        self.is_set = state.is_set
        self.set_progress = state.set_progress

    def set_partial_result(self, group) -> None:
        self._state.set_partial_result([batch_row(c.prediction, c.path, c.shown, self._model_names, self._key)
                                        for c in group])


def single_task(predictors: PredictorCache, entry, kind: str, payload):
    """The task that classifies one photo ("single-path" or "single-bytes"): a SingleResult."""
    def task(state):
        from ....core.jobs import classify

        state.set_progress(None, "Loading the model…")
        result = single_result(*classify.classify_one(predictors.get(entry), kind, payload))
        result.model_names = entry_names(entry)  # "Answered by" names the model as the Models page does
        return result

    return task


def batch_task(predictors: PredictorCache, entry, items: list[str], known: set[str]):
    """The task that classifies files and folders, rows as partial results, skipping `known` paths."""
    def task(state):
        from ....core.jobs import classify

        inputs = classify.ClassifyInputs(items, lambda: predictors.get(entry), frozenset(known))
        return classify.run(inputs, RowsState(state, entry_names(entry), models_key(entry)))

    return task


def reclassify_task(predictors: PredictorCache, entry, files: list[str]):
    """The task that classifies the list's `files` again with the active models `entry` (after
    the active models changed): rows as partial results, which replace the old ones."""
    def task(state):
        from ....core.jobs import classify

        inputs = classify.ClassifyInputs(list(files), lambda: predictors.get(entry))
        return classify.run(inputs, RowsState(state, entry_names(entry), models_key(entry)))

    return task
