"""ImageNet's opinion mixed into a photo model's answer, in numpy: `ImageNetOpinion.mix_probabilities`
(core.models.imagenet_opinion) operation for operation, for the head's fine-tune without torch
(core.jobs.photo_finetune). The rule's numbers come from the model file itself (its `opinion.*`
buffers: the garment matrix, the named-none mask and level), as the torch module reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

NUM_CLASSES = 10
NONE_SHARE_WHEN_NAMED = 0.5  # as core.models.imagenet_opinion
OPINION_PREFIX = "opinion."


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float32)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class OpinionRule:
    garments: np.ndarray  # (1000, 10): ImageNet class → Fashion-MNIST class, weighted
    named_none: np.ndarray  # (1000,): 1 for the things ImageNet names that are none of the ten
    named_level: float

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray]) -> "OpinionRule | None":
        """The rule of a model file's state (None: the model has no ImageNet opinion)."""
        if OPINION_PREFIX + "start" not in state:
            return None
        return cls(np.asarray(state[OPINION_PREFIX + "garments"], np.float32),
                   np.asarray(state[OPINION_PREFIX + "named_none"], np.float32),
                   float(state[OPINION_PREFIX + "named_level"]))

    def mix(self, logits: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Probabilities (N, 11): the head's `logits` with ImageNet's probabilities `q` (N, 1000) mixed in."""
        p = softmax(logits)
        q = np.asarray(q, np.float32)
        mass = q @ self.garments
        ten = p[:, :NUM_CLASSES]
        in_ten = ten.sum(1, keepdims=True)
        among_ten = ten / np.maximum(in_ten, np.float32(1e-12)) * (1.0 - mass.sum(1, keepdims=True)) + mass
        mixed = np.concatenate([among_ten * in_ten, p[:, NUM_CLASSES:]], 1)
        named = (q * self.named_none).max(1)
        fires = ((named >= q.max(1)) & (named >= np.float32(self.named_level))).astype(np.float32)[:, None]
        none_hot = np.zeros_like(mixed)
        none_hot[:, NUM_CLASSES:] = 1.0
        share = fires * np.float32(NONE_SHARE_WHEN_NAMED)
        mixed = mixed * (1.0 - share) + none_hot * share
        return np.maximum(mixed, np.float32(1e-12)).astype(np.float32)


def head_probabilities(weight: np.ndarray, bias: np.ndarray, features: np.ndarray, rule: OpinionRule | None = None,
                       imagenet: np.ndarray | None = None) -> np.ndarray:
    """What the photo model with head (weight, bias) answers for photos with these pooled `features`
    (N, 1280): its head's softmax, with ImageNet's opinion mixed in when it has one (`imagenet`:
    the photos' ImageNet probabilities), as its forward pass does in eval mode."""
    logits = np.asarray(features, np.float32) @ np.asarray(weight, np.float32).T + np.asarray(bias, np.float32)
    if rule is not None and imagenet is not None:
        return rule.mix(logits, imagenet)
    return softmax(logits)
