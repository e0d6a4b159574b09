"""What training is asked to do (`TrainConfig`) and the events it reports.

`iter_training` (core.learn.training) yields these small immutable events: `Started`, `BatchEnd`,
`EpochEnd`, then exactly one of `Finished` / `Cancelled` / `Failed`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from ..base.defaults import DEFAULT_VAL_SIZE
from ..models.presets import DEFAULT_PRESET, Preset
from ..store.user_presets import get_preset

@dataclass(frozen=True)
class TrainConfig:
    """What to train. `None` means "the preset's value"; `resolved()` fills those in.

    `extra_train` = (uint8 images (M,28,28), int64 labels (M,), weight): extra examples (the
    user's own labelled photos) added to every epoch, each repeated round(weight) times (≥ 1).
    `init_checkpoint`: start from this checkpoint's weights (fine-tuning) instead of random ones;
    its architecture must be the preset's.
    `num_threads`: torch CPU threads for this run (restored afterwards); None leaves torch's
    setting alone, which by default is one thread per physical core.
    """

    preset: str | Preset = DEFAULT_PRESET  # a name in PRESETS, or a Preset object (the tuner's recipes)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    input_size: int | None = None
    augment: str | None = None
    device: str = "auto"
    seed: int = 0
    val_size: int = DEFAULT_VAL_SIZE
    data_dir: str | Path | None = None
    init_checkpoint: str | Path | None = None
    extra_train: tuple[torch.Tensor, torch.Tensor, float] | None = None
    num_threads: int | None = None
    # Labelled real photos (core.photo_dataset.PhotoTrainingSet) mixed into every epoch, each
    # repeated round(photo_weight) times; their "none of the ten" photos are trained towards a
    # flat distribution (outlier exposure, weight `outlier_weight`) so that the model's
    # confidence drops on things that are not one of the ten. Their held-out senders calibrate
    # the model's "not sure" threshold at the end.
    photos: Any = None
    photo_weight: float = 4.0
    outlier_weight: float = 1.0

    def preset_obj(self) -> Preset:
        return self.preset if isinstance(self.preset, Preset) else get_preset(self.preset)

    def resolved(self) -> "TrainConfig":
        p = self.preset_obj()
        return dataclasses.replace(
            self,
            epochs=self.epochs if self.epochs is not None else p.epochs,
            batch_size=self.batch_size if self.batch_size is not None else p.batch_size,
            lr=self.lr if self.lr is not None else p.lr,
            input_size=self.input_size if self.input_size is not None else p.input_size,
            augment=self.augment if self.augment is not None else p.augment,
        )

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description for checkpoint metadata (no tensors)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("extra_train", "photos")}
        if isinstance(self.preset, Preset):  # a recipe that is not a named preset: keep all of it
            out["preset"] = self.preset.name
            out["recipe"] = dataclasses.asdict(self.preset)
        for key in ("data_dir", "init_checkpoint"):
            if out[key] is not None:
                out[key] = str(out[key])
        out["extra_train_count"] = 0 if self.extra_train is None else int(len(self.extra_train[1]))
        if self.photos is not None:
            out["photos"] = {"source": str(self.photos.source), **self.photos.counts()}
        return out


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True)
class Started:
    device: str
    device_name: str
    preset: str
    epochs: int
    batches_per_epoch: int
    n_train: int
    n_val: int
    config: TrainConfig


@dataclass(frozen=True)
class BatchEnd:
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based
    batches: int
    loss: float  # running mean over this epoch so far (see SYNC_EVERY)
    acc: float  # running training accuracy this epoch, percent
    samples_per_s: float
    elapsed_s: float  # since training started
    eta_s: float  # estimated time to the end of training (validation included roughly)


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float  # plain cross-entropy (no label smoothing), comparable across presets
    train_acc: float  # percent, on the augmented training batches as seen during the epoch
    val_acc: float  # percent
    epoch_time_s: float
    lr: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Finished:
    model: nn.Module  # on the CPU, in eval mode
    history: tuple[EpochEnd, ...]
    elapsed_s: float
    device: str
    config: TrainConfig  # resolved
    # With photos: the "not sure" calibration on the held-out senders' photos (core.verdict).
    calibration: dict | None = None


@dataclass(frozen=True)
class Cancelled:
    epoch: int
    batch: int
    history: tuple[EpochEnd, ...]
    # The best finished epoch (highest validation accuracy; the last one without validation
    # images) as a run that ended there: its model and the history up to it. None when no epoch
    # finished. Stopping never throws finished epochs away: the caller may offer to save this.
    best: "Finished | None" = None


@dataclass(frozen=True)
class Failed:
    message: str
    advice: str


Event = Union[Started, BatchEnd, EpochEnd, Finished, Cancelled, Failed]


def format_epoch_line(e: EpochEnd) -> str:
    """The origin notebook's per-epoch line."""
    return (
        f"Epoch [{e.epoch}/{e.epochs}], Train Loss: {e.train_loss:.4f}, Val Loss: {e.val_loss:.4f}, "
        f"Train Acc: {e.train_acc:.2f}%, Val Acc: {e.val_acc:.2f}%"
    )
