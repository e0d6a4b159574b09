"""`fmnist-desktop --self-test` run from the source tree: what it checks, and how it reports failure.

The same code runs inside the packaged app (tests/packaging/test_bundle.py runs it there).
"""

from __future__ import annotations

import shutil

import pytest

from fmnist_desktop import selftest
from fmnist_desktop.core.base import paths

SOURCE_WEIGHTS = paths.source_root() / "weights" / "default.pt"
SOURCE_SAMPLES = paths.source_root() / "resources" / "samples"
needs_default_model = pytest.mark.skipif(not SOURCE_WEIGHTS.is_file(), reason="weights/default.pt not trained yet")


def _lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


@needs_default_model
def test_passes_with_the_shipped_model_and_samples(capsys):
    assert selftest.main() == 0
    out = _lines(capsys)
    assert any(l.startswith("ok   loaded bundled model weights/default.pt (preset ") for l in out)
    assert any(l.startswith("ok   classified Fashion-MNIST samples: 10/10 as expected") for l in out)
    assert out[-1] == "self-test passed"
    # The report is also on disk, for windowed builds that have no console.
    assert (paths.logs_dir() / "selftest.txt").read_text().splitlines()[-1] == "self-test passed"


def test_damaged_model_fails_with_one_readable_line(tmp_path, monkeypatch, capsys):
    damaged = tmp_path / "default.pt"
    damaged.write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.setattr(paths, "default_weights_path", lambda: damaged)
    assert selftest.main() == 1
    out = _lines(capsys)
    fails = [l for l in out if l.startswith("FAIL")]
    assert len(fails) == 1 and "load bundled model" in fails[0] and "\n" not in fails[0]
    assert out[-1] == "self-test FAILED"
    assert not any("Traceback" in l for l in out)


@needs_default_model
def test_a_sample_classified_wrongly_fails_and_names_it(tmp_path, monkeypatch, capsys):
    samples = tmp_path / "resources" / "samples"
    shutil.copytree(SOURCE_SAMPLES, samples)
    # Relabel the sneaker as a dress: the model (rightly) says Sneaker, so the check must fail.
    (samples / "fashion-mnist_7_Sneaker.png").rename(samples / "fashion-mnist_3_Dress-relabelled.png")
    real_bundled_path = paths.bundled_path
    monkeypatch.setattr(paths, "bundled_path", lambda rel: tmp_path / rel if str(rel).startswith("resources") else real_bundled_path(rel))
    assert selftest.main() == 1
    line = next(l for l in _lines(capsys) if "classified Fashion-MNIST samples" in l)
    assert line.startswith("FAIL") and "9/10" in line and "fashion-mnist_3_Dress-relabelled.png → Sneaker" in line


@needs_default_model
def test_missing_samples_fail(tmp_path, monkeypatch, capsys):
    real_bundled_path = paths.bundled_path
    monkeypatch.setattr(paths, "bundled_path", lambda rel: tmp_path / rel if str(rel).startswith("resources") else real_bundled_path(rel))
    assert selftest.main() == 1
    assert any(l.startswith("FAIL no Fashion-MNIST sample images") for l in _lines(capsys))


def test_sample_names_say_their_class():
    from pathlib import Path

    assert selftest.expected_class(Path("fashion-mnist_9_Ankle_boot.png")) == 9
    assert selftest.expected_class(Path("photo_0_T-shirt_top.jpg")) == 0
    assert selftest.expected_class(Path("photo_holiday.jpg")) is None
    fashion_mnist, photos = selftest.sample_files(SOURCE_SAMPLES)
    assert sorted(selftest.expected_class(p) for p in fashion_mnist) == list(range(10))
    assert photos and all(selftest.expected_class(p) is not None for p in photos)


@needs_default_model
def test_the_cpu_check_can_fail(monkeypatch, capsys):
    """"ok device cpu" used to be printed unconditionally; now a model that gives no usable
    probabilities on the CPU fails the self-test."""
    import numpy as np

    from fmnist_desktop.core.predict.predictor import Predictor

    monkeypatch.setattr(Predictor, "probabilities", lambda self, images: np.full((1, 10), np.nan, np.float32))
    assert selftest.main() == 1
    out = _lines(capsys)
    assert any(l.startswith("FAIL device cpu: a blank image gave probabilities") for l in out), out
    assert not any(l.startswith("ok   device cpu") for l in out)


@needs_default_model
def test_the_cpu_check_passes_with_a_working_model(capsys):
    assert selftest.main() == 0
    assert any(l.startswith("ok   device cpu: the model runs") for l in _lines(capsys))
