"""Training as a background task: `training_task(config, ...)` is a task function for `TaskRunner`.

In the worker thread, in order: load the data set unless one was given (partial result
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

from ..core.base.defaults import DEFAULT_VAL_SIZE
from ..core.base.errors import FmnistError, describe_exception
from .tasks import TaskState, _ProgressThrottle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataLoaded:
    data: Any  # core.data.fashion_mnist.FashionMNIST


@dataclass(frozen=True)
class AfterTraining:
    value: Any  # what the `after` step returned


def training_task(
    config: Any,
    data: Any = None,
    *,
    after: Callable[[Any, Any, TaskState], Any] | None = None,
    max_batch_rate_hz: float = 20.0,
) -> Callable[[TaskState], None]:
    """The task function for one run of `config` (a `core.learn.training.TrainConfig`)."""
    batch_throttle = _ProgressThrottle(1.0 / max_batch_rate_hz if max_batch_rate_hz > 0 else 0.0)

    def run(state: TaskState) -> None:
        from ..core.learn import training

        run_data = data
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

    return run


def _load_data(config: Any, state: TaskState) -> Any:
    from ..core.data import fashion_mnist as core_data
    from ..core.learn import training

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
