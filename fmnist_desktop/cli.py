"""`fmnist`: the command-line face of Fashion-MNIST Desktop, over the same core as the GUI.

    fmnist train     [--preset NAME] [--epochs N] [--batch-size B] [--lr LR] [--device D] ...
    fmnist evaluate  [--weights FILE] [--data DIR] [--json]
    fmnist predict   [--weights FILE] [--top-k K] [--json] PATH...
    fmnist models    [--activate ID] [--rename ID NAME] [--delete ID] [--import FILE] [--json]
    fmnist export    [--weights FILE] [--format checkpoint|state_dict|onnx|torchscript] OUT
    fmnist serve     [--weights FILE] [--host H] [--port P] [--workers N] [--token T]
    fmnist tune      [--preset BASE] [--trials N] [--budget 30m] [--study NAME] [--data DIR]

Exit status: 0 success; 2 the input cannot be used (missing or damaged data set, model file or
image, an unavailable device, a bad option value — every `FmnistError` but `SaveError`) and
argparse's usage errors; 1 the work itself failed (training failed once started, a file could
not be written, some images in a prediction batch could not be read, or an unexpected error —
whose traceback goes to the log file, never to the terminal); 130 interrupted with Ctrl-C.

Errors are one line on stderr: `fmnist: error: <message>`.

Subcommands are registered with `@command(...)`; adding one is a function that adds its
arguments and a function that runs it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from . import __version__

if __name__ == "__main__":
    # `python -m fmnist_desktop.cli`: commands in other modules (cli_tune, ...) register through
    # `fmnist_desktop.cli`, so that name must be this module, not a second copy of it.
    sys.modules.setdefault("fmnist_desktop.cli", sys.modules[__name__])
from .core import paths
from .core.errors import FmnistError, SaveError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
PROG = "fmnist"


# ---------------------------------------------------------------------------------------------
# Subcommand registry


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register `fmnist <name>`: the decorated function runs it and returns the exit status."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = Command(name, help, add_arguments, run)
        return run

    return register


# ---------------------------------------------------------------------------------------------
# Output helpers


class ProgressBar:
    """A one-line text progress bar on stderr.

    On a terminal it redraws in place (carriage return) at most ten times a second; when stderr
    is a file or a pipe (CI logs) it prints a plain line at each quarter instead, so logs stay short.
    """

    def __init__(self, label: str, total: int, stream: TextIO | None = None, unit: str = ""):
        self.label = label
        self.total = max(0, int(total))
        self.stream = stream or sys.stderr
        self.unit = unit
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = -math.inf  # the first update always draws
        self._last_quarter = -1
        self._drawn = False

    def _amount(self, n: int) -> str:
        if self.unit == "bytes":
            return f"{n / 1e6:.1f}"
        return f"{n:,}"

    def _line(self, done: int, extra: str) -> str:
        frac = min(1.0, done / self.total) if self.total else 1.0
        width = 24
        filled = int(round(frac * width))
        bar = "#" * filled + "-" * (width - filled)
        unit = " MB" if self.unit == "bytes" else ""
        text = f"{self.label} [{bar}] {frac * 100:3.0f}% {self._amount(done)}/{self._amount(self.total)}{unit}"
        return f"{text} {extra}".rstrip()

    def update(self, done: int, extra: str = "") -> None:
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and done < self.total:
                return
            self._last_draw = now
            columns = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + self._line(done, extra)[: columns - 1].ljust(columns - 1))
            self.stream.flush()
            self._drawn = True
        else:
            quarter = int(4 * done / self.total) if self.total else 4
            if quarter > self._last_quarter and (quarter > 0 or done == 0):
                self._last_quarter = quarter
                self.stream.write(self._line(done, extra) + "\n")
                self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            columns = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + " " * (columns - 1) + "\r")
            self.stream.flush()
            self._drawn = False


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def _print(*parts: object) -> None:
    print(*parts, flush=True)


def _default_weights() -> Path:
    from .core.library import ModelLibrary

    return ModelLibrary().active().path


def _device(name: str):
    from .core.training import resolve_device

    return resolve_device(name)


class _StopOnCtrlC:
    """First Ctrl-C sets `stop` (the work ends cleanly after the current batch); a second one
    interrupts at once. Restores the previous handler on exit."""

    def __init__(self, message: str):
        self.stop = threading.Event()
        self.message = message
        self._previous = None

    def _handle(self, signum, frame):
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        sys.stderr.write(f"\n{self.message} (press Ctrl-C again to quit at once)\n")
        sys.stderr.flush()

    def __enter__(self) -> "_StopOnCtrlC":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# ---------------------------------------------------------------------------------------------
# train


def _train_arguments(p: argparse.ArgumentParser) -> None:
    from .core.models import DEFAULT_PRESET, PRESETS

    p.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS), help=f"training recipe (default: {DEFAULT_PRESET})")
    p.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="images per batch (default: the preset's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto = the GPU if there is one)")
    p.add_argument("--data", metavar="DIR", help="folder holding the Fashion-MNIST files (default: search the usual places)")
    p.add_argument("--download", action="store_true", help="download Fashion-MNIST if it is not found locally")
    p.add_argument("--out", metavar="FILE", help="where to save the model (default: a new entry in the model library, made active)")
    p.add_argument("--name", help="the model's name in the library (default: preset, epochs and test accuracy)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the split, initialisation and batch order (default: 0)")
    p.add_argument("--val-size", type=int, default=5000, help="training images held out for validation (default: 5000)")
    p.add_argument("--init", metavar="FILE",
                   help="start from this model's weights (fine-tuning; it must use the preset's network)")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random flips/shifts during training (default: as the preset says)",
    )


def _augment_choice(preset_augment: str, flag: bool | None) -> str | None:
    if flag is None:
        return None
    if not flag:
        return "none"
    return preset_augment if preset_augment != "none" else "flip"


def _check_writable(out: Path) -> None:
    if out.is_dir():
        raise FmnistError(f"--out {out} is a folder; give a file name, e.g. {out / 'model.pt'}.")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise FmnistError(f"--out: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise FmnistError(f"--out: the folder {folder} is not writable.")


def _rescue_save(model, meta) -> Path | None:
    """After a failed save (disk full, folder gone), try other places so the run is not lost."""
    from .core.checkpoint import save_checkpoint

    name = f"fmnist-unsaved-{_dt.datetime.now():%Y%m%d-%H%M%S}.pt"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            return save_checkpoint(folder / name, model, meta)
        except (SaveError, OSError):
            continue
    return None


@command("train", "train a model on Fashion-MNIST", _train_arguments)
def _run_train(args: argparse.Namespace) -> int:
    from .core.checkpoint import CheckpointMeta, save_checkpoint
    from .core.data import load_dataset
    from .core.evaluation import evaluate
    from .core.library import ModelLibrary
    from .core.models import get_preset
    from .core.training import (
        BatchEnd,
        Cancelled,
        EpochEnd,
        Failed,
        Finished,
        Started,
        TrainConfig,
        format_epoch_line,
        resolve_device,
    )

    preset = get_preset(args.preset)
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise FmnistError(f"{flag} must be at least 1, not {value}.")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise FmnistError(f"--lr must be a positive number, not {args.lr}.")
    resolve_device(args.device)  # an unavailable device is reported before the data is read
    if args.init:
        from .core.checkpoint import read_meta

        init_arch = read_meta(args.init).arch  # a damaged or foreign file, before the data is read
        if init_arch != preset.arch:
            raise FmnistError(
                f"{Path(args.init).name} is a {init_arch!r} network, but the {preset.name} preset trains "
                f"{preset.arch!r}. Fine-tune it with a preset that uses {init_arch!r}."
            )
    if args.out:
        _check_writable(Path(args.out))  # before training, so a finished model is not lost to a typo

    download_bar: ProgressBar | None = None

    def download_progress(done: int, total: int) -> None:
        nonlocal download_bar
        if download_bar is None:
            download_bar = ProgressBar("Downloading Fashion-MNIST", total, unit="bytes")
        download_bar.total = max(download_bar.total, total)
        download_bar.update(done)

    data = load_dataset(args.data, val_size=args.val_size, seed=args.seed, download=args.download, progress=download_progress)
    if download_bar is not None:
        download_bar.close()
    _print(f"Data: {data.source.description}")
    _print(f"      {len(data.train):,} training, {len(data.val):,} validation, {len(data.test):,} test images")

    config = TrainConfig(
        preset=preset.name,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=_augment_choice(preset.augment, args.augment),
        device=args.device,
        seed=args.seed,
        val_size=args.val_size,
        data_dir=args.data,
        init_checkpoint=args.init,
    )
    bar: ProgressBar | None = None
    outcome = None
    with _StopOnCtrlC("Stopping after the current batch; nothing will be saved.") as ctrl_c:
        from .core.training import iter_training

        for event in iter_training(config, data, ctrl_c.stop):
            if isinstance(event, Started):
                r = event.config
                _print(f"Device: {event.device} ({event.device_name})")
                _print(
                    f"Preset: {event.preset} — {event.epochs} epoch{'s' if event.epochs != 1 else ''}, batch {r.batch_size}, lr {r.lr:g}, "
                    f"augmentation {r.augment}, {event.batches_per_epoch} batches per epoch"
                )
            elif isinstance(event, BatchEnd):
                if bar is None:
                    bar = ProgressBar(f"Epoch {event.epoch}/{event.epochs}", event.batches)
                bar.update(
                    event.batch,
                    f"loss {event.loss:.4f} acc {event.acc:.1f}% {event.samples_per_s:,.0f} img/s ETA {_duration(event.eta_s)}",
                )
            elif isinstance(event, EpochEnd):
                if bar is not None:
                    bar.close()
                    bar = None
                _print(format_epoch_line(event) + f" ({event.epoch_time_s:.1f} s)")
            else:
                outcome = event
        if bar is not None:
            bar.close()

        if isinstance(outcome, Cancelled):
            _print(f"Stopped in epoch {outcome.epoch}, batch {outcome.batch}; nothing was saved.")
            return EXIT_INTERRUPTED
        if isinstance(outcome, Failed):
            print(f"{PROG}: error: {outcome.message} {outcome.advice}".rstrip(), file=sys.stderr)
            return EXIT_FAILED
        assert isinstance(outcome, Finished)

        test_bar = ProgressBar("Testing", len(data.test))
        result = evaluate(
            outcome.model,
            data.test,
            preset.input_size,
            preset.mean,
            preset.std,
            device=outcome.device,
            progress=lambda done, total: test_bar.update(done),
            stop=ctrl_c.stop,
        )
        test_bar.close()

    cfg = outcome.config
    metrics: dict[str, float] = {}
    if outcome.history:
        last = outcome.history[-1]
        metrics.update(val_accuracy=last.val_acc, val_loss=last.val_loss, train_accuracy=last.train_acc)
    if result is not None:
        metrics.update(test_accuracy=result.accuracy, test_loss=result.loss)
        _print(f"Test Accuracy: {result.accuracy:.2f}% (loss {result.loss:.4f}, {len(result):,} images)")
    else:
        _print("Test evaluation skipped (Ctrl-C); the trained model is saved without a test score.")
    score = f" – {result.accuracy:.2f}%" if result is not None else ""
    name = args.name or f"{preset.title} – {cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}{score}"
    training = cfg.summary()
    training.update(
        device=outcome.device,
        elapsed_s=round(outcome.elapsed_s, 2),
        data_source=data.source.description,
        n_train=len(data.train),
        n_val=len(data.val),
    )
    meta = CheckpointMeta.for_preset(
        preset.name, name, metrics=metrics, training=training, history=[e.to_dict() for e in outcome.history]
    )
    try:
        if args.out:
            path = save_checkpoint(args.out, outcome.model, meta)
            _print(f"Saved: {path}")
        else:
            library = ModelLibrary()
            entry = library.add(outcome.model, meta)
            library.set_active(entry.id)
            _print(f"Saved to the model library as {entry.id!r} (now the active model): {entry.path}")
    except SaveError as exc:
        rescued = _rescue_save(outcome.model, meta)
        if rescued is None:
            raise
        print(f"{PROG}: error: {exc} The trained model was saved instead to {rescued}.", file=sys.stderr)
        return EXIT_FAILED
    _print(f"Training took {_duration(outcome.elapsed_s)} on {outcome.device}.")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# evaluate


def _weights_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", metavar="FILE", help="model file (default: the library's active model)")


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    _weights_argument(p)
    p.add_argument("--data", metavar="DIR", help="folder holding the Fashion-MNIST test files (default: search the usual places)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


@command("evaluate", "measure a model on the 10,000 Fashion-MNIST test images", _evaluate_arguments)
def _run_evaluate(args: argparse.Namespace) -> int:
    from .core.checkpoint import load_model
    from .core.data import load_test_split
    from .core.evaluation import evaluate

    weights = Path(args.weights) if args.weights else _default_weights()
    device = _device(args.device)
    model, meta = load_model(weights, device)
    split, source = load_test_split(args.data)
    bar = ProgressBar("Evaluating", len(split)) if not args.json else None
    with _StopOnCtrlC("Stopping the evaluation.") as ctrl_c:
        result = evaluate(
            model, split, meta.input_size, meta.mean, meta.std, device=device,
            progress=(lambda d, t: bar.update(d)) if bar else None, stop=ctrl_c.stop,
        )
    if bar:
        bar.close()
    if result is None:
        _print("Evaluation stopped.")
        return EXIT_INTERRUPTED
    if args.json:
        out = result.to_dict()
        out.update(model={"path": str(weights), "name": meta.name, "preset": meta.preset}, data_source=source.description)
        _print(json.dumps(out, indent=2, ensure_ascii=False))
        return EXIT_OK
    _print(f"Model: {meta.name} ({meta.preset or meta.arch}) — {weights}")
    _print(f"Data: {source.description}, {len(split):,} test images")
    _print(f"Test Accuracy: {result.accuracy:.2f}% (loss {result.loss:.4f})")
    _print("")
    _print(f"{'class':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for row in result.per_class:
        _print(f"{row['name']:<12} {row['precision']:8.1f}% {row['recall']:6.1f}% {row['f1']:5.1f}% {row['support']:8,}")
    confused = result.most_confused(3)
    if confused:
        _print("")
        _print("Most confused: " + "; ".join(f"{t} taken for {p} ×{n}" for t, p, n in confused))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# predict


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    _weights_argument(p)
    p.add_argument("--top-k", type=int, default=3, metavar="K", help="how many classes to show per image (default: 3)")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")


@command("predict", "classify photos or Fashion-MNIST-style images", _predict_arguments)
def _run_predict(args: argparse.Namespace) -> int:
    from .core.predict import Predictor, iter_image_paths

    if not 1 <= args.top_k <= 10:
        raise FmnistError(f"--top-k must be between 1 and 10, not {args.top_k}.")
    files = list(iter_image_paths(args.paths))
    if not files:
        raise FmnistError(f"No images found in {', '.join(args.paths)}.")
    weights = Path(args.weights) if args.weights else _default_weights()
    predictor = Predictor.from_checkpoint(weights, _device(args.device))
    bar = ProgressBar("Classifying", len(files)) if len(files) > 1 and not args.json else None
    with _StopOnCtrlC("Stopping after the current image.") as ctrl_c:
        results = predictor.predict_paths(
            files, progress=(lambda d, t: bar.update(d)) if bar else None, stop=ctrl_c.stop, top_k=args.top_k
        )
    if bar:
        bar.close()
    failed = [r for r in results if not r.ok]
    if args.json:
        # The documented shape scripts rely on: a list with one object per image.
        _print(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        for r in results:
            if r.ok:
                others = ", ".join(f"{name} {p * 100:.1f}%" for name, p in r.top_k[1:])
                _print(f"{r.path}\t{r.label}\t{r.confidence * 100:.1f}%" + (f"\t({others})" if others else ""))
        for r in failed:
            print(f"{PROG}: skipped: {r.error}", file=sys.stderr)
        if len(results) > 1:
            _print(f"{len(results) - len(failed)} of {len(results)} images classified with {predictor.meta.name}.")
    if len(results) < len(files):
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK


# ---------------------------------------------------------------------------------------------
# evaluate-photos (helper C: core.photo_eval)


def _evaluate_photos_arguments(p: argparse.ArgumentParser) -> None:
    _weights_argument(p)
    p.add_argument("--pipeline", choices=("app", "notebook", "simple"), default="app",
                   help="photo preprocessing: app (the app's photo pipeline), notebook (the origin "
                   "notebook's Resize/Grayscale/Normalize) or simple (trim, invert, pad) (default: app)")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the results (with per-file predictions) as JSON")
    p.add_argument("folder", metavar="DIR", help="folder with <index>_<name>/ subfolders of labelled photos")


@command("evaluate-photos", "measure a model on a folder of labelled real photos", _evaluate_photos_arguments)
def _run_evaluate_photos(args: argparse.Namespace) -> int:
    from .core.photo_eval import evaluate_photo_folder
    from .core.predict import Predictor

    weights = Path(args.weights) if args.weights else _default_weights()
    predictor = Predictor.from_checkpoint(weights, _device(args.device))
    bar = ProgressBar("Preparing photos", 0) if not args.json else None

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)

    with _StopOnCtrlC("Stopping after the current photo.") as ctrl_c:
        result = evaluate_photo_folder(predictor, args.folder, args.pipeline,
                                       progress=progress if bar else None, stop=ctrl_c.stop)
    if bar:
        bar.close()
    if args.json:
        out = json.loads(result.to_json())
        out["model"] = {"path": str(weights), "name": predictor.meta.name, "preset": predictor.meta.preset}
        _print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        _print(f"Model: {predictor.meta.name} — {weights}")
        _print(f"Photos: {args.folder} ({result.n} read, pipeline {args.pipeline})")
        _print(result.table())
        for record in result.files:
            if record["error"]:
                print(f"{PROG}: skipped: {record['error']}", file=sys.stderr)
    if ctrl_c.stop.is_set():
        return EXIT_INTERRUPTED
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# models


def _models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activate", metavar="ID", help="make this model the active one")
    p.add_argument("--rename", nargs=2, metavar=("ID", "NAME"), help="rename a model")
    p.add_argument("--delete", metavar="ID", help="delete a model file from the library")
    p.add_argument("--import", dest="import_file", metavar="FILE", help="copy a model file into the library")
    p.add_argument("--json", action="store_true", help="print the list as JSON")


@command("models", "list the model library (the active model is marked *)", _models_arguments)
def _run_models(args: argparse.Namespace) -> int:
    from .core.library import ModelLibrary

    library = ModelLibrary()
    if args.import_file:
        entry = library.import_file(args.import_file)
        _print(f"Imported {args.import_file} as {entry.id!r}.")
    if args.rename:
        library.rename(args.rename[0], args.rename[1])
    if args.delete:
        library.delete(args.delete)
        _print(f"Deleted {args.delete!r}.")
    if args.activate:
        library.set_active(args.activate)
    entries = library.entries()
    try:
        active_id = library.active().id
    except FmnistError:
        active_id = None
    for notice in library.take_notices():  # a damaged index set aside, vanished model files
        print(f"{PROG}: note: {notice}", file=sys.stderr)
    if args.json:
        _print(json.dumps([
            {"id": e.id, "name": e.name, "path": str(e.path), "builtin": e.builtin, "active": e.id == active_id,
             "preset": e.meta.preset, "test_accuracy": e.test_accuracy, "created": e.meta.created}
            for e in entries
        ], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not entries:
        _print("The library is empty. Train a model with: fmnist train --preset fast")
        return EXIT_OK
    width = max(len(e.id) for e in entries)
    for e in entries:
        acc = f"{e.test_accuracy:6.2f}%" if e.test_accuracy is not None else "      —"
        mark = "*" if e.id == active_id else " "
        _print(f"{mark} {e.id:<{width}}  {acc}  {e.meta.preset or e.meta.arch:<9}  {e.meta.created[:10]:<10}  {e.name}")
    _print(f"(* = active; models in {library.folder})")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Commands in their own modules (they import the helpers above)

from . import cli_export, cli_serve, cli_tune  # noqa: E402,F401  (fmnist export, serve, tune)

# ---------------------------------------------------------------------------------------------
# main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train, evaluate and use Fashion-MNIST clothing classifiers from the command line.",
        epilog="Exit status: 0 ok, 1 the work failed, 2 unusable input, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help[:1].upper() + cmd.help[1:] + ".")
        cmd.add_arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


def _log_unexpected(argv: list[str] | None) -> Path | None:
    try:
        log = paths.logs_dir() / "cli.log"
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"--- {_dt.datetime.now().isoformat(timespec='seconds')} fmnist {__version__} argv={argv!r}\n")
            handle.write(traceback.format_exc())
        return log
    except Exception:  # noqa: BLE001 — the log is a courtesy; the one-line message still goes out
        return None


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A console or pipe in a legacy encoding (Windows cp1252) must not turn a model name
        # with an unusual character into a crash.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return args.run(args)
    except SaveError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except FmnistError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; nothing half-written was kept.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`fmnist predict ... | head`); stay quiet like other tools.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 — never a traceback on the terminal
        log = _log_unexpected(argv if argv is not None else sys.argv[1:])
        where = f"; see log file {log}" if log else ""
        print(f"{PROG}: error: unexpected {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
