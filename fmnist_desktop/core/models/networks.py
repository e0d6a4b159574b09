"""The 28×28 network family: architectures, each with its own metadata.

`ARCHITECTURES` maps a name (stored in every checkpoint as `arch`) to a builder, so a checkpoint
can always be turned back into the right `nn.Module`; `ARCH_INFO` says what each one takes (input
size, colour channels) and a rough speed figure. The training recipes built on them are in
`presets.py`.

- `seed` is the origin notebook, unchanged (16×16 input, two conv layers, Adam 1e-3, 10 epochs).
  Its layer names are the notebook's, so the notebook's `torch.save(model.state_dict())` file
  loads into `SeedCNN` as it is.
- `standard` (the default) is a small VGG-style network with BatchNorm, trained at full 28×28
  resolution with flips, small shifts, label smoothing, AdamW and a one-cycle schedule.
- `fast` is a smaller BatchNorm network and a short one-cycle run (3 epochs, about 92 %).
- `realworld` is `standard` trained with the photo-style augmentation of `core.learn.realworld_aug`.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..base.labels import NUM_CLASSES
from .arch_info import ARCH_INFO



class SeedCNN(nn.Module):
    """The origin notebook's CNN for 16×16 input, with the notebook's layer names.

    ReLU, pooling and dropout have no parameters, so the state_dict keys are exactly
    conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc1.weight, fc1.bias, fc2.weight, fc2.bias.
    """

    input_size = 16

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, num_classes)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    # bias=False: BatchNorm's shift makes a conv bias redundant.
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class BNConvNet(nn.Module):
    """Conv-BN-ReLU blocks, each followed by 2×2 max pooling, then a small classifier head.

    `blocks` is a sequence of (channels, convs in the block). With 28×28 input and two blocks the
    head sees 7×7 maps; with three, 3×3.
    """

    def __init__(
        self,
        blocks: tuple[tuple[int, int], ...],
        hidden: int,
        dropout: float,
        input_size: int = 28,
        num_classes: int = NUM_CLASSES,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        size = input_size
        for channels, convs in blocks:
            for _ in range(convs):
                layers += _conv_bn(c_in, channels)
                c_in = channels
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * size * size, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    # Set by `set_flip_averaging` (not a parameter or buffer, so state_dicts are unchanged).
    average_flips: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.features(x))
        if self.average_flips and not self.training:
            # Test-time augmentation for a network trained with random horizontal flips: average
            # the class probabilities of the image and its mirror. Returned as log-probabilities,
            # so softmax() gives exactly that average and cross-entropy its loss.
            mirrored = self.classifier(self.features(x.flip(3)))
            return torch.logaddexp(logits.log_softmax(1), mirrored.log_softmax(1)) - math.log(2.0)
        return logits


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "seed_cnn": SeedCNN,
    # Three conv-BN-pool blocks, ~7.5 M multiply-adds per image: 93.0 % in 12 epochs. (Two
    # convs per block gains little on 28×28 images for 2.5× the compute.)
    "bn_cnn": lambda: BNConvNet(blocks=((32, 1), (64, 1), (128, 1)), hidden=256, dropout=0.3),
    # ~2.5 M multiply-adds per image: 92 % in 3 epochs.
    "bn_cnn_small": lambda: BNConvNet(blocks=((24, 1), (48, 1)), hidden=128, dropout=0.2),
    # Narrower and wider versions of the two, searched by `fmnist tune` ("width" = the first
    # block's channels; each further block doubles it).
    "bn_cnn_small_w16": lambda: BNConvNet(blocks=((16, 1), (32, 1)), hidden=128, dropout=0.2),
    "bn_cnn_small_w32": lambda: BNConvNet(blocks=((32, 1), (64, 1)), hidden=128, dropout=0.2),
    "bn_cnn_w24": lambda: BNConvNet(blocks=((24, 1), (48, 1), (96, 1)), hidden=256, dropout=0.3),
    "bn_cnn_w48": lambda: BNConvNet(blocks=((48, 1), (96, 1), (192, 1)), hidden=256, dropout=0.3),
    # The photo model (ImageNet-pretrained backbone + 11-way head); built lazily: its module
    # is only imported when a photo model is built.
    "efficientnet_lite0_photo": lambda: _photo_net(),
}

def _photo_net() -> nn.Module:
    from .photo_net import PhotoNet

    return PhotoNet()


assert set(ARCHITECTURES) == set(ARCH_INFO), "every network needs its metadata in arch_info.py"

# The architectures of one family by width (the first block's channels), for the tuner.
WIDTHS: dict[str, dict[int, str]] = {
    "bn_cnn_small": {16: "bn_cnn_small_w16", 24: "bn_cnn_small", 32: "bn_cnn_small_w32"},
    "bn_cnn": {24: "bn_cnn_w24", 32: "bn_cnn", 48: "bn_cnn_w48"},
}


def width_family(arch: str) -> dict[int, str] | None:
    """{width: arch} of the family `arch` belongs to, or None (the seed network has no widths)."""
    return next((family for family in WIDTHS.values() if arch in family.values()), None)


def set_flip_averaging(model: nn.Module, augment: str | None) -> nn.Module:
    """Turn on mirror averaging at inference for a network trained with flips (`augment` is the
    run's augmentation: every one but "none" flips). Measured on the shipped model: +0.19 points
    on the Fashion-MNIST test set and +1.5 on real photos (docs/BENCHMARKS.md). The origin
    notebook's network has no such switch and is left as it is."""
    if isinstance(model, BNConvNet):
        model.average_flips = augment is not None and augment != "none"
    return model


def build_model(arch: str) -> nn.Module:
    """A freshly initialised model of the named architecture (see `ARCHITECTURES`)."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise KeyError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    return builder()
