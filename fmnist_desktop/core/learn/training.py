"""The training loop. What it is asked to do and the events it reports are in
core.learn.training_events, the devices it runs on in core.learn.devices.

`iter_training` is a generator of small immutable events (`Started`, `BatchEnd`, `EpochEnd`, then
exactly one of `Finished` / `Cancelled` / `Failed`). The CLI prints them; the GUI's worker forwards
them as Qt signals from a QThread. It never raises: every error becomes a `Failed` with a message
and advice a user can act on.

Speed: the whole split is held as uint8 tensors on the training device; each batch is taken by
indexing a seeded permutation and augmented/normalised on the device as one tensor. There is no
DataLoader and no per-sample PIL work, which is where the origin notebook spent most of its time.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from . import distributed
from ..base.errors import FmnistError, TrainingError, out_of_memory_kind
from ..models.presets import AUGMENTATIONS, SCHEDULES, Preset
from ..models.networks import build_model, set_flip_averaging
from .transforms import augment_uint8, images_to_unit, normalize, to_model_input

# The configuration, the events and the devices live in their own modules; they are imported
# here under their old names too, since callers import them from core.learn.training.
from .devices import _device_name, _mps_available, available_devices, resolve_device  # noqa: F401
from .training_events import (  # noqa: F401
    BatchEnd,
    Cancelled,
    EpochEnd,
    Event,
    Failed,
    Finished,
    Started,
    TrainConfig,
    format_epoch_line,
)

if TYPE_CHECKING:  # only the data set's shapes matter here
    from ..data.fashion_mnist import FashionMNIST

# On CUDA/MPS, reading the running loss back to the host every batch would stall the GPU queue,
# so BatchEnd's loss/acc are refreshed every SYNC_EVERY batches (and at each epoch's last batch);
# in between they repeat the last synced figures. On the CPU reading back is free: every batch.
SYNC_EVERY = 20
EVAL_BATCH = 1000


# ---------------------------------------------------------------------------------------------
# The loop


def iter_training(
    config: TrainConfig, data: "FashionMNIST", stop: threading.Event | None = None
) -> Iterator[Event]:
    """Train per `config` on `data`, yielding events. Always ends with exactly one of
    Finished / Cancelled / Failed, and never raises (a closed generator just stops)."""
    previous_threads = torch.get_num_threads()
    try:
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        yield from _train(config, data, stop)
    except Exception as exc:  # noqa: BLE001 — every failure must reach the user as an event
        yield _failure(exc, config)
    finally:
        if config.num_threads:
            torch.set_num_threads(previous_threads)


def run_training(
    config: TrainConfig,
    data: "FashionMNIST",
    on_event: Callable[[Event], None] | None = None,
    stop: threading.Event | None = None,
) -> Finished | Cancelled | Failed:
    """Run `iter_training` to the end, passing each event to `on_event`; return the last one."""
    last: Event | None = None
    for event in iter_training(config, data, stop):
        if on_event is not None:
            on_event(event)
        last = event
    assert isinstance(last, (Finished, Cancelled, Failed))
    return last


def _failure(exc: BaseException, config: TrainConfig) -> Failed:
    memory = out_of_memory_kind(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError) or memory == "gpu":
        return Failed("Out of GPU memory while training.", "Try a smaller batch size, or train on the CPU.")
    if memory == "cpu":
        return Failed("Out of memory while training.", "Try a smaller batch size or close other programs.")
    if isinstance(exc, FmnistError):
        return Failed(exc.message, exc.hint or "Check the settings and try again.")
    if isinstance(exc, KeyError):  # unknown preset / architecture from get_preset or build_model
        return Failed(str(exc.args[0]) if exc.args else str(exc), "Choose one of the listed presets.")
    return Failed(
        f"Training stopped because of an unexpected error: {type(exc).__name__}: {exc}",
        "Try again; if it happens again, report it with the log file.",
    )


def _validate(cfg: TrainConfig) -> None:
    if cfg.augment not in AUGMENTATIONS:
        raise TrainingError(f"Unknown augmentation {cfg.augment!r}.", f"Use one of: {', '.join(AUGMENTATIONS)}.")
    if not cfg.epochs or cfg.epochs < 1:
        raise TrainingError("The number of epochs must be at least 1.")
    if not cfg.batch_size or cfg.batch_size < 2:
        # BatchNorm needs two images per channel in training ("Expected more than 1 value per channel").
        raise TrainingError(f"The batch size must be at least 2, not {cfg.batch_size}.")
    if not cfg.lr or not math.isfinite(cfg.lr) or cfg.lr <= 0:
        raise TrainingError("The learning rate must be a positive number.")
    preset = cfg.preset_obj()
    if cfg.input_size != preset.input_size:
        raise TrainingError(
            f"The {preset.name!r} preset's network takes {preset.input_size}×{preset.input_size} images, "
            f"not {cfg.input_size}×{cfg.input_size}.",
            "Leave the input size at the preset's value.",
        )
    if preset.schedule not in SCHEDULES:
        raise TrainingError(f"Preset {preset.name!r} has an unknown schedule {preset.schedule!r}.")


def _realworld_augment() -> Callable[..., torch.Tensor]:
    # Imported lazily: only the "realworld" preset needs it.
    try:
        from .realworld_aug import realworld_augment
    except ImportError as exc:
        raise TrainingError(
            "The real-world augmentation is not available in this build.",
            "Choose the standard preset instead.",
        ) from exc
    return realworld_augment


def _load_init_weights(model: nn.Module, path: str | Path, arch: str) -> None:
    from ..store.checkpoint import load_checkpoint  # only fine-tuning needs it

    state_dict, meta = load_checkpoint(path)
    meta_arch = getattr(meta, "arch", None)
    if meta_arch and meta_arch != arch:
        raise TrainingError(
            f"The model {Path(path).name} is a {meta_arch!r} network, but this preset trains {arch!r}.",
            f"Fine-tune it with a preset that uses {meta_arch!r}.",
        )
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise TrainingError(
            f"The weights in {Path(path).name} do not fit the {arch!r} network.",
            "Choose a model trained with the same preset.",
        ) from exc


def _make_optimizer(preset: Preset, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    if preset.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=preset.weight_decay)
    if preset.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=preset.weight_decay)
    if preset.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=preset.weight_decay
        )
    raise TrainingError(f"Preset {preset.name!r} has an unknown optimizer {preset.optimizer!r}.")


# Below this many optimiser steps a schedule has no room to warm up and anneal (OneCycleLR even
# divides by zero when its warm-up phase rounds to one step), so tiny runs use a constant rate.
MIN_SCHEDULED_STEPS = 8


def _make_schedule(preset: Preset, optimizer: torch.optim.Optimizer, lr: float, total_steps: int):
    if total_steps < MIN_SCHEDULED_STEPS:
        return None
    if preset.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=total_steps, pct_start=0.25, div_factor=10.0, final_div_factor=100.0
        )
    if preset.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=lr * 0.01)
    return None


def _train(config: TrainConfig, data: "FashionMNIST", stop: threading.Event | None) -> Iterator[Event]:
    cfg = config.resolved()
    _validate(cfg)
    preset = cfg.preset_obj()
    device = distributed.rank_device(resolve_device(cfg.device))
    augment = cfg.augment
    photo_augment = _realworld_augment() if augment == "realworld" else None

    train_images, train_labels = data.train.images, data.train.labels
    # Real photos are pairs of shoes already: only Fashion-MNIST's single shoes get paired.
    from_photo = torch.zeros(len(train_labels), dtype=torch.bool)
    if cfg.photos is not None and len(cfg.photos.train_labels):
        labels_np = torch.from_numpy(cfg.photos.train_labels).to(torch.int64)
        repeats = photo_repeats(labels_np, float(cfg.photo_weight))
        photo_images = torch.from_numpy(cfg.photos.train_images).to(torch.uint8).repeat_interleave(repeats, 0)
        photo_labels = labels_np.repeat_interleave(repeats)
        train_images = torch.cat([train_images, photo_images])
        train_labels = torch.cat([train_labels, photo_labels])
        from_photo = torch.cat([from_photo, torch.ones(len(photo_labels), dtype=torch.bool)])
    if cfg.extra_train is not None:
        extra_images, extra_labels, weight = cfg.extra_train
        if len(extra_labels):
            repeats = max(1, round(float(weight)))
            train_images = torch.cat([train_images, extra_images.to(torch.uint8).repeat(repeats, 1, 1)])
            train_labels = torch.cat([train_labels, extra_labels.to(torch.int64).repeat(repeats)])
            from_photo = torch.cat([from_photo, torch.ones(len(extra_labels) * repeats, dtype=torch.bool)])
    n_train = int(train_labels.shape[0])
    if n_train < 2:
        raise TrainingError("There are too few training images to train on.", "Check the data set folder.")

    torch.manual_seed(cfg.seed)  # model initialisation and dropout
    generator = torch.Generator(device=device)
    generator.manual_seed(cfg.seed)  # batch order and augmentation

    model = build_model(preset.arch)
    if cfg.init_checkpoint is not None:
        _load_init_weights(model, cfg.init_checkpoint, preset.arch)
    # channels_last lets oneDNN/cuDNN pick faster convolution kernels (~30 % on a laptop CPU).
    memory_format = torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    forward = distributed.wrap(model, device)  # under torchrun: DistributedDataParallel
    train_images = train_images.to(device)
    train_labels = train_labels.to(device)
    from_photo = from_photo.to(device)
    val_images = data.val.images.to(device)
    val_labels = data.val.labels.to(device)

    n_local = distributed.local_count(n_train)  # this process's share under torchrun
    batch_size = min(distributed.local_batch(cfg.batch_size), n_local)
    # A last batch of one image would break BatchNorm's batch statistics; it is dropped instead
    # (that image is in a different batch next epoch, since the order is reshuffled).
    batches = n_local // batch_size + (1 if n_local % batch_size >= 2 else 0)
    n_per_epoch = min(n_local, batches * batch_size)
    epochs = cfg.epochs
    optimizer = _make_optimizer(preset, model, cfg.lr)
    scheduler = _make_schedule(preset, optimizer, cfg.lr, epochs * batches)
    sync_every = 1 if device.type == "cpu" else SYNC_EVERY

    yield Started(
        device=str(device),
        device_name=_device_name(device),
        preset=preset.name,
        epochs=epochs,
        batches_per_epoch=batches,
        n_train=n_train,
        n_val=int(val_labels.shape[0]),
        config=cfg,
    )

    history: list[EpochEnd] = []
    best = _BestEpoch(cfg, preset, str(device))
    t_start = time.perf_counter()
    samples_done = 0
    for epoch in range(1, epochs + 1):
        model.train()
        t_epoch = time.perf_counter()
        order = distributed.shard(torch.randperm(n_train, device=device, generator=generator))
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        shown_loss, shown_acc = float("nan"), float("nan")
        for batch in range(1, batches + 1):
            if distributed.stopped(stop):
                yield Cancelled(epoch=epoch, batch=batch - 1, history=tuple(history), best=best.finished(t_start))
                return
            idx = order[(batch - 1) * batch_size : batch * batch_size]
            images = augment_uint8(train_images[idx], augment, generator)
            x = images_to_unit(images, cfg.input_size)
            y = train_labels[idx]
            if photo_augment is not None:
                x = photo_augment(x, generator, labels=torch.where(from_photo[idx], -1, y))
            x = normalize(x, preset.mean, preset.std).contiguous(memory_format=memory_format)

            logits = forward(x)
            loss = _loss(logits, y, preset.label_smoothing, cfg.outlier_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()

            n = int(y.shape[0])
            seen += n
            samples_done += n
            loss_sum += loss.detach() * n
            correct += (logits.detach().argmax(1) == y).sum()  # "none" photos (-1) never count
            if batch % sync_every == 0 or batch == batches:
                shown_loss = loss_sum.item() / seen
                shown_acc = 100.0 * correct.item() / seen
            elapsed = time.perf_counter() - t_start
            rate = samples_done / elapsed if elapsed > 0 else 0.0
            remaining = (epochs - epoch) * n_per_epoch + (n_per_epoch - seen)
            yield BatchEnd(
                epoch=epoch,
                epochs=epochs,
                batch=batch,
                batches=batches,
                loss=shown_loss,
                acc=shown_acc,
                samples_per_s=rate,
                elapsed_s=elapsed,
                eta_s=remaining / rate if rate > 0 else float("inf"),
            )

        loss_sum, correct, seen = distributed.epoch_totals(loss_sum, correct, seen)
        train_loss = loss_sum.item() / seen
        train_acc = 100.0 * correct.item() / seen
        validation = _evaluate(model, val_images, val_labels, cfg.input_size, preset, stop)
        if validation is None:  # stopped during the epoch's validation (seconds on a CPU)
            yield Cancelled(epoch=epoch, batch=batches, history=tuple(history), best=best.finished(t_start))
            return
        val_loss, val_acc = validation
        history.append(
            EpochEnd(
                epoch=epoch,
                epochs=epochs,
                train_loss=train_loss,
                val_loss=val_loss,
                train_acc=train_acc,
                val_acc=val_acc,
                epoch_time_s=time.perf_counter() - t_epoch,
                lr=float(optimizer.param_groups[0]["lr"]),
            )
        )
        best.consider(model, history, has_validation=int(val_labels.shape[0]) > 0)
        yield history[-1]

    model.eval()
    model.to(device="cpu", memory_format=torch.contiguous_format)
    # From here on the model predicts as it will when loaded from its file (the per-epoch
    # validation figures above are single-view).
    set_flip_averaging(model, cfg.augment)
    calibration = None
    if cfg.photos is not None and len(cfg.photos.val_labels):
        from .calibration import calibrate

        calibration = calibrate(model, cfg.photos.val_images, cfg.photos.val_labels,
                                cfg.input_size, preset.mean, preset.std)
    yield Finished(
        model=model,
        history=tuple(history),
        elapsed_s=time.perf_counter() - t_start,
        device=str(device),
        config=cfg,
        calibration=calibration,
    )


class _BestEpoch:
    """The weights of the best finished epoch so far (a CPU copy), for a run that is stopped."""

    def __init__(self, cfg: TrainConfig, preset: Preset, device: str):
        self.cfg, self.preset, self.device = cfg, preset, device
        self.state: dict[str, torch.Tensor] | None = None
        self.history: tuple[EpochEnd, ...] = ()

    def consider(self, model: nn.Module, history: list[EpochEnd], has_validation: bool) -> None:
        last = history[-1]
        if self.state is not None and has_validation and last.val_acc <= self.history[-1].val_acc:
            return
        self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        self.history = tuple(history)

    def finished(self, t_start: float) -> Finished | None:
        if self.state is None:
            return None
        model = build_model(self.preset.arch)
        model.load_state_dict(self.state)
        model.eval()
        set_flip_averaging(model, self.cfg.augment)
        calibration = None
        photos = self.cfg.photos
        if photos is not None and len(photos.val_labels):
            from .calibration import calibrate

            calibration = calibrate(model, photos.val_images, photos.val_labels,
                                    self.cfg.input_size, self.preset.mean, self.preset.std)
        return Finished(model=model, history=self.history, elapsed_s=time.perf_counter() - t_start,
                        device=self.device, config=self.cfg, calibration=calibration)


def photo_repeats(labels: torch.Tensor, weight: float) -> torch.Tensor:
    """How many times each photo is shown per epoch: `weight` on average, rarer classes more
    often (by the square root of how much rarer than the median class they are, at most 4x), so
    the 76 sneakers are not drowned by 900 T-shirts. "None" photos (-1) count as one class."""
    classes, counts = labels.unique(return_counts=True)
    median = counts.float().median()
    boost = (median / counts.float()).sqrt().clamp(0.5, 4.0)
    per_class = dict(zip(classes.tolist(), boost.tolist()))
    factors = torch.tensor([per_class[int(c)] for c in labels.tolist()])
    return (weight * factors).round().clamp(min=1).to(torch.int64)


def _loss(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float, outlier_weight: float) -> torch.Tensor:
    """Cross-entropy on the labelled images; for "none of the ten" photos (label -1), the
    cross-entropy to the uniform distribution (outlier exposure, Hendrycks et al. 2019), so the
    model learns to be unsure of them rather than to name a class."""
    known = y >= 0
    if bool(known.all()):
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    n = y.shape[0]
    loss = logits.new_zeros(())
    if bool(known.any()):
        loss = F.cross_entropy(logits[known], y[known], label_smoothing=label_smoothing, reduction="sum")
    outliers = logits[~known]
    loss = loss + outlier_weight * (-outliers.log_softmax(1).mean(1)).sum()
    return loss / n


def _memory_format_of(model: nn.Module) -> torch.memory_format:
    for p in model.parameters():
        if p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous():
            return torch.channels_last
    return torch.contiguous_format


@torch.inference_mode()
def _evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    input_size: int,
    preset: Preset,
    stop: threading.Event | None = None,
) -> tuple[float, float] | None:
    """(mean cross-entropy, accuracy %) in eval mode; NaNs when there is nothing to validate on;
    None when `stop` was set (checked between chunks, so Stop answers within one chunk)."""
    n = int(labels.shape[0])
    if n == 0:
        return float("nan"), float("nan")
    model.eval()
    loss_sum = torch.zeros((), device=labels.device)
    correct = torch.zeros((), device=labels.device, dtype=torch.int64)
    for start in range(0, n, EVAL_BATCH):
        if stop is not None and stop.is_set():
            model.train()
            return None
        x = to_model_input(images[start : start + EVAL_BATCH], input_size, preset.mean, preset.std)
        x = x.contiguous(memory_format=_memory_format_of(model))
        y = labels[start : start + EVAL_BATCH]
        logits = model(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    model.train()
    return loss_sum.item() / n, 100.0 * correct.item() / n
