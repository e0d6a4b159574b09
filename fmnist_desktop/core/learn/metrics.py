"""What a model's answers on a labelled set come to: accuracy, confusion matrix, per-class metrics,
the misclassified images ordered by how sure the model was. numpy only (no torch): the lite
edition evaluates through onnxruntime (core.jobs.evaluate) and builds the same result.

All rates (accuracy, precision, recall, F1) are percentages 0..100, like the training events.
The confusion matrix has the true class on rows and the predicted class on columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base.labels import CLASS_NAMES, NUM_CLASSES


@dataclass(frozen=True)
class EvaluationResult:
    accuracy: float  # percent
    loss: float  # mean cross-entropy
    confusion: np.ndarray  # (10, 10) int64, rows = true class, columns = predicted class
    per_class: list[dict[str, Any]]  # {"name", "precision", "recall", "f1", "support"}, rates in %
    predictions: np.ndarray  # (N,) int64
    confidences: np.ndarray  # (N,) float32, probability of the predicted class (0..1)
    probabilities: np.ndarray  # (N, 10) float32
    labels: np.ndarray  # (N,) int64, the true classes
    class_names: tuple[str, ...] = CLASS_NAMES

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def cell_indices(self, true: int, pred: int) -> np.ndarray:
        """Indices of the images of class `true` predicted as `pred` (one confusion-matrix cell),
        the most confident first (for an off-diagonal cell: the worst mistakes first)."""
        idx = np.flatnonzero((self.labels == true) & (self.predictions == pred))
        return idx[np.argsort(-self.confidences[idx], kind="stable")]

    def misclassified(self) -> np.ndarray:
        """Indices of all wrongly classified images, the most confident mistakes first."""
        idx = np.flatnonzero(self.labels != self.predictions)
        return idx[np.argsort(-self.confidences[idx], kind="stable")]

    def most_confused(self, n: int = 5) -> list[tuple[str, str, int]]:
        """The `n` largest off-diagonal cells as (true name, predicted name, count)."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        order = np.argsort(-off, axis=None, kind="stable")[:n]
        pairs = [np.unravel_index(i, off.shape) for i in order]
        return [(self.class_names[t], self.class_names[p], int(off[t, p])) for t, p in pairs if off[t, p] > 0]

    def to_dict(self) -> dict[str, Any]:
        """The summary (no per-image arrays) as plain JSON-able values."""
        return {
            "n": len(self),
            "accuracy": round(self.accuracy, 4),
            "loss": round(self.loss, 6),
            "class_names": list(self.class_names),
            "confusion": self.confusion.tolist(),
            "per_class": [
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in self.per_class
            ],
            "most_confused": [list(t) for t in self.most_confused()],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = true class."""
    flat = np.asarray(labels, dtype=np.int64) * num_classes + np.asarray(predictions, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_metrics(confusion: np.ndarray, class_names=CLASS_NAMES) -> list[dict[str, Any]]:
    """Precision, recall, F1 (percent; 0 where undefined) and support for each class."""
    true_pos = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    support = confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_pos / predicted, 0.0)
        recall = np.where(support > 0, true_pos / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return [
        {
            "name": class_names[i],
            "precision": float(100 * precision[i]),
            "recall": float(100 * recall[i]),
            "f1": float(100 * f1[i]),
            "support": int(support[i]),
        }
        for i in range(len(class_names))
    ]


def result_from_probabilities(probabilities: np.ndarray, labels: np.ndarray, loss: float | None = None) -> EvaluationResult:
    """An EvaluationResult from (N,10) class probabilities and true labels (also used for photo sets)."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    predictions = probabilities.argmax(axis=1).astype(np.int64) if len(labels) else np.zeros(0, np.int64)
    confidences = probabilities.max(axis=1) if len(labels) else np.zeros(0, np.float32)
    if loss is None:
        picked = probabilities[np.arange(len(labels)), labels] if len(labels) else np.ones(0)
        loss = float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()) if len(labels) else 0.0
    confusion = confusion_matrix(labels, predictions)
    accuracy = float(100.0 * (predictions == labels).mean()) if len(labels) else 0.0
    return EvaluationResult(
        accuracy=accuracy,
        loss=float(loss),
        confusion=confusion,
        per_class=per_class_metrics(confusion),
        predictions=predictions,
        confidences=confidences.astype(np.float32),
        probabilities=probabilities,
        labels=labels,
    )
