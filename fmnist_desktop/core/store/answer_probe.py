"""The test a model's answers must pass to be used, without torch: a model with finite weights can
still answer NaN or infinity (a BatchNorm running variance of -1; a network scaled by 1e38).

`probe_array(meta)` is the input both engines are probed with: `weights_check.check_answers` runs
it through the torch model when a model file is loaded, and `predict.engines.OnnxEngine` through
the ONNX twin when onnxruntime loads it (the answer path has no torch to run the first). A model
whose answers to it are not all finite numbers is refused with `refusal(path)`; the Predictor
also refuses, image by image, any answer that is not (NOT_NUMBERS_TEXT).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..base.errors import CheckpointError
from ..models.arch_info import ARCH_INFO

NOT_NUMBERS_TEXT = "this model's answers are not numbers (NaN or infinity)"


def probe_array(meta: Any) -> np.ndarray:
    """Two inputs a model of `meta` takes, float32 (2, C, S, S): a black image and a fixed ramp from
    black to white, prepared the way the app prepares images for it (the 28×28 networks
    standardise with the file's mean and std; the photo model takes 0..1)."""
    info = ARCH_INFO.get(meta.arch)
    channels = info.channels if info is not None else 1
    side = int(meta.input_size)
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, side * side, dtype=np.float32).reshape(1, side, side),
                           (channels, side, side))
    unit = np.stack([np.zeros((channels, side, side), np.float32), ramp]).astype(np.float32)
    if channels == 1:
        return ((unit - np.float32(meta.mean)) / np.float32(meta.std)).astype(np.float32)
    return unit


def answers_are_finite(outputs: Any) -> bool:
    """True when every output is a finite number (what may be shown or written)."""
    return bool(np.isfinite(np.asarray(outputs)).all())


def refusal(path: str | os.PathLike[str]) -> CheckpointError:
    """The one-line error for a model whose answers to `probe_array` are not numbers."""
    return CheckpointError(
        f"{os.path.basename(os.fspath(path))} is refused: {NOT_NUMBERS_TEXT} on a test image, so it cannot classify anything.",
        hint="Train or import the model again.",
    )
