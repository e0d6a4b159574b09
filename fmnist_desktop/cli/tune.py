"""`fmnist tune`: hyper-parameter search with Optuna (core.tuning), resumable from SQLite."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from . import tune_workers
from .console import ProgressBar, StopOnCtrlC, complain, say
from .registry import EXIT_INTERRUPTED, EXIT_OK, command
from ..core.base.defaults import DEFAULT_VAL_SIZE
from ..core.base.errors import FmnistError
from ..core.base.formats import count_noun, format_clock

_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def parse_budget(text: str) -> float:
    """ "30m", "1h", "90s", "1h30m" or plain seconds → seconds."""
    text = text.strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(h|min|m|s|)", text)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text):
        raise FmnistError(f"--budget {text!r} is not a duration; write e.g. 30m, 1h, 90s or 1h30m.")
    units = [_UNITS[u] for _, u in parts]
    if len(parts) > 1 and units != sorted(set(units), reverse=True):  # "1h1h" meant 2 h, "30m1h" 90 min
        raise FmnistError(f"--budget {text!r} is not a duration; give each unit once, largest first, e.g. 1h30m.")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise FmnistError("--budget must be longer than zero.")
    return seconds


def _tune_arguments(p: argparse.ArgumentParser) -> None:
    from ..core.models.presets import TUNABLE_PRESETS

    p.add_argument("--preset", default="fast", choices=TUNABLE_PRESETS,
                   help="the preset whose network and recipe are tuned (default: fast)")
    p.add_argument("--trials", type=int, default=20, metavar="N", help="new trials to run (default: 20)")
    p.add_argument("--budget", metavar="TIME", help="wall-clock limit for this run, e.g. 30m, 1h (default: none)")
    p.add_argument("--study", default="fmnist", metavar="NAME",
                   help="study name; running the same name again continues it (default: fmnist)")
    p.add_argument("--data", metavar="DIR", help="folder holding the Fashion-MNIST files (default: search the usual places)")
    p.add_argument("--val-size", type=int, default=DEFAULT_VAL_SIZE,
                   help=f"training images held out for validation (default: {DEFAULT_VAL_SIZE})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads per trial (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the sampler and the trials (default: 0)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage URL, shared by every worker on the study, e.g. "
                        "postgresql://user:password@host/db (default: SQLite in the app data folder)")
    tune_workers.add_arguments(p)
    p.add_argument("--no-save", action="store_true", help="do not add the best model to the model library")
    p.add_argument("--save-preset", metavar="NAME", help="also save the best settings as a preset of yours named NAME")
    p.add_argument("--plots", metavar="DIR", help="write Optuna's plots (history, importance, per-epoch) as PNGs here")
    p.add_argument("--json", action="store_true", help="print the trial table as JSON at the end (progress goes to stderr)")


def _line(record, best) -> str:
    from ..core.jobs.tuning import format_params

    if record.state == "PRUNED":
        status = f"pruned after epoch {record.epochs_run}"
    elif record.state == "FAIL":
        status = record.note or "failed"
    else:
        status = "complete"
    value = f"val {record.value:.2f}%" if record.value is not None else "val   —   "
    best_text = f"best {best.value:.2f}% (#{best.number})" if best is not None else "best —"
    took = f"{record.duration_s:.0f} s" if record.duration_s is not None else ""
    return f"Trial {record.number:>3}  {value}  {best_text}  {status:<22} {took:>6}  {format_params(record.params)}"


@command("tune", "search for better training settings with Optuna (resumable)", _tune_arguments)
def _run_tune(args: argparse.Namespace) -> int:
    from ..core.jobs import tuning
    from ..core.data.fashion_mnist import load_dataset
    from ..core.learn.training import resolve_device

    if args.trials is not None and args.trials < 1:
        raise FmnistError(f"--trials must be at least 1, not {args.trials}.")
    if args.threads is not None and args.threads < 1:
        raise FmnistError(f"--threads must be at least 1, not {args.threads}.")
    budget = parse_budget(args.budget) if args.budget else None
    _check_before_the_study(args)
    tune_workers.check_arguments(args)
    resolve_device(args.device)
    tuning._import_optuna()  # a missing optuna is reported before the data is read
    out = sys.stderr if args.json else sys.stdout

    def tell(text: str) -> None:
        print(text, file=out, flush=True)

    data = load_dataset(args.data, val_size=args.val_size, seed=args.seed)
    tell(f"Data: {data.source.description}")
    config = tuning.TuneConfig(
        base_preset=args.preset, n_trials=args.trials, budget_s=budget, study=args.study, storage=args.storage,
        device=args.device, seed=args.seed, num_threads=args.threads,
    )
    config, helpers = tune_workers.configure(args, config, tell)
    bar: ProgressBar | None = None
    finished = None
    with StopOnCtrlC("Stopping the current trial; the study is kept and can be continued.") as ctrl_c:
        for event in tuning.iter_tuning(config, data, ctrl_c.stop):
            if isinstance(event, tuning.TuneStarted):
                resumed = f", continuing {count_noun(len(event.previous), 'earlier trial')}" if event.previous else ""
                limit = count_noun(event.n_trials, "trial") if event.n_trials else "no trial limit"
                if event.budget_s:
                    limit += f", budget {format_clock(event.budget_s)}"
                tell(f"Study {event.study!r} (tuning {event.base_preset}) in {event.storage}{resumed}; {limit}")
                tell(f"      {event.n_train:,} training, {event.n_val:,} validation images; objective: validation accuracy")
                if budget:
                    bar = ProgressBar("Budget", int(budget), stream=sys.stderr)
            elif isinstance(event, tuning.TrialBatch):
                if bar is not None:
                    bar.update(min(int(event.elapsed_s), bar.total), f"trial {event.number} epoch {event.epoch}/{event.epochs}")
            elif isinstance(event, tuning.TrialDone):
                if bar is not None:
                    bar.close()
                tell(_line(event.record, event.best))
            elif isinstance(event, tuning.TuneFailed):
                if bar is not None:
                    bar.close()
                raise FmnistError(event.message, event.advice)
            elif isinstance(event, tuning.TuneFinished):
                finished = event
        if bar is not None:
            bar.close()
        finished = tune_workers.finish(args, finished, helpers, ctrl_c.stop, tell)

    assert finished is not None
    records = finished.records
    pruned = sum(r.state == "PRUNED" for r in records)
    complete = sum(r.state == "COMPLETE" for r in records)
    why = {"trials": "all trials run", "budget": "time budget spent", "stopped": "stopped"}[finished.reason]
    tell(f"{count_noun(finished.n_new, 'new trial')} in {format_clock(finished.elapsed_s)} ({why}); "
         f"study: {count_noun(len(records), 'trial')}, "
        f"{complete} complete, {pruned} pruned, {len(records) - complete - pruned} failed or stopped")
    best = finished.best
    summary: dict = {"study": args.study, "base_preset": args.preset, "reason": finished.reason,
                     "elapsed_s": round(finished.elapsed_s, 1), "best": best.to_dict() if best else None,
                     "trials": tuning.trial_table(records), "model": None, "preset": None}
    if best is not None:
        tell(f"Best: trial {best.number}, validation accuracy {best.value:.2f}% — {tuning.format_params(best.params)}")
        if args.save_preset:
            from ..core.store.user_presets import save_user_preset

            preset = save_user_preset(tuning.best_as_preset(args.study, name=args.save_preset, storage=args.storage))
            summary["preset"] = preset.name
            tell(f"Saved the best settings as your preset {preset.name!r} (fmnist train --preset {preset.name}).")
        if not args.no_save and finished.best_model is not None and tune_workers.claim_library_save(args, best, tell):
            test_bar = ProgressBar("Testing the best model", len(data.test)) if not args.json else None
            with StopOnCtrlC("Skipping the test evaluation.") as ctrl_c:
                entry = tuning.save_best_to_library(
                    args.study, data.test, progress=(lambda d, t: test_bar.update(d)) if test_bar else None, stop=ctrl_c.stop,
                    storage=args.storage,
                )
            if test_bar:
                test_bar.close()
            acc = entry.test_accuracy
            tell(f"Saved to the model library as {entry.id!r}" + (f": test accuracy {acc:.2f}%" if acc is not None else ""))
            summary["model"] = {"id": entry.id, "name": entry.name, "path": str(entry.path), "test_accuracy": acc}
    if args.plots:
        folder = Path(args.plots)
        folder.mkdir(parents=True, exist_ok=True)
        for key, png in tuning.render_plots(tuning.load_study(args.study, args.storage)).items():
            (folder / f"tune-{key}.png").write_bytes(png)
            tell(f"Wrote {folder / f'tune-{key}.png'}")
    if args.json:
        say(json.dumps(summary, indent=2, ensure_ascii=False))
    if finished.reason == "stopped":
        complain("note", "the study was stopped; run the same command again to continue it.")
        return EXIT_INTERRUPTED
    return EXIT_OK


MAX_SEED = 2**32 - 1  # Optuna's samplers seed numpy, which takes 0 .. 2**32 - 1


def _check_before_the_study(args: argparse.Namespace) -> None:
    """Options that used to fail only after the data had loaded or the whole study had run
    (issue 17, hostile items 6-8): one error line before anything starts."""
    if not 0 <= args.seed <= MAX_SEED:
        raise FmnistError(f"--seed must be between 0 and {MAX_SEED}, not {args.seed}.")
    if not args.study.strip():
        raise FmnistError("--study must not be empty; give the study a name.")
    if args.save_preset is not None:
        from ..core.models import PRESETS
        from ..core.store.user_presets import is_preset_name

        if not is_preset_name(args.save_preset):
            raise FmnistError(f"--save-preset {args.save_preset!r} cannot be a preset name.",
                              "Use up to 40 letters, digits, '-', '_' or '.', starting with a letter or digit.")
        if args.save_preset in PRESETS:
            raise FmnistError(f"--save-preset {args.save_preset!r} is a built-in preset; choose another name.")
    if args.plots:
        import os

        folder = Path(args.plots)
        if folder.exists() and not folder.is_dir():
            raise FmnistError(f"--plots {folder} is a file, not a folder; give a folder for the plots.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FmnistError(f"--plots {folder} cannot be created ({exc.strerror or exc}).") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise FmnistError(f"--plots {folder} cannot be written to (permission denied).")
