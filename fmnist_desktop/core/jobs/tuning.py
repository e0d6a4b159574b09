"""Hyper-parameter search with Optuna over the app's own trainer.

`iter_tuning(config, data, stop)` runs an Optuna study and yields small immutable events
(`TuneStarted`, `TrialStarted`, `TrialEpoch`, `TrialBatch`, `TrialDone`, then exactly one of
`TuneFinished` / `TuneFailed`), like `training.iter_training`; the CLI prints them, the GUI's
dialog shows them. It never raises.

- The search space (`SearchSpace`, `default_space(base)`): learning rate, weight decay, epochs,
  batch size, width (the first block's channels of the base preset's network family),
  augmentation strength (none < flip < standard) and label smoothing. Each trial is a full
  `Preset` (`trial_preset`) trained by `training.iter_training`.
- Pruning: each epoch's validation accuracy is reported to the trial; Optuna's pruner (median by
  default) may stop a poor trial after any epoch.
- Budget: no trial starts once the wall-clock budget is spent, and a trial still running when it
  runs out is stopped within one batch (told to Optuna as failed, `stopped = "budget"`), so a
  study never runs past its budget by more than one batch and the closing bookkeeping.
- Resumable: the study lives in SQLite (`study_storage_url()`, in the app data folder) or any
  `storage` URL under its name; running it again continues it. Several processes (workers), on
  one machine or many, may run one study at once: a trial whose worker was killed is marked FAIL
  and retried by another (heartbeats; core.study_workers), so the study stays usable.
- The best model: whenever a finished trial beats the study's best so far, its model is saved
  (atomically) to `best_model_path(study)`, so a resumed or stopped study still has it; with
  several workers, only if it beats the file's model (under a lock), on the machine that ran it.
  `save_best_to_library(...)` measures it on the test set and adds it to the model library;
  `best_as_preset(...)` / `user_presets.save_user_preset` turn its settings into a named preset.

Optuna is an optional dependency (`pip install "fmnist-desktop[tune]"`); without it
`iter_tuning` ends in `TuneFailed` saying how to install it.

This module holds the study loop, its configuration and events; the search space is in
core.jobs.tuning_space, the study database and records in core.jobs.study_storage, and what
follows a study (preset, library, plots, table) in core.jobs.tuning_results.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Union

from ..base.errors import FmnistError
from ..models.presets import Preset
from ..store.user_presets import get_preset
from .study_workers import HEARTBEAT_S

# The search space, the study storage and what is done after a study live in their own modules;
# their names are imported here too, since callers import them from core.jobs.tuning.
from .study_storage import (  # noqa: F401
    DEFAULT_STUDY,
    INSTALL_HINT,
    TrialRecord,
    _STORAGE_LOCK,
    _display_url,
    _import_optuna,
    _is_read_only_database,
    _slug,
    _storage,
    best_model_path,
    best_record,
    load_study,
    study_names,
    study_storage_url,
    trial_records,
    tuning_dir,
)
from .tuning_results import (  # noqa: F401
    PLOTS,
    _PLOT_LOCK,
    _check_holds_best,
    best_as_preset,
    render_plots,
    save_best_to_library,
    trial_table,
)
from .tuning_space import (  # noqa: F401
    AUGMENT_STRENGTHS,
    DEFAULT_BASE,
    SearchSpace,
    _fmt,
    default_space,
    format_params,
    suggest,
    trial_preset,
)

if TYPE_CHECKING:
    import optuna

    from ..data.fashion_mnist import FashionMNIST


# ---------------------------------------------------------------------------------------------
# Configuration and events


@dataclass(frozen=True)
class TuneConfig:
    base_preset: str = DEFAULT_BASE
    n_trials: int | None = 20  # new trials this run (None = until the budget or Stop)
    budget_s: float | None = None  # wall clock for this run (None = no limit)
    study: str = DEFAULT_STUDY
    storage: str | None = None  # an SQLAlchemy URL; None = SQLite in the app data folder
    device: str = "auto"
    seed: int = 0  # the sampler's seed, and every trial's training seed
    num_threads: int | None = None  # torch CPU threads per trial (None = torch's setting)
    space: SearchSpace | None = None  # None = default_space(base)
    pruner: Any = None  # an optuna pruner; None = MedianPruner(n_startup_trials=2)
    # Several workers on one study (core.study_workers): `study_trials` = stop once the study
    # has this many trials (the local workers of `fmnist tune --workers N` share one count);
    # `worker` moves the sampler's seed so workers do not draw the same settings;
    # `retry_stopped` queues a retry of a trial this worker stops (Ctrl-C, budget) for the others.
    study_trials: int | None = None
    worker: int = 0
    heartbeat_s: float = HEARTBEAT_S
    retry_stopped: bool = False


@dataclass(frozen=True)
class TuneStarted:
    study: str
    storage: str
    base_preset: str
    space: SearchSpace
    n_trials: int | None
    budget_s: float | None
    previous: tuple[TrialRecord, ...]  # trials the study already had (resumed)
    n_train: int
    n_val: int


@dataclass(frozen=True)
class TrialStarted:
    number: int
    params: dict[str, Any]
    elapsed_s: float  # since this run started


@dataclass(frozen=True)
class TrialBatch:
    number: int
    epoch: int
    epochs: int
    batch: int
    batches: int
    elapsed_s: float


@dataclass(frozen=True)
class TrialEpoch:
    number: int
    epoch: int
    epochs: int
    val_acc: float
    train_loss: float
    val_loss: float
    elapsed_s: float


@dataclass(frozen=True)
class TrialDone:
    record: TrialRecord
    best: TrialRecord | None  # the study's best so far (this trial included)
    new_best: bool  # this trial is the new best (its model was saved to best_model_path)
    elapsed_s: float


@dataclass(frozen=True)
class TuneFinished:
    reason: str  # "trials" | "budget" | "stopped"
    records: tuple[TrialRecord, ...]  # every trial of the study, in number order
    best: TrialRecord | None
    best_model: Path | None  # the best trial's saved model, when there is one
    elapsed_s: float
    n_new: int  # trials run by this call


@dataclass(frozen=True)
class TuneFailed:
    message: str
    advice: str


TuneEvent = Union[TuneStarted, TrialStarted, TrialBatch, TrialEpoch, TrialDone, TuneFinished, TuneFailed]


# ---------------------------------------------------------------------------------------------
# Running a study


class _Deadline:
    """A stop flag for one trial: the user's Stop, or the budget's end."""

    def __init__(self, stop: threading.Event | None, deadline: float | None):
        self.stop = stop
        self.deadline = deadline

    def user_stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def budget_spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def is_set(self) -> bool:
        return self.user_stopped() or self.budget_spent()


def iter_tuning(config: TuneConfig, data: "FashionMNIST", stop: threading.Event | None = None) -> Iterator[TuneEvent]:
    """Run (or continue) the study per `config` on `data`, yielding events. Always ends with
    exactly one of TuneFinished / TuneFailed, and never raises."""
    try:
        yield from _tune(config, data, stop)
    except FmnistError as exc:
        yield TuneFailed(exc.message, exc.hint or "Check the settings and try again.")
    except KeyError as exc:  # an unknown preset
        yield TuneFailed(str(exc.args[0]) if exc.args else str(exc), "Choose one of the listed presets.")
    except Exception as exc:  # noqa: BLE001 — every failure must reach the user as an event
        if _is_read_only_database(exc):  # Optuna said "invalid data in the commit, e.g. exceeding max length"
            yield TuneFailed(
                f"The tuning database {_display_url(config.storage)} is read-only, and tuning has to write to it.",
                "Make the file and its folder writable, or choose another --storage.",
            )
            return
        yield TuneFailed(
            f"Tuning stopped because of an unexpected error: {type(exc).__name__}: {exc}",
            "Try again; if it happens again, report it with the log file.",
        )


def _tune(config: TuneConfig, data: "FashionMNIST", stop: threading.Event | None) -> Iterator[TuneEvent]:
    from . import study_workers
    from ..learn.training import BatchEnd, Cancelled, EpochEnd, Failed, Finished, TrainConfig, iter_training

    optuna = _import_optuna()
    from optuna.trial import TrialState

    if config.n_trials is not None and config.n_trials < 1:
        raise FmnistError(f"The number of trials must be at least 1, not {config.n_trials}.")
    if config.budget_s is not None and not (config.budget_s > 0):
        raise FmnistError(f"The time budget must be positive, not {config.budget_s}.")
    base = get_preset(config.base_preset)
    space = config.space or default_space(base)
    storage = _storage(config.storage, config.heartbeat_s)
    pruner = config.pruner if config.pruner is not None else optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    # The sampler's seed moves with the study's length, so a resumed study does not redraw the
    # settings it already tried.
    study = optuna.create_study(
        study_name=config.study, storage=storage, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=config.seed + 1000 * config.worker, n_startup_trials=5, constant_liar=True),
        pruner=pruner,
    )
    if len(study.get_trials(deepcopy=False)):
        study.sampler = optuna.samplers.TPESampler(seed=(config.seed + 1000 * config.worker + len(study.get_trials(deepcopy=False))) % 2**32,
                                                   n_startup_trials=5, constant_liar=True)
    if study.user_attrs.get("base_preset") not in (None, base.name):
        raise FmnistError(
            f"The study {config.study!r} tunes the {study.user_attrs['base_preset']!r} preset, not {base.name!r}.",
            "Give another --study name, or tune the same preset.",
        )
    study.set_user_attr("base_preset", base.name)
    uid = study_workers.study_uid(study)
    study_workers.fail_abandoned(study, config.heartbeat_s)

    t0 = time.monotonic()
    deadline = t0 + config.budget_s if config.budget_s else None
    flag = _Deadline(stop, deadline)
    previous = tuple(trial_records(study))
    yield TuneStarted(
        study=config.study, storage=_display_url(storage.url if hasattr(storage, "url") else config.storage),
        base_preset=base.name, space=space, n_trials=config.n_trials, budget_s=config.budget_s,
        previous=previous, n_train=len(data.train), n_val=len(data.val),
    )
    best = best_record(previous)
    reason = "trials"
    n_new = 0
    # A worker that ran its trials still takes the retries queued for trials whose worker is gone.
    while config.n_trials is None or n_new < config.n_trials or study_workers.retry_waiting(study, config.heartbeat_s):
        if flag.user_stopped():
            reason = "stopped"
            break
        if flag.budget_spent():
            reason = "budget"
            break
        study_workers.fail_abandoned(study, config.heartbeat_s)
        if config.study_trials is not None and not study_workers.wait_for_work(
                study, config.study_trials, config.heartbeat_s, flag.is_set):
            reason = "stopped" if flag.user_stopped() else "budget" if flag.budget_spent() else "trials"
            break
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Heartbeat of storage")  # the heartbeat is ours: study_workers
            trial = study.ask()
        study_workers.mark_trial(study, trial)
        heartbeat = study_workers.Heartbeat(study._storage, trial._trial_id).start()
        n_new += 1
        params = suggest(trial, space)
        preset = trial_preset(base, params, name=f"{base.name}-trial-{trial.number}", title=f"{base.title}, trial {trial.number}")
        yield TrialStarted(trial.number, params, time.monotonic() - t0)
        cfg = TrainConfig(
            preset=preset, device=config.device, seed=config.seed, val_size=len(data.val),
            num_threads=config.num_threads,
        )
        outcome = None
        pruned = False
        epochs_seen = 0
        events = iter_training(cfg, data, flag)
        try:
            for event in events:
                if isinstance(event, BatchEnd):
                    yield TrialBatch(trial.number, event.epoch, event.epochs, event.batch, event.batches, time.monotonic() - t0)
                elif isinstance(event, EpochEnd):
                    epochs_seen = event.epoch
                    value = event.val_acc if math.isfinite(event.val_acc) else 0.0
                    trial.report(value, event.epoch)
                    yield TrialEpoch(trial.number, event.epoch, event.epochs, event.val_acc, event.train_loss,
                                     event.val_loss, time.monotonic() - t0)
                    if event.epoch < event.epochs and trial.should_prune():
                        pruned = True
                        break
                elif isinstance(event, (Finished, Cancelled, Failed)):
                    outcome = event
        finally:
            events.close()
            heartbeat.stop()

        new_best = False
        if pruned:
            _tell(study, trial, state=TrialState.PRUNED)
        elif isinstance(outcome, Finished):
            value = outcome.history[-1].val_acc if outcome.history else float("nan")
            if not math.isfinite(value):
                study._storage.set_trial_user_attr(trial._trial_id, "note", "no validation accuracy (empty validation set)")
                _tell(study, trial, state=TrialState.FAIL)
            else:
                if best is None or value > best.value:
                    new_best = _save_trial_model(outcome, data, config, trial.number, base, uid=uid, value=value,
                                                 study=study)
                _tell(study, trial, value)
        else:
            if isinstance(outcome, Failed):
                note = f"failed: {outcome.message}"
            elif flag.user_stopped():
                note, reason = "stopped by the user", "stopped"
            else:
                note, reason = "stopped: the time budget ran out", "budget"
            study._storage.set_trial_user_attr(trial._trial_id, "note", note)
            if _tell(study, trial, state=TrialState.FAIL) and config.retry_stopped and not isinstance(outcome, Failed):
                study_workers.retry(study, trial._trial_id)
        records = trial_records(study)
        record = next(r for r in records if r.number == trial.number)
        best = best_record(records)
        yield TrialDone(record, best, new_best, time.monotonic() - t0)
        if isinstance(outcome, Failed) and record.epochs_run == 0 and n_new == 1 and not previous:
            # The very first trial could not even start (bad device, no memory): say so once.
            raise FmnistError(outcome.message, outcome.advice)
        if reason in ("stopped", "budget") and not isinstance(outcome, Finished) and not pruned:
            break

    records = tuple(trial_records(study))
    best = best_record(records)
    path = best_model_path(config.study)
    yield TuneFinished(
        reason=reason, records=records, best=best,
        best_model=path if best is not None and path.is_file() else None,
        elapsed_s=time.monotonic() - t0, n_new=n_new,
    )


def _tell(study: "optuna.Study", trial, *args, **kwargs) -> bool:
    """study.tell, except for a trial another worker already failed (this worker's heartbeats
    stopped reaching the storage for longer than the grace period: the trial was retried
    elsewhere). False in that case."""
    optuna = _import_optuna()
    try:
        study.tell(trial, *args, **kwargs)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True


def _save_trial_model(outcome, data, config: TuneConfig, number: int, base: Preset, *, uid: str = "",
                      value: float = float("nan"), study=None) -> bool:
    """The trial's model with the metadata every run gets (core.runs.run_meta, no test score
    yet: the test set is used once, for the study's final best), as the study's best so far,
    unless another worker saved a better one meanwhile (core.study_workers.save_if_best).
    True when saved; the study then records which worker holds it."""
    from .runs import FinishedRun, run_meta, save_run
    from .study_workers import save_if_best, study_uid, worker_identity

    uid = study_uid(study) if study is not None else uid  # as stored now (two workers may both have set it)
    meta = run_meta(outcome, data, None, kind="tune", name=f"{base.title} tuned – trial {number}")
    meta.preset = base.name  # the trial's own recipe is in training["recipe"]
    meta.training["tuning"] = {"study": config.study, "trial": number, "base_preset": base.name,
                               "uid": uid, "value": float(value)}
    path = best_model_path(config.study)
    saved = save_if_best(path, uid, number, float(value), lambda: save_run(FinishedRun(outcome.model, meta), out=path))
    recorded = study._storage.get_study_user_attrs(study._study_id).get("best_model") if study is not None else None
    if isinstance(recorded, dict) and (recorded.get("value", -math.inf), -recorded.get("trial", 0)) >= (value, -number):
        return saved  # a better trial's model is on another machine (its worker recorded it)
    if saved and study is not None:
        study.set_user_attr("best_model", {"trial": number, "value": float(value), "path": str(path),
                                           **worker_identity()})
    return saved


__all__ = [
    "AUGMENT_STRENGTHS", "DEFAULT_BASE", "DEFAULT_STUDY", "SearchSpace", "TrialBatch", "TrialDone", "TrialEpoch",
    "TrialRecord", "TrialStarted", "TuneConfig", "TuneFailed", "TuneFinished", "TuneStarted", "best_as_preset",
    "best_model_path", "best_record", "render_plots", "default_space", "format_params", "iter_tuning", "load_study",
    "save_best_to_library", "study_names", "study_storage_url", "suggest", "trial_preset", "trial_records",
    "trial_table", "tuning_dir",
]
