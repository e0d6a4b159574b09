"""A photo's backbone embeddings, computed once and kept: the photo model's pooled 1280-d
features (`PhotoNet.features`) of a clean view and a few augmented ones.

Teachable Machine keeps each example's embedding when the example is added, so retraining the
head costs only the head's steps. Here the embeddings of a photo are stored by its content hash
(`EmbeddingStore`), in a folder named by `embedding_key`: the backbone's weights and the input
recipe (input size, decoding, views). A fine-tune that changes nothing but the head shares its
parent's backbone and so its embeddings; a new backbone or a new recipe gets a new folder, never a
stale embedding.

View 0 is what prediction sees (`photo.model_input.load_photo_input`, as `Predictor`), so a head
applied to it answers as the full model on the Predict page and the Models page; views 1.. are
`data.photo_views.augmented_view`s seeded by the photo's hash. The backbone is anything with
`features(images)`, `imagenet(images)`, `feature_dim`, `backbone_id` and `opinion_id`: the
model's ONNX twin (core.predict.photo_twin, no torch) or a torch model (data.torch_backbone).
No Qt here, and no torch.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..base.errors import FmnistError, ImageLoadError

RECIPE_VERSION = 2  # bump when the views below change: embeddings made before are then not reused
FEATURE_BATCH = 8  # the backbone is fastest on CPU in small batches (data.photo_features.BATCH)
HASH_CHARS = 16  # as core.store.user_photos names its files


def content_digest(path: str | os.PathLike[str]) -> str:
    """The photo's content hash prefix, as `core.store.user_photos` names a kept photo."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:HASH_CHARS]


def backbone_id(backbone) -> str:
    """A hash of the backbone's weights (the head is not part of it): `backbone` is a photo model's
    twin (core.predict.photo_twin.TwinBackbone) or a torch model (data.torch_backbone), which
    hash the same weights the same way."""
    return backbone.backbone_id


def opinion_id(backbone) -> str | None:
    """A hash of the photo model's ImageNet opinion (core.models.imagenet_opinion), or None."""
    return backbone.opinion_id


def embedding_key(backbone, input_size: int, views: int) -> str:
    """The folder name embeddings are kept under: the backbone and the input recipe that made them."""
    from ..photo.model_input import DECODE_MAX_SIDE_FACTOR, PAD_RGB

    recipe = [RECIPE_VERSION, input_size, DECODE_MAX_SIDE_FACTOR, list(PAD_RGB), views]
    spec = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:8]
    return f"{backbone_id(backbone)}-{spec}"


def opinion_key(backbone, input_size: int) -> str | None:
    """The folder name for ImageNet's opinion of photos' clean views (None: the model has none)."""
    found = opinion_id(backbone)
    return None if found is None else f"{embedding_key(backbone, input_size, 1)}-imagenet-{found}"


@dataclass(frozen=True)
class EmbeddingStore:
    """Embeddings ((views, 1280) float16 .npy files) by content hash, in one folder per key."""

    folder: Path
    dtype: str = "float16"  # ImageNet's probabilities are kept as float32: most are tiny

    def _file(self, digest: str) -> Path:
        return self.folder / f"{digest}.npy"

    def get(self, digest: str, views: int) -> np.ndarray | None:
        """The stored embedding, float32; None when there is none (or it is damaged)."""
        try:
            arr = np.load(self._file(digest), allow_pickle=False)
        except (OSError, ValueError):
            return None
        return arr.astype(np.float32) if arr.ndim == 2 and arr.shape[0] == views else None

    def put(self, digest: str, embedding: np.ndarray) -> None:
        """Keep it (atomically); a disk that refuses costs only the time to compute it again."""
        from ..base.paths import atomic_write_bytes

        buf = io.BytesIO()
        np.save(buf, np.asarray(embedding, self.dtype), allow_pickle=False)
        try:
            atomic_write_bytes(self._file(digest), buf.getvalue())
        except (OSError, FmnistError):
            pass

    def discard(self, digest: str) -> None:
        try:
            self._file(digest).unlink(missing_ok=True)
        except OSError:
            pass


def photo_views(path: str | os.PathLike[str], input_size: int, n_augmented: int, digest: str) -> list:
    """The clean view prediction sees, then `n_augmented` augmented views seeded by the photo's hash."""
    from ..photo import load_image
    from ..photo.model_input import DECODE_MAX_SIDE_FACTOR, flatten_alpha, letterbox
    from .photo_views import augmented_view

    img = flatten_alpha(load_image(path, max_side=input_size * DECODE_MAX_SIDE_FACTOR))
    rng = random.Random(int(digest[:8], 16) if digest else 0)
    return [letterbox(img, input_size)] + [augmented_view(img, input_size, rng) for _ in range(n_augmented)]


def _run_backbone(backbone, images: list, stop=None, progress: Callable[[int], None] | None = None) -> np.ndarray | None:
    out = []
    for k in range(0, len(images), FEATURE_BATCH):
        if stop is not None and stop.is_set():
            return None
        out.append(np.asarray(backbone.features(images[k:k + FEATURE_BATCH]), np.float32))
        if progress is not None:
            progress(min(len(images), k + FEATURE_BATCH))
    return np.concatenate(out) if out else np.zeros((0, backbone.feature_dim), np.float32)


def imagenet_opinions(backbone, photos: Sequence[tuple[Path, str]], store: EmbeddingStore | None, input_size: int,
                      stop=None) -> np.ndarray | None:
    """ImageNet's probabilities (M, 1000) for the clean view of each (path, digest) photo, which
    the photo model's opinion mixes into its answer (`ImageNetOpinion.mix_probabilities`): they
    do not change with the head, so they are kept like the embeddings. None when stopped."""
    rows: dict[int, np.ndarray] = {}
    for i, (_path, digest) in enumerate(photos):
        got = store.get(digest, 1) if store is not None else None
        if got is not None:
            rows[i] = got[0]
    missing = [i for i in range(len(photos)) if i not in rows]
    for k in range(0, len(missing), FEATURE_BATCH):
        if stop is not None and stop.is_set():
            return None
        batch = missing[k:k + FEATURE_BATCH]
        q = backbone.imagenet([photo_views(photos[i][0], input_size, 0, photos[i][1])[0] for i in batch])
        for i, row in zip(batch, np.asarray(q, np.float32)):
            rows[i] = row
            if store is not None:
                store.put(photos[i][1], row[None])
    return np.stack([rows[i] for i in range(len(photos))]) if photos else np.zeros((0, 1000), np.float32)


@dataclass
class Embedded:
    """Embeddings of the readable photos (`ok` says which of the asked ones), and why not the others."""

    features: np.ndarray  # (M readable, views, 1280) float32
    ok: list[bool]
    errors: list[str]
    computed: int  # photos that went through the backbone this time (the rest were stored)


def embed_photos(backbone, photos: Sequence[tuple[Path, str]], store: EmbeddingStore | None, input_size: int,
                 n_augmented: int, progress: Callable[[int, int], None] | None = None,
                 stop=None) -> Embedded | None:
    """Embeddings of (path, content digest) photos: the stored ones as they are, the others run
    through the backbone once and stored. `progress(done, total)` counts the views that run
    through the backbone. None when `stop` (anything with `is_set()`) was set."""
    views = 1 + n_augmented
    found: dict[int, np.ndarray] = {}
    missing = []
    for i, (_path, digest) in enumerate(photos):
        got = store.get(digest, views) if store is not None else None
        if got is not None:
            found[i] = got
        else:
            missing.append(i)
    rendered, rendered_for, errors = [], [], []
    for i in missing:
        if stop is not None and stop.is_set():
            return None
        path, digest = photos[i]
        try:
            rendered.extend(photo_views(path, input_size, n_augmented, digest))
            rendered_for.append(i)
        except (ImageLoadError, FmnistError, OSError) as exc:
            errors.append(str(exc))
    total = len(rendered)
    feats = _run_backbone(backbone, rendered, stop, (lambda done: progress(done, total)) if progress else None)
    if feats is None:
        return None
    for j, i in enumerate(rendered_for):
        # As stored (float16), so a photo embedded now and one read back later are the same numbers.
        found[i] = feats[j * views:(j + 1) * views].astype(np.float16).astype(np.float32)
        if store is not None:
            store.put(photos[i][1], found[i])
    ok = [i in found for i in range(len(photos))]
    stacked = [found[i] for i in range(len(photos)) if ok[i]]
    arr = np.stack(stacked).astype(np.float32) if stacked else np.zeros((0, views, backbone.feature_dim), np.float32)
    return Embedded(arr, ok, errors, computed=len(rendered_for))
