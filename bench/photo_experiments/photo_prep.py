"""Photo → backbone input: decode, orient, letterbox (no GrabCut). Training augmentation."""
from __future__ import annotations
import random
import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps

INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAD_RGB = tuple(int(round(m * 255)) for m in IMAGENET_MEAN)  # zero after normalisation


def decode(path, size=INPUT_SIZE):
    img = Image.open(path)
    if img.format == "JPEG":
        img.draft("RGB", (size, size))  # DCT scaling: decodes at >= size, much faster for big JPEGs
    img = ImageOps.exif_transpose(img)
    return img.convert("RGB")


def letterbox(img: Image.Image, size=INPUT_SIZE, fill=PAD_RGB, scale=1.0) -> Image.Image:
    w, h = img.size
    s = size * scale / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=2.0)
    canvas = Image.new("RGB", (size, size), fill)
    canvas.paste(img, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def to_tensor(img: Image.Image) -> torch.Tensor:
    a = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (a - mean) / std


def fmnist_to_rgb(img28: np.ndarray, invert: bool) -> Image.Image:
    a = 255 - img28 if invert else img28
    return Image.fromarray(a.astype(np.uint8), "L").resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR).convert("RGB")


def augment(img: Image.Image, rng: random.Random) -> Image.Image:
    from torchvision.transforms import v2
    w, h = img.size
    # crop: 55-100 % of the area, aspect jitter
    area = w * h * rng.uniform(0.55, 1.0)
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw = int(min(w, round(np.sqrt(area * ratio))))
    ch = int(min(h, round(np.sqrt(area / ratio))))
    x0 = rng.randint(0, w - cw)
    y0 = rng.randint(0, h - ch)
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    fill = tuple(rng.randint(0, 255) for _ in range(3)) if rng.random() < 0.6 else PAD_RGB
    if rng.random() < 0.4:
        img = img.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR, expand=False, fillcolor=fill)
    jitter = v2.ColorJitter(0.35, 0.35, 0.35, 0.04)
    img = jitter(img)
    if rng.random() < 0.1:
        img = ImageOps.grayscale(img).convert("RGB")
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    return letterbox(img, fill=fill, scale=rng.uniform(0.75, 1.0))
