"""The photo model's training settings, torch-free (the Train page builds its form from them
before torch has loaded). The loop that uses them: `photo_training.py`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PhotoTrainConfig:
    """A photo model's training run. The defaults are the shipped model's recipe."""

    epochs: int = 8
    lr: float = 2e-3  # the new head
    tail_lr: float = 5e-4  # the backbone's trained blocks
    from_block: int = 13  # first trained backbone block (16: the head alone)
    views: int = 3  # cached views of each image: a clean one and views-1 augmented
    fashion_mnist_per_class: int = 500
    label_smoothing: float = 0.1
    seed: int = 0
    device: str = "cpu"
    preset: str = "photo-model"
    title: str = "Photo model"

    def summary(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
