"""A fine-tuned model's "not sure" threshold and name (issue 18 items 2 and 8), without Qt."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from fmnist_desktop.core.base.verdict import threshold_of, threshold_source
from fmnist_desktop.core.jobs.runs import finetuned_name
from fmnist_desktop.core.learn.calibration import photo_metrics, MIN_CALIBRATION_PHOTOS, finetuned_thresholds
from fmnist_desktop.core.store.checkpoint import CheckpointMeta

PARENT = {"not_sure_threshold": 0.3516, "out_of_scope_threshold": 0.2389, "held_out_photos": {"n": 679}}


def _probs(n: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities whose top class is the label for most photos, more confidently when right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, classes))
    right = rng.random(n) < 0.8
    logits[np.arange(n), np.where(right, labels, (labels + 1) % 10)] += np.where(right, 3.5, 1.5)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs, labels


def test_too_few_kept_out_photos_inherit_the_parents_thresholds_and_name_it():
    probs, labels = _probs(MIN_CALIBRATION_PHOTOS - 1, 10)
    for got in (finetuned_thresholds("Default model", PARENT, probs, labels),
                finetuned_thresholds("Default model", PARENT, None, None)):
        assert got == {"not_sure_threshold": 0.3516, "out_of_scope_threshold": 0.2389,
                       "threshold_inherited_from": "Default model"}  # not the parent's held-out figures
    meta = CheckpointMeta.for_preset("standard", "x", metrics=dict(got))
    assert threshold_of(meta) == 0.3516 and threshold_source(meta) == "inherited from “Default model”"


def test_enough_kept_out_photos_recalibrate_for_either_kind():
    for classes in (10, 11):  # a 28×28 network; a photo model with its "none"
        probs, labels = _probs(3 * MIN_CALIBRATION_PHOTOS, classes, seed=classes)
        got = finetuned_thresholds("Parent", PARENT, probs, labels)
        assert got["threshold_calibrated_on"] == len(labels) and "threshold_inherited_from" not in got
        if classes == 10:  # the 28×28 network: 12 % of the kept-out photos below the level
            expected = float(np.clip(np.quantile(probs[:, :10].max(1), 0.12), 0.2, 0.95))
            assert got["not_sure_threshold"] == round(expected, 4)
        else:  # the photo model: the lowest level that leaves at most 3 % confidently wrong
            assert 0.2 < got["not_sure_threshold"] < 0.95
            assert got["held_out_photos"]["confidently_wrong_rate"] <= 0.03
            assert photo_metrics(probs, labels, got["not_sure_threshold"] - 0.01)["confidently_wrong_rate"] > 0.03
        assert got["held_out_photos"]["n"] == len(labels)
        meta = CheckpointMeta.for_preset("standard", "x", metrics=got)
        assert threshold_source(meta) == f"calibrated on your {len(labels)} kept-out photos"


def test_a_fine_tuned_model_is_named_after_its_parent_without_the_parents_notes_or_figures():
    when = datetime(2026, 12, 2, 15, 40)
    assert finetuned_name("Default model (shipped with the app)", " – 91.20%", when) == \
        "Default model, fine-tuned 2 Dec 15:40 – 91.20%"
    assert finetuned_name("Standard (recommended) – 12 epochs – 93.10%", "", when) == "Standard, fine-tuned 2 Dec 15:40"
    assert finetuned_name("Default model, fine-tuned 1 Dec 09:05 – 90.00%", " – 8 photos", when) == \
        "Default model, fine-tuned 2 Dec 15:40 – 8 photos"
    assert threshold_source(CheckpointMeta.for_preset("standard", "x", metrics={"not_sure_threshold": 0.3})) is None
