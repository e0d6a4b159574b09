"""core.predict.photo_score: the real photos the Models page measures every model on (issue 12.10)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from fmnist_desktop.core.predict import photo_score
from fmnist_desktop.core.store import user_photos
from fmnist_desktop.core.base.labels import CLASS_NAMES


def test_the_shipped_real_photos_are_read_with_their_classes(shipped_real_photos):
    photos = photo_score.shipped_photos()
    assert photos, "resources/real-photos holds labelled real photos (<index>_<class>/ folders)"
    for path, label in photos:
        assert path.parent.name.startswith(f"{label}_")
        assert CLASS_NAMES[label].replace("/", "_").replace(" ", "_") in path.parent.name


def _photo(path, colour):
    img = Image.new("RGB", (90, 110), "white")
    ImageDraw.Draw(img).rectangle((20, 15, 70, 95), fill=colour)
    img.save(path)
    return path


def test_the_users_kept_out_photos_replace_the_samples_once_there_are_enough(tmp_path):
    source, description, items = photo_score.measuring_photos()
    assert source == "shipped" and "real photos shipped with the app" in description
    kept = 0
    n = 0
    while kept < 3:  # add photos until three of them are kept out (one in five, by hash)
        example = user_photos.add_example(_photo(tmp_path / f"p{n}.png", (n * 7 % 255, 40, 90)), n % 10)
        kept += example.kept_out
        n += 1
    source, description, items = photo_score.measuring_photos(min_user=3)
    assert source == "user" and description == "your 3 kept-out photos" and len(items) == 3
    assert photo_score.measuring_photos(min_user=4)[0] == "shipped"


class _Always:
    """A stand-in Predictor that always answers one class."""

    def __init__(self, index):
        self.index = index

    def probabilities(self, images):
        p = np.full((len(images), 10), 0.01, np.float32)
        p[:, self.index] = 0.91
        return torch.from_numpy(p).numpy()


def test_score_counts_the_photos_named_right(tmp_path):
    items = [(_photo(tmp_path / "a.png", (200, 0, 0)), 3), (_photo(tmp_path / "b.png", (0, 0, 200)), 3),
             (_photo(tmp_path / "c.png", (0, 200, 0)), 1)]
    bad = tmp_path / "bad.png"
    bad.write_text("no image")
    photo_set = photo_score.prepare_photo_set(items + [(bad, 2)], "samples", "the 4 sample photos")
    assert len(photo_set) == 3 and photo_set.images.shape == (3, 28, 28)
    assert photo_set.description == "the 3 readable sample photos"
    score = photo_score.score(_Always(3), photo_set)
    assert (score.right, score.total, score.short()) == (2, 3, "2 of 3 photos")
    assert photo_score.score(_Always(1), photo_set).right == 1
    assert photo_score.PhotoScore(9, 12, "x").short() == "75 % of 12 photos"
    empty = photo_score.prepare_photo_set([], "samples", "the 0 sample photos")
    assert photo_score.score(_Always(0), empty).total == 0


def test_the_models_page_job_scores_each_model_once_and_skips_broken_files(tmp_path, small_model):
    """core.jobs.photo_scores, what the Models page starts, without Qt."""
    from fmnist_desktop.core.jobs import photo_scores
    from fmnist_desktop.core.jobs.state import PlainState

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    state = PlainState()
    photo_scores.run(photo_scores.ScoreInputs([("good", small_model), ("broken", broken)]), state)
    assert [result[0] for result in state.partial_results] == ["set", "score"]
    photo_set = state.partial_results[0][1]
    _, (model_key, set_key), score = state.partial_results[1]
    assert model_key == "good" and set_key == photo_set.key and score.total == len(photo_set)

    again = PlainState()
    photo_scores.run(photo_scores.ScoreInputs([("good", small_model)], photo_set, frozenset({("good", photo_set.key)})),
                     again)
    assert again.partial_results == []  # the set is still current and the model already scored
