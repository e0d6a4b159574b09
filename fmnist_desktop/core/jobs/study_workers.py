"""Several tuning workers on one Optuna study: heartbeats, abandoned trials, one best model.

Any number of `fmnist tune` processes, on this machine or others, may work on one study through
one storage (SQLite for one machine, PostgreSQL/MySQL for several). This module is Optuna's own
distributed mode plus the few things the app adds on top:

- Heartbeats (Optuna's RDBStorage `heartbeat_interval` / `grace_period`): a worker records a
  heartbeat for its running trial every `heartbeat_s` seconds (`Heartbeat`). A trial whose
  heartbeat is older than the grace period (3 heartbeats) belongs to a worker that was killed or
  lost its connection: `fail_abandoned` (called by every worker before it asks for a trial) marks
  it FAIL through `optuna.storages.fail_stale_trials`, and the storage's
  `RetryFailedTrialCallback` queues a copy of it (WAITING, same settings) that the next worker's
  `study.ask()` takes. So a killed trial is never lost, and counted once: as a FAIL with a retry.
- On the same machine a dead worker's trial is failed at once, without waiting for the grace
  period: each trial records its worker's host and process id (`mark_trial`).
- The best model: a worker saves a finished trial's model to the study's best-model file only
  if it beats the file's model, under an exclusive file lock (`save_if_best`), so two workers
  finishing at once never leave the worse model there. Adding the best model to the model library
  is claimed with an atomic file create (`claim_once`), so two workers never both add it.

Qt-free, and Optuna is imported lazily (it is an optional dependency).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import socket
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    import optuna

HEARTBEAT_S = 10.0  # how often a running trial tells the storage its worker is alive
GRACE_HEARTBEATS = 3  # a trial silent for this many heartbeats is abandoned
MAX_RETRIES = 3  # a trial that keeps killing its workers is given up after this many retries
WORKER_ATTR = "worker"
NOTE_ATTR = "note"
UID_ATTR = "uid"


def grace_period_s(heartbeat_s: float) -> int:
    return max(2, int(round(GRACE_HEARTBEATS * heartbeat_s)))


def retry_failed_trial(study: "optuna.Study", trial) -> None:
    """The storage's callback for a trial failed because its worker is gone: queue a copy of it
    (WAITING, same settings), as Optuna's RetryFailedTrialCallback does (whose name changed in
    Optuna 4.9), but without the old worker's identity and note, which belonged to the failed
    one; at most MAX_RETRIES times for one original trial."""
    import optuna

    system_attrs = {"failed_trial": trial.number, "retry_history": [], **trial.system_attrs}
    system_attrs["retry_history"] = [*system_attrs["retry_history"], trial.number]
    if len(system_attrs["retry_history"]) > MAX_RETRIES:
        return
    user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in (WORKER_ATTR, NOTE_ATTR)}
    study.add_trial(optuna.create_trial(
        state=optuna.trial.TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs=user_attrs, system_attrs=system_attrs,
    ))


def storage_kwargs(heartbeat_s: float = HEARTBEAT_S) -> dict[str, Any]:
    """RDBStorage's arguments for heartbeats and retries (Optuna's distributed-worker recipe)."""
    import inspect
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    params = inspect.signature(optuna.storages.RDBStorage).parameters
    callback = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"
    return {
        "heartbeat_interval": max(1, int(round(heartbeat_s))),
        "grace_period": grace_period_s(heartbeat_s),
        callback: retry_failed_trial,
    }


def worker_identity() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def mark_trial(study: "optuna.Study", trial: "optuna.trial.Trial") -> int | None:
    """Record this process as the trial's worker; a retried trial's note says what it retries.
    Returns the number of the trial it retries, or None."""
    # (Called right after study.ask(): Optuna warns there that heartbeats are meant for
    # Study.optimize; this module runs the heartbeat for the ask-and-tell loop itself.)
    study._storage.set_trial_user_attr(trial._trial_id, WORKER_ATTR, worker_identity())
    retried = study._storage.get_trial(trial._trial_id).system_attrs.get("failed_trial")
    note = f"retry of trial {retried}" if retried is not None else ""
    study._storage.set_trial_user_attr(trial._trial_id, NOTE_ATTR, note)
    return retried


class Heartbeat:
    """While open, records a heartbeat for `trial_id` every `interval` seconds in a daemon thread
    (a storage without heartbeats: does nothing). A failing write (a lost connection) is retried
    at the next beat: if the connection stays lost, other workers fail and retry the trial."""

    def __init__(self, storage, trial_id: int):
        self.storage = storage
        self.trial_id = trial_id
        self.interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # noqa: BLE001 — see the class docstring
                pass
            if self._stop.wait(self.interval):
                return

    def start(self) -> "Heartbeat":
        if self.interval and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.trial_id}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # no cheap check there: the heartbeat's grace period decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: a process of another user has that id
        return True
    return True


def _seconds_since(start: _dt.datetime | None) -> float:
    if start is None:
        return float("inf")
    now = _dt.datetime.now(start.tzinfo) if start.tzinfo else _dt.datetime.now()
    return (now - start).total_seconds()


def _abandoned_here(trial, grace_s: float) -> str | None:
    """Why a RUNNING trial is known abandoned without waiting for its heartbeat, or None."""
    age = _seconds_since(trial.datetime_start)
    worker = trial.user_attrs.get(WORKER_ATTR)
    if not isinstance(worker, dict):
        # Started by a version of the app without heartbeats (one process per study); or just
        # asked for, its worker about to mark it (hence the grace period).
        return "abandoned (the tuning process ended mid-trial)" if age > grace_s else None
    me = worker_identity()
    pid = worker.get("pid")
    if worker.get("host") == me["host"] and isinstance(pid, int) and pid != me["pid"] and not _pid_alive(pid):
        return f"abandoned (its worker, process {pid} on this machine, ended mid-trial)"
    return None


def fail_abandoned(study: "optuna.Study", heartbeat_s: float = HEARTBEAT_S) -> int:
    """Fail (and queue a retry of) every trial whose worker is gone: heartbeats older than the
    grace period (any machine; Optuna's `fail_stale_trials` runs the retry callback), and on this
    machine trials of processes that no longer exist. Safe from many workers at once: the storage
    lets only one of them move a trial from RUNNING to FAIL. Returns how many this call failed."""
    import optuna
    from optuna.trial import TrialState

    before = {t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    with contextlib.suppress(Exception):  # a storage without heartbeats, or a hiccup: next time
        # A finished trial's attributes cannot change: its note is written first (should its
        # worker come back in the meantime and finish it, notes of finished trials are not shown).
        for trial_id in study._storage._get_stale_trial_ids(study._study_id):
            study._storage.set_trial_user_attr(trial_id, NOTE_ATTR, "abandoned (its worker stopped sending heartbeats)")
        optuna.storages.fail_stale_trials(study)
    n = len({t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))} - before)
    callback = getattr(study._storage, "get_heartbeat_stale_trial_callback", lambda: None)()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        why = _abandoned_here(t, grace_period_s(heartbeat_s))
        if why is None:
            continue
        try:
            study._storage.set_trial_user_attr(t._trial_id, NOTE_ATTR, why)
            if not study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # failed meanwhile by another worker: theirs to retry
        n += 1
        if callback is not None:
            callback(study, study._storage.get_trial(t._trial_id))
    return n


def retry(study: "optuna.Study", trial_id: int) -> None:
    """Queue a retry of a FAIL trial (a worker stopped mid-trial by Ctrl-C or its budget, in a
    shared study: another worker finishes the work)."""
    callback = getattr(study._storage, "get_heartbeat_stale_trial_callback", lambda: None)()
    if callback is not None:
        callback(study, study._storage.get_trial(trial_id))


def retried_numbers(trials) -> set[int]:
    """Numbers of the failed trials that have a retry (their work is counted by the retry)."""
    return {int(t.system_attrs["failed_trial"]) for t in trials if t.system_attrs.get("failed_trial") is not None}


def accounted(trials) -> int:
    """Trials that count towards a study's length: every trial but a failed one whose retry
    exists (the retry stands for it) and queued ones not yet started."""
    retried = retried_numbers(trials)
    return sum(1 for t in trials if t.state.name != "WAITING" and t.number not in retried)


def wait_for_work(study: "optuna.Study", target: int, heartbeat_s: float, stopped: Callable[[], bool]) -> bool:
    """For workers sharing one count of trials (`fmnist tune --workers N`): True when there is a
    trial to run (a queued retry, or fewer than `target` trials); otherwise wait while other
    workers' trials are running (one of them may be abandoned and come back as a retry), and
    False once none is, or when `stopped()`."""
    import time

    from optuna.trial import TrialState

    while True:
        trials = study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials) or accounted(trials) < target:
            return True
        if not any(t.state == TrialState.RUNNING for t in trials) or stopped():
            return False
        time.sleep(min(1.0, heartbeat_s))
        fail_abandoned(study, heartbeat_s)


def retry_waiting(study: "optuna.Study", heartbeat_s: float = HEARTBEAT_S) -> bool:
    """True when a retry of a trial whose worker is gone waits to be run (after failing the
    trials of workers known gone now)."""
    from optuna.trial import TrialState

    fail_abandoned(study, heartbeat_s)
    return any(t.system_attrs.get("failed_trial") is not None
               for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def study_uid(study: "optuna.Study") -> str:
    """A random id of the study, stored in it: a best-model file names the study it belongs to
    even after a study of the same name was deleted and started again."""
    uid = study.user_attrs.get(UID_ATTR)
    if not uid:
        uid = uuid.uuid4().hex
        study.set_user_attr(UID_ATTR, uid)
        # Two workers creating the study at once: both wrote; the one stored wins for both.
        uid = study._storage.get_study_user_attrs(study._study_id).get(UID_ATTR, uid)
    return str(uid)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created if needed) among processes on this machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if sys.platform == "win32":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _saved_trial(path: Path) -> dict | None:
    """The tuning facts (study uid, trial, value) of the best-model file, or None."""
    from ..store.checkpoint import read_meta

    if not path.is_file():
        return None
    try:
        tuning = read_meta(path).training.get("tuning")
    except Exception:  # noqa: BLE001 — a damaged file is replaced
        return None
    return tuning if isinstance(tuning, dict) else None


def save_if_best(path: Path, uid: str, number: int, value: float, save: Callable[[], Path]) -> bool:
    """Call `save()` (which writes the trial's model to `path` atomically) unless `path` already
    holds a better model of the same study (higher value; on a tie, the lower trial number),
    under a lock shared by this machine's workers. True when this trial's model was saved."""
    with locked(path.with_name(path.name + ".lock")):
        saved = _saved_trial(path)
        if saved is not None and saved.get("uid") == uid:
            old_value, old_number = saved.get("value"), saved.get("trial")
            if isinstance(old_value, (int, float)) and isinstance(old_number, int):
                if (old_value, -old_number) >= (value, -number):
                    return False
        save()
        return True


def claim_once(marker: Path) -> bool:
    """Create `marker` atomically; True for the one caller that created it (of any number of
    workers racing), False when it exists already."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{worker_identity()}\n")
    return True


def hide_password(url: str) -> str:
    """A storage URL fit to print (postgresql://user:***@host/db), even one no parser accepts."""
    from ..base.url_secrets import mask_passwords

    try:
        from sqlalchemy.engine import make_url

        return mask_passwords(make_url(url).render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 — not an SQLAlchemy URL (a bad port, an unclosed "[::1")
        return mask_passwords(url)


__all__ = [
    "HEARTBEAT_S", "Heartbeat", "accounted", "claim_once", "fail_abandoned", "grace_period_s", "hide_password",
    "locked", "mark_trial", "retried_numbers", "retry", "retry_waiting", "save_if_best", "storage_kwargs", "study_uid",
    "wait_for_work", "worker_identity",
]
