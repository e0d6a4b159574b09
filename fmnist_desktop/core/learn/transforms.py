"""Batched, tensor-side image transforms: model input and training augmentation.

Everything works on a whole batch at once on the batch's own device — no PIL, no per-sample
Python loop — which is what makes training fast compared with a DataLoader of PIL transforms.
Random ops take an explicit `torch.Generator` (on the batch's device) so runs are reproducible.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def to_model_input(images: torch.Tensor, input_size: int, mean: float, std: float) -> torch.Tensor:
    """uint8 images (B,28,28) or (B,1,28,28) → normalised float (B,1,S,S) on the same device.

    For a size other than 28 the batch is resized bilinearly with antialiasing and rounded back
    to whole grey levels, which is what the notebook's `transforms.Resize(16)` does with PIL
    before `ToTensor()` (the results agree to within one grey level).
    """
    x = images_to_unit(images, input_size)
    return normalize(x, mean, std)


def images_to_unit(images: torch.Tensor, input_size: int) -> torch.Tensor:
    """uint8 images (B,28,28) or (B,1,28,28) → float (B,1,S,S) in 0..1, resized if S != 28."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"expected images of shape (B,28,28) or (B,1,28,28), got {tuple(images.shape)}")
    x = images.float()
    if images.shape[-1] != input_size or images.shape[-2] != input_size:
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", antialias=True, align_corners=False)
        if images.dtype == torch.uint8:
            x = x.round_().clamp_(0, 255)
    return x.mul_(1.0 / 255.0)


def normalize(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """(x - mean) / std, in place on a float tensor (returns it)."""
    return x.sub_(mean).div_(std)


def random_hflip(images: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Mirror each image left-right with probability p. Works on (B,H,W) or (B,C,H,W)."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < p
    out = images.clone()
    out[flip] = images[flip].flip(-1)
    return out


def random_translate(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by an independent random (dy, dx) in [-max_shift, max_shift], filling
    the uncovered border with 0 (black, the Fashion-MNIST background).

    This is "pad by max_shift, then random crop" done for the whole batch with one gather.
    Works on (B,H,W) or (B,1,H,W) of any dtype.
    """
    if max_shift <= 0:
        return images
    squeeze = images.dim() == 4
    x = images[:, 0] if squeeze else images
    b, h, w = x.shape
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift))
    shifts = torch.randint(0, 2 * max_shift + 1, (2, b), device=x.device, generator=generator)
    rows = torch.arange(h, device=x.device).unsqueeze(0) + shifts[0].unsqueeze(1)  # (B,H)
    cols = torch.arange(w, device=x.device).unsqueeze(0) + shifts[1].unsqueeze(1)  # (B,W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded[batch, rows[:, :, None], cols[:, None, :]]
    return out.unsqueeze(1) if squeeze else out


def augment_uint8(images: torch.Tensor, augment: str, generator: torch.Generator) -> torch.Tensor:
    """The geometric part of a preset's augmentation, on uint8 images (B,28,28).

    "none": unchanged; "flip": random horizontal flips; "standard" and "realworld": flips plus
    shifts of up to 2 pixels. (The photometric part of "realworld" runs later, on float input —
    see `core.learn.realworld_aug`.)
    """
    if augment == "none":
        return images
    if augment not in ("flip", "standard", "realworld"):
        raise ValueError(f"unknown augmentation {augment!r}")
    images = random_hflip(images, generator)
    if augment in ("standard", "realworld"):
        images = random_translate(images, 2, generator)
    return images
