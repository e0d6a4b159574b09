"""The one "not sure" rule, used by the CLI, the GUI, the evaluation of photos and the server.

A prediction is *not sure* when the model's top probability is below its threshold. A model
knows its own threshold: training with real photos calibrates it on the held-out senders' photos
(`calibrate`) and stores it in the checkpoint's metrics (`not_sure_threshold`); a model without
one (older checkpoints, the origin notebook's weights) uses `DEFAULT_THRESHOLD`. The Predict
page's spin box may override it for a session.

A second, lower level says more: below `out_of_scope_threshold` the model's probabilities are
nearly flat, which is what a model trained with "none of the ten" photos (outlier exposure) does
on things that are not one of the ten classes: "this may not be one of the ten".

No Qt, numpy or torch here: the GUI and the server use it as it is; the calibration that sets
a model's thresholds is in `core.learn.calibration`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .labels import CLASS_NAMES

DEFAULT_THRESHOLD = 0.5
# In a model's metrics: its "not sure" level is DEFAULT_THRESHOLD because too few held-out photos
# were there to measure one (core.learn.calibration), not a level of its own.
UNCALIBRATED_KEY = "threshold_uncalibrated"


def _valid_probability(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and 0.0 < v < 1.0 else None


def threshold_of(meta: Any) -> float:
    """The model's own "not sure" threshold (from its metadata), or DEFAULT_THRESHOLD."""
    metrics = getattr(meta, "metrics", None)
    if isinstance(metrics, Mapping):
        value = _valid_probability(metrics.get("not_sure_threshold"))
        if value is not None:
            return value
    return DEFAULT_THRESHOLD


def is_calibrated(meta_or_metrics: Any) -> bool:
    """Whether a model has a "not sure" level of its own (measured on held-out photos, or inherited
    from the model it was fine-tuned from), rather than the uncalibrated DEFAULT_THRESHOLD.
    Takes a model's metadata or its metrics."""
    metrics = meta_or_metrics if isinstance(meta_or_metrics, Mapping) else getattr(meta_or_metrics, "metrics", None)
    if not isinstance(metrics, Mapping) or _valid_probability(metrics.get("not_sure_threshold")) is None:
        return False
    return not metrics.get(UNCALIBRATED_KEY)


def out_of_scope_threshold_of(meta: Any) -> float | None:
    """Below this top probability a model trained with "none" photos says "may not be one of the
    ten"; None for models without that calibration (they cannot tell)."""
    metrics = getattr(meta, "metrics", None)
    if isinstance(metrics, Mapping):
        return _valid_probability(metrics.get("out_of_scope_threshold"))
    return None


def is_not_sure(confidence: float, threshold: float) -> bool:
    """The rule itself. `confidence` is compared unrounded: 0.4996 is below a 0.5 threshold even
    though it prints as 50.0 %, so the GUI and CLI print confidences with `format_confidence`."""
    return not (confidence >= threshold)  # NaN is never sure


def shown_percent(value: float) -> float:
    """A probability as the percentage the app shows, to one decimal, never rounded up
    (0.4996 -> 49.9). The one rounding rule for confidences and thresholds alike: the Predict
    page's spin box shows a threshold with it, so it reads as the "not sure below" text does.
    (Rounded to 1e-6 first, so a typed 35.2 % stays 35.2, not 35.1 by binary representation.)"""
    return math.floor(round(value * 1000, 6)) / 10


def format_confidence(confidence: float) -> str:
    """A percentage that never rounds up across a threshold (0.4996 -> "49.9 %")."""
    return f"{shown_percent(confidence):.1f} %"


@dataclass(frozen=True)
class Verdict:
    index: int
    label: str
    confidence: float
    not_sure: bool
    out_of_scope: bool  # "may not be one of the ten" (implies not_sure)

    def describe(self) -> str:
        """One short line a person reads: the verdict, honest about doubt."""
        pct = format_confidence(self.confidence)
        if self.out_of_scope:
            return f"may not be one of the ten classes (best guess {self.label}, {pct})"
        if self.not_sure:
            return f"not sure: best guess {self.label}, {pct}"
        return f"{self.label}, {pct}"


def decide(probs: Sequence[float], threshold: float,
           out_of_scope_threshold: float | None = None, none_probability: float | None = None) -> Verdict:
    """The verdict for one image's class probabilities (10,): a list, a numpy array or a tensor.

    `none_probability`: a photo model's "none of these" output. When it outweighs the best of
    the ten, the image may not be one of the ten (and so is not sure, whatever the threshold)."""
    p = [float(v) for v in (probs.tolist() if hasattr(probs, "tolist") else probs)]
    nan_at = next((i for i, v in enumerate(p) if v != v), None)  # numpy's argmax picks a NaN
    index = nan_at if nan_at is not None else max(range(len(p)), key=p.__getitem__)  # first of equal maxima
    confidence = p[index]
    not_sure = is_not_sure(confidence, threshold)
    oos = out_of_scope_threshold is not None and not_sure and confidence < out_of_scope_threshold
    if none_probability is not None and none_probability >= confidence:
        not_sure = oos = True
    return Verdict(index, CLASS_NAMES[index], confidence, not_sure, bool(oos))


def threshold_source(meta: Any) -> str | None:
    """Where a fine-tuned model's threshold came from, for the words beside it: "inherited from
    “Default model”" (too few kept-out photos to recalibrate it; core.learn.calibration
    `finetuned_thresholds`), "calibrated on your 24 kept-out photos"; None for every other model
    (its threshold is its own, from its training)."""
    metrics = getattr(meta, "metrics", None)
    if not isinstance(metrics, Mapping):
        return None
    parent = metrics.get("threshold_inherited_from")
    if isinstance(parent, str) and parent:
        return f"inherited from “{parent}”"
    count = metrics.get("threshold_calibrated_on")
    if isinstance(count, int) and not isinstance(count, bool) and count > 0:
        return f"calibrated on your {count} kept-out photos"
    return None
