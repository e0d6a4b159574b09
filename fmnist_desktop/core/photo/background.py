"""The background: the colour clusters that dominate the border band, and every pixel's distance to
them.

Part of `core.photo` (its `__init__` re-exports the public names). No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Background:
    """Colour clusters that dominate the image border, and how far apart pixels may be from them."""

    colours: np.ndarray  # (K, 3) float RGB
    spreads: np.ndarray  # (K,) typical distance of border pixels to their cluster
    luma: float  # luma of the dominant colour
    dominant: tuple[int, int, int] = field(default=(255, 255, 255))


def border_band(rgb: np.ndarray, width: int | None = None) -> np.ndarray:
    """Pixels of the outer band of an (H, W, 3) image as an (N, 3) array (top, bottom, left, right)."""
    return np.concatenate(border_sides(rgb, width))


def border_sides(rgb: np.ndarray, width: int | None = None) -> list[np.ndarray]:
    """The four sides of the outer band (about 4% of the short side wide), each (N_i, 3) float."""
    h, w = rgb.shape[:2]
    b = width or max(1, round(0.04 * min(h, w)))
    b = min(b, max(1, min(h, w) // 4))
    top, bottom = rgb[:b].reshape(-1, 3), rgb[h - b:].reshape(-1, 3)
    left, right = rgb[b:h - b, :b].reshape(-1, 3), rgb[b:h - b, w - b:].reshape(-1, 3)
    return [side.astype(np.float32) for side in (top, bottom, left, right)]


def _sq_dist(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, K) squared distances between (N, D) points and (K, D) centres, by one matrix product
    (|p|^2 - 2 p.c + |c|^2): several times faster than broadcasting an (N, K, D) difference.
    In float64: in float32 the expansion loses ~0.02 of a squared distance to cancellation, which
    is enough to flip near-ties between colour clusters."""
    p = points.astype(np.float64, copy=False)
    c = centres.astype(np.float64, copy=False)
    d = (p * p).sum(1)[:, None] - 2.0 * (p @ c.T) + (c * c).sum(1)[None]
    return np.maximum(d, 0.0)


def _kmeans(points: np.ndarray, k: int, iters: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Plain k-means (k-means++ start); deterministic. Returns (centres, assignment)."""
    rng = np.random.default_rng(seed)
    points = points.astype(np.float32, copy=False)
    n = len(points)
    k = max(1, min(k, n))
    centres = [points[rng.integers(n)]]
    d2 = ((points - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = float(d2.sum(dtype=np.float64))
        if total <= 0:
            break
        centres.append(points[rng.choice(n, p=d2.astype(np.float64) / total)])
        d2 = np.minimum(d2, ((points - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(iters):
        assign = _sq_dist(points, c).argmin(1)
        counts = np.bincount(assign, minlength=len(c))
        sums = np.stack([np.bincount(assign, weights=points[:, d], minlength=len(c))
                         for d in range(points.shape[1])], 1).astype(np.float32)
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled, None]
    assign = _sq_dist(points, c).argmin(1)
    return c, assign


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def estimate_background(rgb: np.ndarray, clusters: int = 4, min_share: float = 0.12) -> Background:
    """The background's colours, from the border band of an (H, W, 3) uint8/float image.

    The border's colours are clustered. A cluster counts as background if it holds at least
    `min_share` of the border and shows on 3 or 4 sides, or half of the border wherever it is.
    An object touching the frame (trouser legs top and bottom, a large garment's sides) shows on
    fewer sides; the most common border colour is always background.
    """
    sides = [side for side in border_sides(rgb) if len(side)]
    band = np.concatenate(sides)
    rng = np.random.default_rng(0)
    sample = band[rng.choice(len(band), 4000, replace=False)] if len(band) > 4000 else band
    centres, _ = _kmeans(sample, clusters)

    def nearest(points: np.ndarray) -> np.ndarray:
        return _sq_dist(points, centres).argmin(1)

    assign = nearest(band)
    shares = np.bincount(assign, minlength=len(centres)) / len(band)
    on_sides = np.zeros(len(centres), int)
    for side in sides:
        side_share = np.bincount(nearest(side), minlength=len(centres)) / len(side)
        on_sides += side_share >= 0.05
    n_sides = len(sides)
    keep = ((shares >= min_share) & (on_sides >= min(3, n_sides))) | (shares >= 0.5)
    keep[shares.argmax()] = True
    spreads = []
    for j in np.flatnonzero(keep):
        dist = np.sqrt(((band[assign == j] - centres[j]) ** 2).sum(1))
        spreads.append(float(np.percentile(dist, 90)) if len(dist) else 0.0)
    dominant = centres[shares.argmax()]
    return Background(colours=centres[keep], spreads=np.maximum(np.array(spreads), 10.0),
                      luma=float(_luma(dominant)),
                      dominant=tuple(int(round(v)) for v in np.clip(dominant, 0, 255)))


def estimate_background_small(rgb: np.ndarray) -> Background:
    """`estimate_background` for a small image (SMALL_SIDE): one colour, the border's median,
    with the border's median distance to it as the spread (at least 10)."""
    band = np.concatenate([side for side in border_sides(rgb) if len(side)]).astype(np.float32)
    dominant = np.median(band, axis=0)
    dist = np.sqrt(((band - dominant) ** 2).sum(1))
    spread = max(10.0, float(np.median(dist)))
    return Background(colours=dominant[None], spreads=np.array([spread]), luma=float(_luma(dominant)),
                      dominant=tuple(int(round(v)) for v in np.clip(dominant, 0, 255)))


def background_distance(rgb: np.ndarray, bg: Background) -> np.ndarray:
    """Per-pixel distance to the nearest background colour, in units of that colour's spread."""
    d = np.sqrt(_sq_dist(rgb.reshape(-1, 3), bg.colours)) / bg.spreads[None].astype(np.float32)
    return d.min(1).reshape(rgb.shape[:2])


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    hist, edges = np.histogram(values, bins=bins)
    hist = hist.astype(np.float64)
    mids = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * mids)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(mids[between.argmax()])


def distance_threshold(dist: np.ndarray) -> float:
    """Background distance above which a pixel is object.

    Otsu splits "like the border" from "unlike it"; clamped so that a pixel 3 spreads away from
    every border colour always counts as object (Otsu alone can split a two-tone garment).
    """
    return float(np.clip(np.expm1(_otsu(np.log1p(dist))), 1.5, 3.0))
