"""Where the answer came from (issue 26, "beyond the anchors"): the heat map of a garment centred
on a plain background is hottest on the garment, for both kinds of model (the shipped ones)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[2]
FM_TSHIRT = REPO / "resources" / "samples" / "fashion-mnist_0_T-shirt_top.png"
SHIPPED_PHOTO = REPO / "weights" / "photo.pt"
SHIPPED_28 = REPO / "weights" / "default.pt"


def _centred_garment() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A dark T-shirt (the Fashion-MNIST sample, inverted, 112 px) in the middle of a white 224
    canvas, and its box."""
    garment = ImageOps.invert(Image.open(FM_TSHIRT).convert("L")).resize((112, 112), Image.BILINEAR)
    canvas = Image.new("RGB", (224, 224), (255, 255, 255))
    canvas.paste(garment.convert("RGB"), (56, 56))
    return canvas, (56, 56, 168, 168)


def test_the_photo_models_map_of_a_centred_garment_is_hottest_on_the_garment():
    from fmnist_desktop.core.learn.explain import photo_grad_cam
    from fmnist_desktop.core.store.checkpoint import load_model

    net, _meta = load_model(SHIPPED_PHOTO)
    image, (left, top, right, bottom) = _centred_garment()
    heat = photo_grad_cam(net, image, class_index=0)
    assert heat.shape == (224, 224) and heat.max() == pytest.approx(1.0)
    inside = heat[top:bottom, left:right]
    outside_mean = (heat.sum() - inside.sum()) / (heat.size - inside.size)
    assert inside.mean() > 4 * outside_mean
    y, x = np.unravel_index(heat.argmax(), heat.shape)
    assert left <= x < right and top <= y < bottom


def test_the_28x28_networks_map_is_hottest_on_the_garment():
    from fmnist_desktop.core.learn.explain import occlusion_map
    from fmnist_desktop.core.store.checkpoint import load_model

    model, meta = load_model(SHIPPED_28)
    image = np.asarray(Image.open(FM_TSHIRT).convert("L").resize((28, 28), Image.BILINEAR))
    heat = occlusion_map(model, image, 0, meta.mean, meta.std, meta.input_size)
    garment = image > 30
    assert heat.shape == (28, 28)
    assert heat[garment].mean() > 3 * heat[~garment].mean()
