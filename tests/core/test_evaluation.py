"""Evaluation numbers on hand-made cases where the right answer is known."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from torch import nn

from fmnist_desktop.core.data.fashion_mnist import Split
from fmnist_desktop.core.learn.evaluation import evaluate, result_from_probabilities


class TagModel(nn.Module):
    """Predicts the class written in each image's top-left pixel (value = class × 20), with the
    confidence set by the pixel next to it, so the expected results are known exactly."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        pixels = (x[:, 0, 0, :2] * 255).round()
        cls = (pixels[:, 0] / 20).round().long()
        strength = pixels[:, 1] / 10
        return nn.functional.one_hot(cls, 10).float() * strength[:, None] + self.dummy


def _split(true, pred, strength):
    images = torch.zeros(len(true), 28, 28, dtype=torch.uint8)
    images[:, 0, 0] = torch.tensor(pred) * 20
    images[:, 0, 1] = torch.tensor(strength)
    return Split(images, torch.tensor(true, dtype=torch.int64))


def test_accuracy_confusion_and_per_class_numbers():
    #        true: 0  0  0  0  1  1  2  2  2  2
    true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    pred = [0, 0, 0, 1, 1, 0, 2, 2, 2, 1]
    strength = [50, 50, 50, 90, 50, 70, 50, 50, 50, 30]
    model = TagModel()
    result = evaluate(model, _split(true, pred, strength), input_size=28, mean=0.0, std=1.0, batch_size=4)
    assert result.accuracy == pytest.approx(70.0)
    assert result.confusion[0].tolist()[:3] == [3, 1, 0]  # rows = true class
    assert result.confusion[1].tolist()[:3] == [1, 1, 0]
    assert result.confusion[2].tolist()[:3] == [0, 1, 3]
    assert result.confusion.sum() == 10
    rows = {row["name"]: row for row in result.per_class}
    # class 0: predicted 4 times, 3 right → precision 75 %; 4 true, 3 found → recall 75 %
    assert rows["T-shirt/top"]["precision"] == pytest.approx(75.0)
    assert rows["T-shirt/top"]["recall"] == pytest.approx(75.0)
    # class 1 (Trouser): predicted 3 times, 1 right; 2 true, 1 found
    assert rows["Trouser"]["precision"] == pytest.approx(100 / 3)
    assert rows["Trouser"]["recall"] == pytest.approx(50.0)
    assert rows["Trouser"]["f1"] == pytest.approx(40.0)
    assert rows["Trouser"]["support"] == 2
    assert rows["Dress"]["support"] == 0 and rows["Dress"]["f1"] == 0.0  # undefined → 0, no NaN
    # mistakes, most confident first: index 3 (strength 9), 5 (7), 9 (3)
    assert result.misclassified().tolist() == [3, 5, 9]
    assert result.cell_indices(0, 1).tolist() == [3]
    assert result.cell_indices(0, 0).tolist() == [0, 1, 2]
    assert result.predictions.tolist() == pred
    assert model.training  # mode given back


def test_progress_and_stop():
    split = _split([0] * 10, [0] * 10, [50] * 10)
    seen = []
    evaluate(TagModel(), split, 28, 0.0, 1.0, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 10), (8, 10), (10, 10)]
    stop = threading.Event()
    stop.set()
    assert evaluate(TagModel(), split, 28, 0.0, 1.0, stop=stop) is None


def test_loss_and_json_summary():
    probs = np.full((2, 10), 0.0, np.float32)
    probs[0, 3] = 1.0
    probs[1, 3] = 0.5
    probs[1, 4] = 0.5
    result = result_from_probabilities(probs, np.array([3, 4]))
    assert result.accuracy == 50.0  # ties go to the first class (argmax)
    assert result.loss == pytest.approx(-np.log(0.5) / 2)
    summary = json.loads(result.to_json())
    assert summary["n"] == 2 and summary["confusion"][4][3] == 1
    assert summary["most_confused"] == [["Coat", "Dress", 1]]
