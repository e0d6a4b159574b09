"""Accuracy on a folder of labelled real photos with the app's own Predictor: each photo goes to
the model that suits it (the photo model, or the 28×28 network for a Fashion-MNIST-style image)
and its verdict, "not sure" included, is the one the app shows (core.base.verdict.decide, with
the photo model's "none of these" output). `fmnist evaluate-photos` uses it whenever a photo
model is among the models; `photo_eval.evaluate_photo_folder` remains the 28×28 network's
pipeline comparison (app / notebook / simple).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..base.labels import CLASS_NAMES, NUM_CLASSES
from ..base.output_safety import path_fields, utf8_text
from ..data.labelled_photos import NONE_NAME
from .photo_eval_result import PhotoEvalResult, labelled_photos
from .predictor import Prediction, Predictor


def _rate(mask: np.ndarray, within: np.ndarray) -> float:
    return float(mask[within].mean()) if within.any() else float("nan")


def evaluate_photo_folder_routed(predictor: Predictor, root: str | os.PathLike[str],
                                 progress: Callable[[int, int], None] | None = None,
                                 stop: threading.Event | None = None) -> PhotoEvalResult:
    """Accuracy, per-class table, not-sure / confidently-wrong rates and the share of `none`
    photos flagged, on `<index>_<name>/` (and `none/`) subfolders, as `evaluate_photo_folder`
    reports them; each file's record also says which model answered ("model": photo / fmnist)."""
    return evaluate_photo_items_routed(predictor, labelled_photos(root), progress, stop, root=str(root))[0]


def evaluate_photo_items_routed(predictor: Predictor, items: Sequence[tuple[Path, int]],
                                progress: Callable[[int, int], None] | None = None,
                                stop: threading.Event | None = None, root: str = "",
                                thumbnail_size: int | None = None) -> tuple[PhotoEvalResult, list[Prediction]]:
    """`evaluate_photo_folder_routed` on explicit (path, label) pairs; also returns every
    Prediction in file order (each with a thumbnail at most `thumbnail_size` big, when asked):
    the Evaluate page shows the photos behind each confusion-matrix cell."""
    label_of = {path: label for path, label in items}
    files, labels, preds, flagged = [], [], [], []
    predictions: list[Prediction] = []
    for r in predictor.iter_predict_paths([p for p, _ in items], progress=progress, stop=stop,
                                          files=[p for p, _ in items], thumbnail_size=thumbnail_size):
        predictions.append(r)
        label = label_of[r.path]
        record = {**path_fields(r.path), "true": CLASS_NAMES[label] if label >= 0 else NONE_NAME, "pred": None,
                  "confidence": None, "not_sure": None, "error": None, "model": None}
        if r.ok:
            record.update(pred=r.label, confidence=round(r.confidence, 4), not_sure=r.not_sure, model=r.model_kind)
            if r.none_probability is not None:
                record["none_probability"] = round(r.none_probability, 4)
            labels.append(label)
            preds.append(r.index)
            flagged.append(r.not_sure)
        else:
            record["error"] = utf8_text(r.error)
        files.append(record)
    labels_a, preds_a, flagged_a = np.array(labels, np.int64), np.array(preds, np.int64), np.array(flagged, bool)
    known = (labels_a >= 0) & (labels_a < NUM_CLASSES)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for t, p in zip(labels_a[known], preds_a[known]):
        confusion[t, p] += 1
    n = int(confusion.sum())
    per_class = []
    for k in range(NUM_CLASSES):
        support = int(confusion[k].sum())
        per_class.append({"index": k, "name": CLASS_NAMES[k], "support": support, "correct": int(confusion[k, k]),
                          "accuracy": (float(confusion[k, k]) / support) if support else None})
    wrong = preds_a != labels_a
    return PhotoEvalResult(
        pipeline="app", root=root, accuracy=float(np.trace(confusion)) / n if n else 0.0, n=n,
        confusion=confusion, per_class=per_class, files=files, errors=sum(1 for r in files if r["error"]),
        threshold=predictor.threshold, not_sure_rate=_rate(flagged_a, known),
        confidently_wrong_rate=_rate(wrong & ~flagged_a, known), n_none=int((~known).sum()),
        none_flagged_rate=_rate(flagged_a, ~known),
    ), predictions
