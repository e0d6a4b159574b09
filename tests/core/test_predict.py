"""Prediction on files and images: bad files become error items, the batch goes on, and the
model sees exactly the 28×28 image the user is shown."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
from fmnist_desktop.core.base.errors import CheckpointError
from fmnist_desktop.core.models import build_model
from fmnist_desktop.core.predict.predictor import Predictor, iter_image_paths


class RecordingModel(nn.Module):
    """Logits favour class (number of bright pixels) % 10 and it remembers every input seen."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        bright = (x > 0.5).flatten(1).sum(1).long() % 10
        return nn.functional.one_hot(bright, 10).float() * 5 + self.w


def _predictor():
    meta = CheckpointMeta.for_preset("fast", "test")
    meta.mean, meta.std = 0.0, 1.0  # model input = pixel / 255, easy to check
    return Predictor(RecordingModel(), meta)


def _fmnist_style(n_bright: int) -> Image.Image:
    arr = np.zeros((28, 28), np.uint8)
    arr[10:20, 12:16] = 230
    arr.flat[: n_bright - 40] = 255 if n_bright > 40 else 0
    return Image.fromarray(arr, "L")


def test_fashion_mnist_style_image_is_fed_unchanged():
    predictor = _predictor()
    img = _fmnist_style(40)  # 40 bright pixels → class 0
    [pred] = predictor.predict_images([img], names=["item"])
    assert pred.ok and pred.name == "item"
    assert np.array_equal(np.asarray(pred.model_input), np.asarray(img))
    assert torch.allclose(predictor.model.seen[0][0, 0] * 255, torch.from_numpy(np.array(img)).float(), atol=1e-3)
    assert pred.index == 0 and pred.label == "T-shirt/top"
    assert sum(pred.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert [name for name, _ in pred.top_k][0] == "T-shirt/top" and len(pred.top_k) == 3
    assert pred.top_k[0][1] >= pred.top_k[1][1] >= pred.top_k[2][1]
    assert pred.steps is not None and pred.steps.passthrough


def test_photo_on_white_is_prepared_light_on_black():
    rgb = np.full((120, 90, 3), 250, np.uint8)
    rgb[20:100, 25:65] = (40, 40, 120)  # a dark garment on a white background
    [pred] = _predictor().predict_images([Image.fromarray(rgb)])
    assert pred.ok and pred.model_input.size == (28, 28)
    seen = np.asarray(pred.model_input)
    assert seen[0, 0] == 0 and seen[14, 14] > 128  # background black, garment light


def test_bad_files_become_error_items_and_the_batch_goes_on(tmp_path):
    good = tmp_path / "a_good.png"
    _fmnist_style(41).save(good)
    text = tmp_path / "b_notes.png"
    text.write_text("this is a text file with an image name")
    truncated = tmp_path / "c_truncated.jpg"
    buf = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, quality=90)
    truncated.write_bytes(buf.read_bytes()[:800])
    missing = tmp_path / "d_missing.png"
    good2 = tmp_path / "e_good.png"
    _fmnist_style(42).save(good2)
    seen = []
    results = _predictor().predict_paths(
        [good, text, truncated, missing, good2], progress=lambda d, t: seen.append((d, t))
    )
    assert [r.name for r in results] == ["a_good.png", "b_notes.png", "c_truncated.jpg", "d_missing.png", "e_good.png"]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert (results[0].index, results[4].index) == (1, 2)
    assert "b_notes.png" in results[1].error and "not an image" in results[1].error
    assert "c_truncated.jpg" in results[2].error
    assert "does not exist" in results[3].error
    assert all("\n" not in r.error for r in results if not r.ok)
    assert seen[-1] == (5, 5)
    assert results[0].steps is None and results[0].model_input is not None  # big steps not kept
    assert results[1].to_dict()["error"] == results[1].error


def test_stop_returns_what_was_done(tmp_path):
    for i in range(3):
        _fmnist_style(40 + i).save(tmp_path / f"{i}.png")
    stop = threading.Event()
    predictor = _predictor()
    results = predictor.predict_paths([tmp_path], progress=lambda d, t: stop.set())
    assert len(results) == 3  # no stop flag given: the flag is not consulted
    stop.clear()
    results = predictor.predict_paths([tmp_path], progress=lambda d, t: stop.set(), stop=stop)
    assert len(results) == 1


def test_folders_expand_recursively_sorted_images_only(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in ["b.PNG", "a.jpg", "sub/c.webp", "sub/deeper/d.bmp", "notes.txt", ".hidden/e.png", "sub/.f.png"]:
        (tmp_path / rel).write_bytes(b"x")
    explicit = tmp_path / "notes.txt"
    found = [p.relative_to(tmp_path).as_posix() for p in iter_image_paths([tmp_path, explicit])]
    assert found == ["a.jpg", "b.PNG", "sub/c.webp", "sub/deeper/d.bmp", "notes.txt"]


def test_from_checkpoint_uses_the_files_preset(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "nb"))
    predictor = Predictor.from_checkpoint(path)
    assert predictor.meta.input_size == 16
    [pred] = predictor.predict_images([_fmnist_style(40)])
    assert pred.ok and 0 <= pred.index < 10
    (tmp_path / "bad.pt").write_text("nope")
    with pytest.raises(CheckpointError):
        Predictor.from_checkpoint(tmp_path / "bad.pt")
