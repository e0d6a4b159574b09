"""`fmnist train`'s argument checks shared by both kinds of model (the 28×28 network and the photo
model): everything refused in one line before any data is read or a model is loaded."""

from __future__ import annotations

import argparse
import math
import os

from ..core.base.errors import FmnistError
from ..core.store.meta import MAX_NAME_CHARS  # torch-free: every `fmnist` command imports this module

MAX_SEED = 2**63 - 1  # torch's generators take 64-bit seeds; beyond that seeding overflows
MAX_PHOTO_SEED = 2**32 - 1  # the photo run also seeds numpy's RandomState, which takes 32 bits
MAX_LR = 10.0  # far above any recipe's (0.001–0.4); beyond it every run diverges to NaN
MIN_BATCH = 2  # BatchNorm needs two images per channel in training ("Expected more than 1 value per channel")


def torchrun_processes() -> int:
    """How many processes torchrun started (1 outside torchrun), read before joining them."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def check_training_numbers(args: argparse.Namespace, *, max_seed: int = MAX_SEED) -> None:
    """--epochs, --batch-size, --lr, --seed, --photo-weight and --name, for either kind."""
    if args.epochs is not None and args.epochs < 1:
        raise FmnistError(f"--epochs must be at least 1, not {args.epochs}.")
    if args.batch_size is not None:
        processes = torchrun_processes()
        least = MIN_BATCH * processes
        if args.batch_size < least:
            under = f" ({MIN_BATCH} per process, {processes} processes)" if processes > 1 else ""
            raise FmnistError(f"--batch-size must be at least {least}{under}, not {args.batch_size}: "
                              "batch normalisation needs two images per step.")
    if args.lr is not None and not (math.isfinite(args.lr) and 0 < args.lr <= MAX_LR):
        raise FmnistError(f"--lr must be a positive number up to {MAX_LR:g}, not {args.lr}.")
    if not 0 <= args.seed <= max_seed:
        raise FmnistError(f"--seed must be between 0 and {max_seed:,}, not {args.seed}.")
    if not (math.isfinite(args.photo_weight) and 0 < args.photo_weight <= 100):
        raise FmnistError(f"--photo-weight must be a number between 0 and 100, not {args.photo_weight}.")
    from_block = getattr(args, "from_block", None)
    if from_block is not None and getattr(args, "kind", "photo") != "photo":
        raise FmnistError("--from-block is for --kind photo (the photo model's backbone blocks).")
    if from_block is not None and not 0 <= from_block <= 16:
        raise FmnistError(f"--from-block must be between 0 and 16, not {from_block}.")
    if args.name is not None and len(args.name) > MAX_NAME_CHARS:
        raise FmnistError(f"--name can have at most {MAX_NAME_CHARS} characters; this one has {len(args.name):,}.")
