"""The one "not sure" rule, used by the CLI, the GUI, the evaluation of photos and the server.

A prediction is *not sure* when the model's top probability is below its threshold. A model
knows its own threshold: training with real photos calibrates it on the held-out senders' photos
(`calibrate`) and stores it in the checkpoint's metrics (`not_sure_threshold`); a model without
one (older checkpoints, the origin notebook's weights) uses `DEFAULT_THRESHOLD`. The Predict
page's spin box may override it for a session.

A second, lower level says more: below `out_of_scope_threshold` the model's probabilities are
nearly flat, which is what a model trained with "none of the ten" photos (outlier exposure) does
on things that are not one of the ten classes: "this may not be one of the ten".

No Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from .labels import CLASS_NAMES

DEFAULT_THRESHOLD = 0.5
# Calibration targets on held-out photos of the ten classes: at most this share is "not sure",
# and at most OUT_OF_SCOPE_RATE is "may not be one of the ten".
TARGET_NOT_SURE_RATE = 0.12
OUT_OF_SCOPE_RATE = 0.03


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


def format_confidence(confidence: float) -> str:
    """A percentage that never rounds up across a threshold (0.4996 -> "49.9 %")."""
    return f"{math.floor(confidence * 1000) / 10:.1f} %"


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


def decide(probs: np.ndarray | torch.Tensor, threshold: float,
           out_of_scope_threshold: float | None = None) -> Verdict:
    """The verdict for one image's class probabilities (10,)."""
    p = np.asarray(probs, dtype=np.float64)
    index = int(p.argmax())
    confidence = float(p[index])
    not_sure = is_not_sure(confidence, threshold)
    oos = out_of_scope_threshold is not None and not_sure and confidence < out_of_scope_threshold
    return Verdict(index, CLASS_NAMES[index], confidence, not_sure, bool(oos))


# ---------------------------------------------------------------------------------------------
# Calibration and photo metrics


def photo_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """On photos with labels 0..9 (and -1 = none of the ten): accuracy (top-1, in-class photos),
    not-sure rate, confidently-wrong rate (wrong and not flagged), and the share of "none"
    photos flagged not sure. Rates in 0..1; NaN where there is nothing to measure."""
    probs = np.asarray(probs, np.float64)  # (N, 10); N may be 0
    labels = np.asarray(labels)
    conf, pred = probs.max(1), probs.argmax(1)
    known = labels >= 0
    flagged = ~(conf >= threshold)  # is_not_sure, for a whole array
    nan = float("nan")
    k = int(known.sum())
    out = {
        "n": k,
        "accuracy": float((pred[known] == labels[known]).mean()) if k else nan,
        "not_sure_rate": float(flagged[known].mean()) if k else nan,
        "confidently_wrong_rate": float(((pred[known] != labels[known]) & ~flagged[known]).mean()) if k else nan,
        "n_none": int((~known).sum()),
        "none_flagged_rate": float(flagged[~known].mean()) if (~known).any() else nan,
    }
    return out


def probabilities(model: torch.nn.Module, images_uint8: np.ndarray, input_size: int, mean: float,
                  std: float) -> np.ndarray:
    """Softmax of a model over uint8 (N, 28, 28) images, in chunks, on the model's device."""
    from .inference import iter_logits

    model.eval()
    x_all = torch.from_numpy(np.ascontiguousarray(images_uint8))
    out = [torch.softmax(logits, 1).cpu().numpy()
           for _end, logits in iter_logits(model, x_all, input_size, mean, std, batch_size=512)]
    return np.concatenate(out) if out else np.zeros((0, len(CLASS_NAMES)))


def calibrate(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, input_size: int,
              mean: float, std: float, target_not_sure: float = TARGET_NOT_SURE_RATE) -> dict[str, Any]:
    """Thresholds from held-out photos: "not sure" below the top probability that
    `target_not_sure` of the in-class photos fall under; "may not be one of the ten" below the
    level OUT_OF_SCOPE_RATE of them fall under. Returns the thresholds and the held-out figures."""
    probs = probabilities(model, images, input_size, mean, std)
    labels = np.asarray(labels)
    conf = probs.max(1)
    known = labels >= 0
    if known.sum() >= 20:
        threshold = float(np.quantile(conf[known], target_not_sure))
        oos = float(np.quantile(conf[known], OUT_OF_SCOPE_RATE))
    else:
        threshold, oos = DEFAULT_THRESHOLD, None
    threshold = float(np.clip(threshold, 0.2, 0.95))
    result: dict[str, Any] = {"not_sure_threshold": round(threshold, 4),
                              "out_of_scope_threshold": None if oos is None else round(min(oos, threshold), 4)}
    result["held_out_photos"] = {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
                                 for k, v in photo_metrics(probs, labels, threshold).items()}
    return result
