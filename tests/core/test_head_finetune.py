"""The photo head's fine-tune rule (issue 26, item 1): a few corrected photos are learned while the
head stays near its parent, keeps what it named right, and grows no more confident. On synthetic
embeddings (clusters, one per output), so the rule is tested in milliseconds; the real figures
are bench/bench_photo_finetune_quality.py's. It runs in numpy (issue 25 item 3: the lite edition
has no torch); the last test holds it to the torch version it replaced, step for step. No Qt."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from fmnist_desktop.core.learn.head_finetune import HeadRecipe, LinearHead, mean_confidence, train_head

DIM, OUTPUTS = 64, 11


def _world(seed: int = 0):
    """A parent head that names clustered embeddings right, its replay set, 80 "shipped photos",
    and photos of class 3 lying towards class 0 that the parent calls class 0 (the corrections)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(OUTPUTS, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(labels, spread=0.55):
        return (centres[labels] + spread * rng.normal(size=(len(labels), DIM)) / np.sqrt(DIM)).astype(np.float32)

    parent = LinearHead.of(3.0 * centres, np.zeros(OUTPUTS))
    replay_y = np.repeat(np.arange(OUTPUTS), 20)
    shipped_y = np.arange(80) % 10
    between = 0.55 * centres[0] + 0.45 * centres[3]  # nearer class 0: the parent says 0
    corrections = (between + 0.05 * rng.normal(size=(3, 3, DIM)) / np.sqrt(DIM)).astype(np.float32)  # 3 photos, 3 views
    return parent, (draw(replay_y), replay_y), (draw(shipped_y), shipped_y), corrections, np.full(3, 3)


def _right(head, x, y) -> int:
    return int((head.logits(x)[:, :10].argmax(1) == y).sum())


def test_three_corrections_are_learned_while_the_head_stays_near_its_parent_and_no_more_confident():
    parent, (replay_x, replay_y), (shipped_x, shipped_y), user_x, user_y = _world()
    assert _right(parent, user_x[:, 0], user_y) == 0  # the parent gets all three wrong
    before = _right(parent, shipped_x, shipped_y)
    parent_weight = parent.weight.copy()

    run = train_head(parent, user_x, user_y, replay_x, replay_y, HeadRecipe(), seed=0)

    head = run.head
    assert _right(head, user_x[:, 0], user_y) == 3  # the corrected photos are learned
    assert _right(head, shipped_x, shipped_y) >= before - 1  # no drop beyond 1 photo of 80
    assert mean_confidence(head, shipped_x) <= mean_confidence(parent, shipped_x) + 0.01  # not over-confident
    moved = np.linalg.norm(head.weight - parent.weight) / np.linalg.norm(parent.weight)
    assert moved < 0.25, f"the head moved {moved:.2f} of its parent's norm"
    assert np.array_equal(parent.weight, parent_weight)  # the parent model is not changed


def test_it_stops_once_every_view_of_the_photos_taught_is_learned():
    parent, (replay_x, replay_y), _shipped, user_x, user_y = _world()
    recipe = HeadRecipe(learned_probability=0.3)  # this world's parent is unsure of everything (66 % at best)
    run = train_head(parent, user_x, user_y, replay_x, replay_y, recipe)
    assert recipe.min_steps <= run.steps < recipe.max_steps
    assert _right(run.head, user_x.reshape(-1, DIM), np.repeat(user_y, 3)) == 9  # every view


def test_the_replay_set_keeps_its_weight_when_the_user_has_few_photos():
    recipe = HeadRecipe()
    assert recipe.share_for(3) < 0.25 < recipe.share_for(10) <= recipe.max_user_share
    assert recipe.share_for(300) == recipe.max_user_share  # many photos never swamp the replay set


def test_stop_returns_nothing():
    parent, (replay_x, replay_y), _shipped, user_x, user_y = _world()

    class Stopped:
        def is_set(self) -> bool:
            return True

    assert train_head(parent, user_x, user_y, replay_x, replay_y, stop=Stopped()) is None


def test_its_steps_are_reported_for_the_live_curve_without_changing_what_it_learns():
    """Issue 26 item 7: the Train page draws the head's loss as it trains (every REPORT_EVERY steps
    and the last one, also when it stops early once the photos are learned)."""
    from fmnist_desktop.core.learn.head_finetune import REPORT_EVERY

    parent, (replay_x, replay_y), _shipped, user_x, user_y = _world()
    recipe = HeadRecipe(learned_probability=0.3)
    reports = []
    run = train_head(parent, user_x, user_y, replay_x, replay_y, recipe,
                     on_step=lambda *report: reports.append(report))
    quiet = train_head(parent, user_x, user_y, replay_x, replay_y, recipe)

    assert [r[0] for r in reports] == list(range(REPORT_EVERY, run.steps + 1, REPORT_EVERY))
    assert reports[-1][0] == run.steps and all(r[1] == recipe.max_steps for r in reports)
    assert all(np.isfinite(r[2]) and 0.0 <= r[3] <= 100.0 for r in reports)
    assert quiet.steps == run.steps and np.array_equal(quiet.head.weight, run.head.weight)  # reporting changes nothing


def test_the_numpy_fine_tune_takes_the_steps_the_torch_one_took():
    """Issue 25 item 3: the same objective (label-smoothed cross-entropy, the replay share, L2-SP),
    the same AdamW steps, the same early stop and the same confidence cap as the torch version
    (bench/head_finetune_torch.py), so the head a user gets does not depend on the edition."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from head_finetune_torch import train_head as torch_train_head

    parent, (replay_x, replay_y), (shipped_x, _), user_x, user_y = _world()
    torch_parent = torch.nn.Linear(DIM, OUTPUTS)
    with torch.no_grad():
        torch_parent.weight.copy_(torch.from_numpy(parent.weight))
        torch_parent.bias.copy_(torch.from_numpy(parent.bias))
    for recipe in (HeadRecipe(), HeadRecipe(learned_probability=0.3), HeadRecipe(max_steps=40, stop_when_learned=False)):
        reports_numpy: list = []
        ours = train_head(parent, user_x, user_y, replay_x, replay_y, recipe, seed=2,
                          on_step=lambda *r: reports_numpy.append(r))
        reports_torch: list = []
        theirs = torch_train_head(torch_parent, user_x, user_y, replay_x, replay_y, recipe, seed=2,
                                  on_step=lambda *r: reports_torch.append(r))
        assert ours.steps == theirs.steps and abs(ours.temperature - theirs.temperature) < 1e-3
        assert np.abs(ours.head.weight - theirs.head.weight.detach().numpy()).max() < 1e-4
        assert np.abs(ours.head.bias - theirs.head.bias.detach().numpy()).max() < 1e-4
        with torch.inference_mode():
            want = torch.softmax(theirs.head(torch.from_numpy(shipped_x)), 1).numpy()
        assert np.abs(ours.head.probabilities(shipped_x) - want).max() < 1e-4
        assert [r[0] for r in reports_numpy] == [r[0] for r in reports_torch]
        assert np.allclose([r[2] for r in reports_numpy], [r[2] for r in reports_torch], atol=1e-4)
