"""core.learn.realworld_aug: shapes, range, reproducibility, and that it changes what it claims to."""

from __future__ import annotations

import pytest
import torch

from fmnist_desktop.core.learn.realworld_aug import (
    RealWorldAugConfig,
    random_affine,
    random_blur,
    random_mask_damage,
    random_noise,
    realworld_augment,
)


def garments(b: int = 64, size: int = 28) -> torch.Tensor:
    """Bright shaded blocks on exact black, like Fashion-MNIST items."""
    x = torch.zeros(b, 1, size, size)
    lo, hi = size // 7, size - size // 7
    ramp = torch.linspace(0.3, 1.0, hi - lo)
    x[:, 0, lo:hi, size // 4 : size - size // 4] = ramp[:, None]
    return x


@pytest.mark.parametrize("size", [28, 16])
def test_shape_dtype_range_and_input_untouched(size):
    x = garments(size=size)
    before = x.clone()
    y = realworld_augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert torch.equal(x, before)


def test_same_seed_same_batch_different_seed_different_batch():
    x = garments()
    a = realworld_augment(x, torch.Generator().manual_seed(7))
    b = realworld_augment(x, torch.Generator().manual_seed(7))
    c = realworld_augment(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_some_images_stay_clean_and_most_change():
    x = garments(256)
    y = realworld_augment(x, torch.Generator().manual_seed(1))
    changed = (y - x).abs().flatten(1).amax(1) > 1e-4
    assert 0.5 < changed.float().mean() < 0.95  # p_any = 0.7: clean dataset images remain


def test_each_step_does_what_its_name_says():
    x = garments(32)
    on = torch.ones(32, dtype=torch.bool)
    g = torch.Generator().manual_seed(2)
    moved = random_affine(x, g, apply=on)
    assert (moved - x).abs().sum() > 1.0
    assert torch.equal(random_affine(x, g, apply=~on), x)
    blurred = random_blur(x, g, apply=on)
    edge_rows = (x[:, 0].sum(2) == 0) & (blurred[:, 0].sum(2) > 0)
    assert edge_rows.any()  # blur spreads light into rows that were black
    noisy = random_noise(x, g, apply=on)
    assert torch.equal(noisy[x == 0], x[x == 0])  # background stays exactly 0
    assert (noisy - x).abs().sum() > 0
    damaged = random_mask_damage(x, g, RealWorldAugConfig(p_erode=0, p_rim=1, p_speckle=0), apply=on)
    assert ((damaged > 0) & (x == 0)).any()  # a rim of background left around the object


def test_rejects_wrong_shape_and_handles_empty_batch():
    with pytest.raises(ValueError):
        realworld_augment(torch.zeros(4, 28, 28), torch.Generator())
    assert realworld_augment(torch.zeros(0, 1, 28, 28), torch.Generator()).shape == (0, 1, 28, 28)


def test_trainer_runs_the_realworld_augmentation(tiny_idx_dir):
    from fmnist_desktop.core.data.fashion_mnist import load_dataset
    from fmnist_desktop.core.learn.training import Finished, TrainConfig, run_training

    data = load_dataset(tiny_idx_dir, val_size=100)
    result = run_training(TrainConfig(preset="fast", augment="realworld", epochs=1, device="cpu"), data)
    assert isinstance(result, Finished), getattr(result, "message", result)
    assert result.config.augment == "realworld"


def _one_shoe(b: int = 8) -> torch.Tensor:
    """A side-view 'shoe': a wide, low bright bar filling the frame's width, like Fashion-MNIST."""
    x = torch.zeros(b, 1, 28, 28)
    x[:, 0, 10:18, 0:28] = 0.9
    return x


def test_footwear_becomes_a_pair_refitted_to_the_frame_and_other_classes_do_not():
    x = _one_shoe()
    labels = torch.tensor([7, 5, 9, 7, 0, 1, 3, 8])  # three footwear classes, then non-footwear
    cfg = RealWorldAugConfig(p_pair=1.0, p_any=0.0)
    y = realworld_augment(x, torch.Generator().manual_seed(0), cfg, labels=labels)
    assert torch.equal(y[4:], x[4:])  # T-shirt, trouser, dress, bag: untouched
    for i in range(4):
        on = y[i, 0] > 0.3
        rows, cols = on.any(1).nonzero().flatten(), on.any(0).nonzero().flatten()
        height, width = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
        # Refitted like a photo: the long edge spans the frame, and two 8-pixel-thick shoes side by
        # side are thicker across than one.
        assert max(height, width) >= 26
        assert min(height, width) > 12
        assert float(on.float().mean()) > 0.2


def test_pairs_need_labels_and_are_reproducible():
    x = _one_shoe()
    labels = torch.full((8,), 7)
    cfg = RealWorldAugConfig(p_pair=1.0, p_any=0.0)
    assert torch.equal(realworld_augment(x, torch.Generator().manual_seed(0), cfg), x)
    a = realworld_augment(x, torch.Generator().manual_seed(3), cfg, labels=labels)
    b = realworld_augment(x, torch.Generator().manual_seed(3), cfg, labels=labels)
    assert torch.equal(a, b) and not torch.equal(a, x)
