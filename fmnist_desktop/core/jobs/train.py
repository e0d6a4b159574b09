"""Training as a task: `run(TrainInputs(config, ...), state)` (see `state.py`), without Qt.

The Train page runs it in a worker thread (`ui.tasks.TaskRunner`); tests run it with a
`PlainState`. In order: load the data set unless one was given (partial result
`DataLoaded(data)`, so a page can keep it for the next run; the data set is downloaded only by
the page's Download button, never here), run `core.learn.training.iter_training` and forward each of its events as a partial
result (`BatchEnd` throttled to `max_batch_rate_hz`, an epoch's last batch always passes), then,
after a `Finished`, call `after(finished, data, state)` (evaluate and save, see `core.jobs.runs`) and
hand its value on as a partial result `AfterTraining(value)`. Partial results always arrive,
also after Stop (a stopped evaluation still saves the model), so the page learns everything
from one callback. Every failure arrives as a `core.learn.training.Failed` partial result.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from ..base.defaults import DEFAULT_VAL_SIZE
from ..base.errors import FmnistError, describe_exception
from .state import TaskState, Throttle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataLoaded:
    data: Any  # core.data.fashion_mnist.FashionMNIST


@dataclass(frozen=True)
class AfterTraining:
    value: Any  # what the `after` step returned


@dataclass(frozen=True)
class RunOutcome:
    """What the training task hands back after a finished run was evaluated and saved.

    When the save failed (disk full, folder gone) `entry` is None and the trained model travels
    here instead (`model`, `meta`, `save_error`): the page keeps it and offers to save it elsewhere.
    """

    entry: Any  # core.store.library.ModelEntry, or None when the save failed
    test_accuracy: float | None  # percent; None when Stop or closing the window skipped the evaluation
    finetune_report: Any = None  # core.jobs.finetune.FinetuneReport, for fine-tune runs
    model: Any = None  # the trained nn.Module, only when the save failed
    meta: Any = None  # its core.store.checkpoint.CheckpointMeta, only when the save failed
    save_error: str | None = None
    evaluation_error: str | None = None  # why test_accuracy is None when the evaluation failed
    kept_after_stop: bool = False  # the best finished epoch of a stopped run, offered for saving


@dataclass(frozen=True)
class TrainInputs:
    config: Any  # a core.learn.training.TrainConfig
    data: Any = None  # a loaded data set to reuse, or None: load it (never download)
    after: Callable[[Any, Any, TaskState], Any] | None = None  # (finished, data, state) -> value
    max_batch_rate_hz: float = 20.0  # BatchEnd events handed on per second at most


def run(inputs: TrainInputs, state: TaskState) -> None:
    """One run of `inputs.config`; everything it has to say arrives as partial results."""
    from ..learn import training

    config, after = inputs.config, inputs.after
    rate = inputs.max_batch_rate_hz
    batch_throttle = Throttle(1.0 / rate if rate > 0 else 0.0)
    run_data = inputs.data
    if run_data is None:
        run_data = _load_data(config, state)
        if run_data is None:
            return
        state.set_partial_result(DataLoaded(run_data))
    if state.is_set():
        state.set_partial_result(training.Cancelled(epoch=0, batch=0, history=()))
        return
    state.set_progress(None, "Training…")
    finished = None
    for event in training.iter_training(config, run_data, stop=state):
        if isinstance(event, training.BatchEnd) and not batch_throttle.allow(final=event.batch >= event.batches):
            continue
        if isinstance(event, training.Finished):
            finished = event
        state.set_partial_result(event)
    if finished is None or after is None:
        return
    try:
        value = after(finished, run_data, state)
    except FmnistError as exc:
        state.set_partial_result(training.Failed(message=exc.message, advice=exc.hint))
    except Exception as exc:  # noqa: BLE001 - the run must end with an event, never a crash
        log.error("After-training step failed:\n%s", traceback.format_exc())
        state.set_partial_result(training.Failed(message=describe_exception(exc), advice=None))
    else:
        state.set_partial_result(AfterTraining(value))


def _load_data(config: Any, state: TaskState) -> Any:
    from ..data import fashion_mnist as core_data
    from ..learn import training

    state.set_progress(None, "Loading Fashion-MNIST…")
    try:
        return core_data.load_dataset(
            folder=getattr(config, "data_dir", None),
            val_size=getattr(config, "val_size", DEFAULT_VAL_SIZE),
            seed=getattr(config, "seed", 0),
            stop=state,
        )
    except FmnistError as exc:
        if state.is_set():  # Stop pressed while the files were read: a cancelled run, not a failure
            state.set_partial_result(training.Cancelled(epoch=0, batch=0, history=()))
        else:
            state.set_partial_result(training.Failed(message=exc.message, advice=exc.hint))
    except Exception as exc:  # noqa: BLE001
        log.error("Loading the data set failed:\n%s", traceback.format_exc())
        state.set_partial_result(training.Failed(message=describe_exception(exc), advice=None))
    return None


def prepare_photos(labels_path: str, state: TaskState):
    """The task before a run with photos: the labelled photo set of `labels_path` (a labels file
    or a folder), prepared (cached on disk, so only a set's first run takes minutes); None when
    stopped."""
    from ..data.labelled_photos import load_photo_training_set

    def progress(done: int, total: int) -> None:
        state.set_progress(done / max(1, total), f"Preparing the photos: {done:,} of {total:,} (saved for later runs)…",
                           done=done, total=total)

    photos = load_photo_training_set(labels_path, progress=progress, stop=state)
    return None if state.is_set() else photos
