"""Retraining the photo model's linear head on embeddings, kept close to the head it starts from.

A handful of corrected photos must teach the head without costing it what it knew. Four rules
(measured in docs/BENCHMARKS.md, "Fine-tuning the photo model on a few photos"):

- **L2-SP**: the loss carries `pull_to_parent` × ||θ − θ_parent||², so the head moves only as
  far as the photos need (Li et al. 2018, "Explicit inductive bias for transfer learning").
- **The replay set outweighs a few photos**: the parent's own training embeddings
  (`weights/photo-replay.npz`) are in every batch, and the user's photos carry a share of the loss
  that grows with their number, n / (n + `user_half_at`), up to `max_user_share`. Both parts are
  drawn class-balanced, so three photos of one class do not tilt the head towards it.
- **Few steps**: training stops once every view of every photo taught (the clean one and the
  augmented ones) gets at least `learned_probability` on its class, after `min_steps`, at
  `max_steps` at the latest. (Named right by a hair is not learned: a photo of the same thing
  taken a little differently would still be named wrong.)
- **No more confident than the parent**: label smoothing, then, when the new head is more
  confident on the replay set than its parent, its logits are divided by the temperature that
  brings it back (which changes no answer, only the percentages).

No Qt here; `core.jobs.photo_finetune` feeds it the stored embeddings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class HeadRecipe:
    max_steps: int = 150
    min_steps: int = 20
    check_every: int = 10  # steps between two looks at whether the photos are learned
    stop_when_learned: bool = True
    learned_probability: float = 0.7
    batch_size: int = 64
    lr: float = 1e-3
    pull_to_parent: float = 3e-2  # L2-SP weight on the squared distance to the parent head
    user_share: float | None = None  # the user's share of the loss; None: n / (n + user_half_at)
    user_half_at: int = 10
    max_user_share: float = 0.5
    label_smoothing: float = 0.1
    no_more_confident: bool = True

    def share_for(self, n_photos: int) -> float:
        if self.user_share is not None:
            return self.user_share
        return min(self.max_user_share, n_photos / (n_photos + self.user_half_at))


def balanced_sampler(labels: np.ndarray, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """Draw indices so that every class present is equally likely, whatever its count."""
    weights = np.zeros(len(labels), np.float64)
    for c in np.unique(labels):
        where = labels == c
        weights[where] = 1.0 / where.sum()
    weights /= weights.sum()
    return lambda n: rng.choice(len(labels), size=n, p=weights)


def mean_confidence(head: torch.nn.Linear, features: np.ndarray | torch.Tensor, temperature: float = 1.0) -> float:
    """The mean top probability (over all outputs) the head gives these embeddings."""
    x = torch.as_tensor(np.asarray(features, np.float32))
    with torch.inference_mode():
        return float(torch.softmax(head(x) / temperature, 1).max(1).values.mean()) if len(x) else float("nan")


def _learned(head: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor, probability: float) -> bool:
    with torch.inference_mode():
        return bool((torch.softmax(head(x), 1).gather(1, y[:, None]) >= probability).all())


def _cap_confidence(head: torch.nn.Linear, parent: torch.nn.Linear, reference: np.ndarray) -> float:
    """Divide the head's logits by the temperature (≥ 1) that makes it as confident on `reference`
    as the parent; returns that temperature."""
    target = mean_confidence(parent, reference)
    if not len(reference) or mean_confidence(head, reference) <= target:
        return 1.0
    low, high = 1.0, 16.0
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (mid, high) if mean_confidence(head, reference, mid) > target else (low, mid)
    with torch.no_grad():
        head.weight.div_(high)
        head.bias.div_(high)
    return high


@dataclass
class HeadRun:
    head: torch.nn.Linear
    steps: int
    temperature: float  # what the logits were divided by (1: not capped)
    user_share: float


def train_head(parent: torch.nn.Linear, user_x: np.ndarray, user_y: np.ndarray, replay_x: np.ndarray | None,
               replay_y: np.ndarray | None, recipe: HeadRecipe = HeadRecipe(), seed: int = 0,
               stop=None) -> HeadRun | None:
    """A copy of `parent` trained on the user's embeddings `user_x` (M, views, D) with labels
    `user_y` (M,) and the replay set (N, D); None when `stop` was set."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    head = copy.deepcopy(parent).float().train()
    parent_w, parent_b = head.weight.detach().clone(), head.bias.detach().clone()
    flat_x = torch.from_numpy(np.ascontiguousarray(user_x.reshape(-1, user_x.shape[-1]), np.float32))
    flat_y = torch.from_numpy(np.repeat(np.asarray(user_y, np.int64), user_x.shape[1]))
    draw_user = balanced_sampler(flat_y.numpy(), rng)
    has_replay = replay_y is not None and len(replay_y) > 0
    draw_replay = balanced_sampler(replay_y, rng) if has_replay else None
    share = recipe.share_for(len(user_y)) if has_replay else 1.0
    n_user = max(1, round(recipe.batch_size * share)) if has_replay else recipe.batch_size
    opt = torch.optim.AdamW(head.parameters(), recipe.lr, weight_decay=0.0)
    step = 0
    while step < recipe.max_steps:
        if stop is not None and stop.is_set():
            return None
        u = draw_user(n_user)
        loss = share * F.cross_entropy(head(flat_x[u]), flat_y[u], label_smoothing=recipe.label_smoothing)
        if has_replay:
            r = draw_replay(recipe.batch_size - n_user)
            rx, ry = torch.from_numpy(replay_x[r]), torch.from_numpy(replay_y[r])
            loss = loss + (1 - share) * F.cross_entropy(head(rx), ry, label_smoothing=recipe.label_smoothing)
        pull = (head.weight - parent_w).pow(2).sum() + (head.bias - parent_b).pow(2).sum()
        loss = loss + recipe.pull_to_parent * pull
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if (recipe.stop_when_learned and step >= recipe.min_steps and step % recipe.check_every == 0
                and _learned(head, flat_x, flat_y, recipe.learned_probability)):
            break
    head.eval()
    temperature = 1.0
    if recipe.no_more_confident and has_replay:
        temperature = _cap_confidence(head, parent.float(), replay_x)
    return HeadRun(head, step, temperature, share)
