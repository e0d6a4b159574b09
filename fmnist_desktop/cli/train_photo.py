"""`fmnist train --kind photo`: train a photo model (ImageNet-pretrained backbone + head) on
labelled real photos and a Fashion-MNIST sample (core.jobs.photo_model), calibrate it on the
held-out senders, save it like any run."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

from ..core.base.errors import FmnistError
from ..core.base.formats import count_noun, format_clock
from .console import ProgressBar, StopOnCtrlC, complain, say
from .registry import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from .train_checks import MAX_PHOTO_SEED, check_training_numbers, torchrun_processes


def check_photo_arguments(args: argparse.Namespace) -> None:
    """The same checks as the 28×28 path's, before the data or the backbone is loaded."""
    if torchrun_processes() > 1:
        # The photo run trains in one process (its cached activations are not sharded): under
        # torchrun each process would train and save its own model.
        raise FmnistError("--kind photo does not run under torchrun; start it as one process "
                          "(fmnist train --kind photo …).")
    check_training_numbers(args, max_seed=MAX_PHOTO_SEED)
    if args.photos is None:
        raise FmnistError("--kind photo needs --photos: a labels CSV (file,class,sender_id) or a folder of "
                          "class subfolders (0_T-shirt_top … 9_Ankle_boot, none/).")
    if not Path(args.photos).exists():
        raise FmnistError(f"--photos: {args.photos} does not exist.")
    if args.device not in ("auto", "cpu"):
        from ..core.learn.training import resolve_device

        resolve_device(args.device)  # an unavailable device is refused before anything runs


def run_photo_train(args: argparse.Namespace, data, save) -> int:
    """`data`: the Fashion-MNIST data set; `save(run)`: the CLI's saving (library or --out)."""
    from ..core.jobs.photo_model import Preparing, PhotoRunDone, iter_photo_run
    from ..core.learn.photo_training import PhotoTrainConfig
    from ..core.learn.training import BatchEnd, Cancelled, EpochEnd, Failed, Started, format_epoch_line

    config = PhotoTrainConfig(seed=args.seed)
    for field, value in (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size),
                         ("from_block", getattr(args, "from_block", None))):
        if value is not None:
            config = dataclasses.replace(config, **{field: value})
    bar: ProgressBar | None = None
    bar_title = ""
    done_event = None
    with StopOnCtrlC("Stopping after the current batch; the best finished epoch is kept.") as ctrl_c:
        for event in iter_photo_run(config, args.photos, args.photo_root, data, init=args.init, name=args.name,
                                    stop=ctrl_c.stop):
            if isinstance(event, Preparing):
                if bar is None and not bar_title:
                    from ..core.data.photo_features import describe_cache

                    say(f"Feature cache: {describe_cache()}")
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
                complain("error", f"{event.message} {event.advice}".rstrip())
                return EXIT_FAILED
            elif isinstance(event, Cancelled):
                if bar is not None:
                    bar.close()
                if event.best is None:
                    say(f"Stopped in epoch {event.epoch}; no epoch had finished, nothing was saved.")
                    return EXIT_INTERRUPTED
                say(f"Stopped in epoch {event.epoch}; keeping epoch {len(event.best.history)}, the best finished one. "
                    "The same command continues the run after its last finished epoch.")
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
    say_held_out(done_event.calibration)
    return save(done_event.run)


def say_held_out(calibration: dict) -> None:
    """The held-out photos' figures; a rate with nothing to count (no none-of-the-ten photos
    held out) is left out rather than printed as "nan%"."""
    held = calibration.get("held_out_photos") or {}
    if not held:
        return

    def pct(key: str) -> str | None:
        value = held.get(key)
        return f"{100 * value:.1f}%" if isinstance(value, (int, float)) and math.isfinite(value) else None

    parts = [f"{pct('accuracy')} right" if pct("accuracy") else None,
             f"not sure below {100 * calibration['not_sure_threshold']:.1f}%"
             + (f" ({pct('not_sure_rate')} of them)" if pct("not_sure_rate") else ""),
             f"{pct('confidently_wrong_rate')} confidently wrong" if pct("confidently_wrong_rate") else None,
             f"{pct('none_flagged_rate')} of the none-of-the-ten photos flagged" if pct("none_flagged_rate") else None]
    say("Held-out photos: " + ", ".join(p for p in parts if p))
