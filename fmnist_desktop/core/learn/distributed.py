"""Training on several processes with `torch.distributed` (started by `torchrun`).

`torchrun --nproc_per_node N -m fmnist_desktop.cli train ...` starts N copies of `fmnist train`
(on one machine, or on several with torchrun's `--nnodes/--node_rank/--rdzv_endpoint`); each
learns from its own shard of the data, and DistributedDataParallel averages their gradients at
every step, so they keep one model. NCCL on NVIDIA GPUs (each process its own GPU, by
LOCAL_RANK), gloo on CPUs.

How the training loop (core.training) uses this module, and why:
- Sharding: the loop indexes tensors held in memory with a seeded permutation instead of a
  DataLoader. Every process draws the same permutation (same seed) and takes every N-th index
  from its rank on (`shard`), as torch's DistributedSampler does; the permutation's tail that
  does not divide evenly is left out of that epoch (the next epoch reshuffles), so every process
  runs the same number of batches and no one waits at a gradient average that never comes.
- `local_batch`: the recipe's batch size is split between the processes (each step still
  averages the gradient over the recipe's batch, so its learning rate and schedule hold).
- `wrap` puts DistributedDataParallel around the model for the training steps only; validation
  and the saved model use the plain model (its weights are the same in every process).
- `stopped`: a Stop (Ctrl-C) in any process stops all of them at the same batch.
- `epoch_totals`: the epoch's training loss and accuracy summed over every process's shard.
Outside torchrun (no WORLD_SIZE > 1 in the environment) every function is a no-op.
"""

from __future__ import annotations

import os
import threading

import torch
from torch import nn

from ..base.errors import TrainingError


def launched() -> bool:
    """True in a process started by torchrun with more than one process in all."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def active() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def rank() -> int:
    return torch.distributed.get_rank() if active() else int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    return torch.distributed.get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def backend_for(device: torch.device) -> str:
    if device.type == "cuda":
        return "nccl"
    if device.type == "cpu":
        return "gloo"
    raise TrainingError(f"Training with torchrun runs on CPUs (gloo) or NVIDIA GPUs (NCCL), not on {device.type}.",
                        "Use --device cpu or --device cuda.")


def init(device: torch.device) -> torch.device:
    """Join torchrun's process group (NCCL for CUDA, gloo for the CPU); this process's device
    (on CUDA: the GPU numbered LOCAL_RANK). Outside torchrun: `device` unchanged."""
    if not launched():
        return device
    if not torch.distributed.is_available():
        raise TrainingError("This build of PyTorch cannot train on several processes (no torch.distributed).")
    backend = backend_for(device)
    device = rank_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend)
    return device


def rank_device(device: torch.device) -> torch.device:
    """Under torchrun on CUDA, process LOCAL_RANK trains on GPU LOCAL_RANK."""
    if launched() and device.type == "cuda" and device.index is None:
        count = torch.cuda.device_count()
        if local_rank() >= count:
            raise TrainingError(f"torchrun started more processes on this machine than it has GPUs ({count}).",
                                f"Use --nproc_per_node {count} or fewer.")
        return torch.device("cuda", local_rank())
    return device


def finish() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def wrap(model: nn.Module, device: torch.device):
    """The callable that runs the model's training steps: DistributedDataParallel around it
    when several processes train, otherwise the model itself."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def local_count(n: int) -> int:
    """Training images per process and epoch (the even share of n)."""
    return n // world_size() if active() else n


def local_batch(batch_size: int) -> int:
    """Images per process and step: the recipe's batch split between the processes, so that a
    step averages the gradient of the recipe's batch size and an epoch has as many steps as in one
    process (the preset's learning rate and schedule stay right)."""
    return max(1, batch_size // world_size()) if active() else batch_size


def shard(order: torch.Tensor) -> torch.Tensor:
    """This process's indices of an epoch's permutation (the same in every process)."""
    if not active():
        return order
    n = local_count(int(order.shape[0]))
    return order[rank() : n * world_size() : world_size()]


def stopped(stop: threading.Event | None) -> bool:
    """`stop.is_set()`, agreed by every process (any one stopped: all stop at this batch)."""
    local = stop is not None and stop.is_set()
    if not active():
        return local
    flag = torch.tensor([1 if local else 0], dtype=torch.int32, device=_collective_device())
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def epoch_totals(loss_sum: torch.Tensor, correct: torch.Tensor, seen: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The epoch's summed loss, correct count and images seen, over every process."""
    if not active():
        return loss_sum, correct, seen
    totals = torch.stack([loss_sum.double(), correct.double(), torch.tensor(float(seen), device=loss_sum.device).double()])
    totals = totals.to(_collective_device())
    torch.distributed.all_reduce(totals)
    return totals[0].to(loss_sum.device, loss_sum.dtype), totals[1].to(correct.device, correct.dtype), int(totals[2].item())


def _collective_device() -> torch.device:
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


__all__ = ["active", "epoch_totals", "finish", "init", "launched", "local_batch", "local_count", "rank", "rank_device", "shard",
           "stopped", "world_size", "wrap"]
