"""The one "not sure" rule (core.base.verdict): the model's own threshold, its default, the wording,
and the predictor and photo evaluation obeying it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fmnist_desktop.core.base import verdict
from fmnist_desktop.core.learn import calibration
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
from fmnist_desktop.core.models import build_model
from fmnist_desktop.core.predict.predictor import Predictor


def _meta(**metrics):
    return CheckpointMeta.for_preset("fast", "m", metrics=metrics)


@pytest.mark.parametrize("metrics, expected", [
    ({"not_sure_threshold": 0.37}, 0.37),
    ({}, verdict.DEFAULT_THRESHOLD),  # older checkpoints
    ({"not_sure_threshold": "high"}, verdict.DEFAULT_THRESHOLD),  # damaged values never break loading
    ({"not_sure_threshold": float("nan")}, verdict.DEFAULT_THRESHOLD),
    ({"not_sure_threshold": 1.5}, verdict.DEFAULT_THRESHOLD),
])
def test_a_model_knows_its_threshold_or_gets_the_default(metrics, expected):
    assert verdict.threshold_of(_meta(**metrics)) == expected
    assert verdict.threshold_of(object()) == verdict.DEFAULT_THRESHOLD


def test_the_rule_and_its_wording():
    probs = np.full(10, 0.05)
    probs[3] = 0.55
    assert not verdict.decide(probs, 0.5).not_sure
    sure = verdict.decide(probs, 0.5)
    assert sure.describe() == "Dress, 55.0 %"
    unsure = verdict.decide(probs, 0.6)
    assert unsure.not_sure and not unsure.out_of_scope
    assert unsure.describe() == "not sure: best guess Dress, 55.0 %"
    flat = verdict.decide(np.full(10, 0.1), 0.6, out_of_scope_threshold=0.2)
    assert flat.out_of_scope and "may not be one of the ten" in flat.describe()
    # 0.4996 is below a 50 % threshold, so it must never print as "50.0 %"
    assert verdict.is_not_sure(0.4996, 0.5) and verdict.format_confidence(0.4996) == "49.9 %"
    assert verdict.is_not_sure(float("nan"), 0.5)


def test_photo_metrics():
    probs = np.array([[0.9, 0.1] + [0] * 8, [0.3, 0.7] + [0] * 8, [0.55, 0.45] + [0] * 8, [0.5, 0.5] + [0] * 8])
    labels = np.array([0, 0, 1, -1])
    m = calibration.photo_metrics(probs, labels, threshold=0.6)
    assert m["n"] == 3 and m["accuracy"] == pytest.approx(1 / 3)
    assert m["not_sure_rate"] == pytest.approx(1 / 3)  # the 0.55 one
    assert m["confidently_wrong_rate"] == pytest.approx(1 / 3)  # the 0.7 one, wrong and sure
    assert m["n_none"] == 1 and m["none_flagged_rate"] == 1.0


def _model_file(tmp_path, **metrics):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "m.pt", build_model("bn_cnn_small"), _meta(**metrics))


def _image():
    img = Image.new("RGB", (60, 80), (240, 240, 240))
    ImageDraw.Draw(img).rectangle([15, 10, 45, 70], fill=(30, 30, 30))
    return img


def test_predictions_obey_the_checkpoints_threshold_and_json_says_so(tmp_path):
    strict = Predictor.from_checkpoint(_model_file(tmp_path, not_sure_threshold=0.99))
    [p] = strict.predict_images([_image()])
    assert p.not_sure and json.loads(json.dumps(p.to_dict()))["not_sure"] is True
    lenient = Predictor.from_checkpoint(_model_file(tmp_path, not_sure_threshold=0.01))
    [q] = lenient.predict_images([_image()])
    assert not q.not_sure and q.to_dict()["not_sure"] is False
    assert q.to_dict()["label"] == q.label and "top_k" in q.to_dict() and "index" in q.to_dict()


def test_a_model_without_a_threshold_uses_the_default(tmp_path):
    predictor = Predictor.from_checkpoint(_model_file(tmp_path))
    assert predictor.threshold == verdict.DEFAULT_THRESHOLD
    [p] = predictor.predict_images([_image()])
    assert p.not_sure == (p.confidence < verdict.DEFAULT_THRESHOLD)
    # the origin notebook's bare state_dict (.pth) loads too, with the default
    nb = tmp_path / "notebook.pth"
    torch.save(build_model("seed_cnn").state_dict(), nb)
    assert Predictor.from_checkpoint(nb).threshold == verdict.DEFAULT_THRESHOLD


def test_evaluate_photos_reports_not_sure_and_confidently_wrong(tmp_path):
    from fmnist_desktop.core.predict.photo_eval import evaluate_photo_folder

    for folder in ("3_Dress", "none"):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        _image().save(tmp_path / "photos" / folder / "a.png")
    result = evaluate_photo_folder(_model_file(tmp_path, not_sure_threshold=0.99), tmp_path / "photos")
    assert result.n == 1 and result.n_none == 1
    assert result.not_sure_rate == 1.0 and result.confidently_wrong_rate == 0.0 and result.none_flagged_rate == 1.0
    text = result.table()
    assert "not sure (below 99.0 %): 100.0%" in text and "none of the ten: 1 photo," in text  # one photo, not "1 photos" (issue 26.9)
    assert json.loads(result.to_json())["threshold"] == 0.99


def test_the_rule_loads_without_torch_or_numpy():
    """The GUI decides nothing itself and imports the rule before torch is loaded: the module
    that holds it must stay free of torch and numpy (issue 16)."""
    import subprocess
    import sys

    code = ("import sys; from fmnist_desktop.core.base import verdict; "
            "print(verdict.decide([0.1, 0.7, 0.2], 0.5).describe()); "
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["Trouser, 70.0 %", "[]"]


def test_a_prediction_carries_its_verdict_and_rederives_it_for_another_threshold(tmp_path):
    """The Predictor decides once; a new threshold (the Predict page's spin box) re-applies the same
    rule to the stored probabilities instead of deciding in the GUI."""
    predictor = Predictor.from_checkpoint(_model_file(tmp_path, not_sure_threshold=0.3))
    [p] = predictor.predict_images([_image()])
    assert p.threshold == 0.3 and p.verdict.not_sure == (p.confidence < 0.3)
    assert p.verdict_at(None) == p.verdict
    for threshold in (0.0, 0.5, 1.0):
        assert p.verdict_at(threshold) == verdict.decide(p.probabilities, threshold, p.out_of_scope_threshold)
    assert p.verdict_at(1.0).not_sure and not p.verdict_at(0.0).not_sure
