"""The real photos every model is scored on (issue 18 item 3): a CC0 set shipped with the app, big
enough to mean something, from senders no model trained on; both kinds scored; prepared once."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from fmnist_desktop.core.data.labelled_photos import is_validation_sender
from fmnist_desktop.core.predict import photo_score

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_set_is_big_spread_over_classes_and_from_held_out_senders(shipped_real_photos):
    source, description, items = photo_score.measuring_photos()
    assert source == "shipped"
    assert 60 <= len(items) <= 100
    assert description == f"the {len(items)} real photos shipped with the app"
    per_class = Counter(label for _path, label in items)
    assert len(per_class) >= 7 and min(per_class.values()) >= 5, per_class
    with open(shipped_real_photos / "SOURCES.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["file"] for r in rows) == sorted(p.relative_to(shipped_real_photos).as_posix() for p, _ in items)
    # Never a photo of a sender the photo model trains on (the split training uses).
    assert all(is_validation_sender(r["sender_id"]) for r in rows)
    assert len({r["sender_id"] for r in rows}) >= 20
    assert sum(p.stat().st_size for p, _ in items) < 3_000_000
    for path, _ in items[:5]:
        with Image.open(path) as img:
            assert max(img.size) <= 320
    assert "CC0" in (shipped_real_photos / "README.md").read_text(encoding="utf-8")
    assert '"resources" / "real-photos"' in (REPO / "build.spec").read_text(encoding="utf-8")


def test_a_score_says_how_many_photos_it_is_out_of():
    assert photo_score.PhotoScore(56, 80, "x").short() == "70 % of 80 photos"
    assert photo_score.PhotoScore(2, 3, "x").short() == "2 of 3 photos"


def _photo(path, colour):
    img = Image.new("RGB", (90, 110), "white")
    ImageDraw.Draw(img).rectangle((20, 15, 70, 95), fill=colour)
    img.save(path)
    return path


def test_photos_are_prepared_once_then_read_from_the_cache(tmp_path, monkeypatch):
    items = [(_photo(tmp_path / f"p{i}.png", (40 * i, 0, 200)), i % 3) for i in range(10)]
    seen = []
    first = photo_score.prepare_photo_set(items, "shipped", "the 10 real photos",
                                          progress=lambda done, total: seen.append((done, total)))
    assert len(first) == 10 and seen[-1] == (10, 10) and len(seen) > 1  # progress while it prepares

    import fmnist_desktop.core.photo as photo

    def no_grabcut(*_a, **_k):
        raise AssertionError("prepared again")

    monkeypatch.setattr(photo, "prepare_photo", no_grabcut)
    again = photo_score.prepare_photo_set(items, "shipped", "the 10 real photos")
    assert (again.images == first.images).all() and again.key == first.key


def test_the_job_scores_both_kinds_with_progress(photo_model_file, small_model):
    """core.jobs.photo_scores: the photo model on the photos themselves, the 28×28 network on the
    prepared images, with progress for the slow part."""
    from fmnist_desktop.core.jobs import photo_scores
    from fmnist_desktop.core.jobs.state import PlainState

    progress = []
    state = PlainState(on_progress=lambda fraction, message, done, total: progress.append(message))
    photo_scores.run(photo_scores.ScoreInputs([("photo", photo_model_file, "photo"), ("net", small_model, "fmnist")]),
                     state)
    (_set, photo_set), *scores = state.partial_results
    assert [s[1][0] for s in scores] == ["photo", "net"]
    by_model = {s[1][0]: s[2] for s in scores}
    assert by_model["photo"].total == by_model["net"].total == len(photo_set) == 3
    # The test photo model always answers "Sneaker"; none of the three photos is one.
    assert by_model["photo"].right == 0
    assert any(m.startswith("Preparing the 3 real photos shipped with the app") for m in progress)
    assert any(m.startswith("Scoring model 2 of 2") for m in progress)


def test_kept_out_photos_of_none_of_the_ten_are_not_counted(monkeypatch):
    """A photo corrected to "none of the ten" (issue 18 item 5) cannot be named right by a 28×28
    network: the measure leaves it out."""
    from types import SimpleNamespace

    from fmnist_desktop.core.store import user_photos

    kept = [SimpleNamespace(kept_out=True, label=i % 10, path=f"/x/{i}.png") for i in range(25)]
    kept += [SimpleNamespace(kept_out=True, label=-1, path="/x/none.png")]
    monkeypatch.setattr(user_photos, "list_examples", lambda root=None: kept)
    source, description, items = photo_score.measuring_photos()
    assert source == "user" and description == "your 25 kept-out photos" and len(items) == 25
    assert photo_score.measuring_photos(min_user=26)[0] == "shipped"


@pytest.mark.parametrize("count", [photo_score.MIN_USER_PHOTOS - 1])
def test_too_few_kept_out_photos_leave_the_shipped_set(monkeypatch, count):
    from types import SimpleNamespace

    from fmnist_desktop.core.store import user_photos

    kept = [SimpleNamespace(kept_out=True, label=i % 10, path=f"/x/{i}.png") for i in range(count)]
    monkeypatch.setattr(user_photos, "list_examples", lambda root=None: kept)
    assert photo_score.measuring_photos()[0] == "shipped"
    assert photo_score.MIN_USER_PHOTOS >= 20  # fewer would be a coarser measure than the shipped 80
