"""`fmnist train --kind photo`: train a photo model (ImageNet-pretrained backbone + head) on
labelled real photos and a Fashion-MNIST sample (core.jobs.photo_model), calibrate it on the
held-out senders, save it like any run."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..core.base.errors import FmnistError
from ..core.base.formats import count_noun, format_clock
from .console import ProgressBar, StopOnCtrlC, say
from .registry import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, PROG


def check_photo_arguments(args: argparse.Namespace) -> None:
    if args.photos is None:
        raise FmnistError("--kind photo needs --photos: a labels CSV (file,class,sender_id) or a folder of "
                          "class subfolders (0_T-shirt_top … 9_Ankle_boot, none/).")
    if not Path(args.photos).exists():
        raise FmnistError(f"--photos: {args.photos} does not exist.")
    for flag, value in (("--epochs", args.epochs),):
        if value is not None and value < 1:
            raise FmnistError(f"{flag} must be at least 1, not {value}.")
    if args.device not in ("auto", "cpu"):
        from ..core.learn.training import resolve_device

        resolve_device(args.device)  # an unavailable device is refused before anything runs


def run_photo_train(args: argparse.Namespace, data, save) -> int:
    """`data`: the Fashion-MNIST data set; `save(run)`: the CLI's saving (library or --out)."""
    from ..core.jobs.photo_model import Preparing, PhotoRunDone, iter_photo_run
    from ..core.learn.photo_training import PhotoTrainConfig
    from ..core.learn.training import BatchEnd, Cancelled, EpochEnd, Failed, Started, format_epoch_line

    config = PhotoTrainConfig(seed=args.seed)
    if args.epochs is not None:
        config = dataclasses.replace(config, epochs=args.epochs)
    if args.lr is not None:
        config = dataclasses.replace(config, lr=args.lr)
    bar: ProgressBar | None = None
    bar_title = ""
    done_event = None
    with StopOnCtrlC("Stopping after the current batch; the best finished epoch is kept.") as ctrl_c:
        for event in iter_photo_run(config, args.photos, args.photo_root, data, init=args.init, name=args.name,
                                    stop=ctrl_c.stop):
            if isinstance(event, Preparing):
                title = f"Preparing {event.what}"
                if bar is None or bar_title != title:
                    if bar is not None:
                        bar.close()
                    bar, bar_title = ProgressBar(title, event.total), title
                bar.update(event.done)
            elif isinstance(event, Started):
                if bar is not None:
                    bar.close()
                    bar = None
                say(f"Photo model: EfficientNet-Lite0 (ImageNet) + head, blocks {config.from_block}–15 and the head trained, "
                    f"{event.n_train:,} training images, {event.n_val:,} held-out photos, {count_noun(event.epochs, 'epoch')}")
            elif isinstance(event, BatchEnd):
                if bar is None:
                    bar = ProgressBar(f"Epoch {event.epoch}/{event.epochs}", event.batches)
                bar.update(event.batch, f"loss {event.loss:.4f} acc {event.acc:.1f}% {event.samples_per_s:,.0f} img/s "
                                        f"ETA {format_clock(event.eta_s, '?')}")
            elif isinstance(event, EpochEnd):
                if bar is not None:
                    bar.close()
                    bar = None
                say(format_epoch_line(event) + f" ({event.epoch_time_s:.1f} s)")
            elif isinstance(event, Failed):
                if bar is not None:
                    bar.close()
                print(f"{PROG}: error: {event.message} {event.advice}".rstrip(), file=sys.stderr)
                return EXIT_FAILED
            elif isinstance(event, Cancelled):
                if bar is not None:
                    bar.close()
                if event.best is None:
                    say(f"Stopped in epoch {event.epoch}; no epoch had finished, nothing was saved.")
                    return EXIT_INTERRUPTED
                say(f"Stopped in epoch {event.epoch}; keeping epoch {len(event.best.history)}, the best finished one.")
                # The same step the Train page takes: the kept epoch is calibrated on the held-out
                # senders (their activations are cached) before it is saved.
                from ..core.jobs.photo_stopped import kept_after_stop

                run = kept_after_stop(event.best, config, args.photos, args.photo_root)
                code = save(run)
                return EXIT_INTERRUPTED if code == EXIT_OK else code
            elif isinstance(event, PhotoRunDone):
                done_event = event
        if bar is not None:
            bar.close()
    if done_event is None:
        say("Stopped while preparing the images; nothing was saved.")
        return EXIT_INTERRUPTED
    held = done_event.calibration.get("held_out_photos") or {}
    if held:
        say(f"Held-out photos: {100 * held['accuracy']:.1f}% right, not sure below "
            f"{100 * done_event.calibration['not_sure_threshold']:.1f}% ({100 * held['not_sure_rate']:.1f}% of them), "
            f"{100 * held['confidently_wrong_rate']:.1f}% confidently wrong, "
            f"{100 * held['none_flagged_rate']:.1f}% of the none-of-the-ten photos flagged")
    return save(done_event.run)
