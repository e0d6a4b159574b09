"""Batched input conversion and augmentation behave like the per-image originals."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from fmnist_desktop.core.learn.transforms import (
    augment_uint8,
    images_to_unit,
    random_hflip,
    random_translate,
    to_model_input,
)


def _images(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)


def test_full_size_input_is_normalised_pixels():
    imgs = _images()
    x = to_model_input(imgs, 28, 0.5, 0.5)
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32
    assert torch.allclose(x[:, 0], (imgs.float() / 255 - 0.5) / 0.5, atol=1e-6)


def test_resize_to_16_matches_the_notebooks_pil_pipeline():
    # The notebook: Compose([Resize(16), ToTensor(), Normalize((0.5,), (0.5,))]) per PIL image.
    # Smooth images (like real garments) rather than noise, which no two resamplers agree on.
    base = torch.zeros(4, 28, 28)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    for i in range(4):
        base[i] = 127.5 * (1 + torch.sin(xx / (3 + i)) * torch.cos(yy / (4 + i)))
    imgs = base.round().to(torch.uint8)
    notebook = T.Compose([T.Resize(16), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    expected = torch.stack([notebook(Image.fromarray(im.numpy(), mode="L")) for im in imgs])
    ours = to_model_input(imgs, 16, 0.5, 0.5)
    assert ours.shape == expected.shape == (4, 1, 16, 16)
    # within about two grey levels everywhere (2/255 on the 0..1 scale is 4/255 after Normalize)
    assert (ours - expected).abs().max().item() <= 4.5 / 255


def test_input_keeps_the_batch_on_its_device_and_accepts_channel_dim():
    imgs = _images().unsqueeze(1)
    x = images_to_unit(imgs, 28)
    assert x.device == imgs.device and x.shape == (8, 1, 28, 28)
    assert 0.0 <= x.min().item() and x.max().item() <= 1.0


def test_bad_shape_is_refused():
    with pytest.raises(ValueError):
        to_model_input(torch.zeros(2, 3, 28, 28, dtype=torch.uint8), 28, 0.5, 0.5)


def test_hflip_mirrors_some_images_and_leaves_the_others():
    imgs = _images(64)
    out = random_hflip(imgs, torch.Generator().manual_seed(1))
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, imgs)]
    kept = [torch.equal(o, i) for o, i in zip(out, imgs)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54


def test_translate_shifts_each_image_with_black_fill():
    img = torch.zeros(1, 28, 28, dtype=torch.uint8)
    img[0, 10:18, 10:18] = 200
    imgs = img.repeat(50, 1, 1)
    out = random_translate(imgs, 2, torch.Generator().manual_seed(3))
    assert out.shape == imgs.shape and out.dtype == torch.uint8
    for o in out:
        ys, xs = torch.nonzero(o, as_tuple=True)
        # the square is intact (8×8 of 200) and moved by at most 2 pixels each way
        assert len(ys) == 64 and (o[ys, xs] == 200).all()
        assert 8 <= ys.min().item() <= 12 and 8 <= xs.min().item() <= 12
    offsets = {(int(torch.nonzero(o)[0, 0]), int(torch.nonzero(o)[0, 1])) for o in out}
    assert len(offsets) > 5  # shifts differ per image, not one shift for the batch


def test_augmentation_is_reproducible_with_the_same_generator():
    imgs = _images(32)
    a = augment_uint8(imgs, "standard", torch.Generator().manual_seed(7))
    b = augment_uint8(imgs, "standard", torch.Generator().manual_seed(7))
    c = augment_uint8(imgs, "standard", torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(augment_uint8(imgs, "none", torch.Generator()), imgs)
    with pytest.raises(ValueError):
        augment_uint8(imgs, "sparkles", torch.Generator())
