"""A photo as the photo model sees it: decoded safely, oriented, letterboxed to the model's input
size on a neutral background. No GrabCut, no segmentation: the ImageNet backbone finds the
garment itself, so this step costs a decode and one resize (a few milliseconds).

Also the routing rule (`is_fashion_mnist_style`): a small grey image whose border is dark and
whose middle is lighter is a Fashion-MNIST image and goes to the 28×28 network; anything else is
a photo. No Qt here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .loading import load_image

# The letterbox's bars: ImageNet's mean colour, which the model's normalisation maps to zero,
# so the bars carry no signal of their own.
PAD_RGB = (124, 116, 104)
# Decoding at twice the input size keeps the downscale sharp while a 12-megapixel JPEG is
# decoded at 1/8 scale by libjpeg (draft mode), which is most of the speed of this path.
DECODE_MAX_SIDE_FACTOR = 2
FASHION_MNIST_MAX_SIDE = 128  # larger images are photos (the bundled samples are 28×28 shown at 112)
GREY_TOLERANCE = 8  # max |R-G|, |G-B| (0..255) for an image to count as grey
# A Fashion-MNIST image's border is dark and its brightest tenth lighter than the border. Measured
# on the 10,000 test images: 99.92 % pass (6 sparse sandals and 2 T-shirts do not), and none of
# them inverted (dark on light, a catalogue shot) does. The earlier "lighter middle" rule missed
# 126, mostly sandals, whose middle is empty.
DARK_BORDER = 100
LIGHTER_OBJECT = 20


def flatten_alpha(img: Image.Image) -> Image.Image:
    """RGBA on white (a cut-out catalogue image is shown on white), anything else as RGB."""
    if img.mode == "RGBA":
        canvas = Image.new("RGB", img.size, (255, 255, 255))
        canvas.paste(img, mask=img.getchannel("A"))
        return canvas
    return img.convert("RGB")


def letterbox(img: Image.Image, size: int, fill=PAD_RGB, scale: float = 1.0) -> Image.Image:
    """The whole image, longest side scaled to `size` (× `scale`, for training views that frame
    the object smaller), centred on a `size`×`size` canvas of `fill`."""
    img = flatten_alpha(img)
    w, h = img.size
    scale = size * scale / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=2.0)
    if (nw, nh) == (size, size):
        return img
    canvas = Image.new("RGB", (size, size), fill)
    canvas.paste(img, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def load_photo_input(source, size: int) -> Image.Image:
    """A file, bytes or PIL image → the `size`×`size` RGB image the photo model sees.
    Raises ImageLoadError (one readable sentence) for anything unusable."""
    return letterbox(load_image(source, max_side=size * DECODE_MAX_SIDE_FACTOR), size)


def to_unit_tensor(images: list[Image.Image]) -> "torch.Tensor":  # noqa: F821
    """RGB PIL images (all the same size) → float (N, 3, H, W) in 0..1, channels-last (the
    depthwise convolutions of the backbone run ~1.5× faster that way on CPU). torch is imported
    here, not above: the answer path uses this module without it (predict.engines)."""
    import torch

    batch = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last)


def is_fashion_mnist_style(img: Image.Image) -> bool:
    """Small, grey, light object on a dark border: what Fashion-MNIST images look like."""
    if max(img.size) > FASHION_MNIST_MAX_SIDE:
        return False
    a = np.asarray(flatten_alpha(img), dtype=np.int16)
    if np.abs(a[..., 0] - a[..., 1]).max() > GREY_TOLERANCE or np.abs(a[..., 1] - a[..., 2]).max() > GREY_TOLERANCE:
        return False
    grey = a.mean(axis=2)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]]).mean()
    return border <= DARK_BORDER and np.percentile(grey, 90) >= border + LIGHTER_OBJECT
