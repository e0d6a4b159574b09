"""The photo model's training settings, torch-free (the Train page builds its form from them
before torch has loaded). The loop that uses them: `photo_training.py`."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..base.errors import FmnistError

MAX_SEED = 2**32 - 1  # the run seeds numpy's RandomState too, which takes 32 bits
MAX_LR = 10.0  # far above the recipe's; beyond it a run only diverges


@dataclass(frozen=True)
class PhotoTrainConfig:
    """A photo model's training run. The defaults are the shipped model's recipe."""

    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3  # the new head
    tail_lr: float = 5e-4  # the backbone's trained blocks
    from_block: int = 11  # first trained backbone block (16: the head alone); 11 beat 13 by 2.7 points held-out
    views: int = 3  # cached views of each image: a clean one and views-1 augmented
    fashion_mnist_per_class: int = 500
    label_smoothing: float = 0.1
    seed: int = 0
    device: str = "cpu"
    preset: str = "photo-model"
    title: str = "Photo model"

    def summary(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_photo_config(config: PhotoTrainConfig) -> None:
    """Refuse settings no run can use, before any photo or backbone is loaded (the same rules
    as `fmnist train`'s for the 28×28 network)."""
    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not whole(config.epochs) or config.epochs < 1:
        raise FmnistError(f"The number of epochs must be at least 1, not {config.epochs}.")
    if not whole(config.batch_size) or config.batch_size < 2:
        raise FmnistError(f"The batch size must be at least 2, not {config.batch_size}.")
    for what, lr in (("learning rate", config.lr), ("backbone's learning rate", config.tail_lr)):
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= MAX_LR):
            raise FmnistError(f"The {what} must be a positive number up to {MAX_LR:g}, not {lr}.")
    if not whole(config.seed) or not 0 <= config.seed <= MAX_SEED:
        raise FmnistError(f"The seed must be between 0 and {MAX_SEED:,}, not {config.seed}.")
    if not whole(config.views) or config.views < 1 or not whole(config.fashion_mnist_per_class) \
            or config.fashion_mnist_per_class < 0 or not 0 <= config.from_block <= 16:
        raise FmnistError("The photo model's recipe is out of range (views ≥ 1, Fashion-MNIST images per class ≥ 0, "
                          "first trained block 0–16).")
    if not (isinstance(config.label_smoothing, (int, float)) and 0 <= config.label_smoothing < 1):
        raise FmnistError(f"Label smoothing must be between 0 and 1, not {config.label_smoothing}.")
