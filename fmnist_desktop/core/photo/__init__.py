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
4. `mask_bbox`: the object's bounding box, cropped (the dataset's "trim the border").
5. `to_garment_intensity`: grey, inverted as the dataset's recipe inverts a garment on white
   (dark garment -> bright), background exactly 0.
6. `fit_to_frame`: long edge to 28, aspect kept, short edge padded centred (98% of
   Fashion-MNIST test images touch the frame on their long side: measured, see BENCHMARKS.md).
7. `match_contrast` (optional, off by default: it measured worse): stretch faint objects toward
   Fashion-MNIST's foreground brightness.

Every step is a pure function on PIL images / numpy arrays so the Predict page can show it and
tests can check it. No Qt here. The modules: `loading` (1), `background` (2), `masks` (2-3),
`segmentation` (GrabCut on busy backgrounds), `pipeline` (4-7 and `prepare_photo`, `PhotoSteps`);
this package re-exports their public names, so `from fmnist_desktop.core.photo import …` works
as it did when it was one file.
"""

from __future__ import annotations

from .loading import (  # noqa: F401
    LOAD_MAX_SIDE,
    load_image,
)
from .background import (  # noqa: F401
    Background,
    background_distance,
    border_band,
    border_sides,
    distance_threshold,
    estimate_background,
    estimate_background_small,
)
from .masks import (  # noqa: F401
    clean_mask,
    fill_holes,
    foreground_mask,
    label_components,
    largest_component,
    mask_iou,
    mask_is_plausible,
    rectangle_mask,
)
from .segmentation import (  # noqa: F401
    FRAGMENT_SHARE,
    GC_BGD,
    GC_FGD,
    GC_PR_BGD,
    GC_PR_FGD,
    GRABCUT_BAND,
    GRABCUT_ITERS,
    GRABCUT_SIDE,
    MASK_AGREEMENT_IOU,
    PLAIN_BACKGROUND_SPREAD,
    grabcut,
    grabcut_trimap,
    is_plain_background,
    segment_object,
)
from .pipeline import (  # noqa: F401
    CROP_SIDE,
    FRAME,
    MAX_CONTRAST_GAIN,
    PhotoSteps,
    SMALL_SIDE,
    TARGET_FOREGROUND_P95,
    WORK_SIDE,
    fit_to_frame,
    mask_bbox,
    match_contrast,
    prepare_photo,
    to_garment_intensity,
)

# `from fmnist_desktop.core.photo import *` and the documentation: the public API.
__all__ = [
    "Background",
    "CROP_SIDE",
    "FRAGMENT_SHARE",
    "FRAME",
    "GC_BGD",
    "GC_FGD",
    "GC_FGD",
    "GC_PR_BGD",
    "GC_PR_BGD",
    "GC_PR_FGD",
    "GC_PR_FGD",
    "GRABCUT_BAND",
    "GRABCUT_ITERS",
    "GRABCUT_SIDE",
    "LOAD_MAX_SIDE",
    "MASK_AGREEMENT_IOU",
    "MAX_CONTRAST_GAIN",
    "PLAIN_BACKGROUND_SPREAD",
    "PhotoSteps",
    "TARGET_FOREGROUND_P95",
    "WORK_SIDE",
    "background_distance",
    "border_band",
    "border_sides",
    "clean_mask",
    "distance_threshold",
    "estimate_background",
    "fill_holes",
    "fit_to_frame",
    "foreground_mask",
    "grabcut",
    "grabcut_trimap",
    "is_plain_background",
    "label_components",
    "largest_component",
    "load_image",
    "mask_bbox",
    "mask_iou",
    "mask_is_plausible",
    "match_contrast",
    "prepare_photo",
    "rectangle_mask",
    "segment_object",
    "to_garment_intensity",
]
