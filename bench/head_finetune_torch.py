"""The photo head's fine-tune in torch, as the app ran it before it moved to numpy
(core.learn.head_finetune): the reference that tests/core/test_head_finetune.py compares the numpy
version with, step for step, and that bench/bench_photo_finetune_numpy.py times. Same recipe
(`core.learn.head_finetune.HeadRecipe`), same draws from numpy's generator; `parent` is a
torch.nn.Linear.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from fmnist_desktop.core.learn.head_finetune import REPORT_EVERY, HeadRecipe, StepReport, balanced_sampler


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


def _report(on_step: StepReport, head: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor, step: int,
            max_steps: int, loss: torch.Tensor) -> None:
    with torch.inference_mode():
        accuracy = 100.0 * float((head(x).argmax(1) == y).float().mean())
    on_step(step, max_steps, float(loss.detach()), accuracy)


@dataclass
class HeadRun:
    head: torch.nn.Linear
    steps: int
    temperature: float  # what the logits were divided by (1: not capped)
    user_share: float


def train_head(parent: torch.nn.Linear, user_x: np.ndarray, user_y: np.ndarray, replay_x: np.ndarray | None,
               replay_y: np.ndarray | None, recipe: HeadRecipe = HeadRecipe(), seed: int = 0,
               stop=None, on_step: StepReport | None = None) -> HeadRun | None:
    """A copy of `parent` trained on the user's embeddings `user_x` (M, views, D) with labels
    `user_y` (M,) and the replay set (N, D); None when `stop` was set. `on_step(done, max_steps,
    loss, accuracy %)` every `REPORT_EVERY` steps and at the last one (the Train page's live curve)."""
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
        bx, by = flat_x[u], flat_y[u]
        loss = share * F.cross_entropy(head(bx), by, label_smoothing=recipe.label_smoothing)
        if has_replay:
            r = draw_replay(recipe.batch_size - n_user)
            rx, ry = torch.from_numpy(replay_x[r]), torch.from_numpy(replay_y[r])
            loss = loss + (1 - share) * F.cross_entropy(head(rx), ry, label_smoothing=recipe.label_smoothing)
            bx, by = torch.cat([bx, rx]), torch.cat([by, ry])
        pull = (head.weight - parent_w).pow(2).sum() + (head.bias - parent_b).pow(2).sum()
        loss = loss + recipe.pull_to_parent * pull
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        learned = (recipe.stop_when_learned and step >= recipe.min_steps and step % recipe.check_every == 0
                   and _learned(head, flat_x, flat_y, recipe.learned_probability))
        if on_step is not None and (step % REPORT_EVERY == 0 or learned or step == recipe.max_steps):
            _report(on_step, head, bx, by, step, recipe.max_steps, loss)
        if learned:
            break
    head.eval()
    temperature = 1.0
    if recipe.no_more_confident and has_replay:
        temperature = _cap_confidence(head, parent.float(), replay_x)
    return HeadRun(head, step, temperature, share)
