"""`fmnist tune --workers N` and `--storage URL`: several tuning processes on one Optuna study.

`fmnist tune --workers N` runs N processes on one study: this one and N-1 helpers it starts
(`python -m fmnist_desktop.cli tune ...` with the same settings), which share one count of
trials (`--trials` is the number for the whole run, not per worker), print their lines with a
`[worker i]` prefix, and are waited for before the summary; the study's best model is then
added to the model library once. Processes started by hand, here or on other machines, with the
same `--storage URL --study NAME` join the same study and run their own `--trials`. How trials
are shared, and what happens to a killed worker's trial: core.jobs.study_workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
import threading
from typing import Callable

from ..core.base.errors import FmnistError
from ..core.base.url_secrets import mask_passwords

MAX_WORKERS = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..core.jobs.study_workers import HEARTBEAT_S

    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="tuning processes to run on this machine, sharing the study and --trials (default: 1); "
                        "more machines join with the same --storage and --study")
    p.add_argument("--heartbeat", type=float, default=HEARTBEAT_S, metavar="SECONDS",
                   help="how often a worker tells the storage it is alive; a trial silent for three heartbeats "
                        f"is failed and retried by another worker (default: {HEARTBEAT_S:g})")
    # Set by the first worker for the helpers it starts: the study's shared target, and the
    # helper's index (it moves the sampler's seed).
    p.add_argument("--study-trials", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)


def check_arguments(args: argparse.Namespace) -> None:
    if not 1 <= args.workers <= MAX_WORKERS:
        raise FmnistError(f"--workers must be between 1 and {MAX_WORKERS}, not {args.workers}.")
    if not (args.heartbeat >= 1 and args.heartbeat <= 3600):
        raise FmnistError(f"--heartbeat must be between 1 and 3600 seconds, not {args.heartbeat:g}.")
    if args.storage is not None and "://" not in args.storage:
        raise FmnistError(
            f"--storage {mask_passwords(repr(args.storage))} is not a database URL; write e.g. sqlite:///studies.db or "
            "postgresql://user:password@host/dbname."
        )


class Helpers:
    """The helper processes of `--workers N` and the threads that print their output."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.threads: list[threading.Thread] = []

    def start(self, argv: list[str], index: int, tell: Callable[[str], None]) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "fmnist_desktop.cli", *argv], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env,
        )

        def relay() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                tell(f"[worker {index}] {line.rstrip()}")
            # Reaped at once: a killed helper must not linger as a zombie, which would look alive
            # to the other workers' check for dead processes (study_workers._pid_alive).
            proc.wait()

        thread = threading.Thread(target=relay, name=f"tune-worker-{index}", daemon=True)
        thread.start()
        self.procs.append(proc)
        self.threads.append(thread)

    def wait(self, stop: threading.Event | None) -> list[int]:
        """Wait for every helper (telling them to stop too when this process was stopped);
        their exit codes."""
        if stop is not None and stop.is_set():
            for proc in self.procs:
                if proc.poll() is None and sys.platform == "win32":
                    proc.terminate()  # no SIGINT to send there
                elif proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
        codes = [proc.wait() for proc in self.procs]
        for thread in self.threads:
            thread.join(timeout=5)
        return codes


def _helper_argv(args: argparse.Namespace, storage: str, target: int, index: int, threads: int | None) -> list[str]:
    argv = ["tune", "--preset", args.preset, "--study", args.study, "--storage", storage,
            "--val-size", str(args.val_size), "--device", args.device, "--seed", str(args.seed),
            "--heartbeat", f"{args.heartbeat:g}", "--study-trials", str(target), "--worker-index", str(index),
            "--no-save"]
    if args.data:
        argv += ["--data", str(args.data)]
    if args.budget:
        argv += ["--budget", args.budget]
    if threads:
        argv += ["--threads", str(threads)]
    return argv


def configure(args: argparse.Namespace, config, tell: Callable[[str], None]):
    """The TuneConfig of this worker, and the helpers started for `--workers N` (or None)."""
    from ..core.jobs import study_workers, tuning

    check_arguments(args)
    shared = args.workers > 1 or args.storage is not None or args.study_trials is not None
    worker = args.worker_index
    if args.storage is not None and args.study_trials is None and args.workers == 1:
        worker = 1 + os.getpid() % 997  # a joiner on another machine: its own sampler seed
    config = dataclasses.replace(config, heartbeat_s=args.heartbeat, worker=worker, retry_stopped=shared)
    if args.study_trials is not None:  # a helper: the first worker set the shared count
        return dataclasses.replace(config, n_trials=None, study_trials=args.study_trials), None
    if args.workers == 1:
        return config, None
    storage = args.storage or tuning.study_storage_url()
    existing = 0
    if args.study in tuning.study_names(storage):
        existing = study_workers.accounted(tuning.load_study(args.study, storage).get_trials(deepcopy=False))
    target = existing + args.trials
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    config = dataclasses.replace(config, n_trials=None, study_trials=target, num_threads=threads)
    helpers = Helpers()
    tell(f"Starting {args.workers - 1} more worker{'s' if args.workers > 2 else ''} on this study "
         f"({args.trials} trials in all, {threads} thread{'s' if threads != 1 else ''} each)")
    for index in range(1, args.workers):
        helpers.start(_helper_argv(args, storage, target, index, threads), index, tell)
    return config, helpers


def finish(args: argparse.Namespace, finished, helpers: Helpers | None, stop, tell: Callable[[str], None]):
    """After this worker's own trials: wait for the helpers, then the study's final state."""
    from ..core.jobs import tuning

    if helpers is None:
        return finished
    codes = helpers.wait(stop)
    failed = [f"worker {i} exited with status {c}" for i, c in enumerate(codes, 1) if c not in (0, 130)]
    if failed:
        tell("; ".join(failed))
    records = tuple(tuning.trial_records(tuning.load_study(args.study, args.storage)))
    best = tuning.best_record(records)
    path = tuning.best_model_path(args.study)
    return dataclasses.replace(finished, records=records, best=best,
                               best_model=path if best is not None and path.is_file() else None)


def claim_library_save(args: argparse.Namespace, best, tell: Callable[[str], None]) -> bool:
    """True for the one worker (of any number finishing at once on this machine) that adds the
    study's best model to the library; False, saying why, for the others and when this machine
    does not hold the best trial's model."""
    from ..core.jobs import study_workers, tuning
    from ..core.store.checkpoint import read_meta

    path = tuning.best_model_path(args.study)
    here = read_meta(path).training.get("tuning") or {}
    if here.get("trial") != best.number:
        study = tuning.load_study(args.study, args.storage)
        holder = study.user_attrs.get("best_model") or {}
        where = f" ({holder.get('host')}: {holder.get('path')})" if holder.get("trial") == best.number else ""
        tell(f"The best trial {best.number} was trained by a worker on another machine{where}; "
             "add it to the model library there.")
        return False
    marker = path.with_name(f"{path.stem}.{here.get('uid') or 'study'}-trial-{best.number}.in-library")
    if not study_workers.claim_once(marker):
        tell(f"The best trial {best.number}'s model is already in the model library (added by another worker or an earlier run).")
        return False
    return True


__all__ = ["Helpers", "add_arguments", "check_arguments", "claim_library_save", "configure", "finish"]
