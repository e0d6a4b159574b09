"""`fmnist train`: train a model, test it and save it (core.jobs.runs' recipe, like the Train page)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import os
import tempfile
from pathlib import Path

from ..core.base import paths
from ..core.base.defaults import DEFAULT_VAL_SIZE
from ..core.base.errors import FmnistError, SaveError
from ..core.base.formats import format_clock
from . import train_distributed
from .console import ProgressBar, StopOnCtrlC, complain, say
from .registry import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, command
from .train_checks import MAX_SEED, check_training_numbers  # noqa: F401 — MAX_SEED: its home was here


def _train_arguments(p: argparse.ArgumentParser) -> None:
    from ..core.models import DEFAULT_PRESET
    from ..core.store.user_presets import all_presets

    # Built-in presets and the user's own (e.g. saved by `fmnist tune --save-preset NAME`).
    p.add_argument("--kind", choices=("fmnist", "photo"), default="fmnist",
                   help="fmnist: a 28×28 network on Fashion-MNIST (default); photo: the photo model "
                        "(ImageNet-pretrained backbone + head) on --photos and a Fashion-MNIST sample")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(all_presets()), help=f"training recipe (default: {DEFAULT_PRESET})")
    p.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="images per batch (default: the preset's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto = the GPU if there is one)")
    p.add_argument("--data", metavar="DIR", help="folder holding the Fashion-MNIST files (default: search the usual places)")
    p.add_argument("--download", action="store_true", help="download Fashion-MNIST if it is not found locally")
    p.add_argument("--out", metavar="FILE", help="where to save the model (default: a new entry in the model library, made active)")
    p.add_argument("--name", help="the model's name in the library (default: preset, epochs and test accuracy)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the split, initialisation and batch order (default: 0)")
    p.add_argument("--val-size", type=int, default=DEFAULT_VAL_SIZE,
                   help=f"training images held out for validation (default: {DEFAULT_VAL_SIZE})")
    p.add_argument("--init", metavar="FILE",
                   help="start from this model's weights (fine-tuning; it must use the preset's network)")
    p.add_argument("--photos", metavar="LABELS.csv",
                   help="also train on labelled real photos (a labels file: file,class[,sender_id]; "
                        "class 'none' for things that are none of the ten; see weights/PHOTO_LABELS.md)")
    p.add_argument("--photo-root", metavar="DIR",
                   help="the folder the labels file's paths are relative to (default: the labels file's folder)")
    p.add_argument("--from-block", type=int, default=None, metavar="N",
                   help="--kind photo: the first backbone block trained, 0–16 (default: 11; 16 trains the head alone)")
    p.add_argument("--photo-weight", type=float, default=4.0,
                   help="how many times a photo is shown per epoch on average; rarer classes more often (default: 4)")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="random flips/shifts during training (default: as the preset says)",
    )


def _check_writable(out: Path) -> None:
    too_long = paths.name_too_long(out)  # first: stat() on such a name raises ENAMETOOLONG
    if too_long:
        raise FmnistError(f"--out: {too_long}.")
    if out.is_dir():
        raise FmnistError(f"--out {out} is a folder; give a file name, e.g. {out / 'model.pt'}.")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise FmnistError(f"--out: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise FmnistError(f"--out: the folder {folder} is not writable.")


def _rescue_save(model, meta) -> Path | None:
    """After a failed save (disk full, folder gone), try other places so the run is not lost."""
    from ..core.store.checkpoint import save_checkpoint

    name = f"fmnist-unsaved-{_dt.datetime.now():%Y%m%d-%H%M%S}.pt"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            return save_checkpoint(folder / name, model, meta)
        except (SaveError, OSError):
            continue
    return None


def _check_arguments(args: argparse.Namespace, preset) -> None:
    """Everything that can be refused before the data is read and a minute is spent training."""
    from ..core.learn.training import resolve_device

    check_training_numbers(args)
    resolve_device(args.device)  # an unavailable device is reported before the data is read
    if args.init:
        from ..core.store.checkpoint import read_meta

        init_arch = read_meta(args.init).arch  # a damaged or foreign file, before the data is read
        if init_arch != preset.arch:
            raise FmnistError(
                f"{Path(args.init).name} is a {init_arch!r} network, but the {preset.name} preset trains "
                f"{preset.arch!r}. Fine-tune it with a preset that uses {init_arch!r}."
            )
    if args.out:
        _check_writable(Path(args.out))  # before training, so a finished model is not lost to a typo
    if args.photos is not None and not Path(args.photos).is_file():
        raise FmnistError(f"--photos: {args.photos} is not a file (a labels CSV: file,class,sender_id).")


def _load_photos(args: argparse.Namespace, stop):
    """The labelled photos, prepared as the model sees them (cached; a progress bar while new
    photos are prepared)."""
    from ..core.data.labelled_photos import load_photo_training_set

    bar: ProgressBar | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and done < total:
            bar = ProgressBar("Preparing photos", total)
        if bar is not None:
            bar.update(done)

    photos = load_photo_training_set(args.photos, args.photo_root, progress=progress, stop=stop)
    if bar is not None:
        bar.close()
    c = photos.counts()
    say(f"Photos: {args.photos}: {c['train']:,} for training ({c['train_none']:,} none of the ten), "
        f"{c['val']:,} held out by sender ({c['val_none']:,} none of the ten)")
    return photos


def _load_data(args: argparse.Namespace):
    from ..core.data.fashion_mnist import load_dataset

    download_bar: ProgressBar | None = None

    def download_progress(done: int, total: int) -> None:
        nonlocal download_bar
        if download_bar is None:
            download_bar = ProgressBar("Downloading Fashion-MNIST", total, unit="bytes")
        download_bar.total = max(download_bar.total, total)
        download_bar.update(done)

    data = load_dataset(args.data, val_size=args.val_size, seed=args.seed, download=args.download,
                        progress=download_progress)
    if download_bar is not None:
        download_bar.close()
    say(f"Data: {data.source.description}")
    say(f"      {len(data.train):,} training, {len(data.val):,} validation, {len(data.test):,} test images")
    return data


def _print_training(config, data, stop):
    """Run `iter_training`, printing its events; returns the final event."""
    from ..core.learn.training import BatchEnd, EpochEnd, Started, format_epoch_line, iter_training

    bar: ProgressBar | None = None
    outcome = None
    for event in iter_training(config, data, stop):
        if isinstance(event, Started):
            r = event.config
            say(f"Device: {event.device} ({event.device_name})")
            say(
                f"Preset: {event.preset} — {event.epochs} epoch{'s' if event.epochs != 1 else ''}, batch {r.batch_size}, lr {r.lr:g}, "
                f"augmentation {r.augment}, {event.batches_per_epoch} batches per epoch"
            )
        elif isinstance(event, BatchEnd):
            if bar is None:
                bar = ProgressBar(f"Epoch {event.epoch}/{event.epochs}", event.batches)
            bar.update(
                event.batch,
                f"loss {event.loss:.4f} acc {event.acc:.1f}% {event.samples_per_s:,.0f} img/s ETA {format_clock(event.eta_s, '?')}",
            )
        elif isinstance(event, EpochEnd):
            if bar is not None:
                bar.close()
                bar = None
            say(format_epoch_line(event) + f" ({event.epoch_time_s:.1f} s)")
        else:
            outcome = event
    if bar is not None:
        bar.close()
    return outcome


@command("train", "train a model on Fashion-MNIST", _train_arguments)
def run_train(args: argparse.Namespace) -> int:
    from ..core.jobs import runs
    from ..core.models import augment_for
    from ..core.store.user_presets import get_preset
    from ..core.learn.training import Cancelled, Failed, Finished, TrainConfig

    from .console import print_preset_notices

    print_preset_notices()
    if args.kind == "photo":
        from .train_photo import check_photo_arguments, run_photo_train

        check_photo_arguments(args)
        if args.out:
            _check_writable(Path(args.out))
        data = _load_data(args)
        return run_photo_train(args, data, lambda run: _save(run, args))
    preset = get_preset(args.preset)
    _check_arguments(args, preset)
    if train_distributed.needs_set_up(args):  # started by torchrun: join its processes first
        return train_distributed.run(args, run_train)
    data = _load_data(args)
    config = TrainConfig(
        preset=preset.name,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        augment=augment_for(preset, args.augment),
        device=args.device,
        seed=args.seed,
        val_size=args.val_size,
        data_dir=args.data,
        init_checkpoint=args.init,
        photo_weight=args.photo_weight,
    )
    with StopOnCtrlC("Stopping after the current batch; the best finished epoch, if any, is saved.") as ctrl_c:
        if args.photos is not None:
            config = dataclasses.replace(config, photos=_load_photos(args, ctrl_c.stop))
            if ctrl_c.stop.is_set():
                say("Stopped while preparing the photos; nothing was saved.")
                return EXIT_INTERRUPTED
        outcome = _print_training(config, data, ctrl_c.stop)
        if isinstance(outcome, Cancelled):
            kept = runs.stopped_run(outcome, data, kind=runs.KIND_TRAIN)
            if kept is None:
                say(f"Stopped in epoch {outcome.epoch}, batch {outcome.batch}; no epoch had finished, nothing was saved.")
                return EXIT_INTERRUPTED
            best = outcome.best.history[-1]
            say(f"Stopped in epoch {outcome.epoch}, batch {outcome.batch}; saving the best finished epoch "
                f"({best.epoch}, validation accuracy {best.val_acc:.2f}%) without a test score.")
            code = _save(kept, args)
            return EXIT_INTERRUPTED if code == EXIT_OK else code
        if isinstance(outcome, Failed):
            complain("error", f"{outcome.message} {outcome.advice}".rstrip())
            return EXIT_FAILED
        assert isinstance(outcome, Finished)
        if not train_distributed.saves(args):  # under torchrun, rank 0 tests and saves the model
            return EXIT_OK
        test_bar = ProgressBar("Testing", len(data.test))
        run = runs.finish_run(
            outcome, data, kind=runs.KIND_TRAIN, name=args.name,
            stop=ctrl_c.stop, test_progress=lambda done, total: test_bar.update(done),
            eval_device=None, eval_batch_size=1000,
        )
        test_bar.close()

    if run.test is not None:
        say(f"Test Accuracy: {run.test.accuracy:.2f}% (loss {run.test.loss:.4f}, {len(run.test):,} images)")
    elif run.evaluation_error:
        say(f"Test evaluation failed ({run.evaluation_error}); the trained model is saved without a test score.")
    else:
        say("Test evaluation skipped (Ctrl-C); the trained model is saved without a test score.")
    if outcome.calibration:
        held = outcome.calibration["held_out_photos"]
        say(f"Held-out photos: {100 * held['accuracy']:.1f}% right, not sure below "
            f"{100 * outcome.calibration['not_sure_threshold']:.1f}% ({100 * held['not_sure_rate']:.1f}% of them), "
            f"{100 * held['none_flagged_rate']:.1f}% of the none-of-the-ten photos called not sure")
    code = _save(run, args)
    if code == EXIT_OK:
        say(f"Training took {format_clock(outcome.elapsed_s, '?')} on {outcome.device}.")
    return code


def _save(run, args: argparse.Namespace) -> int:
    """Save a finished (or stopped) run where the arguments say: `--out`, else the library."""
    from ..core.jobs import runs
    from ..core.store.library import ModelLibrary

    try:
        if args.out:
            say(f"Saved: {runs.save_run(run, out=args.out)}")
        else:
            entry = runs.save_run(run, ModelLibrary(), make_active=True)
            say(f"Saved to the model library as {entry.id!r} (now the active {'photo ' if entry.kind == 'photo' else ''}model): {entry.path}")
    except SaveError as exc:
        rescued = _rescue_save(run.model, run.meta)
        if rescued is None:
            raise
        complain("error", f"{exc} The trained model was saved instead to {rescued}.")
        return EXIT_FAILED
    return EXIT_OK
