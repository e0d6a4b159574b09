"""A photo model file read for its head's fine-tune without torch: its weights and metadata from
the file (core.store.pt_file), its backbone run by its ONNX twin (core.store.twins: the twin's
`features` output is what the linear head sees, its `imagenet` output what ImageNet's opinion
mixes in).

`PhotoModelFile` is what core.jobs.photo_finetune trains a new head for: the parent's head
(weight, bias), its opinion rule (core.models.opinion_rule), its metadata, and `backbone`, a
`TwinBackbone` that embeds photos for core.data.photo_embeddings. The backbone and opinion hashes
are those `data.torch_backbone` computes from the torch model, so embeddings stored by either are
found by the other.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..base.errors import FmnistError
from ..models.arch_info import PHOTO_KIND, kind_of_arch
from ..models.opinion_rule import OPINION_PREFIX, OpinionRule
from ..store.meta import CheckpointMeta
from ..store.pt_file import read_pt
from ..store.twins import FEATURES_OUTPUT, IMAGENET_OUTPUT, Twin
from .engines import onnx_session, photo_model_input

BACKBONE_PREFIX = "backbone."
HEAD_PREFIX = "head."


class NotAPhotoModel(FmnistError):
    """The file is a 28×28 network: it has no photo head to fine-tune."""


def weights_id(state: dict[str, np.ndarray], prefix: str) -> str | None:
    """A hash of the arrays under `prefix` (name without it, float32 bytes, by name), as
    `data.torch_backbone.weights_id` hashes the torch module's state; None when there are none."""
    items = sorted((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
    if not items:
        return None
    h = hashlib.sha256()
    for name, array in items:
        h.update(name.encode())
        h.update(np.ascontiguousarray(array, np.float32).tobytes())
    return h.hexdigest()[:16]


class TwinBackbone:
    """`features` (N, 1280) and `imagenet` (N, 1000) of letterboxed photos, by the model's twin."""

    def __init__(self, twin: Twin, backbone_id: str, opinion_id: str | None, feature_dim: int):
        self.twin, self.backbone_id, self.opinion_id, self.feature_dim = twin, backbone_id, opinion_id, feature_dim
        self._session = None
        self._lock = threading.Lock()

    def _run(self, name: str, images: list) -> np.ndarray:
        with self._lock:
            if self._session is None:
                self._session = onnx_session(self.twin.onnx_path)
            session = self._session
            return session.run([name], {session.get_inputs()[0].name: photo_model_input(images)})[0]

    def features(self, images: list) -> np.ndarray:
        return np.asarray(self._run(FEATURES_OUTPUT, images), np.float32)

    def imagenet(self, images: list) -> np.ndarray:
        if IMAGENET_OUTPUT not in self.twin.outputs:
            raise FmnistError(f"The ONNX twin of {self.twin.source.name} has no ImageNet opinion output.")
        return np.asarray(self._run(IMAGENET_OUTPUT, images), np.float32)


@dataclass
class PhotoModelFile:
    path: Path
    meta: CheckpointMeta
    state: dict[str, np.ndarray]  # every array of the file (the new model is this with a new head)
    weight: np.ndarray  # the head: (11, 1280)
    bias: np.ndarray
    opinion: OpinionRule | None
    backbone: TwinBackbone

    def probabilities(self, weight: np.ndarray, bias: np.ndarray, features: np.ndarray,
                      imagenet: np.ndarray | None) -> np.ndarray:
        """What this model with head (weight, bias) answers for these pooled features (N, 11)."""
        from ..models.opinion_rule import head_probabilities

        return head_probabilities(weight, bias, features, self.opinion, imagenet)


def open_photo_model(path: str | os.PathLike[str], find_twin: Callable[[Path], Twin]) -> PhotoModelFile:
    """The photo model in `path`, read without torch, with its ONNX twin (`find_twin(path)`: the
    valid twin, made if it must be). Raises FmnistError (a CheckpointError for a file that does
    not read; "not a photo model" for a 28×28 network)."""
    path = Path(path)
    state, meta = read_pt(path)
    if kind_of_arch(meta.arch) != PHOTO_KIND:
        raise NotAPhotoModel(f"{path.name} is not a photo model; its head cannot be fine-tuned here.")
    weight, bias = state.get(HEAD_PREFIX + "weight"), state.get(HEAD_PREFIX + "bias")
    if weight is None or bias is None or weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise FmnistError(f"{path.name} has no linear head to fine-tune.")
    twin = find_twin(path)
    if FEATURES_OUTPUT not in twin.outputs:
        raise FmnistError(f"The ONNX twin of {path.name} has no features output; it is made again on next use.")
    backbone = TwinBackbone(twin, weights_id(state, BACKBONE_PREFIX), weights_id(state, OPINION_PREFIX),
                            int(weight.shape[1]))
    return PhotoModelFile(path, meta, state, np.array(weight, np.float32), np.array(bias, np.float32),
                          OpinionRule.from_state(state), backbone)
