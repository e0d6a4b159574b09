"""Classifying images with a trained model.

Every image goes through `photo.prepare_photo`, which turns a real photo into the 28×28 light-
on-black image Fashion-MNIST draws. The rule for images that already look like Fashion-MNIST
lives there, in one place: a 28×28 image whose background is near-black and whose object is
lighter is used exactly as it is (`PhotoSteps.passthrough`); anything else — any other size, or
a 28×28 dark-on-light image — is cropped, inverted and framed. The 28×28 image the model saw is
kept with each prediction (`model_input`) so the user can always see it.

Batch prediction never raises because of one bad file: that item gets `error` (a readable
sentence) and the rest of the batch goes on.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..base import verdict as verdict_rules
from ..store.checkpoint import CheckpointMeta, load_model
from ..base.errors import FmnistError
from ..base.formats import iter_photo_files
from ..base.labels import CLASS_NAMES
from ..base.output_safety import path_fields, utf8_text
from ..photo import PhotoSteps, load_image, prepare_photo
from ..learn.inference import probabilities as batched_probabilities

DEFAULT_TOP_K = 3
BATCH_SIZE = 256  # images per forward pass (64 gave ~95 small images/s on a loaded 2-core CPU, 256 ~200)
STREAM_BATCH = 256  # iter_predict_paths yields after this many images...
STREAM_LATENCY_S = 0.5  # ...or after preparing for this long, whichever comes first
PREPARE_WORKERS = max(1, min(2, os.cpu_count() or 1))
PREPARE_AHEAD = 4 * PREPARE_WORKERS  # files being prepared ahead of the one awaited


@dataclass(frozen=True)
class Prediction:
    path: Path | None  # the file, or None for an image given in memory
    index: int  # predicted class index (-1 when `error` is set)
    label: str  # predicted class name ("" when `error` is set)
    confidence: float  # probability of the predicted class, 0..1
    probabilities: tuple[float, ...]  # all 10, in class order
    top_k: list[tuple[str, float]]  # the k most likely (name, probability), best first
    model_input: Image.Image | None  # the 28×28 "L" image the model saw
    steps: PhotoSteps | None  # every preparation step, when kept
    error: str | None = None  # why this image could not be classified
    name: str = ""  # display name (file name, or the name given to predict_images)
    not_sure: bool = False  # confidence below the model's threshold (core.base.verdict)
    out_of_scope: bool = False  # so unsure it may not be one of the ten classes
    threshold: float = verdict_rules.DEFAULT_THRESHOLD  # the levels the verdict was decided with
    out_of_scope_threshold: float | None = None
    thumbnail: Image.Image | None = None  # a small copy of the photo, when asked for (lists)

    @property
    def verdict(self) -> verdict_rules.Verdict:
        """The verdict the Predictor decided: what the CLI prints, the server returns and the GUI shows."""
        return verdict_rules.Verdict(self.index, self.label, self.confidence, self.not_sure, self.out_of_scope)

    def verdict_at(self, threshold: float | None) -> verdict_rules.Verdict:
        """The verdict with the user's own "not sure" threshold (the Predict page's spin box): the
        same rule on the stored probabilities. None: the verdict the Predictor decided."""
        if threshold is None:
            return self.verdict
        return verdict_rules.decide(self.probabilities, threshold, self.out_of_scope_threshold)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        """Plain JSON values. A file name that is not valid UTF-8 is shown with U+FFFD in "path"
        and "name" and kept exactly, base64-encoded, in "path_bytes"."""
        out = {**path_fields(self.path), "name": utf8_text(self.name)}
        if self.error is not None:
            out["error"] = utf8_text(self.error)
            return out
        out.update(
            label=self.label,
            index=self.index,
            confidence=round(self.confidence, 6),
            not_sure=self.not_sure,
            top_k=[[name, round(p, 6)] for name, p in self.top_k],
            probabilities={name: round(p, 6) for name, p in zip(CLASS_NAMES, self.probabilities)},
        )
        if self.steps is not None and self.steps.notes:
            out["notes"] = list(self.steps.notes)
        return out


def _failed(path: Path | None, name: str, error: str, thumbnail: Image.Image | None = None) -> Prediction:
    return Prediction(path, -1, "", 0.0, (), [], None, None, error, name, thumbnail=thumbnail)


class Predictor:
    """A model loaded once, ready to classify images."""

    def __init__(self, model: nn.Module, meta: CheckpointMeta, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.meta = meta
        self.class_names = tuple(meta.class_names) if meta.class_names else CLASS_NAMES
        # The model's own "not sure" threshold; the Predict page's spin box may override it.
        self.threshold = verdict_rules.threshold_of(meta)
        self.out_of_scope_threshold = verdict_rules.out_of_scope_threshold_of(meta)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> "Predictor":
        """Load a model file (CheckpointError if it cannot be used). `device` may be "auto"."""
        if isinstance(device, str) and device == "auto":
            from ..learn.training import resolve_device

            device = resolve_device("auto")
        model, meta = load_model(path, device)
        return cls(model, meta, device)

    def probabilities(self, images: torch.Tensor) -> np.ndarray:
        """Class probabilities (N, 10) for uint8 images (N, 28, 28) in Fashion-MNIST style."""
        return batched_probabilities(self.model, images, self.meta.input_size, self.meta.mean, self.meta.std,
                                     device=self.device, batch_size=BATCH_SIZE).numpy()

    def _finish(
        self, prepared: list[tuple[Path | None, str, PhotoSteps | None, Image.Image | None, str | None,
                                   Image.Image | None]], top_k: int
    ) -> list[Prediction]:
        good = [i for i, item in enumerate(prepared) if item[4] is None]
        probs = np.zeros((0, len(self.class_names)), np.float32)
        if good:
            stack = np.stack([np.asarray(prepared[i][3], dtype=np.uint8) for i in good])
            probs = self.probabilities(torch.from_numpy(stack))
        by_item = dict(zip(good, probs))
        results = []
        for i, (path, name, steps, model_input, error, thumbnail) in enumerate(prepared):
            if error is not None:
                results.append(_failed(path, name, error, thumbnail))
                continue
            p = by_item[i]
            order = np.argsort(-p, kind="stable")
            best = int(order[0])
            decided = verdict_rules.decide(p, self.threshold, self.out_of_scope_threshold)
            results.append(
                Prediction(
                    path=path,
                    index=best,
                    label=self.class_names[best],
                    confidence=float(p[best]),
                    probabilities=tuple(float(v) for v in p),
                    top_k=[(self.class_names[int(j)], float(p[int(j)])) for j in order[: max(1, top_k)]],
                    model_input=model_input,
                    steps=steps,
                    error=None,
                    name=name,
                    not_sure=decided.not_sure,
                    out_of_scope=decided.out_of_scope,
                    threshold=self.threshold,
                    out_of_scope_threshold=self.out_of_scope_threshold,
                    thumbnail=thumbnail,
                )
            )
        return results

    def predict_images(
        self, images: Sequence[Image.Image], names: Sequence[str] | None = None, top_k: int = DEFAULT_TOP_K
    ) -> list[Prediction]:
        """Classify PIL images (any size or mode), keeping every preparation step."""
        names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]
        prepared = []
        for img, name in zip(images, names):
            try:
                steps = prepare_photo(load_image(img))
                prepared.append((None, name, steps, steps.final, None, None))
            except FmnistError as exc:
                prepared.append((None, name, None, None, str(exc), None))
            except Exception as exc:  # noqa: BLE001 — one odd image must not sink the batch
                prepared.append((None, name, None, None, f"{name} could not be prepared ({type(exc).__name__}: {exc}).",
                                 None))
        return self._finish(prepared, top_k)

    def predict_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
        top_k: int = DEFAULT_TOP_K,
        keep_steps: bool = False,
    ) -> list[Prediction]:
        """Classify image files; folders are expanded (see `iter_image_paths`).

        An unreadable file becomes a Prediction with `error`; it never raises for one file.
        `progress(done, total)` after each file; when `stop` is set, returns the predictions made
        so far. The preparation steps hold full-size photos, so they are kept only with
        `keep_steps=True` (the 28×28 `model_input` is always kept).
        """
        return list(self.iter_predict_paths(paths, progress, stop, top_k, keep_steps))

    def iter_predict_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
        top_k: int = DEFAULT_TOP_K,
        keep_steps: bool = False,
        files: Sequence[Path] | None = None,
        thumbnail_size: int | None = None,
    ) -> Iterator[Prediction]:
        """`predict_paths` as a stream, in file order: predictions come out in batches, each as
        soon as its batch is classified (at most STREAM_BATCH images, or what was prepared
        within STREAM_LATENCY_S), so a folder of 20,000 images shows results from the start.
        `files`: the already expanded file list, when the caller has it. `thumbnail_size`: each
        prediction keeps a copy of its photo at most this big (a list's thumbnails), so the
        full-size preparation steps need not be kept."""
        files = list(iter_image_paths(paths)) if files is None else list(files)
        total = len(files)
        # Photos are prepared on PREPARE_WORKERS threads (OpenCV, numpy and Pillow release the
        # GIL in their heavy parts), a few files ahead, in order; a batch is classified and
        # yielded when it is full or has taken STREAM_LATENCY_S.
        with ThreadPoolExecutor(max_workers=PREPARE_WORKERS) as pool:
            ahead: deque = deque()
            submitted = 0
            batch: list = []
            started = time.monotonic()
            done = 0
            while done < total:
                while submitted < total and len(ahead) < PREPARE_AHEAD:
                    ahead.append(pool.submit(self._prepare_file, files[submitted], keep_steps, thumbnail_size))
                    submitted += 1
                if stop is not None and stop.is_set():
                    for future in ahead:
                        future.cancel()
                    break
                batch.append(ahead.popleft().result())
                done += 1
                if progress is not None:
                    progress(done, total)
                if len(batch) >= STREAM_BATCH or done == total or time.monotonic() - started > STREAM_LATENCY_S:
                    yield from self._finish(batch, top_k)
                    batch, started = [], time.monotonic()
            if batch:  # stopped: what was prepared is still classified
                yield from self._finish(batch, top_k)

    @staticmethod
    def _prepare_file(path: Path, keep_steps: bool, thumbnail_size: int | None = None):
        try:
            steps = prepare_photo(load_image(path))
            thumbnail = None
            if thumbnail_size:
                thumbnail = steps.original.copy()
                thumbnail.thumbnail((thumbnail_size, thumbnail_size))
            return (path, path.name, steps if keep_steps else None, steps.final, None, thumbnail)
        except FmnistError as exc:
            return (path, path.name, None, None, str(exc), None)
        except Exception as exc:  # noqa: BLE001 — a decoder bug on one file must not stop the batch
            return (path, path.name, None, None, f"{path.name} could not be read ({type(exc).__name__}: {exc}).", None)



def iter_image_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files named explicitly, as given (even without an image extension, so the user hears
    why one cannot be read); folders expanded by `formats.iter_photo_files`."""
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            yield from iter_photo_files(path)
        else:
            yield path
