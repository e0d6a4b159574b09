"""Tuning as tasks (see `state.py`): a study (`run`), what a study holds so far (`read_study`) and
adding its best model to the library (`save_best`). The Tune… dialog starts them and shows what
they hand back; `fmnist tune` drives `tuning.iter_tuning` itself, printing as it goes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import tuning
from .state import TaskState


@dataclass(frozen=True)
class TuneInputs:
    config: Any  # tuning.TuneConfig
    data_dir: str | os.PathLike[str] | None = None
    val_size: int | None = None  # None: the default validation size


def run(inputs: TuneInputs, state: TaskState):
    """Load Fashion-MNIST and run the study. Partial results: every event but TrialBatch (those
    become progress), and ("plots", {name: png}) after each finished trial. Returns the last event."""
    from ..data.fashion_mnist import load_dataset

    config = inputs.config
    kwargs = {} if inputs.val_size is None else {"val_size": inputs.val_size}
    data = load_dataset(inputs.data_dir, stop=state, **kwargs)
    last = None
    for event in tuning.iter_tuning(config, data, state):
        if isinstance(event, tuning.TrialBatch):
            fraction = min(1.0, event.elapsed_s / config.budget_s) if config.budget_s else None
            state.set_progress(fraction, f"Trial {event.number}: epoch {event.epoch}/{event.epochs}, "
                               f"batch {event.batch}/{event.batches}")
            continue
        state.set_partial_result(event)
        if isinstance(event, tuning.TrialDone) or (isinstance(event, tuning.TuneStarted) and event.previous):
            try:
                state.set_partial_result(("plots", tuning.render_plots(tuning.load_study(config.study, config.storage))))
            except Exception:  # noqa: BLE001 — a plot is a nicety; the study goes on
                pass
        last = event
    return last


@dataclass(frozen=True)
class StudySoFar:
    study: str
    base_preset: str | None  # None when the study does not exist yet
    records: tuple = ()
    plots: dict | None = None


def read_study(study: str, _state: TaskState | None = None, storage: str | None = None) -> StudySoFar:
    """A study's trials and plots so far, running nothing (a study not created yet is empty).
    `storage`: the study's database URL (None: the app's own SQLite file)."""
    if study not in tuning.study_names(storage):
        return StudySoFar(study, None, (), {})
    s = tuning.load_study(study, storage)
    return StudySoFar(study, s.user_attrs.get("base_preset"), tuple(tuning.trial_records(s)), tuning.render_plots(s))


def save_best(study: str, data_dir: str | os.PathLike[str] | None, state: TaskState, storage: str | None = None):
    """Measure the study's best model on the test set and add it to the library (its ModelEntry)."""
    from ..data.fashion_mnist import load_test_split

    state.set_progress(None, "Measuring the best model on the test set…")
    split, _source = load_test_split(data_dir)
    return tuning.save_best_to_library(study, split, stop=state, storage=storage)
