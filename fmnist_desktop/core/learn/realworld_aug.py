"""Photo-style augmentation: make Fashion-MNIST batches look like what `core.photo` produces.

A phone photo run through `prepare_photo` is a Fashion-MNIST-like image with the photo's
leftovers: the object slightly rotated or off-centre, cropped a little loosely or tightly (so its
size and aspect differ), flatter or harsher shading (lighting, gamma, the contrast stretch), soft
edges (JPEG, resampling), sensor noise, and an imperfect mask: an edge eaten away, a rim of
background left around the object, stray specks of background. Training on those gives the model
the invariances the photos need while it still sees mostly clean dataset images.

Domain (agreed with `core.learn.training`): `x` is float (B, 1, S, S) in 0..1, *after* the geometric
uint8 augmentation (flips, shifts) and resizing to the preset's input size, *before*
normalisation. 0 is the background (black). The output has the same shape, dtype, device and
range. All randomness comes from the given `torch.Generator` (on x's device), so a seeded run is
reproducible, and the whole batch is processed at once (no per-sample Python loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class RealWorldAugConfig:
    """How often and how strongly each photo leftover is simulated (per image)."""

    p_any: float = 0.7  # share of images that get any photo treatment; the rest stay clean
    p_affine: float = 0.6
    max_rotate_deg: float = 12.0
    scale_range: tuple[float, float] = (0.85, 1.05)  # < 1: the crop was loose, the object smaller
    max_aspect_log: float = 0.12  # log of width/height stretch
    max_shift: float = 0.06  # fraction of the side
    p_photometric: float = 0.6
    gamma_log_range: float = 0.5  # gamma in [e^-0.5, e^0.5] = [0.61, 1.65]
    gain_range: tuple[float, float] = (0.7, 1.15)
    flatten_range: tuple[float, float] = (0.0, 0.5)  # blend shading toward the object's mean
    p_blur: float = 0.35
    max_blur_sigma: float = 1.0  # in 28-pixel units
    p_noise: float = 0.35
    max_noise_std: float = 0.05
    p_erode: float = 0.15
    p_rim: float = 0.2
    max_rim_level: float = 0.3
    p_speckle: float = 0.15
    speckle_density: float = 0.01
    # Footwear is photographed as a pair, mostly from above (toes pointing up or down the frame);
    # Fashion-MNIST shows one shoe from the side. Share of footwear images shown as a pair, and of
    # those the share seen from above (the shoe turned about 90 degrees) rather than side by side.
    p_pair: float = 0.4
    p_pair_from_above: float = 0.6


DEFAULT_CONFIG = RealWorldAugConfig()


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, device=device, generator=generator) * (hi - lo) + lo


def _coin(n: int, p: float, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, device=device, generator=generator) < p


def random_affine(x: torch.Tensor, generator: torch.Generator, cfg: RealWorldAugConfig = DEFAULT_CONFIG,
                  apply: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate, scale (with a little aspect change) and shift each image; uncovered area is 0."""
    b, device = x.shape[0], x.device
    angle = _uniform(b, -1, 1, generator, device) * math.radians(cfg.max_rotate_deg)
    scale = _uniform(b, *cfg.scale_range, generator, device)
    aspect = torch.exp(_uniform(b, -cfg.max_aspect_log, cfg.max_aspect_log, generator, device))
    sx, sy = scale * aspect.sqrt(), scale / aspect.sqrt()
    tx = _uniform(b, -1, 1, generator, device) * cfg.max_shift * 2
    ty = _uniform(b, -1, 1, generator, device) * cfg.max_shift * 2
    if apply is not None:
        keep = ~apply
        angle = angle.masked_fill(keep, 0.0)
        sx, sy = sx.masked_fill(keep, 1.0), sy.masked_fill(keep, 1.0)
        tx, ty = tx.masked_fill(keep, 0.0), ty.masked_fill(keep, 0.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coords to input coords, so the inverse scale makes the object
    # appear `scale` times its size.
    theta = torch.stack([
        torch.stack([cos / sx, -sin / sx, tx], 1),
        torch.stack([sin / sy, cos / sy, ty], 1),
    ], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if apply is not None:
        out = torch.where(apply[:, None, None, None], out, x)
    return out


def _object_mask(x: torch.Tensor) -> torch.Tensor:
    return (x > 0.02).to(x.dtype)


def random_photometric(x: torch.Tensor, generator: torch.Generator, cfg: RealWorldAugConfig = DEFAULT_CONFIG,
                       apply: torch.Tensor | None = None) -> torch.Tensor:
    """Gamma, gain and flattened shading on the object; the background stays exactly 0."""
    b, device = x.shape[0], x.device
    gamma = torch.exp(_uniform(b, -cfg.gamma_log_range, cfg.gamma_log_range, generator, device))
    gain = _uniform(b, *cfg.gain_range, generator, device)
    flatten = _uniform(b, *cfg.flatten_range, generator, device)
    if apply is not None:
        keep = ~apply
        gamma, gain, flatten = gamma.masked_fill(keep, 1.0), gain.masked_fill(keep, 1.0), flatten.masked_fill(keep, 0.0)
    obj = _object_mask(x)
    mean = (x * obj).sum((1, 2, 3), keepdim=True) / obj.sum((1, 2, 3), keepdim=True).clamp_min(1.0)
    f = flatten.view(b, 1, 1, 1)
    y = (x * (1 - f) + mean * f) * obj + x * (1 - obj)
    y = y.clamp(0, 1).pow(gamma.view(b, 1, 1, 1)) * gain.view(b, 1, 1, 1)
    return y.clamp(0, 1)


def random_blur(x: torch.Tensor, generator: torch.Generator, cfg: RealWorldAugConfig = DEFAULT_CONFIG,
                apply: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian blur with a per-image sigma (one grouped convolution for the whole batch)."""
    b, _, h, w = x.shape
    device = x.device
    scale = h / 28.0
    sigma = _uniform(b, 0.3, cfg.max_blur_sigma, generator, device) * scale
    if apply is not None:
        sigma = sigma.masked_fill(~apply, 1e-3)
    radius = max(1, math.ceil(2 * cfg.max_blur_sigma * scale))
    t = torch.arange(-radius, radius + 1, device=device, dtype=x.dtype)
    k1 = torch.exp(-(t[None] ** 2) / (2 * sigma[:, None].to(x.dtype) ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)  # (B, K)
    xr = x.reshape(1, b, h, w)
    xr = F.conv2d(F.pad(xr, (radius, radius, 0, 0), mode="replicate"), k1.view(b, 1, 1, -1), groups=b)
    xr = F.conv2d(F.pad(xr, (0, 0, radius, radius), mode="replicate"), k1.view(b, 1, -1, 1), groups=b)
    return xr.reshape(b, 1, h, w)


def random_noise(x: torch.Tensor, generator: torch.Generator, cfg: RealWorldAugConfig = DEFAULT_CONFIG,
                 apply: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian noise on the object only (the pipeline sets the background to exact 0)."""
    b, device = x.shape[0], x.device
    std = _uniform(b, 0.0, cfg.max_noise_std, generator, device)
    if apply is not None:
        std = std.masked_fill(~apply, 0.0)
    noise = torch.randn(x.shape, device=device, generator=generator, dtype=x.dtype) * std.view(b, 1, 1, 1)
    return (x + noise * _object_mask(x)).clamp(0, 1)


def _dilate(m: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(m, 3, stride=1, padding=1)


def _erode(m: torch.Tensor) -> torch.Tensor:
    return -F.max_pool2d(-m, 3, stride=1, padding=1)


def random_mask_damage(x: torch.Tensor, generator: torch.Generator, cfg: RealWorldAugConfig = DEFAULT_CONFIG,
                       apply: torch.Tensor | None = None) -> torch.Tensor:
    """Imperfect segmentation: eroded edges, a rim of background kept, specks of background."""
    b, _, h, w = x.shape
    device = x.device
    allowed = torch.ones(b, dtype=torch.bool, device=device) if apply is None else apply
    obj = _object_mask(x)
    grown = _dilate(obj)

    erode = _coin(b, cfg.p_erode, generator, device) & allowed
    eroded = x * _erode(obj)
    x = torch.where(erode[:, None, None, None], eroded, x)

    rim_on = _coin(b, cfg.p_rim, generator, device) & allowed
    level = _uniform(b, 0.05, cfg.max_rim_level, generator, device)
    rim = (grown - obj).clamp(0, 1)
    with_rim = x + rim * level.view(b, 1, 1, 1)
    x = torch.where(rim_on[:, None, None, None], with_rim, x)

    speck_on = _coin(b, cfg.p_speckle, generator, device) & allowed
    seeds = (torch.rand(x.shape, device=device, generator=generator) < cfg.speckle_density).to(x.dtype)
    specks = F.max_pool2d(seeds, 2, stride=1, padding=1)[..., :h, :w]
    speck_level = _uniform(b, 0.1, 0.5, generator, device).view(b, 1, 1, 1)
    with_specks = torch.maximum(x, specks * speck_level * (1 - grown))
    x = torch.where(speck_on[:, None, None, None], with_specks, x)
    return x.clamp(0, 1)


# Dataset order: 5 Sandal, 7 Sneaker, 9 Ankle boot.
FOOTWEAR_CLASSES = (5, 7, 9)


def _rotation(angle: torch.Tensor) -> torch.Tensor:
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def _fit_objects_to_frame(canvas: torch.Tensor, size: int) -> torch.Tensor:
    """Crop each canvas image to its object's bounding box and resize the long edge to `size`,
    centred — what `core.photo` does to a photo (and the dataset's recipe did to a packshot)."""
    b, _, h, w = canvas.shape
    on = canvas[:, 0] > 0.02
    rows, cols = on.any(2), on.any(1)
    has = rows.any(1)
    ar_h = torch.arange(h, device=canvas.device)
    ar_w = torch.arange(w, device=canvas.device)
    top = torch.where(rows, ar_h, h).amin(1)
    bottom = torch.where(rows, ar_h, -1).amax(1) + 1
    left = torch.where(cols, ar_w, w).amin(1)
    right = torch.where(cols, ar_w, -1).amax(1) + 1
    # In normalised canvas coordinates (-1..1 over the full side, align_corners=False).
    cy = ((top + bottom).to(canvas.dtype) / h) - 1
    cx = ((left + right).to(canvas.dtype) / w) - 1
    half = torch.maximum((bottom - top).to(canvas.dtype) / h, (right - left).to(canvas.dtype) / w)
    half = torch.where(has, half, torch.ones_like(half))
    cx, cy = torch.where(has, cx, torch.zeros_like(cx)), torch.where(has, cy, torch.zeros_like(cy))
    zero = torch.zeros_like(half)
    theta = torch.stack([torch.stack([half, zero, cx], 1), torch.stack([zero, half, cy], 1)], 1)
    grid = F.affine_grid(theta, [b, 1, size, size], align_corners=False)
    return F.grid_sample(canvas, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_pairs(x: torch.Tensor, generator: torch.Generator, cfg: RealWorldAugConfig = DEFAULT_CONFIG,
                 apply: torch.Tensor | None = None) -> torch.Tensor:
    """Show each chosen image as a pair of itself: the second copy mirrored (a left and a right
    shoe), beside the first across its long axis, both turned about 90 degrees when the pair is
    seen from above; then cropped and refitted to the frame like a photo.

    Meant for footwear only (`realworld_augment` picks those by label)."""
    b, _, s, _ = x.shape
    device = x.device
    if apply is None:
        apply = torch.ones(b, dtype=torch.bool, device=device)
    idx = apply.nonzero().flatten()
    if idx.numel() == 0:
        return x.clone()
    n, src = idx.numel(), x[idx]
    from_above = _coin(n, cfg.p_pair_from_above, generator, device)
    up_or_down = torch.where(_coin(n, 0.5, generator, device), 1.0, -1.0)
    base = torch.where(from_above, up_or_down * (math.pi / 2), torch.zeros(n, device=device))
    angle_a = base + _uniform(n, -1, 1, generator, device) * math.radians(15)
    angle_b = angle_a + _uniform(n, -1, 1, generator, device) * math.radians(12)
    # Second shoe beside the first, across the long axis: 0.3–0.5 of the frame apart (about the
    # width of a Fashion-MNIST shoe), a little staggered along the axis. Offsets are in units of
    # the frame side (affine_grid units on the canvas, which is twice the frame).
    apart = _uniform(n, 0.3, 0.5, generator, device)
    stagger = _uniform(n, -0.08, 0.08, generator, device)
    across = torch.stack([-torch.sin(angle_a), torch.cos(angle_a)], 1)
    along = torch.stack([torch.cos(angle_a), torch.sin(angle_a)], 1)
    offset = across * apart[:, None] + along * stagger[:, None]
    canvas_shape = [n, 1, 2 * s, 2 * s]

    def place(angle: torch.Tensor, centre: torch.Tensor, mirror: bool) -> torch.Tensor:
        # affine_grid maps canvas coordinates to source ones: v = 2 R(-angle) (u - centre); the
        # factor 2 because the canvas is twice the source's side.
        inv = _rotation(-angle) * 2
        if mirror:
            inv = inv * torch.tensor([-1.0, 1.0], device=device, dtype=inv.dtype)[:, None]
        shift = -(inv @ centre[:, :, None])
        theta = torch.cat([inv, shift], 2).to(x.dtype)
        grid = F.affine_grid(theta, canvas_shape, align_corners=False)
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    canvas = torch.maximum(place(angle_a, -offset / 2, False), place(angle_b, offset / 2, True))
    out = x.clone()
    out[idx] = _fit_objects_to_frame(canvas, s).clamp(0, 1)
    return out


def realworld_augment(x: torch.Tensor, generator: torch.Generator,
                      config: RealWorldAugConfig = DEFAULT_CONFIG,
                      labels: torch.Tensor | None = None) -> torch.Tensor:
    """Photo-style augmentation of a float batch (B, 1, S, S) in 0..1; returns a new tensor.

    With `labels`, about `p_pair` of the footwear images are first shown as a pair (see
    `random_pairs`). Then about `p_any` of the images get a random subset of: affine jitter,
    photometric change, blur, noise and mask damage; the rest pass through unchanged.
    """
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected a float batch of shape (B,1,S,S), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        return x.clone()
    b, device = x.shape[0], x.device
    if labels is not None and config.p_pair > 0:
        footwear = torch.isin(labels.to(device), torch.tensor(FOOTWEAR_CLASSES, device=device))
        x = random_pairs(x, generator, config, footwear & _coin(b, config.p_pair, generator, device))
    chosen = _coin(b, config.p_any, generator, device)
    out = random_affine(x, generator, config, chosen & _coin(b, config.p_affine, generator, device))
    out = random_mask_damage(out, generator, config, chosen)
    out = random_photometric(out, generator, config, chosen & _coin(b, config.p_photometric, generator, device))
    out = random_blur(out, generator, config, chosen & _coin(b, config.p_blur, generator, device))
    out = random_noise(out, generator, config, chosen & _coin(b, config.p_noise, generator, device))
    return out.clamp(0, 1)
