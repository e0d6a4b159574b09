"""`fmnist train` started by torchrun: join the process group, print and save once.

    torchrun --nproc_per_node 2 -m fmnist_desktop.cli train --preset fast --out model.pt

Every process trains (core.learn.distributed shards the data and averages the gradients); process 0
prints the progress bar and the epoch lines (whose loss and accuracy cover every process's
shard), tests the model and saves it, with the same metadata as a run in one process; the others
print nothing but their errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Callable

from .console import say

_RANK = "_distributed_rank"  # set on args once this process has joined the group


def needs_set_up(args: argparse.Namespace) -> bool:
    from ..core.learn import distributed

    return distributed.launched() and getattr(args, _RANK, None) is None


def saves(args: argparse.Namespace) -> bool:
    """Whether this process tests and saves the model (process 0, or a run without torchrun)."""
    return getattr(args, _RANK, 0) == 0


def run(args: argparse.Namespace, run_train: Callable[[argparse.Namespace], int]) -> int:
    from ..core.learn import distributed
    from ..core.learn.training import resolve_device

    device = distributed.init(resolve_device(args.device))
    setattr(args, _RANK, distributed.rank())
    try:
        if distributed.rank() == 0:
            say(f"torchrun: {distributed.world_size()} processes, each with its share of the data "
                f"({distributed.backend_for(device)} on {device.type})")
            return run_train(args)
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
            return run_train(args)  # an error still reaches the terminal: main() prints it after this
    finally:
        distributed.finish()


__all__ = ["needs_set_up", "run", "saves"]
