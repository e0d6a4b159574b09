"""Real-world photo -> 28x28 grey image drawn the way Fashion-MNIST draws its items.

Fashion-MNIST was made from shop packshots on a near-white background (Xiao et al. 2017, §2):
trim the border colour, resize the long edge to 28, sharpen, pad the short edge to 28 centred,
invert, 8-bit grey. The model therefore only knows *light objects on exact black, filling the
frame on their long side*. A phone photo (a dark jumper on a red bedspread) is the opposite, so
each step below re-creates the dataset's recipe for an arbitrary photo:

1. `load_image`: decode safely (EXIF orientation, first frame, bomb limit, odd modes).
2. `estimate_background` / `foreground_mask`: the background is whatever dominates the border
   band (a few colour clusters, so patterned bedspreads work); pixels far from every background
   colour are the object. Transparent images give the mask directly.
3. `clean_mask`: morphology, the largest component, holes filled. `segment_object` ties 2-3
   together and, on busy backgrounds, checks the mask with OpenCV's GrabCut (`grabcut`, seeded
   from `grabcut_trimap` or a centred rectangle); OpenCV is imported only when that runs.
4. `crop_to_mask`: the object's bounding box (the dataset's "trim the border").
5. `to_garment_intensity`: grey, inverted as the dataset's recipe inverts a garment on white
   (dark garment -> bright), background exactly 0.
6. `fit_to_frame`: long edge to 28, aspect kept, short edge padded centred (98% of
   Fashion-MNIST test images touch the frame on their long side: measured, see BENCHMARKS.md).
7. `match_contrast` (optional, off by default: it measured worse): stretch faint objects toward
   Fashion-MNIST's foreground brightness.

Every step is a pure function on PIL images / numpy arrays so the Predict page can show it and
tests can check it. No Qt here.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError

FRAME = 28  # Fashion-MNIST's side
LOAD_MAX_SIDE = 2048  # load_image downscales larger photos (display and processing never need more)
WORK_SIDE = 160  # long edge the background/mask analysis runs at (fast, and enough for a 28px result)
CROP_SIDE = 448  # long edge of the crop the 28x28 image is resampled from
# Fashion-MNIST's median per-image 95th percentile of object pixels (t10k: 227): the brightness a
# typical item reaches. Faint photos are stretched toward it (never beyond 4x).
TARGET_FOREGROUND_P95 = 227.0
MAX_CONTRAST_GAIN = 4.0

# Segmentation on busy backgrounds (`segment_object`); measured on realworld-dev and generated scenes.
PLAIN_BACKGROUND_SPREAD = 10.5  # border spread (floor 10) up to which one colour is a plain backdrop
GRABCUT_ITERS = 3  # 5 -> 3: same realworld-dev accuracy, a third less GrabCut time
GRABCUT_SIDE = 160  # long edge GrabCut runs at (a smaller size halves its time but loses thin outlines)
GRABCUT_BAND = 0.03  # outer band (share of the short side) that is background for GrabCut
MASK_AGREEMENT_IOU = 0.9  # GrabCut replaces the colour mask only below this overlap
FRAGMENT_SHARE = 0.5  # a mask under half the rectangle-seeded GrabCut's area is a fragment
GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD = 0, 1, 2, 3  # OpenCV's GrabCut labels (cv2.GC_*)

_HIGH_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


@dataclass(frozen=True)
class PhotoSteps:
    """What happened to one photo, step by step (the Predict page shows all four images).

    original: the loaded photo (RGB, at most LOAD_MAX_SIDE on the long edge).
    mask: "L" image, 255 = object, at the analysis size (WORK_SIDE long edge).
    crop: the object's bounding box cut from the photo (RGB, background shown as it was).
    final: 28x28 "L", light object on exact black: what the model sees.
    notes: short human-readable remarks ("background: light grey, inverted", ...).
    """

    original: Image.Image
    mask: Image.Image
    crop: Image.Image
    final: Image.Image
    notes: tuple[str, ...] = ()
    background_rgb: tuple[int, int, int] = (255, 255, 255)
    inverted: bool = True
    passthrough: bool = False


# --------------------------------------------------------------------------------------------
# 1. Loading


def load_image(source, max_side: int | None = LOAD_MAX_SIDE) -> Image.Image:
    """Open a photo from a path, bytes or a PIL image; return an "RGB" or "RGBA" PIL image.

    Applies the EXIF orientation, keeps the first frame of animations, converts 16-bit, CMYK,
    palette and grey+alpha modes, and downscales to `max_side` (JPEG decodes at reduced size
    directly, so a 10000x10000 photo is cheap). Pillow's decompression-bomb limit stays on.
    Raises `ImageLoadError` with one readable sentence for anything that is not a usable image.
    """
    name = "The image"
    if isinstance(source, Image.Image):
        img = source
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if not data:
                raise ImageLoadError("The image is empty (0 bytes).")
            name = "The data"
            fp = io.BytesIO(data)
        else:
            path = Path(os.fspath(source))
            name = path.name
            try:
                if path.is_dir():
                    raise ImageLoadError(f"{name} is a folder, not an image.")
                if path.stat().st_size == 0:
                    raise ImageLoadError(f"{name} is empty (0 bytes).")
                fp = io.BytesIO(path.read_bytes())
            except FileNotFoundError:
                raise ImageLoadError(f"{name} does not exist.") from None
            except PermissionError:
                raise ImageLoadError(f"{name} cannot be read (permission denied).") from None
            except OSError as exc:
                raise ImageLoadError(f"{name} cannot be read ({exc.strerror or exc}).") from None
        img = _open(fp, name)
    return _normalise_loaded(img, name, max_side)


def _open(fp: io.BytesIO, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Between 1x and 2x Pillow's limit Pillow only warns; we downscale those anyway. Its
            # other warnings note damage it worked around (corrupt EXIF, skipped TIFF tags): the
            # user gets the image or one ImageLoadError, not stray warning lines on stderr.
            warnings.simplefilter("ignore")
            img = Image.open(fp)
            img.seek(0)  # first frame of animated GIF/PNG/WebP
            return img
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(name, int(found.group(1)) if found else None) from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name} is not an image this app can read (unknown or damaged format).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if "truncated" in str(exc).lower():  # cut inside the header ("Truncated File Read")
            raise ImageLoadError(f"{name} is truncated (the file ends before the image does).") from None
        raise ImageLoadError(f"{name} is a damaged image ({_short(exc)}).") from None


def _too_large(name: str, pixels: int | None) -> ImageLoadError:
    limit = Image.MAX_IMAGE_PIXELS
    size = f"{pixels:,} pixels; " if pixels else ""
    lim = f"limit {2 * limit:,}" if limit else "limit reached"
    return ImageLoadError(f"Cannot open {name}: image too large ({size}{lim}).",
                          hint="Resize it below that size and try again.")


def _normalise_loaded(img: Image.Image, name: str, max_side: int | None) -> Image.Image:
    limit = Image.MAX_IMAGE_PIXELS
    pixels = img.width * img.height
    if limit and pixels > 2 * limit:
        raise _too_large(name, pixels)
    if img.width < 1 or img.height < 1:
        raise ImageLoadError(f"{name} has no pixels.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as in _open: bomb-range and damage warnings
            if max_side and img.format == "JPEG" and max(img.size) > 2 * max_side:
                img.draft(img.mode, (max_side, max_side))  # DCT-domain downscale: fast, low memory
            img.load()
            img = ImageOps.exif_transpose(img) or img
    except Image.DecompressionBombError:
        raise _too_large(name, pixels) from None
    except MemoryError:
        raise ImageLoadError(f"{name}: image too large to decode in memory ({pixels:,} pixels).") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        if "truncated" in str(exc).lower():
            raise ImageLoadError(f"{name} is truncated (the file ends before the image does).") from None
        raise ImageLoadError(f"{name} is a damaged image ({_short(exc)}).") from None
    if max_side and img.mode in _HIGH_BIT_MODES and max(img.size) > max_side:
        # These become float64 arrays in _to_rgb_or_rgba (8 bytes a pixel): shrink them first.
        # BOX is the one filter Pillow offers for every high-bit mode (I;16 has no thumbnail).
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BOX)
    img = _to_rgb_or_rgba(img)
    if max_side and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return img


def _to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("RGB", "RGBA"):
        return img
    if mode in _HIGH_BIT_MODES:
        # NaN/inf pixels (damaged float TIFFs) count as black/white, not as undefined bytes.
        with np.errstate(invalid="ignore"):
            arr = np.asarray(img).astype(np.float64)
        arr = np.nan_to_num(arr, nan=0.0, posinf=65535.0, neginf=0.0)
        top = arr.max() if arr.size else 0.0
        # 16-bit files (Pillow opens them as I;16 or I) use 0..65535; floats usually 0..1.
        scale = 255.0 / 65535.0 if top > 255 else (255.0 if mode == "F" and top <= 1.0 else 1.0)
        grey = np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P":
        has_alpha = "transparency" in img.info or img.palette.mode == "RGBA" if img.palette else False
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode in ("LA", "La", "PA", "RGBa"):
        return img.convert("RGBA")
    if mode == "L" and "transparency" in img.info:
        return img.convert("RGBA")
    return img.convert("RGB")  # 1, L, CMYK, YCbCr, LAB, HSV


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


# --------------------------------------------------------------------------------------------
# 2.-3. Background and mask


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


def foreground_mask(rgb: np.ndarray, bg: Background, refine_iters: int = 2) -> np.ndarray:
    """Boolean object mask of an (H, W, 3) image given its background.

    Start: pixels clearly farther from every background colour than the border itself is
    (Otsu on the distance, between 1.5 and 3 spreads). Then a few GrabCut-like rounds: colour
    clusters of the current object and background each claim the pixels nearest to them,
    with the score smoothed spatially so the mask follows regions, not single pixels; pixels
    very far from the background stay object and pixels as close as the border stay background.
    """
    dist = background_distance(rgb, bg)
    if dist.max() < 1.5:
        return np.zeros(dist.shape, bool)
    thr = distance_threshold(dist)
    mask = dist > thr
    certain_fg, certain_bg = dist > 2 * thr, dist < 1.0
    return _refine_with_colour_models(rgb, mask, certain_fg, certain_bg, bg.colours, refine_iters)


def _refine_with_colour_models(rgb: np.ndarray, mask: np.ndarray, certain_fg: np.ndarray,
                               certain_bg: np.ndarray, bg_colours: np.ndarray, iters: int) -> np.ndarray:
    """GrabCut-like rounds: object and background colour clusters each claim their nearest pixels
    (score smoothed spatially); `certain_fg` / `certain_bg` pixels never change side."""
    pix = rgb.reshape(-1, 3).astype(np.float32)
    for it in range(iters):
        fg_pix, bg_pix = pix[mask.ravel()], pix[~mask.ravel()]
        if len(fg_pix) < 20 or len(bg_pix) < 20:
            break
        sub = np.random.default_rng(it)
        fg_s = fg_pix[sub.choice(len(fg_pix), min(3000, len(fg_pix)), replace=False)]
        bg_s = bg_pix[sub.choice(len(bg_pix), min(3000, len(bg_pix)), replace=False)]
        fg_c, _ = _kmeans(fg_s, 5, iters=5, seed=it)
        bg_c, _ = _kmeans(np.concatenate([bg_s, bg_colours.astype(np.float32)]), 5, iters=5, seed=it)
        d_fg = np.sqrt(_sq_dist(pix, fg_c).min(1))
        d_bg = np.sqrt(_sq_dist(pix, bg_c).min(1))
        score = _box_blur((d_bg - d_fg).reshape(mask.shape), 2)
        # GrabCut-style trimap: only the uncertain band is decided by the colour models.
        mask = ((score > 0) | certain_fg) & ~certain_bg
    return mask


def rectangle_mask(rgb: np.ndarray, bg: Background, inset: float = 0.12, iters: int = 4) -> np.ndarray:
    """Object mask for a busy background, GrabCut's way: start from a centred rectangle as the
    object and the outer band as certain background, then let the colour models decide."""
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[int(h * inset):h - int(h * inset), int(w * inset):w - int(w * inset)] = True
    band = max(1, round(0.03 * min(h, w)))
    certain_bg = np.ones((h, w), bool)
    certain_bg[band:h - band, band:w - band] = False
    return _refine_with_colour_models(rgb, mask, np.zeros((h, w), bool), certain_bg, bg.colours, iters)


def mask_is_plausible(mask: np.ndarray) -> bool:
    """A photographed object covers a reasonable share of the frame and does not run along most
    of its edge; masks that fail this usually mean the background was mistaken for the object."""
    area = float(mask.mean())
    edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    return 0.03 <= area <= 0.85 and float(edge.mean()) <= 0.35


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, edges replicated (integral image; no scipy needed)."""
    p = np.pad(a, r + 1, mode="edge").astype(np.float64)
    c = p.cumsum(0).cumsum(1)
    k = 2 * r + 1
    s = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    return (s / (k * k))[: a.shape[0], : a.shape[1]]


def _opencv():
    """OpenCV, imported on first use (~0.1 s, so never at start-up), or None when it is missing or
    broken: every step that uses it has a numpy/Pillow fallback giving the same result."""
    try:
        import cv2
    except Exception:  # noqa: BLE001 — a missing or broken build: the fallbacks still work
        return None
    return cv2


def _morph(mask: np.ndarray, size: int, grow: bool) -> np.ndarray:
    """Dilation (`grow`) or erosion with a size x size square; pixels outside the image count as
    the nearest edge pixel (Pillow's rank filter and OpenCV's BORDER_REPLICATE agree)."""
    cv2 = _opencv()
    if cv2 is not None:
        kernel = np.ones((size, size), np.uint8)
        op = cv2.dilate if grow else cv2.erode
        return op(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE) > 0
    img = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    img = img.filter(ImageFilter.MaxFilter(size) if grow else ImageFilter.MinFilter(size))
    return np.asarray(img) > 127


def _max3x3(a: np.ndarray) -> np.ndarray:
    """Maximum over each pixel's 3x3 neighbourhood (separable: rows, then columns)."""
    rows = a.copy()
    np.maximum(rows[1:], a[:-1], out=rows[1:])
    np.maximum(rows[:-1], a[1:], out=rows[:-1])
    out = rows.copy()
    np.maximum(out[:, 1:], rows[:, :-1], out=out[:, 1:])
    np.maximum(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    return out


def label_components(mask: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """8-connected components: (labels 1..n, sizes[0..n-1]).

    Each object pixel starts with its own number and repeatedly takes the largest number in its
    3x3 neighbourhood, so every component ends with one label. Vectorised (a Python flood fill
    is far slower); iterations = the longest path inside a component.
    """
    h, w = mask.shape
    if not mask.any():
        return np.zeros((h, w), np.int32), []
    cv2 = _opencv()
    if cv2 is not None:  # same components, numbered in scan order (labels are arbitrary either way)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        return labels.astype(np.int32), stats[1:, cv2.CC_STAT_AREA].tolist()
    labels = np.where(mask, np.arange(1, h * w + 1, dtype=np.int32).reshape(h, w), 0)
    for _ in range(h * w):
        grown = np.where(mask, _max3x3(labels), 0)
        if np.array_equal(grown, labels):
            break
        labels = grown
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(h, w).astype(np.int32)
    if values[0] == 0:  # background present: it is index 0, components are 1..n already
        return inverse, counts[1:].tolist()
    return inverse + 1, counts.tolist()


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask."""
    labels, sizes = label_components(mask)
    if not sizes:
        return np.zeros_like(mask)
    return labels == (int(np.argmax(sizes)) + 1)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill regions of background fully enclosed by the object (background not reachable,
    4-connected, from outside the image)."""
    free = ~mask
    cv2 = _opencv()
    if cv2 is not None:
        # Background components (4-connected) that touch the border are "outside"; the rest are holes.
        n, labels = cv2.connectedComponents(free.astype(np.uint8), connectivity=4)
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        outside = np.isin(labels, edge[edge > 0])
        return ~outside
    outside = np.zeros_like(mask)
    outside[0], outside[-1], outside[:, 0], outside[:, -1] = free[0], free[-1], free[:, 0], free[:, -1]
    for _ in range(mask.size):
        grown = outside.copy()
        grown[1:] |= outside[:-1]
        grown[:-1] |= outside[1:]
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown &= free
        if np.array_equal(grown, outside):
            break
        outside = grown
    return ~outside


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Close small gaps, drop specks, keep the largest object, fill its holes."""
    if not mask.any():
        return mask
    side = max(mask.shape)
    k = 3 if side < 64 else 5
    m = _morph(_morph(mask, k, True), k, False)  # closing: bridge thin gaps
    if side >= 64:
        opened = _morph(_morph(m, 3, False), 3, True)  # opening: remove speckle
        if opened.any():
            m = opened
    m = largest_component(m)
    return fill_holes(m)



def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = int((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


def is_plain_background(bg: Background) -> bool:
    """One border colour, as tight as the spread floor: a studio backdrop or a flat fill.

    On such a background the colour distance separates the object exactly, thin parts (straps,
    laces) included; GrabCut's smoothness term can only round those off, so it is not run.
    """
    return len(bg.colours) == 1 and float(bg.spreads.max()) <= PLAIN_BACKGROUND_SPREAD


def grabcut_trimap(rgb: np.ndarray, bg: Background, mask: np.ndarray) -> np.ndarray:
    """OpenCV GrabCut's seed labels (uint8, GC_* values) for an image and its colour mask.

    Probably object: the mask; certain object: its core (eroded) where the colour is far (twice
    the object threshold) from every border colour. Certain background, outside the mask: the
    outer band (an object touching the frame keeps its edge) and every pixel as close to a border
    colour as the border itself is. Without the latter, GrabCut's smoothness term lets a garment
    swallow the stripes of a high-contrast bedspread around it (measured on generated stripes).
    Probably background: the rest.
    """
    dist = background_distance(rgb, bg)
    trimap = np.full(mask.shape, GC_PR_BGD, np.uint8)
    trimap[mask] = GC_PR_FGD
    trimap[_morph(mask, 7, False) & (dist > 2 * distance_threshold(dist))] = GC_FGD
    h, w = mask.shape
    b = max(1, round(GRABCUT_BAND * min(h, w)))
    band = np.ones((h, w), bool)
    band[b:h - b, b:w - b] = False
    trimap[(band | (dist < 1.0)) & ~mask] = GC_BGD
    return trimap


def _inset_rect(h: int, w: int, inset: float) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the centred rectangle `inset` (share of each side, ≥ 1 px) from
    each edge: GrabCut's seed rectangle."""
    x, y = max(1, round(inset * w)), max(1, round(inset * h))
    return x, y, w - 2 * x, h - 2 * y


def grabcut(rgb: np.ndarray, trimap: np.ndarray | None = None, inset: float = GRABCUT_BAND,
            iters: int = GRABCUT_ITERS) -> np.ndarray | None:
    """Object mask from OpenCV's GrabCut (Gaussian-mixture colour models + graph cut).

    Seeded from `trimap` (see `grabcut_trimap`) or, without one, from a centred rectangle `inset`
    from each edge (outside = certain background). Deterministic. Returns None when OpenCV is
    not installed or gives up (e.g. no pixel of one side), so callers keep their own mask.
    """
    cv2 = _opencv()
    if cv2 is None:  # missing or broken OpenCV: the colour mask still works
        return None
    full_h, full_w = rgb.shape[:2]
    scale = min(1.0, GRABCUT_SIDE / max(full_h, full_w))
    if scale < 1.0:  # GrabCut at a smaller size; the mask is scaled back (nearest neighbour)
        size = (max(2, round(full_w * scale)), max(2, round(full_h * scale)))
        rgb = cv2.resize(np.asarray(rgb, np.float32), size, interpolation=cv2.INTER_AREA)
        if trimap is not None:
            trimap = cv2.resize(np.ascontiguousarray(trimap, np.uint8), size, interpolation=cv2.INTER_NEAREST)
    h, w = rgb.shape[:2]
    rect = _inset_rect(h, w, inset)
    bgr = np.ascontiguousarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8)[..., ::-1])
    fgd_model, bgd_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # its k-means initialisation is random
    try:
        if trimap is None:
            if rect[2] < 2 or rect[3] < 2:
                return None
            labels = np.zeros((h, w), np.uint8)
            cv2.grabCut(bgr, labels, rect, bgd_model, fgd_model, iters, cv2.GC_INIT_WITH_RECT)
        else:
            labels = np.ascontiguousarray(trimap, dtype=np.uint8).copy()
            cv2.grabCut(bgr, labels, None, bgd_model, fgd_model, iters, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    found = (labels == GC_FGD) | (labels == GC_PR_FGD)
    if (h, w) != (full_h, full_w):
        found = cv2.resize(found.astype(np.uint8), (full_w, full_h), interpolation=cv2.INTER_NEAREST) > 0
    return found


def segment_object(rgb: np.ndarray, bg: Background) -> tuple[np.ndarray, list[str]]:
    """The cleaned object mask of an (H, W, 3) analysis-size image, and notes on how it was found.

    First the colour mask (`foreground_mask`, with the colour-cluster rectangle fallback when it
    looks implausible). On a busy background (anything but a plain one) GrabCut then checks it
    (or its absence) twice: seeded from the colour mask (fixes outlines that leak into a patterned bedspread or
    lose a garment close to the background's colour) and from a centred rectangle (finds the
    whole object when the colour mask kept only a fragment of it). GrabCut's answer replaces the
    colour mask only when it disagrees clearly (IoU < MASK_AGREEMENT_IOU): where both agree the
    colour mask's outline is kept, thin parts included.
    """
    notes: list[str] = []
    mask = clean_mask(foreground_mask(rgb, bg))
    if mask.any() and not mask_is_plausible(mask):
        fallback = clean_mask(rectangle_mask(rgb, bg))
        if mask_is_plausible(fallback):
            mask = fallback
            notes.append("busy background: object found from a centred rectangle (colour clusters)")
    if mask.all() or is_plain_background(bg):
        return mask, notes

    def usable(found: np.ndarray | None) -> np.ndarray | None:
        if found is None:
            return None
        found = clean_mask(found)
        return found if found.any() and mask_is_plausible(found) else None

    # An empty colour mask on a busy background means every garment colour also shows on the
    # border; only the rectangle can seed GrabCut then.
    refined = usable(grabcut(rgb, grabcut_trimap(rgb, bg, mask))) if mask.any() else None
    h, w = mask.shape
    _, _, rect_w, rect_h = _inset_rect(h, w, GRABCUT_BAND)
    rect_share = rect_w * rect_h / (h * w)
    # The rectangle-seeded mask lies inside its rectangle, so a refined mask this large cannot be
    # a fragment of it: skip that second GrabCut (it is half the time on big garments).
    need_box = refined is None or refined.mean() < FRAGMENT_SHARE * rect_share
    boxed = usable(grabcut(rgb)) if need_box else None
    if refined is None and boxed is None:
        return mask, notes
    if refined is not None:
        candidate, how = refined, "GrabCut refined the object's outline"
    else:
        candidate, how = boxed, "GrabCut found the object from a centred rectangle"
    if boxed is not None and candidate.mean() < FRAGMENT_SHARE * boxed.mean():
        candidate = boxed
        how = "the colour mask was a fragment; GrabCut found the object from a centred rectangle"
    if mask_iou(candidate, mask) >= MASK_AGREEMENT_IOU:
        notes.append("busy background: GrabCut agrees with the colour mask")
        return mask, notes
    notes.append(f"busy background: {how}")
    return candidate, notes


# --------------------------------------------------------------------------------------------
# 4.-7. Crop, intensity, frame, contrast


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the True pixels, right/bottom exclusive; None if empty."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def to_garment_intensity(rgb: np.ndarray, alpha: np.ndarray, invert: bool) -> np.ndarray:
    """Float (H, W) intensity in 0..255: grey (ITU-R 601 luma), inverted if `invert`, times alpha.

    The dataset inverts an 8-bit grey packshot on white, so a black jumper becomes bright and a
    white one faint; we do the same to the object, and the background becomes exactly 0.
    """
    grey = _luma(rgb.astype(np.float32))
    value = 255.0 - grey if invert else grey
    return np.clip(value, 0, 255) * alpha


def fit_to_frame(intensity: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """Resize so the long edge is `frame` (aspect kept), pad the short edge centred with 0."""
    h, w = intensity.shape
    scale = frame / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    img = Image.fromarray(intensity.astype(np.float32), "F")
    small = np.asarray(img.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0))
    out = np.zeros((frame, frame), np.float32)
    top, left = (frame - nh) // 2, (frame - nw) // 2
    out[top:top + nh, left:left + nw] = small
    return np.clip(out, 0, 255)


def match_contrast(frame_img: np.ndarray, target_p95: float = TARGET_FOREGROUND_P95,
                   max_gain: float = MAX_CONTRAST_GAIN) -> tuple[np.ndarray, float]:
    """Brighten a faint object so its 95th-percentile pixel reaches Fashion-MNIST's typical level.

    Only gains >= 1: an already bright object keeps its shading. Returns (image, gain).
    """
    fg = frame_img[frame_img > 8]
    if len(fg) < 8:
        return frame_img, 1.0
    p95 = float(np.percentile(fg, 95))
    gain = float(np.clip(target_p95 / max(p95, 1e-3), 1.0, max_gain))
    return np.clip(frame_img * gain, 0, 255), gain


# --------------------------------------------------------------------------------------------
# The whole pipeline


def _resized(img: Image.Image, side: int) -> Image.Image:
    if max(img.size) <= side:
        return img
    out = img.copy()
    out.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return out


def _alpha_mask(img: Image.Image) -> np.ndarray | None:
    """Alpha in 0..1 when the image really uses transparency (>=1% of pixels see-through)."""
    if img.mode != "RGBA":
        return None
    a = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
    return a if (a < 0.5).mean() >= 0.01 else None


def _is_fashion_mnist_style(grey: np.ndarray, bg: Background, mask: np.ndarray) -> bool:
    """A light object on a (near-)black background: already what the model expects."""
    if bg.luma >= 50 or not mask.any():
        return False
    return float(np.median(grey[mask])) > bg.luma + 20


def prepare_photo(img: Image.Image, stretch_contrast: bool = False) -> PhotoSteps:
    """Turn a loaded photo into the 28x28 image the model sees, keeping every intermediate step.

    `stretch_contrast` brightens faint objects toward Fashion-MNIST's typical brightness
    (`match_contrast`). It is off by default: on realworld-dev it cost 0-3 points with each of
    three models (docs/BENCHMARKS.md), because the inverted grey level already says what the
    dataset says: a light garment is faint in Fashion-MNIST too, and stretching erases that cue.
    """
    img = _to_rgb_or_rgba(img)
    notes: list[str] = []
    alpha_full = _alpha_mask(img)
    rgb_img = img.convert("RGB")
    if alpha_full is not None:
        # Packshots are on white: composite the object there, and the alpha *is* the mask.
        white = Image.new("RGB", img.size, (255, 255, 255))
        rgb_img = Image.composite(img.convert("RGB"), white, img.getchannel("A"))

    # Already a Fashion-MNIST image (28x28 grey, light on black)? Use it as it is.
    if img.size == (FRAME, FRAME) and alpha_full is None:
        arr = np.asarray(rgb_img, dtype=np.float32)
        grey = _luma(arr)
        bg = estimate_background(arr)
        if _is_fashion_mnist_style(grey, bg, grey > bg.luma + 20):
            final = Image.fromarray(np.clip(grey + 0.5, 0, 255).astype(np.uint8), "L")
            mask = Image.fromarray(((grey > 0) * 255).astype(np.uint8), "L")
            return PhotoSteps(original=img, mask=mask, crop=rgb_img, final=final,
                              notes=("already 28x28 light-on-black: used as it is",),
                              background_rgb=bg.dominant, inverted=False, passthrough=True)

    work = _resized(rgb_img, WORK_SIDE)
    work_arr = np.asarray(work, dtype=np.float32)
    if alpha_full is not None:
        alpha_work = np.asarray(_resized(img.getchannel("A"), WORK_SIDE), dtype=np.float32) / 255.0
        mask = clean_mask(alpha_work > 0.5)
        bg = Background(colours=np.array([[255.0, 255.0, 255.0]]), spreads=np.array([10.0]), luma=255.0)
        notes.append("transparent image: its alpha channel is the mask")
    else:
        bg = estimate_background(work_arr)
        notes.append(f"background from the border: RGB {bg.dominant} ({len(bg.colours)} colour(s))")
        mask, seg_notes = segment_object(work_arr, bg)
        notes.extend(seg_notes)

    box = mask_bbox(mask)
    if box is None or mask.mean() < 0.002:
        notes.append("no object found: the image looks blank")
        blank = Image.new("L", (FRAME, FRAME), 0)
        return PhotoSteps(original=img, mask=Image.fromarray(mask.astype(np.uint8) * 255, "L"),
                          crop=rgb_img, final=blank, notes=tuple(notes),
                          background_rgb=bg.dominant, inverted=True)
    if mask.all():
        notes.append("object fills the whole frame (no background found)")

    grey_work = _luma(work_arr)
    invert = not _is_fashion_mnist_style(grey_work, bg, mask)
    notes.append("inverted (object on a light background)" if invert and bg.luma >= 128
                 else "inverted (dark object)" if invert
                 else "not inverted (already light object on dark)")

    # Crop from a sharper copy than the analysis one: same relative box, more pixels.
    sx, sy = rgb_img.width / work.width, rgb_img.height / work.height
    left, top, right, bottom = box
    crop_box = (int(left * sx), int(top * sy), max(int(left * sx) + 1, round(right * sx)),
                max(int(top * sy) + 1, round(bottom * sy)))
    crop = rgb_img.crop(crop_box)
    crop = _resized(crop, CROP_SIDE)
    if alpha_full is not None:
        alpha_crop = img.getchannel("A").crop(crop_box).resize(crop.size, Image.Resampling.BILINEAR)
        soft = np.asarray(alpha_crop, dtype=np.float32) / 255.0
    else:
        mask_crop = Image.fromarray(mask[top:bottom, left:right].astype(np.uint8) * 255, "L")
        soft = np.asarray(mask_crop.resize(crop.size, Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    intensity = to_garment_intensity(np.asarray(crop, dtype=np.float32), soft, invert)
    framed = fit_to_frame(intensity)
    gain = 1.0
    if stretch_contrast:
        framed, gain = match_contrast(framed)
    if gain > 1.01:
        notes.append(f"contrast raised x{gain:.2f} to Fashion-MNIST's brightness")
    final = Image.fromarray(np.clip(framed + 0.5, 0, 255).astype(np.uint8), "L")
    return PhotoSteps(original=img, mask=Image.fromarray(mask.astype(np.uint8) * 255, "L"),
                      crop=crop, final=final, notes=tuple(notes), background_rgb=bg.dominant,
                      inverted=invert)


def photo_to_array(source) -> np.ndarray:
    """Convenience: load + prepare, the 28x28 uint8 array the model sees."""
    return np.asarray(prepare_photo(load_image(source)).final)
