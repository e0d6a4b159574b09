"""Accuracy of a model on a folder of labelled real photos (`<index>_<name>/<photo>` subfolders).

Used by the benchmark (`bench/bench_realworld.py`), the CLI (`fmnist evaluate-photos`) and tests.
Several preprocessing pipelines can be compared on the same photos:

- "app": the app's own `photo.prepare_photo` (background removed, cropped, inverted, 28x28).
- "notebook": what the origin notebook did to an image: Resize -> Grayscale -> ToTensor ->
  Normalize on the raw photo, no inversion and no cropping. (The notebook's `Resize(16)` keeps the
  aspect ratio, which only works for square inputs; we resize to a square so it runs at all.)
- "simple": a quick baseline: trim the border colour, invert, pad to square, autocontrast.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageChops, ImageOps

from ..base.errors import FmnistError
from ..base.formats import count_noun
from ..base.output_safety import path_fields, utf8_text
from ..data.labelled_photos import NONE_NAME, read_photo_folder
from ..base.labels import CLASS_NAMES, NUM_CLASSES
from ..photo import FRAME, load_image, prepare_photo
from ..base.verdict import DEFAULT_THRESHOLD, is_not_sure, threshold_of
from ..learn.calibration import photo_metrics
from ..learn.inference import probabilities as batched_probabilities


PIPELINES = ("app", "notebook", "simple")


@dataclass(frozen=True)
class ModelRunner:
    """A model plus the input recipe it was trained with (what a checkpoint's metadata says)."""

    model: torch.nn.Module
    input_size: int
    mean: float
    std: float
    device: str = "cpu"
    threshold: float = DEFAULT_THRESHOLD  # the model's "not sure" threshold (core.base.verdict)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax of a normalised float batch (B, 1, S, S)."""
        self.model.eval()
        return batched_probabilities(self.model, x, None, device=self.device, batch_size=256)


def as_runner(model_source, device: str = "cpu") -> ModelRunner:
    """A `ModelRunner` from a checkpoint path, a Predictor, a (model, meta) pair or a runner."""
    if isinstance(model_source, ModelRunner):
        return model_source
    if isinstance(model_source, (str, os.PathLike)):
        from ..store.checkpoint import load_model  # lazily: only needed for paths

        model, meta = load_model(model_source, device=device)
        return ModelRunner(model, int(meta.input_size), float(meta.mean), float(meta.std), device, threshold_of(meta))
    if isinstance(model_source, tuple) and len(model_source) == 2:
        model, meta = model_source
        return ModelRunner(model, int(meta.input_size), float(meta.mean), float(meta.std), device, threshold_of(meta))
    model = getattr(model_source, "model", None)
    meta = getattr(model_source, "meta", None)
    if model is not None and meta is not None:  # a predict.Predictor
        dev = str(getattr(model_source, "device", device))
        threshold = float(getattr(model_source, "threshold", threshold_of(meta)))
        return ModelRunner(model, int(meta.input_size), float(meta.mean), float(meta.std), dev, threshold)
    raise TypeError(f"cannot evaluate with {type(model_source).__name__}; pass a checkpoint path or a Predictor")


# --------------------------------------------------------------------------------------------
# Preprocessing pipelines: PIL image -> normalised float tensor (1, S, S)


def _normalise_uint8(arr: np.ndarray, runner: ModelRunner) -> torch.Tensor:
    from ..learn.transforms import to_model_input

    return to_model_input(torch.from_numpy(np.array(arr, dtype=np.uint8))[None], runner.input_size,
                          runner.mean, runner.std)[0]


def app_input(img: Image.Image, runner: ModelRunner) -> torch.Tensor:
    return _normalise_uint8(np.asarray(prepare_photo(img).final), runner)


def notebook_input(img: Image.Image, runner: ModelRunner) -> torch.Tensor:
    """Resize -> Grayscale -> ToTensor -> Normalize, as the origin notebook's transform chain."""
    from torchvision.transforms import functional as TF

    s = runner.input_size
    grey = TF.rgb_to_grayscale(TF.resize(img.convert("RGB"), [s, s], antialias=True))
    return TF.normalize(TF.to_tensor(grey), [runner.mean], [runner.std])


def simple_input(img: Image.Image, runner: ModelRunner) -> torch.Tensor:
    """Trim the corner colour, invert, pad to a square, stretch contrast: the obvious first try."""
    grey = img.convert("L")
    corner = grey.getpixel((0, 0))
    diff = ImageChops.difference(grey, Image.new("L", grey.size, corner)).point(lambda v: 255 if v > 30 else 0)
    box = diff.getbbox()
    if box:
        grey = grey.crop(box)
    grey = ImageOps.invert(grey) if corner > 127 else grey
    side = max(grey.size)
    square = Image.new("L", (side, side), 0)
    square.paste(grey, ((side - grey.width) // 2, (side - grey.height) // 2))
    small = ImageOps.autocontrast(square.resize((FRAME, FRAME), Image.Resampling.LANCZOS))
    return _normalise_uint8(np.asarray(small), runner)


PIPELINE_FUNCTIONS: dict[str, Callable[[Image.Image, ModelRunner], torch.Tensor]] = {
    "app": app_input,
    "notebook": notebook_input,
    "simple": simple_input,
}


# --------------------------------------------------------------------------------------------
# Folders and results


def labelled_photos(root: str | os.PathLike[str]) -> list[tuple[Path, int]]:
    """(path, class index) for every photo under `<index>_<name>/` subfolders of root, sorted;
    photos in a `none/` subfolder (none of the ten classes) get NONE_LABEL (-1). The folder is
    read by `core.data.fashion_mnist.labelled_photos.read_photo_folder`, as training with photos reads it."""
    root = Path(root)
    return [(root / photo.file, photo.label) for photo in read_photo_folder(root)]


@dataclass
class PhotoEvalResult:
    pipeline: str
    root: str
    accuracy: float  # 0..1 over the readable photos
    n: int
    confusion: np.ndarray  # (10, 10) rows = true class
    per_class: list[dict]  # index, name, support, correct, accuracy (None when no photos)
    files: list[dict] = field(default_factory=list)  # path, true, pred, confidence, not_sure, error
    errors: int = 0
    threshold: float = DEFAULT_THRESHOLD
    not_sure_rate: float = float("nan")  # share of the ten classes' photos flagged "not sure"
    confidently_wrong_rate: float = float("nan")  # wrong and not flagged
    n_none: int = 0  # photos of none of the ten (a none/ subfolder)
    none_flagged_rate: float = float("nan")  # share of those flagged "not sure" (the right answer)

    def classes_present(self) -> list[dict]:
        return [c for c in self.per_class if c["support"]]

    def worst_class(self) -> dict | None:
        present = self.classes_present()
        return min(present, key=lambda c: c["accuracy"]) if present else None

    def to_json(self) -> str:
        return json.dumps({
            "pipeline": self.pipeline, "root": self.root, "accuracy": self.accuracy, "n": self.n,
            "errors": self.errors, "threshold": self.threshold, "not_sure_rate": _json_number(self.not_sure_rate),
            "confidently_wrong_rate": _json_number(self.confidently_wrong_rate), "n_none": self.n_none,
            "none_flagged_rate": _json_number(self.none_flagged_rate), "per_class": self.per_class, "confusion": self.confusion.tolist(),
            "files": self.files,
        }, indent=2)

    def table(self) -> str:
        """The per-class table as plain text (what the CLI prints)."""
        lines = [f"{'class':<14}{'photos':>7}{'correct':>9}{'accuracy':>10}"]
        for c in self.classes_present():
            lines.append(f"{c['name']:<14}{c['support']:>7}{c['correct']:>9}{100 * c['accuracy']:>9.1f}%")
        lines.append(f"{'overall':<14}{self.n:>7}{int(round(self.accuracy * self.n)):>9}{100 * self.accuracy:>9.1f}%")
        if self.n and math.isfinite(self.not_sure_rate):
            lines.append(f"not sure (below {100 * self.threshold:.1f} %): {100 * self.not_sure_rate:.1f}% of the photos; "
                         f"confidently wrong: {100 * self.confidently_wrong_rate:.1f}%")
        if self.n_none:
            lines.append(f"none of the ten: {count_noun(self.n_none, 'photo')}, {100 * self.none_flagged_rate:.1f}% called \"not sure\"")
        return "\n".join(lines)


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def evaluate_photo_items(model_source, items: Sequence[tuple[Path, int]], pipeline: str = "app",
                         progress: Callable[[int, int], None] | None = None,
                         stop: threading.Event | None = None, root: str = "",
                         device: str = "cpu") -> PhotoEvalResult:
    """Evaluate on an explicit list of (path, label); see `evaluate_photo_folder`."""
    if pipeline not in PIPELINE_FUNCTIONS:
        raise ValueError(f"unknown pipeline {pipeline!r}; use one of {', '.join(PIPELINES)}")
    runner = as_runner(model_source, device)
    prep = PIPELINE_FUNCTIONS[pipeline]
    inputs, labels, files = [], [], []
    for i, (path, label) in enumerate(items):
        if stop is not None and stop.is_set():
            break
        # A name that is not valid UTF-8 is shown with U+FFFD and kept exactly in "path_bytes".
        record = {**path_fields(path), "true": CLASS_NAMES[label] if label >= 0 else NONE_NAME, "pred": None,
                  "confidence": None, "not_sure": None, "error": None}
        try:
            inputs.append(prep(load_image(path), runner))
            labels.append(label)
        except FmnistError as exc:
            record["error"] = str(exc)
        except MemoryError:
            # One photo too large for the memory left skips that photo, as `fmnist predict` does;
            # it used to end the whole run with "unexpected error".
            record["error"] = f"{path.name} could not be prepared: not enough memory for it."
        except Exception as exc:  # noqa: BLE001 — a decoder bug on one photo must not stop the run
            record["error"] = f"{path.name} could not be read ({type(exc).__name__}: {exc})."
        if record["error"] is not None:
            record["error"] = utf8_text(record["error"])
        files.append(record)
        if progress is not None:
            progress(i + 1, len(items))
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    metrics = photo_metrics(np.zeros((0, NUM_CLASSES)), np.zeros(0, np.int64), runner.threshold)
    if inputs:
        probs = runner.probabilities(torch.stack(inputs))
        conf, pred = probs.max(1)
        readable = [r for r in files if r["error"] is None]
        for record, p, c, t in zip(readable, pred.tolist(), conf.tolist(), labels):
            record["pred"], record["confidence"] = CLASS_NAMES[p], round(float(c), 4)
            record["not_sure"] = is_not_sure(c, runner.threshold)
            if t >= 0:
                confusion[t, p] += 1
        metrics = photo_metrics(probs.numpy(), np.array(labels), runner.threshold)
    n = int(confusion.sum())
    per_class = []
    for k in range(NUM_CLASSES):
        support = int(confusion[k].sum())
        per_class.append({"index": k, "name": CLASS_NAMES[k], "support": support,
                          "correct": int(confusion[k, k]),
                          "accuracy": (float(confusion[k, k]) / support) if support else None})
    return PhotoEvalResult(pipeline=pipeline, root=root, accuracy=float(np.trace(confusion)) / n if n else 0.0,
                           n=n, confusion=confusion, per_class=per_class, files=files,
                           errors=sum(1 for r in files if r["error"]), threshold=runner.threshold,
                           not_sure_rate=metrics["not_sure_rate"],
                           confidently_wrong_rate=metrics["confidently_wrong_rate"],
                           n_none=metrics["n_none"], none_flagged_rate=metrics["none_flagged_rate"])


def evaluate_photo_folder(model_source, root: str | os.PathLike[str], pipeline: str = "app",
                          progress: Callable[[int, int], None] | None = None,
                          stop: threading.Event | None = None, device: str = "cpu") -> PhotoEvalResult:
    """Accuracy, per-class table, confusion matrix and per-file predictions on a labelled folder.

    `model_source`: a checkpoint path, a `predict.Predictor`, a `(model, meta)` pair or a
    `ModelRunner`. Unreadable photos are listed with their error and left out of the accuracy.
    `progress(done, total)` is called per photo; `stop` ends early (the result covers what was done).
    """
    items = labelled_photos(root)
    return evaluate_photo_items(model_source, items, pipeline, progress, stop, root=str(root), device=device)
