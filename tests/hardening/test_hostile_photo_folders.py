"""Hostile labelled-photo folders for `fmnist evaluate-photos` (issue 12, hostile items 7 and 11):
a subfolder named `²_x` (a digit to str.isdigit, not to int), one photo that runs out of memory.
One bad folder or photo is skipped and named; the run goes on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fmnist_desktop.core.base import paths
from fmnist_desktop.core import photo
from fmnist_desktop.core.predict import photo_eval
from fmnist_desktop.core.base.labels import class_index

pytestmark = pytest.mark.timeout(120)


def _labelled(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    samples = sorted(paths.bundled_path("resources/samples").glob("fashion-mnist_*.png"))
    for sample in samples[:3]:
        index = int(sample.stem.split("_")[1])
        folder = root / f"{index}_{sample.stem.split('_', 2)[2]}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample, folder / sample.name)
    return root


@pytest.mark.parametrize("name", ["²_x", "٣_Dress", "¹_Trouser", "0x_T-shirt"])
def test_a_subfolder_named_with_a_unicode_digit_is_not_a_class(tmp_path, run_cli, seed_model_file, name):
    root = _labelled(tmp_path)
    (root / name).mkdir()
    shutil.copy(next(root.rglob("*.png")), root / name / "odd.png")
    with pytest.raises(KeyError):
        class_index(name)
    result = run_cli("evaluate-photos", "--weights", seed_model_file, root)
    assert result.code == 0, result
    assert "3 read" in result.out and "unexpected" not in result.err


def test_one_photos_memory_error_skips_that_photo_only(tmp_path, run_cli, seed_model_file, monkeypatch):
    root = _labelled(tmp_path)
    victim = sorted(root.rglob("*.png"))[1]
    real = photo_eval.load_image

    def load_image(path, *args, **kwargs):
        if Path(path) == victim:
            raise MemoryError
        return real(path, *args, **kwargs)

    monkeypatch.setattr(photo_eval, "load_image", load_image)
    result = photo_eval.evaluate_photo_folder(seed_model_file, root)
    assert result.n == 2 and result.errors == 1
    [record] = [r for r in result.files if r["error"]]
    assert record["path"] == str(victim) and "not enough memory" in record["error"]

    # The CLI answers through the model's ONNX twin: its Predictor reads photos with the same loader.
    from fmnist_desktop.core.predict import predictor

    monkeypatch.setattr(predictor, "load_image", load_image)
    cli = run_cli("evaluate-photos", "--weights", seed_model_file, root)
    assert "unexpected" not in cli.err and "2 read" in cli.out
    assert f"fmnist: skipped: {victim.name} could not be prepared: not enough memory" in cli.err


def test_one_photos_memory_error_while_preparing_training_photos_skips_that_photo(tmp_path, monkeypatch):
    from fmnist_desktop.core.data import labelled_photos as photo_dataset

    root = _labelled(tmp_path)
    files = sorted(root.rglob("*.png"))
    real = photo.load_image

    def load_image(path, *args, **kwargs):
        if Path(path) == files[0]:
            raise MemoryError
        return real(path, *args, **kwargs)

    monkeypatch.setattr(photo, "load_image", load_image)
    images, ok = photo_dataset.prepare_photos(files, tmp_path / "cache", workers=1)
    assert ok.tolist() == [False, True, True]
