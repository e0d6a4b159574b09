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

It runs in numpy, without torch (a linear layer's gradient is two matrix products): the same
objective and steps as torch's cross-entropy with label smoothing and AdamW (weight decay 0),
so the lite edition, which has no torch, fine-tunes as the full app does (tests/core/
test_head_finetune.py compares the two step for step). No Qt here; `core.jobs.photo_finetune`
feeds it the stored embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


REPORT_EVERY = 10  # steps between two reports of the loss (a live curve, not a cost)
StepReport = Callable[[int, int, float, float], None]  # (steps done, at most, loss, batch accuracy in %)
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.AdamW's defaults


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


@dataclass(frozen=True)
class LinearHead:
    """The photo model's head: logits = features @ weight.T + bias (weight (11, D), bias (11,), float32)."""

    weight: np.ndarray
    bias: np.ndarray

    @classmethod
    def of(cls, weight, bias) -> "LinearHead":
        return cls(np.array(weight, np.float32), np.array(bias, np.float32))

    def logits(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, np.float32) @ self.weight.T + self.bias

    def probabilities(self, features: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        z = self.logits(features) / np.float32(temperature)
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


def balanced_sampler(labels: np.ndarray, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """Draw indices so that every class present is equally likely, whatever its count."""
    weights = np.zeros(len(labels), np.float64)
    for c in np.unique(labels):
        where = labels == c
        weights[where] = 1.0 / where.sum()
    weights /= weights.sum()
    return lambda n: rng.choice(len(labels), size=n, p=weights)


def mean_confidence(head: LinearHead, features: np.ndarray, temperature: float = 1.0) -> float:
    """The mean top probability (over all outputs) the head gives these embeddings."""
    x = np.asarray(features, np.float32)
    return float(head.probabilities(x, temperature).max(1).mean()) if len(x) else float("nan")


def _learned(head: LinearHead, x: np.ndarray, y: np.ndarray, probability: float) -> bool:
    return bool((head.probabilities(x)[np.arange(len(y)), y] >= probability).all())


def _cap_confidence(head: LinearHead, parent: LinearHead, reference: np.ndarray) -> tuple[LinearHead, float]:
    """The head with its logits divided by the temperature (≥ 1) that makes it as confident on
    `reference` as the parent, and that temperature."""
    target = mean_confidence(parent, reference)
    if not len(reference) or mean_confidence(head, reference) <= target:
        return head, 1.0
    low, high = 1.0, 16.0
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (mid, high) if mean_confidence(head, reference, mid) > target else (low, mid)
    return LinearHead(head.weight / np.float32(high), head.bias / np.float32(high)), high


def smoothed_cross_entropy(logits: np.ndarray, labels: np.ndarray, smoothing: float) -> tuple[float, np.ndarray]:
    """torch's F.cross_entropy(logits, labels, label_smoothing=smoothing) (mean over the batch) and
    its gradient with respect to the logits."""
    n, k = logits.shape
    z = logits - logits.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    target = np.full((n, k), smoothing / k, np.float32)
    target[np.arange(n), labels] += np.float32(1.0 - smoothing)
    loss = float(-(target * log_p).sum(1).mean())
    return loss, ((np.exp(log_p) - target) / np.float32(n)).astype(np.float32)


class _Adam:
    """torch.optim.AdamW with weight decay 0, on a list of float32 arrays updated in place."""

    def __init__(self, params: list[np.ndarray], lr: float):
        self.params, self.lr, self.t = params, lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        (b1, b2), self.t = ADAM_BETAS, self.t + 1
        step_size = self.lr / (1 - b1 ** self.t)
        correction2_sqrt = np.float32((1 - b2 ** self.t) ** 0.5)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (g - m) * np.float32(1 - b1)
            v *= np.float32(b2)
            v += np.float32(1 - b2) * g * g
            p -= np.float32(step_size) * m / (np.sqrt(v) / correction2_sqrt + np.float32(ADAM_EPS))


@dataclass
class HeadRun:
    head: LinearHead
    steps: int
    temperature: float  # what the logits were divided by (1: not capped)
    user_share: float


@dataclass
class _Batches:
    """The user's views and the replay set, drawn class-balanced into batches of the recipe's size."""

    x: np.ndarray
    y: np.ndarray
    replay_x: np.ndarray | None
    replay_y: np.ndarray | None
    share: float
    n_user: int
    draw_user: Callable[[int], np.ndarray]
    draw_replay: Callable[[int], np.ndarray] | None

    @classmethod
    def of(cls, user_x, user_y, replay_x, replay_y, recipe: HeadRecipe, rng) -> "_Batches":
        x = np.ascontiguousarray(user_x.reshape(-1, user_x.shape[-1]), np.float32)
        y = np.repeat(np.asarray(user_y, np.int64), user_x.shape[1])
        has_replay = replay_y is not None and len(replay_y) > 0
        share = recipe.share_for(len(user_y)) if has_replay else 1.0
        n_user = max(1, round(recipe.batch_size * share)) if has_replay else recipe.batch_size
        draw_user = balanced_sampler(y, rng)  # drawn before the replay set's, as the order of draws matters
        draw_replay = balanced_sampler(replay_y, rng) if has_replay else None
        return cls(x, y, np.asarray(replay_x, np.float32) if has_replay else None, replay_y if has_replay else None,
                   share, n_user, draw_user, draw_replay)


def _step_gradients(head: LinearHead, parent: LinearHead, batches: _Batches, recipe: HeadRecipe):
    """One batch: (loss, [dW, db], the batch's features and labels)."""
    u = batches.draw_user(batches.n_user)
    parts = [(batches.x[u], batches.y[u], batches.share)]
    if batches.draw_replay is not None:
        r = batches.draw_replay(recipe.batch_size - batches.n_user)
        parts.append((batches.replay_x[r], batches.replay_y[r], 1 - batches.share))
    dw, db = np.zeros_like(head.weight), np.zeros_like(head.bias)
    loss = 0.0
    for x, y, weight in parts:
        part_loss, grad = smoothed_cross_entropy(head.logits(x), y, recipe.label_smoothing)
        loss += weight * part_loss
        dw += np.float32(weight) * (grad.T @ x)
        db += np.float32(weight) * grad.sum(0)
    pull_w, pull_b = head.weight - parent.weight, head.bias - parent.bias
    loss += recipe.pull_to_parent * float((pull_w ** 2).sum() + (pull_b ** 2).sum())
    dw += np.float32(2 * recipe.pull_to_parent) * pull_w
    db += np.float32(2 * recipe.pull_to_parent) * pull_b
    return loss, [dw, db], np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def train_head(parent: LinearHead, user_x: np.ndarray, user_y: np.ndarray, replay_x: np.ndarray | None,
               replay_y: np.ndarray | None, recipe: HeadRecipe = HeadRecipe(), seed: int = 0,
               stop=None, on_step: StepReport | None = None) -> HeadRun | None:
    """A copy of `parent` trained on the user's embeddings `user_x` (M, views, D) with labels
    `user_y` (M,) and the replay set (N, D); None when `stop` was set. `on_step(done, max_steps,
    loss, accuracy %)` every `REPORT_EVERY` steps and at the last one (the Train page's live curve)."""
    rng = np.random.default_rng(seed)
    parent = LinearHead.of(parent.weight, parent.bias)
    head = LinearHead.of(parent.weight, parent.bias)
    batches = _Batches.of(user_x, user_y, replay_x, replay_y, recipe, rng)
    adam = _Adam([head.weight, head.bias], recipe.lr)
    step = 0
    while step < recipe.max_steps:
        if stop is not None and stop.is_set():
            return None
        loss, grads, bx, by = _step_gradients(head, parent, batches, recipe)
        adam.step(grads)
        step += 1
        learned = (recipe.stop_when_learned and step >= recipe.min_steps and step % recipe.check_every == 0
                   and _learned(head, batches.x, batches.y, recipe.learned_probability))
        if on_step is not None and (step % REPORT_EVERY == 0 or learned or step == recipe.max_steps):
            on_step(step, recipe.max_steps, loss, 100.0 * float((head.logits(bx).argmax(1) == by).mean()))
        if learned:
            break
    temperature = 1.0
    if recipe.no_more_confident and batches.replay_x is not None:
        head, temperature = _cap_confidence(head, parent, batches.replay_x)
    return HeadRun(head, step, temperature, batches.share)
