"""What ImageNet already knows, kept inside the photo model.

The photo model fine-tunes the backbone's last blocks for the ten classes, and its training photos
are mostly flat-lays and hangers at home. The untouched ImageNet network still names garments
those photos rarely show ("jersey, T-shirt", "jean", "trench coat", "running shoe", "cowboy boot",
"purse"…) and names many things that are none of the ten outright ("Windsor tie", "sock",
"sunglasses", "digital watch"). `ImageNetOpinion` is a frozen copy of the ImageNet network's last
blocks, head convolution and 1000-way classifier, branching off the photo model's own frozen
blocks, so it costs only the last blocks at 7×7 (measured in docs/BENCHMARKS.md), and it:

1. mixes its opinion into the photo model's answer among the ten: the ImageNet mass on the
   classes mapped to each of the ten (`GARMENT_CLASSES`), times that class's weight
   (`CLASS_WEIGHTS`), replaces the same share of the photo model's distribution over the ten; its
   "none of these" output keeps its own mass (the result still sums to 1);
2. flags a photo as "may not be one of the ten" when ImageNet's top class is a named thing that is
   none of the ten (`NAMED_NONE_CLASSES`) with at least `NAMED_NONE_LEVEL`: the "none" output then
   carries half the mass, which beats every class.

Both are in the model's forward pass (eval mode), so the verdict, the exports and the ONNX twins
get them without a second rule. The mapping, the weights and the level were chosen on the
held-out senders and their catalogue-style copies (docs/BENCHMARKS.md, "Real photos, round four").
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .efficientnet_lite import NUM_BLOCKS, EfficientNetLite0

NUM_CLASSES = 10
# ImageNet-1k class indices mapped onto the ten Fashion-MNIST classes (Shirt has no counterpart:
# ImageNet has no dress-shirt class).
GARMENT_CLASSES: dict[int, tuple[int, ...]] = {
    0: (610,),  # jersey, T-shirt
    1: (608,),  # jean
    2: (841, 474),  # sweatshirt, cardigan
    3: (578, 601),  # gown, hoopskirt
    4: (869, 568, 617, 501),  # trench coat, fur coat, lab coat, cloak
    5: (774,),  # sandal
    6: (),
    7: (770, 630),  # running shoe, Loafer
    8: (748, 636, 414),  # purse, mailbag, backpack
    9: (514,),  # cowboy boot
}
# The weight of ImageNet's opinion for each of the ten classes (0: the photo model alone), chosen
# on the held-out senders and their catalogue-style copies: ImageNet's "jersey" also takes shirts,
# so T-shirt/top (and Shirt, which has no counterpart) keep the photo model's answer alone.
CLASS_WEIGHTS: tuple[float, ...] = (0.0, 0.7, 0.5, 0.7, 0.7, 0.5, 0.0, 0.5, 0.7, 0.5)
# Things ImageNet names that are none of the ten: ties, socks, eyewear, watches and clocks,
# umbrellas, cosmetics, belts' buckles, gloves, scarves, wallets, jewellery, hats and caps, helmets,
# masks, swim- and underwear, skirts.
NAMED_NONE_CLASSES: tuple[int, ...] = (
    906, 457, 451,  # Windsor tie, bow tie, bolo tie
    806,  # sock
    836, 837,  # sunglass, sunglasses
    531, 409, 530, 892, 826,  # digital watch, analog clock, digital clock, wall clock, stopwatch
    879, 711, 629,  # umbrella, perfume, lipstick
    464, 658, 824, 552,  # buckle, mitten, stole, feather boa
    893, 679,  # wallet, necklace
    515, 808, 452, 433, 793, 667, 903,  # cowboy hat, sombrero, bonnet, bathing cap, shower cap, mortarboard, wig
    518, 560, 643, 796, 570,  # crash helmet, football helmet, mask, ski mask, gasmask
    459, 445, 638, 639, 529,  # brassiere, bikini, maillot, maillot tank suit, diaper
    655,  # miniskirt
)
NAMED_NONE_LEVEL = 0.35
NONE_SHARE_WHEN_NAMED = 0.5


def garment_matrix(weights: tuple[float, ...] = CLASS_WEIGHTS, num_imagenet: int = 1000) -> torch.Tensor:
    """(1000, 10): ImageNet class i → Fashion-MNIST class c with that class's weight."""
    m = torch.zeros(num_imagenet, NUM_CLASSES)
    for c, ids in GARMENT_CLASSES.items():
        for i in ids:
            m[i, c] = weights[c]
    return m


def named_none_mask(num_imagenet: int = 1000) -> torch.Tensor:
    mask = torch.zeros(num_imagenet)
    mask[list(NAMED_NONE_CLASSES)] = 1.0
    return mask


class ImageNetOpinion(nn.Module):
    """The frozen ImageNet tail from block `start` (blocks, head conv, classifier) and the rule
    that mixes its answer into the photo model's. Never trained: every parameter is frozen."""

    def __init__(self, start: int):
        super().__init__()
        if not 0 <= start <= NUM_BLOCKS:
            raise ValueError(f"start must be a block index, got {start}")
        full = EfficientNetLite0(num_classes=1000)
        self._blocks = nn.ModuleList(full._blocks[start:])
        self._conv_head, self._bn1, self._fc = full._conv_head, full._bn1, full._fc
        self.start_block = start  # a plain int, so exporters see a fixed graph
        self.register_buffer("start", torch.tensor(start, dtype=torch.int64))  # saved with the model
        self.register_buffer("garments", garment_matrix())
        self.register_buffer("named_none", named_none_mask())
        self.register_buffer("named_level", torch.tensor(NAMED_NONE_LEVEL))
        self.requires_grad_(False)

    @classmethod
    def from_imagenet(cls, imagenet: EfficientNetLite0, start: int) -> "ImageNetOpinion":
        """The tail of the ImageNet network `imagenet` (copied, so the photo model's own blocks can
        be trained without touching it)."""
        opinion = cls(start)
        opinion._blocks = copy.deepcopy(nn.ModuleList(imagenet._blocks[start:]))
        opinion._conv_head = copy.deepcopy(imagenet._conv_head)
        opinion._bn1 = copy.deepcopy(imagenet._bn1)
        opinion._fc = copy.deepcopy(imagenet._fc)
        return opinion.requires_grad_(False).eval()

    @staticmethod
    def start_in(state_dict, prefix: str) -> int | None:
        """The `start` of the opinion whose weights are in `state_dict` under `prefix`, or None."""
        value = state_dict.get(prefix + "start")
        return int(value) if value is not None else None

    def imagenet_probabilities(self, shared: torch.Tensor) -> torch.Tensor:
        """ImageNet's 1000 probabilities for the photo model's activations before block `start`."""
        x = shared
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))
        return self._fc(x).softmax(1)

    def mix(self, logits: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """The photo model's 11 logits → log-probabilities with ImageNet's opinion mixed in."""
        return self.mix_probabilities(logits, self.imagenet_probabilities(shared))

    def mix_probabilities(self, logits: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """`mix` with ImageNet's probabilities `q` (N, 1000) computed before: a photo's `q` does
        not change when only the head does (core.jobs.photo_finetune keeps it with the photo)."""
        p = logits.float().softmax(1)
        q = q.float()
        mass = q @ self.garments  # (N, 10), already weighted per class
        ten = p[:, :NUM_CLASSES]
        in_ten = ten.sum(1, keepdim=True)
        # Only the share among the ten moves: the model's own "none" output keeps its mass (mixing
        # into all eleven cost 2 to 8 points of "none" photos flagged on the held-out senders).
        among_ten = ten / in_ten.clamp_min(1e-12) * (1.0 - mass.sum(1, keepdim=True)) + mass
        mixed = torch.cat([among_ten * in_ten, p[:, NUM_CLASSES:]], 1)
        named = (q * self.named_none).max(1).values
        fires = ((named >= q.max(1).values) & (named >= self.named_level)).to(mixed.dtype).unsqueeze(1)
        none_hot = torch.zeros_like(mixed)
        none_hot[:, NUM_CLASSES:] = 1.0
        share = fires * NONE_SHARE_WHEN_NAMED
        mixed = mixed * (1.0 - share) + none_hot * share
        return mixed.clamp_min(1e-12).log()
