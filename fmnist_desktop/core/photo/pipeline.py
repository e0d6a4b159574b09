"""The whole recipe, `prepare_photo`: crop to the object, grey and inverted as the dataset inverts a
packshot, fitted to 28x28, optionally contrast-matched; `PhotoSteps` keeps every step for the
Predict page.

Part of `core.photo` (its `__init__` re-exports the public names). No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .background import Background, _luma, background_distance, distance_threshold, estimate_background, estimate_background_small
from .loading import _to_rgb_or_rgba
from .masks import clean_mask
from .segmentation import segment_object


FRAME = 28  # Fashion-MNIST's side


WORK_SIDE = 160  # long edge the background/mask analysis runs at (fast, and enough for a 28px result)


CROP_SIDE = 448  # long edge of the crop the 28x28 image is resampled from


# Fashion-MNIST's median per-image 95th percentile of object pixels (t10k: 227): the brightness a
# typical item reaches. Faint photos are stretched toward it (never beyond 4x).
TARGET_FOREGROUND_P95 = 227.0


MAX_CONTRAST_GAIN = 4.0

# Images no larger than this on either side (icons, Fashion-MNIST-style 28×28 files) skip the
# phone-photo pipeline's costly steps: the border colour is its median instead of k-means
# clusters, and the colour mask is not refined by colour models or checked by GrabCut. A folder
# of 20,000 small PNGs ran at ~14 images/s before (issue 12, hostile item 10).
SMALL_SIDE = 64


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

    small = max(img.size) <= SMALL_SIDE
    # Already a Fashion-MNIST image (28x28 grey, light on black)? Use it as it is.
    if img.size == (FRAME, FRAME) and alpha_full is None:
        arr = np.asarray(rgb_img, dtype=np.float32)
        grey = _luma(arr)
        # The border's median colour decides at once for nearly every Fashion-MNIST image; only
        # when it says no are the border's colour clusters computed (k-means was most of the time
        # a 28×28 image took). On the 10,000 test images both ways pick passthrough for all.
        bg = estimate_background_small(arr)
        passthrough = _is_fashion_mnist_style(grey, bg, grey > bg.luma + 20)
        if not passthrough:
            bg = estimate_background(arr)
            passthrough = _is_fashion_mnist_style(grey, bg, grey > bg.luma + 20)
        if passthrough:
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
    elif small:
        bg = estimate_background_small(work_arr)
        notes.append(f"small image: background from the border's median colour RGB {bg.dominant}")
        dist = background_distance(work_arr, bg)
        mask = clean_mask(dist > distance_threshold(dist)) if dist.max() >= 1.5 else np.zeros(dist.shape, bool)
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
