"""Training the photo model's last blocks and head on cached activations (core.data.photo_features).

The recipe, chosen on the held-out senders (docs/BENCHMARKS.md, "Real photos, round three"):
the ImageNet backbone is frozen up to `from_block`; the blocks from there, the 1280-d head
convolution and a new 11-way head (ten classes + "none of these") train with AdamW, a one-cycle
schedule, label smoothing and class weights (inverse square root of the class counts: the photos
are 37 % T-shirts and 0.3 % ankle boots). BatchNorm keeps ImageNet's statistics (batches of 64
photos of one kind would skew them). Each epoch shows every image once, in one of its cached
views, chosen at random.

Yields the same events as the 28×28 training loop (core.learn.training: Started, BatchEnd,
EpochEnd, Finished, Cancelled, Failed), so the GUI draws its charts and the CLI its progress bar
for either kind. No Qt here.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..base.errors import FmnistError, describe_exception
from ..base.paths import atomic_write
from ..data.photo_features import NONE_CLASS, CachedActivations
from ..models.photo_net import NUM_OUTPUTS, PhotoNet
from .photo_config import PhotoTrainConfig  # noqa: F401 — callers import it from here too
from .training import BatchEnd, Cancelled, EpochEnd, Failed, Finished, Started

BATCH_SIZE = 64  # the recipe's (PhotoTrainConfig.batch_size)
EVAL_BATCH = 128


class _Trainable(nn.Module):
    """The trained part of a PhotoNet: its blocks from `start`, head conv, and head. Shares
    parameters with the PhotoNet, so training it trains the model that is saved. In eval mode a
    model with ImageNet's opinion branching off at `start` answers with it mixed in, as the whole
    model does (the calibration sees what the user will see)."""

    def __init__(self, net: PhotoNet, start: int):
        super().__init__()
        self.net, self.start = net, start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.net.backbone
        logits = self.net.head(self.net.dropout(b.head_features(b.blocks(x, self.start))))
        opinion = self.net.opinion
        if opinion is not None and not self.training and opinion.start_block == self.start:
            return opinion.mix(logits, x)
        return logits


def _freeze_for(net: PhotoNet, start: int) -> list[nn.Parameter]:
    """Freeze everything before block `start`; return the trained backbone parameters."""
    for p in net.parameters():
        p.requires_grad_(False)
    b = net.backbone
    trained = [*b._blocks[start:].parameters(), *b._conv_head.parameters(), *b._bn1.parameters()] if start < 16 else []
    for p in [*trained, *net.head.parameters()]:
        p.requires_grad_(True)
    return trained


def _keep_batchnorm_statistics(net: PhotoNet) -> None:
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Inverse square root of the class counts, mean 1 (ten classes + none)."""
    counts = np.bincount(labels, minlength=NUM_OUTPUTS).astype(np.float64)
    w = (counts.sum() / (NUM_OUTPUTS * np.maximum(counts, 1))) ** 0.5
    return torch.tensor(w, dtype=torch.float32)


def probabilities_from(model: nn.Module, acts: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Softmax (N, 11) of the trainable part over cached activations."""
    model.eval()
    rows = np.arange(len(acts)) if rows is None else rows
    out = []
    with torch.inference_mode():
        for k in range(0, len(rows), EVAL_BATCH):
            x = torch.from_numpy(np.asarray(acts[np.sort(rows[k:k + EVAL_BATCH])], np.float32))
            out.append(model(x.contiguous(memory_format=torch.channels_last)).softmax(1))
    return torch.cat(out).numpy() if out else np.zeros((0, NUM_OUTPUTS), np.float32)


def iter_photo_training(
    config: PhotoTrainConfig,
    net: PhotoNet,
    train: CachedActivations,
    val: CachedActivations | None,
    stop: threading.Event | None = None,
    resume_file: Path | None = None,
) -> Iterator[Any]:
    """Train `net`'s blocks from `config.from_block` and head on cached activations, yielding
    the training loop's events; Finished.model is `net` in eval mode. Never raises: failures
    become a Failed event. With `resume_file`, the state after each epoch is written there and a
    run stopped or killed part-way picks up after its last finished epoch."""
    try:
        yield from _train(config, net, train, val, stop, resume_file)
    except FmnistError as exc:
        yield Failed(str(exc), "")
    except Exception as exc:  # noqa: BLE001 — one readable line, the traceback in the log
        yield Failed(describe_exception(exc), "")


def _train(config: PhotoTrainConfig, net: PhotoNet, train: CachedActivations, val: CachedActivations | None,
           stop: threading.Event | None, resume_file: Path | None = None):
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    start = config.from_block
    trained = _freeze_for(net, start)
    model = _Trainable(net, start)
    groups = [{"params": list(net.head.parameters()), "lr": config.lr}]
    if trained:
        groups.append({"params": trained, "lr": config.tail_lr})
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    n = train.n_items
    batch_size = config.batch_size
    batches = max(1, n // batch_size)
    total_steps = config.epochs * batches
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups], total_steps=total_steps,
                                                pct_start=0.15)
    weights = class_weights(train.labels)
    labels_all = torch.from_numpy(train.labels)
    yield Started(device="cpu", device_name="CPU", preset=config.preset, epochs=config.epochs,
                  batches_per_epoch=batches, n_train=n, n_val=0 if val is None else val.n_items, config=config)
    history: list[EpochEnd] = []
    best: tuple[float, dict, int] | None = None
    t_start = time.monotonic()
    first = 1
    saved = read_epoch_state(resume_file)
    if saved is not None:
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        rng.bit_generator.state = saved["rng"]
        torch.set_rng_state(saved["torch_rng"])
        history = [EpochEnd(**e) for e in saved["history"]]
        best = (saved["best_score"], saved["best_net"], saved["best_epoch"])
        first = len(history) + 1
        yield from history  # the charts show the epochs already done
    for epoch in range(first, config.epochs + 1):
        net.train()
        _keep_batchnorm_statistics(net)
        order = rng.permutation(n)
        views = rng.integers(0, train.views, n)
        t_epoch = time.monotonic()
        loss_sum = correct = seen = 0
        for b in range(batches):
            if stop is not None and stop.is_set():
                done = best_finished(net, best, history, t_start, config)
                yield Cancelled(epoch, b, tuple(history), done)
                return
            items = order[b * batch_size:(b + 1) * batch_size]
            rows = train.rows(items, views[items])
            sort = np.argsort(rows)  # memory-mapped reads in file order
            x = torch.from_numpy(np.asarray(train.activations[rows[sort]], np.float32))
            y = labels_all[items[sort]]
            logits = model(x.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, y, weight=weights, label_smoothing=config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise_diverged(epoch, config)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss_value * len(items)
            correct += int((logits.detach().argmax(1) == y).sum())
            seen += len(items)
            elapsed = time.monotonic() - t_start
            step = (epoch - 1) * batches + b + 1
            yield BatchEnd(epoch, config.epochs, b + 1, batches, loss_sum / seen, 100.0 * correct / seen,
                           seen / max(1e-9, time.monotonic() - t_epoch), elapsed,
                           elapsed / step * (total_steps - step))
        val_loss, val_acc = evaluate_cached(model, val) if val is not None else (float("nan"), float("nan"))
        e = EpochEnd(epoch, config.epochs, loss_sum / max(1, seen), val_loss, 100.0 * correct / max(1, seen),
                     val_acc, time.monotonic() - t_epoch, float(sched.get_last_lr()[0]))
        history.append(e)
        yield e
        score = val_acc if val is not None else float(epoch)
        if best is None or score >= best[0]:
            best = (score, copy.deepcopy(net.state_dict()), epoch)
        if resume_file is not None and epoch < config.epochs:
            write_epoch_state(resume_file, net=net.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                              rng=rng.bit_generator.state, torch_rng=torch.get_rng_state(),
                              history=[h.to_dict() for h in history], best_score=best[0], best_net=best[1],
                              best_epoch=best[2])
    net.eval()
    if resume_file is not None:
        resume_file.unlink(missing_ok=True)
    yield Finished(net, tuple(history), time.monotonic() - t_start, "cpu", config)


def write_epoch_state(path: Path, **state: Any) -> None:
    """Atomically, so a run killed while writing resumes from the epoch before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        torch.save(state, f)


def read_epoch_state(path: Path | None) -> dict | None:
    """The state a stopped run left, or None (none, or one that cannot be read: start afresh)."""
    if path is None or not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 — a damaged resume file only costs the epochs it held
        path.unlink(missing_ok=True)
        return None


def raise_diverged(epoch: int, config: PhotoTrainConfig) -> None:
    raise FmnistError(f"Training diverged in epoch {epoch}: the loss is no longer a finite number "
                      f"(learning rate {config.lr:g}); nothing was saved. Try a smaller learning rate.")


def best_finished(net: PhotoNet, best, history: list[EpochEnd], t_start: float, config) -> Finished | None:
    """Stopping keeps the best finished epoch as a model to save (as the 28×28 loop does)."""
    if best is None:
        return None
    kept = copy.deepcopy(net)
    kept.load_state_dict(best[1])
    kept.eval()
    return Finished(kept, tuple(history[:best[2]]), time.monotonic() - t_start, "cpu", config)


def evaluate_cached(model: nn.Module, data: CachedActivations) -> tuple[float, float]:
    """(plain cross-entropy, accuracy % on the ten classes) on the clean views."""
    probs = probabilities_from(model, data.activations, np.arange(data.n_items))
    labels = data.labels
    loss = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()) if len(labels) else float("nan")
    known = labels < NONE_CLASS
    acc = float((probs[known, :10].argmax(1) == labels[known]).mean() * 100) if known.any() else float("nan")
    return loss, acc
