"""The augmented views of a kept photo that the photo model's head fine-tune learns from, made
without torch (the lite edition has none).

The same framing, mirror, tilt, grey, blur and background as `data.photo_features.augmented_view`
(the photo model's training views), with torchvision's ColorJitter(0.35, 0.35, 0.35, 0.04) done
here with Pillow (its PIL kernels: ImageEnhance for brightness, contrast and saturation, a shift of
the hue channel in HSV) and drawn from the same `random.Random` as the rest, so a photo's views
depend only on its hash.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

JITTER = (0.35, 0.35, 0.35, 0.04)  # brightness, contrast, saturation, hue: as the training views


def _shift_hue(img: Image.Image, hue: float) -> Image.Image:
    h, s, v = img.convert("HSV").split()
    shifted = (np.asarray(h, np.uint8).astype(np.int16) + int(round(hue * 255))) % 256
    return Image.merge("HSV", (Image.fromarray(shifted.astype(np.uint8), "L"), s, v)).convert("RGB")


def jitter_colour(img: Image.Image, rng: random.Random) -> Image.Image:
    """Brightness, contrast, saturation and hue each changed by a random factor, in a random order."""
    brightness, contrast, saturation, hue = JITTER
    steps = [
        lambda im: ImageEnhance.Brightness(im).enhance(rng.uniform(1 - brightness, 1 + brightness)),
        lambda im: ImageEnhance.Contrast(im).enhance(rng.uniform(1 - contrast, 1 + contrast)),
        lambda im: ImageEnhance.Color(im).enhance(rng.uniform(1 - saturation, 1 + saturation)),
        lambda im: _shift_hue(im, rng.uniform(-hue, hue)),
    ]
    rng.shuffle(steps)
    for step in steps:
        img = step(img)
    return img


def frame_and_tilt(img: Image.Image, rng: random.Random) -> tuple[Image.Image, tuple[int, int, int]]:
    """The first steps of a training view: crop 55–100 % of the area (aspect ±33 %), mirror, tilt
    ±15°; returns the image and the background colour the view is letterboxed on."""
    from ..photo.model_input import PAD_RGB

    w, h = img.size
    area = w * h * rng.uniform(0.55, 1.0)
    ratio = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    cw = int(min(w, round(np.sqrt(area * ratio))))
    ch = int(min(h, round(np.sqrt(area / ratio))))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    fill = tuple(rng.randint(0, 255) for _ in range(3)) if rng.random() < 0.6 else PAD_RGB
    if rng.random() < 0.4:
        img = img.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR, expand=False, fillcolor=fill)
    return img, fill


def grey_blur_and_letterbox(img: Image.Image, size: int, fill, rng: random.Random) -> Image.Image:
    """The last steps of a training view, after its colours were jittered."""
    from ..photo.model_input import letterbox

    if rng.random() < 0.1:
        img = ImageOps.grayscale(img).convert("RGB")
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    return letterbox(img, size, fill, scale=rng.uniform(0.75, 1.0))


def augmented_view(img: Image.Image, size: int, rng: random.Random) -> Image.Image:
    """What real photos vary in (see data.photo_features.augmented_view), letterboxed to size × size."""
    img, fill = frame_and_tilt(img, rng)
    return grey_blur_and_letterbox(jitter_colour(img.convert("RGB"), rng), size, fill, rng)
