"""Where an answer came from, for the Predict page's "Show where the answer came from": the model
that answered (loaded with torch once per file) and `core.learn.explain` on the image it saw.
Runs in a worker thread; returns the picture to show in place of "What the model saw"."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..base.errors import FmnistError
from ..models.arch_info import PHOTO_KIND, kind_of_arch
from ..store.checkpoint import load_model, read_meta

SHOWN_SIDE = 224  # a 28×28 map is drawn over the 28×28 input scaled to this, pixel for pixel

_lock = threading.Lock()
_loaded: dict[str, tuple[int, object, object]] = {}  # path -> (mtime_ns, model, meta): one per kind


def _model(path: Path):
    key, mtime = str(path), path.stat().st_mtime_ns
    with _lock:
        cached = _loaded.get(key)
        if cached is None or cached[0] != mtime:
            model, meta = load_model(path)
            kind = kind_of_arch(meta.arch)
            for other in [k for k, (_, _, m) in _loaded.items() if kind_of_arch(m.arch) == kind]:
                del _loaded[other]  # keep one model per kind in memory
            _loaded[key] = cached = (mtime, model, meta)
        return cached[1], cached[2]


def model_for(prediction, model_paths: Sequence[str | os.PathLike[str]]) -> Path:
    """The file of the model (of the active ones) whose kind answered `prediction`."""
    for path in map(Path, model_paths):
        if kind_of_arch(read_meta(path).arch) == prediction.model_kind:
            return path
    raise FmnistError("The model that gave this answer is no longer active; classify the photo again.")


def heat_map(prediction, model_paths: Sequence[str | os.PathLike[str]]) -> Image.Image:
    """The image the model saw with a heat map of where its answer came from drawn over it:
    Grad-CAM for the photo model, occlusion for a 28×28 network (core.learn.explain)."""
    from ..learn.explain import occlusion_map, overlay, photo_grad_cam

    seen = getattr(prediction, "model_input", None)
    if seen is None or getattr(prediction, "error", None):
        raise FmnistError("There is no answer to explain for this file.")
    model, meta = _model(model_for(prediction, model_paths))
    if prediction.model_kind == PHOTO_KIND:
        image = seen.convert("RGB")
        return overlay(image, photo_grad_cam(model, image, prediction.index))
    grey = seen.convert("L")
    heat = occlusion_map(model, np.asarray(grey), prediction.index, meta.mean, meta.std, meta.input_size)
    return overlay(grey.resize((SHOWN_SIDE, SHOWN_SIDE), Image.NEAREST), heat)
