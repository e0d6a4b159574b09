"""Training presets: an architecture plus the input format and training recipe that go with it.

Built-in presets only; the user's own (saved by `fmnist tune`) are in `core.store.user_presets`,
whose `get_preset` looks up either kind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Fashion-MNIST training-set pixel statistics (on the 0..1 scale).
FMNIST_MEAN = 0.2860
FMNIST_STD = 0.3530

AUGMENTATIONS = ("none", "flip", "standard", "realworld")
SCHEDULES = ("constant", "onecycle", "cosine")
OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass(frozen=True)
class Preset:
    """An architecture plus the input format and training recipe that belong with it."""

    name: str
    title: str
    description: str
    arch: str
    input_size: int
    mean: float
    std: float
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    augment: str  # one of AUGMENTATIONS
    label_smoothing: float
    schedule: str  # one of SCHEDULES
    optimizer: str = "adamw"  # one of OPTIMIZERS (an additive extension of the contract)


_STANDARD = Preset(
    name="standard",
    title="Standard (recommended)",
    description="A BatchNorm CNN at full 28×28 resolution with flips, small shifts, label "
    "smoothing and a one-cycle schedule. About 93 % test accuracy.",
    arch="bn_cnn",
    input_size=28,
    mean=FMNIST_MEAN,
    std=FMNIST_STD,
    epochs=12,
    batch_size=128,
    lr=3e-3,
    weight_decay=5e-4,
    augment="standard",
    label_smoothing=0.1,
    schedule="onecycle",
    optimizer="adamw",
)


PRESETS: dict[str, Preset] = {
    "seed": Preset(
        name="seed",
        title="Origin notebook",
        description="The original notebook's CNN and recipe: 16×16 input, Adam 1e-3, batch 64, "
        "10 epochs, no augmentation. About 91 % test accuracy.",
        arch="seed_cnn",
        input_size=16,
        mean=0.5,
        std=0.5,
        epochs=10,
        batch_size=64,
        lr=1e-3,
        weight_decay=0.0,
        augment="none",
        label_smoothing=0.0,
        schedule="constant",
        optimizer="adam",
    ),
    "standard": _STANDARD,
    "fast": Preset(
        name="fast",
        title="Fast",
        description="A small BatchNorm CNN trained for 3 short epochs: about 92 % test accuracy, "
        "the quickest preset (the Train page estimates the time on this computer).",
        arch="bn_cnn_small",
        input_size=28,
        mean=FMNIST_MEAN,
        std=FMNIST_STD,
        epochs=3,
        batch_size=256,
        lr=6e-3,
        weight_decay=5e-4,
        augment="flip",
        label_smoothing=0.05,
        schedule="onecycle",
        optimizer="adamw",
    ),
    # The standard network and recipe with other training data: only what differs is written.
    "realworld": dataclasses.replace(
        _STANDARD,
        name="realworld",
        title="Real-world photos",
        description="The standard network trained with photo-style augmentation (lighting, "
        "blur, framing, shoes in pairs): about 92 % test accuracy, and about 59 % instead of "
        "49 % on real phone photos (docs/BENCHMARKS.md).",
        augment="realworld",
    ),
    "photos": dataclasses.replace(
        _STANDARD,
        name="photos",
        title="Real photos (Fashion-MNIST + labelled photos)",
        description="The standard network trained on Fashion-MNIST together with labelled real "
        "photos (Train with photos: a labels file), with photo-style augmentation; photos of "
        "things that are none of the ten teach it to say \"not sure\", and held-out photos "
        "calibrate that threshold.",
        augment="realworld",
    ),
}

DEFAULT_PRESET = "standard"
# The presets `fmnist tune` and the Tune… dialog offer: trained on Fashion-MNIST alone (the origin
# notebook's recipe is kept as it is; "photos" needs a labelled photo set, which a study lacks).
TUNABLE_PRESETS = ("fast", "standard", "realworld")


def augment_for(preset: Preset, on: bool | None) -> str | None:
    """The augmentation a run uses when the user turns it on or off: the preset's own kind, or
    "flip" for a preset that has none; "none" when off; None (the preset decides) when not said."""
    if on is None:
        return None
    if not on:
        return "none"
    return preset.augment if preset.augment != "none" else "flip"
