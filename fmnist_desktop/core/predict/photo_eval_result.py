"""A labelled photo folder and the accuracy measured on it (`PhotoEvalResult`), without torch:
`photo_eval` (the torch pipelines) and `routed_eval` (the app's Predictor) both report with it."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.formats import count_noun
from ..base.verdict import DEFAULT_THRESHOLD
from ..data.labelled_photos import read_photo_folder


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
