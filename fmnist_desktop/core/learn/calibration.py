"""Setting a model's "not sure" thresholds from held-out photos, and the figures that judge them.

The rule that uses the thresholds is `core.base.verdict` (torch-free); this is the part that
runs a model: `calibrate` (called by training with real photos) and `photo_metrics`, the same
comparison applied to a whole array of probabilities. `finetuned_thresholds` is what a fine-tuned
model of either kind keeps: thresholds recalibrated on the user's kept-out photos when there are
enough of them, else its parent's, with the parent named (`threshold_inherited_from`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..base.verdict import DEFAULT_THRESHOLD, UNCALIBRATED_KEY

# Calibration targets on held-out photos of the ten classes: at most this share is "not sure",
# and at most OUT_OF_SCOPE_RATE is "may not be one of the ten".
TARGET_NOT_SURE_RATE = 0.12
OUT_OF_SCOPE_RATE = 0.03
# The photo model's level is set for honesty rather than for a share of "not sure": at most this
# share of the held-out photos of the ten is wrong without being flagged (issue 28; the trade-off
# curve is in docs/BENCHMARKS.md, "Real photos, round four").
PHOTO_TARGET_WRONG_RATE = 0.03
# In-class held-out photos needed to set a threshold from them (fewer: a quantile of a handful).
MIN_CALIBRATION_PHOTOS = 20


def photo_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """On photos with labels 0..9 (and -1 = none of the ten): accuracy (top-1, in-class photos),
    not-sure rate, confidently-wrong rate (wrong and not flagged), and the share of "none"
    photos flagged not sure. Rates in 0..1; NaN where there is nothing to measure."""
    probs = np.asarray(probs, np.float64)  # (N, 10), or (N, 11) with a photo model's "none"; N may be 0
    labels = np.asarray(labels)
    if probs.ndim == 2 and probs.shape[1] > 10:
        probs, none_p = probs[:, :10], probs[:, 10]
    else:
        none_p = None
    conf, pred = probs.max(1), probs.argmax(1)
    known = (labels >= 0) & (labels < 10)  # -1 or 10: none of the ten
    flagged = ~(conf >= threshold)  # is_not_sure, for a whole array
    if none_p is not None:
        flagged |= none_p >= conf  # verdict.decide: "none" outweighs the best of the ten
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


def probabilities(model: "torch.nn.Module", images_uint8: np.ndarray, input_size: int, mean: float,
                  std: float) -> np.ndarray:
    """Softmax of a model over uint8 (N, 28, 28) images, in chunks, on the model's device. (torch
    is imported here: a photo head's fine-tune, which has none, uses only the numpy rules below.)"""
    import torch

    from .inference import probabilities as batched_probabilities

    model.eval()
    x_all = torch.from_numpy(np.ascontiguousarray(images_uint8))
    return batched_probabilities(model, x_all, input_size, mean, std, batch_size=512).numpy()


def calibrate(model: "torch.nn.Module", images: np.ndarray, labels: np.ndarray, input_size: int,
              mean: float, std: float, target_not_sure: float = TARGET_NOT_SURE_RATE) -> dict[str, Any]:
    """Thresholds from held-out photos: "not sure" below the top probability that
    `target_not_sure` of the in-class photos fall under; "may not be one of the ten" below the
    level OUT_OF_SCOPE_RATE of them fall under. Returns the thresholds and the held-out figures."""
    probs = probabilities(model, images, input_size, mean, std)
    return calibrate_probabilities(probs, labels, target_not_sure)


def calibrate_probabilities(probs: np.ndarray, labels: np.ndarray,
                            target_not_sure: float = TARGET_NOT_SURE_RATE) -> dict[str, Any]:
    """`calibrate` on probabilities already computed ((N, 10) of a 28×28 network)."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    conf = probs.max(1)
    known = (labels >= 0) & (labels < 10)
    if known.sum() >= MIN_CALIBRATION_PHOTOS:
        threshold = float(np.quantile(conf[known], target_not_sure))
        oos = float(np.quantile(conf[known], OUT_OF_SCOPE_RATE))
    else:
        threshold, oos = DEFAULT_THRESHOLD, None
    threshold = float(np.clip(threshold, 0.2, 0.95))
    result: dict[str, Any] = {"not_sure_threshold": round(threshold, 4),
                              "out_of_scope_threshold": None if oos is None else round(min(oos, threshold), 4)}
    if known.sum() < MIN_CALIBRATION_PHOTOS:
        result[UNCALIBRATED_KEY] = True  # the level is the default, not measured: the app says so
    result["held_out_photos"] = {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
                                 for k, v in photo_metrics(probs, labels, threshold).items()}
    return result


def wrong_rate_threshold(probs: np.ndarray, labels: np.ndarray, target_wrong: float) -> float:
    """The lowest "not sure" level at which at most `target_wrong` of the in-class photos are
    wrong and not flagged (a photo model's "none" output flags on its own, as the verdict does)."""
    known = (labels >= 0) & (labels < 10)
    ten = probs[known, :10]
    conf, pred = ten.max(1), ten.argmax(1)
    flagged_anyway = probs[known, 10] >= conf if probs.shape[1] > 10 else np.zeros(len(conf), bool)
    wrong_conf = np.sort(conf[(pred != labels[known]) & ~flagged_anyway])
    allowed = int(np.floor(target_wrong * int(known.sum()) + 1e-9))
    if len(wrong_conf) <= allowed:
        return 0.0
    # Flag every wrong answer at or below the (allowed+1)-th most confident one.
    return float(np.nextafter(wrong_conf[len(wrong_conf) - allowed - 1], 1.0))


def calibrate_photo(probs: np.ndarray, labels: np.ndarray, target_wrong: float = PHOTO_TARGET_WRONG_RATE) -> dict[str, Any]:
    """A photo model's threshold from its (N, 11) probabilities on held-out photos (labels 0..9,
    10 = none of the ten): the lowest level at which at most `target_wrong` of the in-class
    photos are confidently wrong (`wrong_rate_threshold`). "May not be one of the ten" comes
    from the model's own "none" output (core.base.verdict.decide), so no second level is set."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    known = (labels >= 0) & (labels < 10)
    if known.sum() >= MIN_CALIBRATION_PHOTOS:
        threshold = wrong_rate_threshold(probs, labels, target_wrong)
    else:
        threshold = DEFAULT_THRESHOLD
    threshold = float(np.clip(threshold, 0.2, 0.95))
    result: dict[str, Any] = {"not_sure_threshold": round(threshold + 5e-5, 4), "out_of_scope_threshold": None}
    if known.sum() < MIN_CALIBRATION_PHOTOS:
        result[UNCALIBRATED_KEY] = True  # the level is the default, not measured: the app says so
    result["held_out_photos"] = {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
                                 for k, v in photo_metrics(probs, labels, result["not_sure_threshold"]).items()}
    return result


def finetuned_thresholds(parent_name: str, parent_metrics: Any, probs: np.ndarray | None,
                         labels: np.ndarray | None) -> dict[str, Any]:
    """The "not sure" thresholds of a model fine-tuned from a parent (either kind), as metrics.

    `probs`: the fine-tuned model's probabilities on the user's kept-out photos ((N, 10) for a
    28×28 network, (N, 11) for a photo model; None when they were not measured), `labels` theirs.
    With at least MIN_CALIBRATION_PHOTOS in-class photos the thresholds are recalibrated on them
    (as training with photos does; `threshold_calibrated_on` counts them). Otherwise the parent's
    thresholds are kept and `threshold_inherited_from` names the parent: a fine-tune never falls
    back to the uncalibrated 50 %."""
    if probs is not None and labels is not None and len(labels):
        probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
        n_known = int(((labels >= 0) & (labels < 10)).sum())
        if n_known >= MIN_CALIBRATION_PHOTOS:
            result = (calibrate_photo(probs, labels) if probs.shape[1] > 10
                      else calibrate_probabilities(probs, labels))
            result["threshold_calibrated_on"] = n_known
            return result
    parent = parent_metrics if isinstance(parent_metrics, dict) else {}
    out: dict[str, Any] = {k: parent[k] for k in ("not_sure_threshold", "out_of_scope_threshold", UNCALIBRATED_KEY)
                           if k in parent}
    out["threshold_inherited_from"] = str(parent_name)
    return out


def started_from_parent(calibration: dict[str, Any] | None, parent_name: str, parent_metrics: Any) -> dict[str, Any]:
    """The "not sure" thresholds of a run that started from a parent model (`fmnist train --init`,
    either kind), as metrics: its own calibration when it was made on at least
    MIN_CALIBRATION_PHOTOS in-class held-out photos, else the parent's thresholds, named in
    `threshold_inherited_from` (the rule of `finetuned_thresholds`, which the GUI's fine-tunes
    follow; the CLI used to fall back to the uncalibrated 50 %). The held-out figures are kept."""
    out = dict(calibration or {})
    held = out.get("held_out_photos")
    n_known = held.get("n") if isinstance(held, dict) else None
    if isinstance(n_known, int) and n_known >= MIN_CALIBRATION_PHOTOS:
        return out
    out.pop("not_sure_threshold", None)
    out.pop("out_of_scope_threshold", None)
    out.pop(UNCALIBRATED_KEY, None)  # the parent's level replaces the default (and says whether it is its own)
    out.update(finetuned_thresholds(parent_name, parent_metrics, None, None))
    return out
