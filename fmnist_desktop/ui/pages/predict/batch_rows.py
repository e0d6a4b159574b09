"""A row of the Predict page's list (`BatchRow`): the photo's answer, kept small for the table (a
40-pixel thumbnail, the probabilities, the verdict its Prediction carries), and what the row says
in the Note column. `batch_row` makes one from a Prediction in the worker thread.

A row decides its own verdict: the Predictor's (with the threshold of the model that answered it:
the verdict `fmnist predict` prints), or, when the user sets their own threshold on the page, the
same rule (`core.base.verdict.decide`) on the row's stored probabilities. It remembers which
active models answered it (`models_key`: out of date once they are no longer active, see
`BatchView.set_current_models`) and the class it was kept in My photos as (`kept_note`).
Apart from the table widget (`batch_view`), so the worker side (`predictors`) needs no view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QImage

from ....core.base.labels import NONE_INDEX, label_name
from ....core.base.verdict import DEFAULT_THRESHOLD, Verdict, decide
from ...widgets.images import thumbnail_qimage

NOT_SURE_NOTE = "not sure"  # the Note column of a row below the threshold
OUT_OF_SCOPE_NOTE = "may not be one of the ten classes"  # only when the model says so (out_of_scope)
STALE_NOTE = "out of date: the previous model's answer"  # until the row is classified again


@dataclass
class BatchRow:
    path: str
    label: str | None
    index: int | None
    confidence: float
    runner_up: str | None
    runner_up_confidence: float
    probabilities: tuple[float, ...]
    error: str | None
    thumbnail: QImage | None
    display: str = ""  # the name shown: relative to the dropped folder (keeps the sub-folder)
    out_of_scope_threshold: float | None = None  # the model's "may not be one of the ten" level
    decided: Verdict | None = None  # the verdict the Predictor decided (Prediction.verdict)
    model_kind: str = ""  # which model answered: "photo" or "fmnist" ("" for an unreadable file)
    model_name: str = ""
    none_probability: float | None = None  # the photo model's "none of these" output
    threshold: float | None = None  # the "not sure" level it was judged with (its model's own)
    models_key: str = ""  # the active models that answered it (predictors.models_key); "" unknown
    kept_as: int | None = None  # kept in My photos as this class (NONE_INDEX: none of the ten)

    def verdict(self, threshold: float | None = None) -> Verdict | None:
        """The row's verdict (None for an unreadable file): the Predictor's, or with the user's
        own `threshold` the same rule (`core.base.verdict.decide`) on the stored probabilities."""
        if self.error is not None:
            return None
        if threshold is None and self.decided is not None:
            return self.decided
        return decide(self.probabilities, DEFAULT_THRESHOLD if threshold is None else threshold,
                      self.out_of_scope_threshold, self.none_probability)

    def not_sure(self, threshold: float | None = None) -> bool:
        """A readable image whose verdict is "not sure" (core.base.verdict, as the CLI decides)."""
        verdict = self.verdict(threshold)
        return verdict is not None and verdict.not_sure

    def note(self, threshold: float | None = None) -> str:
        """The Note column: the error, "not sure", "may not be one of the ten classes", or ""."""
        if self.error is not None:
            return self.error
        verdict = self.verdict(threshold)
        if verdict.out_of_scope:
            return OUT_OF_SCOPE_NOTE
        return NOT_SURE_NOTE if verdict.not_sure else ""


def confirm_index(verdict, index: int | None) -> int | None:
    """The class "Confirm" keeps a photo as: "None of the ten" when the verdict says it may not be
    one of the ten (the top class is then no answer to confirm), else the top class."""
    if verdict is not None and getattr(verdict, "out_of_scope", False):
        return NONE_INDEX
    return index


def kept_note(row: BatchRow) -> str:
    """The mark of a row kept in My photos: "✓ kept as Sneaker" (its answer confirmed) or
    "✓ corrected to Sneaker"; "" otherwise."""
    if row.kept_as is None:
        return ""
    name = label_name(row.kept_as)
    confirmed = row.kept_as in (row.index, confirm_index(row.verdict(), row.index))
    return f"✓ kept as {name}" if confirmed else f"✓ corrected to {name}"


def batch_row(prediction, path: str, display: str = "", model_names: dict[str, str] | None = None,
              models_key: str = "") -> BatchRow:
    """A table row from a Prediction (worker thread): thumbnail made here, heavy images dropped."""
    error = getattr(prediction, "error", None)
    thumbnail = None
    steps = getattr(prediction, "steps", None)
    source_image = getattr(prediction, "thumbnail", None)
    if source_image is None and steps is not None:
        source_image = getattr(steps, "original", None)
    if source_image is None:
        source_image = getattr(prediction, "model_input", None)
    if source_image is not None:
        try:
            thumbnail = thumbnail_qimage(source_image, 40)
        except (OSError, ValueError):
            thumbnail = None
    display = display or Path(path).name
    if error:
        return BatchRow(path, None, None, 0.0, None, 0.0, (), str(error), thumbnail, display, models_key=models_key)
    top_k = list(getattr(prediction, "top_k", []) or [])
    runner_up, runner_conf = (top_k[1] if len(top_k) > 1 else (None, 0.0))
    return BatchRow(
        path,
        prediction.label,
        prediction.index,
        float(prediction.confidence),
        runner_up,
        float(runner_conf),
        tuple(float(p) for p in prediction.probabilities),
        None,
        thumbnail,
        display,
        prediction.out_of_scope_threshold,
        prediction.verdict,
        getattr(prediction, "model_kind", ""),
        (model_names or {}).get(getattr(prediction, "model_kind", "")) or getattr(prediction, "model_name", ""),
        getattr(prediction, "none_probability", None),
        getattr(prediction, "threshold", None),
        models_key,
    )
