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
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Union

from ..base.errors import FmnistError
from ..models.presets import AUGMENTATIONS, Preset
from ..models.networks import width_family
from ..store.user_presets import get_preset
from ..base.paths import app_data_dir
from .study_workers import HEARTBEAT_S

if TYPE_CHECKING:
    import optuna

    from ..data.fashion_mnist import FashionMNIST, Split

DEFAULT_STUDY = "fmnist"
DEFAULT_BASE = "fast"
# Augmentations the tuner chooses from, weakest first ("realworld" is for photos, not val accuracy).
AUGMENT_STRENGTHS = ("none", "flip", "standard")
INSTALL_HINT = 'Install it with: pip install "fmnist-desktop[tune]" (or: pip install optuna).'


# ---------------------------------------------------------------------------------------------
# Search space


@dataclass(frozen=True)
class SearchSpace:
    lr: tuple[float, float]  # log-uniform
    weight_decay: tuple[float, float]  # log-uniform
    epochs: tuple[int, int]  # inclusive
    batch_sizes: tuple[int, ...]
    widths: tuple[int, ...]  # first-block channels; () = the base network only
    augments: tuple[str, ...]
    label_smoothing: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_space(base: Preset) -> SearchSpace:
    """A space around the base preset: lr ÷3..×3, weight decay 1e-5..1e-2, epochs from a third
    of the preset's to its own + 2 (capped, so a trial stays short), its network at every width."""
    family = width_family(base.arch)
    return SearchSpace(
        lr=(base.lr / 3, base.lr * 3),
        weight_decay=(1e-5, 1e-2),
        epochs=(max(1, base.epochs // 3), min(base.epochs + 2, 16)),
        batch_sizes=(64, 128, 256),
        widths=tuple(sorted(family)) if family else (),
        augments=AUGMENT_STRENGTHS,
        label_smoothing=(0.0, 0.15),
    )


def suggest(trial: "optuna.trial.Trial", space: SearchSpace) -> dict[str, Any]:
    """The trial's settings, drawn from `space` (names are the Preset's fields, plus width)."""
    params: dict[str, Any] = {
        "lr": trial.suggest_float("lr", *space.lr, log=True),
        "weight_decay": trial.suggest_float("weight_decay", *space.weight_decay, log=True),
        "epochs": trial.suggest_int("epochs", *space.epochs),
        "batch_size": trial.suggest_categorical("batch_size", list(space.batch_sizes)),
        "augment": trial.suggest_categorical("augment", list(space.augments)),
        "label_smoothing": trial.suggest_float("label_smoothing", *space.label_smoothing),
    }
    if len(space.widths) > 1:
        params["width"] = trial.suggest_categorical("width", list(space.widths))
    elif space.widths:
        params["width"] = space.widths[0]
    return params


def trial_preset(base: Preset, params: dict[str, Any], name: str | None = None, title: str | None = None) -> Preset:
    """The base preset with a trial's settings: a complete recipe the trainer can run."""
    arch = base.arch
    if "width" in params:
        family = width_family(base.arch) or {}
        if int(params["width"]) not in family:
            raise FmnistError(f"The {base.arch!r} network has no width {params['width']}; known: {sorted(family)}.")
        arch = family[int(params["width"])]
    augment = str(params.get("augment", base.augment))
    if augment not in AUGMENTATIONS:
        raise FmnistError(f"Unknown augmentation {augment!r}; use one of: {', '.join(AUGMENTATIONS)}.")
    described = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(params.items()))
    return dataclasses.replace(
        base,
        name=name or f"{base.name}-tuned",
        title=title or f"{base.title} (tuned)",
        description=f"{base.title} with tuned settings: {described}.",
        arch=arch,
        epochs=int(params.get("epochs", base.epochs)),
        batch_size=int(params.get("batch_size", base.batch_size)),
        lr=float(params.get("lr", base.lr)),
        weight_decay=float(params.get("weight_decay", base.weight_decay)),
        augment=augment,
        label_smoothing=float(params.get("label_smoothing", base.label_smoothing)),
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(params: dict[str, Any]) -> str:
    """One short line: "lr 0.00612, wd 0.000143, 3 ep, batch 128, width 24, flip, ls 0.05"."""
    parts = []
    if "lr" in params:
        parts.append(f"lr {params['lr']:.3g}")
    if "weight_decay" in params:
        parts.append(f"wd {params['weight_decay']:.2g}")
    if "epochs" in params:
        parts.append(f"{params['epochs']} ep")
    if "batch_size" in params:
        parts.append(f"batch {params['batch_size']}")
    if "width" in params:
        parts.append(f"width {params['width']}")
    if "augment" in params:
        parts.append(str(params["augment"]))
    if "label_smoothing" in params:
        parts.append(f"ls {params['label_smoothing']:.3f}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Configuration, storage and events


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
class TrialRecord:
    number: int
    state: str  # "COMPLETE" | "PRUNED" | "FAIL" | "RUNNING" | "WAITING"
    value: float | None  # validation accuracy (percent) of the trained model; None if none
    params: dict[str, Any]
    epochs_run: int
    duration_s: float | None
    note: str = ""  # why it failed or stopped

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


def tuning_dir() -> Path:
    path = app_data_dir() / "tuning"
    path.mkdir(parents=True, exist_ok=True)
    return path


def study_storage_url() -> str:
    """The default storage: one SQLite file in the app data folder holds every study."""
    return f"sqlite:///{(tuning_dir() / 'studies.sqlite3').as_posix()}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "study"


def best_model_path(study: str) -> Path:
    """Where the study's best model so far is kept (a normal checkpoint file). A name that its
    file name cannot spell ('a/b', 'a b') gets a digest of the whole name too: such studies
    shared one file, and the library got the other study's model (issue 17)."""
    slug = _slug(study)
    if slug != study:
        import hashlib

        slug += "-" + hashlib.sha256(study.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return tuning_dir() / f"{slug}-best.pt"


def _import_optuna():
    try:
        import optuna
    except ImportError as exc:
        raise FmnistError("Hyper-parameter tuning needs the optuna package, which is not installed.", INSTALL_HINT) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


_STORAGE_LOCK = threading.Lock()


def _storage(url: str | None, heartbeat_s: float = HEARTBEAT_S):
    from .study_workers import storage_kwargs

    optuna = _import_optuna()
    url = url or study_storage_url()
    kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else None
    workers = storage_kwargs(heartbeat_s)
    try:
        # Creating a new database's tables is not safe from two threads at once (the GUI reads
        # the study while a run starts): one at a time here, and one retry for another process
        # that created it at the same moment.
        with _STORAGE_LOCK:
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **workers)
            except Exception:  # noqa: BLE001
                time.sleep(0.5)
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **workers)
    except Exception as exc:  # noqa: BLE001 — a damaged or locked file must reach the user as one line
        raise FmnistError(
            f"The tuning database {_display_url(url)} cannot be opened ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).",
            "Choose another study storage, or move the damaged file aside.",
        ) from exc


def load_study(study: str = DEFAULT_STUDY, storage: str | None = None) -> "optuna.Study":
    """An existing study (FmnistError naming the known studies when there is none)."""
    optuna = _import_optuna()
    store = _storage(storage)
    try:
        return optuna.load_study(study_name=study, storage=store)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(store)]
        raise FmnistError(
            f"There is no tuning study named {study!r}" + (f"; known: {', '.join(known)}." if known else "."),
            "Run fmnist tune first.",
        ) from None


def study_names(storage: str | None = None) -> list[str]:
    optuna = _import_optuna()
    return [s.study_name for s in optuna.get_all_study_summaries(_storage(storage))]


def trial_records(study: "optuna.Study") -> list[TrialRecord]:
    """Every trial of the study as a TrialRecord, in number order."""
    out = []
    for t in study.get_trials(deepcopy=False):
        duration = t.duration.total_seconds() if t.duration is not None else None
        note = str(t.user_attrs.get("note", ""))
        epochs_run = len(t.intermediate_values)
        value = t.value
        if value is None and t.state.name == "PRUNED" and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        out.append(TrialRecord(t.number, t.state.name, value, dict(t.params), epochs_run, duration, note))
    return out


def best_record(records: list[TrialRecord] | tuple[TrialRecord, ...]) -> TrialRecord | None:
    complete = [r for r in records if r.state == "COMPLETE" and r.value is not None and math.isfinite(r.value)]
    return max(complete, key=lambda r: (r.value, -r.number)) if complete else None


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


def _display_url(url: str | None) -> str:
    from .study_workers import hide_password

    return hide_password(str(url or study_storage_url())).replace("sqlite:///", "")


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


# ---------------------------------------------------------------------------------------------
# After the study


def best_as_preset(study: str = DEFAULT_STUDY, name: str | None = None, storage: str | None = None) -> Preset:
    """The study's best settings as a complete Preset (named `name`, default "<base>-tuned")."""
    s = load_study(study, storage)
    best = best_record(trial_records(s))
    if best is None:
        raise FmnistError(f"The study {study!r} has no finished trial yet.", "Run more trials.")
    base = get_preset(s.user_attrs.get("base_preset", DEFAULT_BASE))
    return trial_preset(base, best.params, name=name, title=name)


def save_best_to_library(
    study: str = DEFAULT_STUDY,
    test_split: "Split | None" = None,
    name: str | None = None,
    progress=None,
    stop=None,
    storage: str | None = None,
):
    """Add the study's best model to the model library (with its test accuracy when
    `test_split` is given and the evaluation is not stopped). Returns the new ModelEntry.
    `storage`: the study's storage, to check that this machine holds the shared study's best
    trial (in a study shared by several machines, the worker that ran it saved it)."""
    from ..store.checkpoint import load_model
    from ..store.library import ModelLibrary
    from . import evaluate as evaluate_job
    from .runs import FinishedRun, save_run
    from .state import PlainState

    path = best_model_path(study)
    if not path.is_file():
        raise FmnistError(f"The study {study!r} has no saved best model yet.", "Run fmnist tune until a trial finishes.")
    model, meta = load_model(path)
    _check_holds_best(study, storage, meta)
    result = None
    if test_split is not None:
        state = PlainState(stop, on_progress=lambda _f, _m, done, total: progress and done is not None
                           and progress(done, total))
        done = evaluate_job.run(evaluate_job.EvaluateInputs(path, test_split=(test_split, None)), state)
        if done is not None:
            model, result = done.model, done.result
            meta.metrics = dict(meta.metrics, test_accuracy=result.accuracy, test_loss=result.loss)
    score = f" – {result.accuracy:.2f}%" if result is not None else ""
    meta.name = name or f"{meta.name}{score}"
    return save_run(FinishedRun(model, meta, test=result), ModelLibrary())


def _check_holds_best(study: str, storage: str | None, meta) -> None:
    """FmnistError when the shared study's best trial is not the one whose model is here."""
    if study not in study_names(storage):
        return
    s = load_study(study, storage)
    best = best_record(trial_records(s))
    here = meta.training.get("tuning") if isinstance(meta.training, dict) else None
    if best is None or not isinstance(here, dict) or here.get("trial") == best.number:
        return
    holder = s.user_attrs.get("best_model") or {}
    where = f" on {holder.get('host')} ({holder.get('path')})" if holder.get("trial") == best.number else ""
    raise FmnistError(
        f"The study {study!r}'s best trial is {best.number} ({best.value:.2f}%), but this computer holds the "
        f"model of trial {here.get('trial')}: the best one was trained by another worker{where}.",
        "Add it to the library on that machine, or copy its file here.",
    )


_PLOT_LOCK = threading.Lock()
PLOTS = ("history", "importance", "intermediate")


def render_plots(study: "optuna.Study", dpi: int = 100) -> dict[str, bytes]:
    """Optuna's matplotlib plots of the study as PNG bytes: "history" (optimization history),
    "importance" (parameter importance, from 2 finished trials with 2+ varying settings) and
    "intermediate" (each trial's validation accuracy per epoch, pruned ones stopping early).
    A plot that cannot be drawn yet is left out. Safe in a worker thread: it draws with Agg
    (the app's own charts draw through their Qt canvases, not pyplot)."""
    import io

    import matplotlib
    import matplotlib.pyplot as plt

    optuna = _import_optuna()
    import warnings

    vis = optuna.visualization.matplotlib
    makers = {
        "history": vis.plot_optimization_history,
        "importance": vis.plot_param_importances,
        "intermediate": vis.plot_intermediate_values,
    }
    out: dict[str, bytes] = {}
    with _PLOT_LOCK:
        if matplotlib.get_backend().lower() != "agg":
            plt.switch_backend("agg")
        complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        for key, make in makers.items():
            if key == "importance" and len(complete) < 2:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # ExperimentalWarning
                    ax = make(study)
            except Exception:  # noqa: BLE001 — e.g. importance with one distinct value: no plot yet
                plt.close("all")
                continue
            ax = ax.flat[0] if hasattr(ax, "flat") else ax
            fig = ax.figure
            fig.set_size_inches(7, 4.2)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi)
            plt.close(fig)
            out[key] = buf.getvalue()
    return out


def trial_table(records: list[TrialRecord] | tuple[TrialRecord, ...]) -> list[dict[str, Any]]:
    """JSON-friendly rows for `fmnist tune --json` and the dialog's table."""
    best = best_record(records)
    return [dict(r.to_dict(), best=best is not None and r.number == best.number) for r in records]


__all__ = [
    "AUGMENT_STRENGTHS", "DEFAULT_BASE", "DEFAULT_STUDY", "SearchSpace", "TrialBatch", "TrialDone", "TrialEpoch",
    "TrialRecord", "TrialStarted", "TuneConfig", "TuneFailed", "TuneFinished", "TuneStarted", "best_as_preset",
    "best_model_path", "best_record", "render_plots", "default_space", "format_params", "iter_tuning", "load_study",
    "save_best_to_library", "study_names", "study_storage_url", "suggest", "trial_preset", "trial_records",
    "trial_table", "tuning_dir",
]


def _is_read_only_database(exc: BaseException) -> bool:
    """Whether SQLite refused a write because the database (or its folder) is read-only,
    anywhere in the exception's chain (issue 17)."""
    seen = 0
    while exc is not None and seen < 20:
        if "readonly database" in str(exc) or "read-only database" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
