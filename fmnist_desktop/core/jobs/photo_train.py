"""The photo model's runs as tasks: `run(PhotoTrainInputs, state)` and `finetune(PhotoFinetuneInputs,
state)` (see `state.py`), without Qt; the Train page runs them in a worker thread.

`run`: load Fashion-MNIST unless given (partial result `DataLoaded`), then forward
`core.jobs.photo_model.iter_photo_run`'s events as partial results: `Preparing` (the images going
through the frozen backbone, throttled), `Started` (its config made printable for the run view),
`BatchEnd` (throttled), `EpochEnd`, `Finished`, `Failed`. A stop ends with the training loop's
`Cancelled`, followed by `PhotoKept(run)` when an epoch had finished (its best epoch, calibrated,
for the page to offer); a finished run is saved with `core.jobs.runs.save_run` and made the active
photo model (unless `make_active=False`: the Train page first compares it with the active one),
arriving as `AfterTraining(RunOutcome)`.

`finetune`: `core.jobs.photo_finetune.finetune_photo_head` and the save, returning a `RunOutcome`,
or None when stopped (nothing is saved). With `make_active` the new model becomes the active photo
model only when it names at least as many of the measuring photos right as its parent: a worse one
is saved beside it and the parent stays active (the report's `comparison` says why).
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from ..base.errors import FmnistError, SaveError, describe_exception
from .state import TaskState, Throttle
from .train import AfterTraining, DataLoaded, RunOutcome, _load_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoKept:
    """The best finished epoch of a stopped photo run, calibrated, ready to be offered for saving."""

    run: Any  # core.jobs.runs.FinishedRun


@dataclass(frozen=True)
class PhotoTrainInputs:
    config: Any  # core.learn.photo_training.PhotoTrainConfig
    photos: str  # a labels CSV or a labelled folder
    library: Any  # core.store.library.ModelLibrary the run is saved into
    data: Any = None  # a loaded Fashion-MNIST to reuse, or None: load it (never download)
    data_dir: str | None = None
    max_rate_hz: float = 20.0  # Preparing and BatchEnd events handed on per second at most
    make_active: bool = True  # False: the caller decides (the Train page first compares it with the active one)


@dataclass(frozen=True)
class PhotoFinetuneInputs:
    base_path: Any  # the active photo model's file
    examples: Any  # core.store.user_photos.Example, the photos the photo model answers
    library: Any
    replay: Any = None  # core.jobs.photo_finetune.default_replay_path() or another .npz
    base_name: str | None = None  # the base model's name as the library lists it
    make_active: bool = True  # never a worse one; False: the caller decides (the Train page asks first)
    find_twin: Any = None  # photo_finetune's `find_twin`; the lite edition's never makes one (store.twins.existing_twin)


def _printable(config) -> Any:
    """What the run view prints for a run's settings (batch size, learning rate, augmentation)."""
    return SimpleNamespace(batch_size=config.batch_size, lr=config.lr, epochs=config.epochs,
                           augment=f"{config.views - 1} cached augmented view{'s' if config.views != 2 else ''} "
                                   "of each image")


def _save(run, library, make_active: bool = True) -> RunOutcome:
    common = dict(test_accuracy=None, finetune_report=run.finetune_report)
    try:
        if hasattr(run.model, "write_checkpoint"):  # a head fine-tune: saved without torch (the lite edition)
            from .run_record import save_head_run

            entry = save_head_run(run, library, make_active=make_active)
        else:
            from . import runs

            entry = runs.save_run(run, library, make_active=make_active)
    except SaveError as exc:  # disk full: the page keeps the model and offers to save it elsewhere
        return RunOutcome(entry=None, model=run.model, meta=run.meta, save_error=str(exc), **common)
    return RunOutcome(entry=entry, **common)


def run(inputs: PhotoTrainInputs, state: TaskState) -> None:
    """One photo-model run; everything it has to say arrives as partial results."""
    from ..learn import training
    from .photo_model import PhotoRunDone, Preparing, iter_photo_run
    from .photo_stopped import kept_after_stop

    from ..learn.photo_config import check_photo_config

    config = inputs.config
    try:
        check_photo_config(config)  # before Fashion-MNIST, the photos or the backbone is loaded
    except FmnistError as exc:
        state.set_partial_result(training.Failed(message=exc.message, advice=exc.hint))
        return
    batch_throttle, prepare_throttle = Throttle(1.0 / inputs.max_rate_hz), Throttle(1.0 / inputs.max_rate_hz)
    fashion_mnist = inputs.data
    if fashion_mnist is None and config.fashion_mnist_per_class > 0:
        # Its train split is only sampled: no validation images are set aside.
        fashion_mnist = _load_data(SimpleNamespace(data_dir=inputs.data_dir, val_size=0, seed=0), state)
        if fashion_mnist is None:
            return  # _load_data sent Failed or Cancelled
        state.set_partial_result(DataLoaded(fashion_mnist))
    n_train = 0
    try:
        for event in iter_photo_run(config, inputs.photos, None, fashion_mnist, stop=state):
            if isinstance(event, Preparing):
                if prepare_throttle.allow(final=event.done >= event.total):
                    state.set_partial_result(event)
            elif isinstance(event, training.BatchEnd):
                if batch_throttle.allow(final=event.batch >= event.batches):
                    state.set_partial_result(event)
            elif isinstance(event, training.Started):
                n_train = event.n_train
                state.set_partial_result(dataclasses.replace(event, config=_printable(config)))
            elif isinstance(event, training.Cancelled):
                state.set_partial_result(event)
                if event.best is not None:
                    state.set_progress(None, "Calibrating the best finished epoch's “not sure” threshold…")
                    state.set_partial_result(PhotoKept(kept_after_stop(event.best, config, inputs.photos,
                                                                       n_train=n_train)))
                return
            elif isinstance(event, PhotoRunDone):
                state.set_progress(None, "Saving the model…")
                state.set_partial_result(AfterTraining(_save(event.run, inputs.library, inputs.make_active)))
                return
            else:  # EpochEnd, Finished, Failed
                state.set_partial_result(event)
    except FmnistError as exc:
        state.set_partial_result(training.Failed(message=exc.message, advice=exc.hint))
        return
    except Exception as exc:  # noqa: BLE001 - the run must end with an event, never a crash
        log.error("Photo model training failed:\n%s", traceback.format_exc())
        state.set_partial_result(training.Failed(message=describe_exception(exc), advice=None))
        return
    if state.is_set():  # stopped while the images were prepared: nothing was trained
        state.set_partial_result(training.Cancelled(epoch=0, batch=0, history=()))


@dataclass(frozen=True)
class HeadStep:
    """A head fine-tune's training so far (a partial result of `finetune`): its live curve."""

    step: int
    steps: int  # at most this many (it stops once the photos are learned)
    loss: float
    accuracy: float  # % on the step's batch


# Shares of a head fine-tune's progress bar: reading the photos' views (the backbone runs only for
# photos without stored embeddings), the head's steps, then measuring it against its parent.
READING_SHARE, HEAD_SHARE = 0.5, 0.2


class _FinetunePhases:
    """A head fine-tune's progress as "Step k of n: …" (each phase with its own done/total, for its
    own ETA) and one bar over the whole job."""

    def __init__(self, state: TaskState, examples) -> None:
        from .photo_finetune import MIN_KEPT_OUT_TO_MEASURE, NUM_OUTPUTS  # (photo_net would import torch)

        kept_out = sum(1 for e in examples if getattr(e, "kept_out", False) and 0 <= int(e.label) < NUM_OUTPUTS)
        self.reading = ["your photos"] + (["your kept-out photos"] if kept_out >= MIN_KEPT_OUT_TO_MEASURE else [])
        self.n = len(self.reading) + 2  # then the head, then the measurement against its parent
        self.state = state

    def views(self, done: int, total: int, what: str) -> None:
        fraction = done / total if total else 1.0
        if what in self.reading:
            k = self.reading.index(what)
            share = READING_SHARE / len(self.reading)
            self.state.set_progress((k + fraction) * share, f"Step {k + 1} of {self.n}: reading {what}, "
                                    f"{done:,} of {total:,} views", done=done, total=total)
        else:  # the measuring photos (one clean view each)
            start = READING_SHARE + HEAD_SHARE
            self.state.set_progress(start + (1 - start) * fraction, f"Step {self.n} of {self.n}: measuring it "
                                    f"against its parent on {what}, {done:,} of {total:,} read", done=done, total=total)

    def head_step(self, step: int, steps: int, loss: float, accuracy: float) -> None:
        k = len(self.reading) + 1
        self.state.set_progress(READING_SHARE + HEAD_SHARE * step / max(1, steps),
                                f"Step {k} of {self.n}: training the head, step {step} of at most {steps}",
                                done=step, total=steps)
        self.state.set_partial_result(HeadStep(step, steps, loss, accuracy))


def finetune(inputs: PhotoFinetuneInputs, state: TaskState) -> RunOutcome | None:
    """Fine-tune the photo model's head on the user's photos and save it; the active photo model
    when `make_active` and it does no worse than its parent on the measuring photos. Progress:
    "Step k of n" reading the photos' views, the head's steps (each reported as a `HeadStep` partial
    result too: the Train page's live curve), measuring it against its parent; then the save."""
    from .photo_finetune import finetune_photo_head

    phases = _FinetunePhases(state, inputs.examples)
    state.set_progress(0.0, f"Step 1 of {phases.n}: reading your photos…")
    result = finetune_photo_head(inputs.base_path, inputs.examples, replay=inputs.replay, stop=state,
                                 progress=phases.views, base_name=inputs.base_name, on_step=phases.head_step,
                                 find_twin=inputs.find_twin)
    if result is None:
        return None
    state.set_progress(1.0, "Saving the model…")
    return _save(result, inputs.library, inputs.make_active and not result.finetune_report.worse)
