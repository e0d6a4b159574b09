"""End to end on the real Fashion-MNIST: train one epoch of the fast preset, evaluate, predict."""

from __future__ import annotations

import json

import pytest

from fmnist_desktop.core.store.library import ModelLibrary

# One CPU epoch takes 1–6 minutes depending on the machine (and how shared it is).
pytestmark = [pytest.mark.slow, pytest.mark.realdata, pytest.mark.timeout(1800)]


def test_fast_preset_one_epoch_then_evaluate_and_predict(run_cli, real_data_dir, no_builtin_model, tmp_path):
    trained = run_cli("train", "--preset", "fast", "--epochs", "1", "--data", real_data_dir, "--device", "cpu")
    assert trained.code == 0, trained.err
    assert "55,000 training, 5,000 validation, 10,000 test images" in trained.out
    entry = ModelLibrary().active()
    assert entry.meta.metrics["test_accuracy"] > 85.0  # one epoch of `fast` reaches ~90 %

    evaluated = run_cli("evaluate", "--json")
    assert evaluated.code == 0
    report = json.loads(evaluated.out)
    assert report["n"] == 10_000
    assert report["accuracy"] == pytest.approx(entry.meta.metrics["test_accuracy"], abs=0.01)

    sample = tmp_path / "sample.png"
    from PIL import Image

    from fmnist_desktop.core.data.fashion_mnist import load_test_split

    split, _ = load_test_split(real_data_dir)
    trouser = int((split.labels == 1).nonzero()[0])
    Image.fromarray(split.images[trouser].numpy(), "L").save(sample)
    predicted = run_cli("predict", "--json", sample)
    assert predicted.code == 0
    assert json.loads(predicted.out)[0]["label"] == "Trouser"
