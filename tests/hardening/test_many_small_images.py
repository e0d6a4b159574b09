"""A folder of many small images (issue 12, hostile item 10): small images skip the phone-photo
pipeline's costly steps, results stream as they come. The CLI's side (lines as they come,
`--jsonl`, the progress bar) is in tests/hardening/test_hostile_cli_output.py; the measured speed is in
docs/RELIABILITY.md (`bench`-style figure, not a CI test: the shared CI machine's speed varies).
"""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image, ImageOps

from fmnist_desktop.core.base import paths
from fmnist_desktop.core import photo
from fmnist_desktop.core.predict import predictor as predict
from fmnist_desktop.core.predict.predictor import Predictor

pytestmark = pytest.mark.timeout(120)


def _fashion_mnist_images() -> list[Image.Image]:
    """The ten shipped samples (112×112 enlargements of test images) back at 28×28."""
    samples = sorted(paths.bundled_path("resources/samples").glob("fashion-mnist_*.png"))
    return [Image.open(p).convert("L").resize((28, 28), Image.Resampling.BOX) for p in samples]


def test_a_fashion_mnist_image_is_passed_through_without_clustering_its_border(monkeypatch):
    def no_kmeans(*args, **kwargs):
        raise AssertionError("k-means on the border of a 28×28 light-on-black image")

    monkeypatch.setattr(photo.pipeline, "estimate_background", no_kmeans)
    for img in _fashion_mnist_images():
        steps = photo.prepare_photo(img)
        assert steps.passthrough and np.array_equal(np.asarray(steps.final), np.asarray(img))


def _similarity(steps: photo.PhotoSteps, original: Image.Image) -> float:
    final = np.asarray(steps.final, dtype=np.float32).ravel()
    return float(np.corrcoef(final, np.asarray(original, dtype=np.float32).ravel())[0, 1])


def test_a_small_dark_on_light_image_skips_segmentation_and_grabcut(monkeypatch):
    originals = _fashion_mnist_images()
    framed = [ImageOps.expand(ImageOps.invert(img), 6, fill=255).convert("RGB") for img in originals]  # 40×40
    monkeypatch.setattr(photo.pipeline, "SMALL_SIDE", 0)
    full = [_similarity(photo.prepare_photo(img), original) for img, original in zip(framed, originals)]
    monkeypatch.setattr(photo.pipeline, "SMALL_SIDE", 64)

    def no_segmentation(*args, **kwargs):
        raise AssertionError("the phone-photo segmentation ran on a small image")

    monkeypatch.setattr(photo.pipeline, "segment_object", no_segmentation)
    for img, original, before in zip(framed, originals, full):
        steps = photo.prepare_photo(img)
        assert steps.inverted and not steps.passthrough
        assert _similarity(steps, original) > before - 0.05, "the same garment comes out as with the full pipeline"


def test_large_photos_still_get_the_full_pipeline(monkeypatch):
    calls = []
    real = photo.segment_object
    monkeypatch.setattr(photo.pipeline, "segment_object", lambda *a, **k: calls.append(1) or real(*a, **k))
    big = ImageOps.expand(ImageOps.invert(_fashion_mnist_images()[0]), 6, fill=255).resize((200, 200))
    photo.prepare_photo(big.convert("RGB"))
    assert calls == [1]


def test_predictions_stream_in_batches(tmp_path, seed_model_file, monkeypatch):
    for i, img in enumerate(_fashion_mnist_images()):
        img.save(tmp_path / f"{i}.png")
    monkeypatch.setattr(predict, "STREAM_BATCH", 4)
    prepared: list[int] = []
    seen_at_first_result = []
    predictor = Predictor.from_checkpoint(seed_model_file)
    results = []
    for result in predictor.iter_predict_paths([tmp_path], progress=lambda done, total: prepared.append(done)):
        if not results:
            seen_at_first_result.append(prepared[-1])
        results.append(result)
    assert len(results) == 10 and seen_at_first_result == [4], "the first lines come after the first batch"
    assert [r.path.name for r in results] == sorted(f"{i}.png" for i in range(10))
