"""Busy backgrounds: `segment_object` checks the colour mask with OpenCV's GrabCut (seeded from
`grabcut_trimap` or a centred rectangle) and keeps whichever answer is right.

Part of `core.photo` (its `__init__` re-exports the public names). No Qt here.
"""

from __future__ import annotations

import numpy as np

from .background import Background, background_distance, distance_threshold
from .masks import _morph, _opencv, clean_mask, foreground_mask, mask_iou, mask_is_plausible, rectangle_mask


# Segmentation on busy backgrounds (`segment_object`); measured on realworld-dev and generated scenes.
PLAIN_BACKGROUND_SPREAD = 10.5  # border spread (floor 10) up to which one colour is a plain backdrop


GRABCUT_ITERS = 3  # 5 -> 3: same realworld-dev accuracy, a third less GrabCut time


GRABCUT_SIDE = 160  # long edge GrabCut runs at (a smaller size halves its time but loses thin outlines)


GRABCUT_BAND = 0.03  # outer band (share of the short side) that is background for GrabCut


MASK_AGREEMENT_IOU = 0.9  # GrabCut replaces the colour mask only below this overlap


FRAGMENT_SHARE = 0.5  # a mask under half the rectangle-seeded GrabCut's area is a fragment


GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD = 0, 1, 2, 3  # OpenCV's GrabCut labels (cv2.GC_*)


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
            iters: int | None = None) -> np.ndarray | None:
    """Object mask from OpenCV's GrabCut (Gaussian-mixture colour models + graph cut).

    Seeded from `trimap` (see `grabcut_trimap`) or, without one, from a centred rectangle `inset`
    from each edge (outside = certain background). Deterministic. Returns None when OpenCV is
    not installed or gives up (e.g. no pixel of one side), so callers keep their own mask.
    """
    iters = GRABCUT_ITERS if iters is None else iters  # read when called: bench_photo_speed varies it
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
