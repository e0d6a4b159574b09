"""Labelled real photos as training data: the shipped labels file, the split by sender, the
prepared-photo cache, and training with photos (Fashion-MNIST + photos + "none" photos)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fmnist_desktop.core import photo
from fmnist_desktop.core.data import labelled_photos as photo_dataset
from fmnist_desktop.core.data.labelled_photos import (
    NONE_LABEL,
    PhotoLabelsError,
    load_photo_training_set,
    prepare_photos,
    read_labels,
    split_by_sender,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED_LABELS = REPO / "weights" / "realworld-train-labels.csv"
REALWORLD_TRAIN = REPO.parent / "shared" / "realworld-train"


# ---------------------------------------------------------------------------------------------
# The shipped labels file


def _shipped_rows() -> list[dict]:
    with open(SHIPPED_LABELS, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_shipped_labels_file_has_one_valid_decision_per_row():
    rows = _shipped_rows()
    assert len(rows) == 4321
    assert len({r["file"] for r in rows}) == len(rows)
    for r in rows:
        photo_dataset.parse_class(r["class"])  # a class name, none or skip: raises otherwise
        assert r["how"] in ("rule", "hand", "hand (override)") and r["reason"].strip()
        assert r["sender_id"].strip()
    # the mixed folders were sorted by hand, every photo of them
    for r in rows:
        if r["source_label"] in ("Shoes", "Longsleeve", "Hoodie", "Outwear"):
            assert r["how"].startswith("hand"), r


@pytest.mark.skipif(not REALWORLD_TRAIN.is_dir(), reason="needs ../shared/realworld-train")
def test_shipped_labels_file_covers_every_photo_and_only_existing_files():
    rows = _shipped_rows()
    on_disk = {str(p.relative_to(REALWORLD_TRAIN)) for p in REALWORLD_TRAIN.rglob("*.jpg")}
    assert {r["file"] for r in rows} == on_disk
    photos = read_labels(SHIPPED_LABELS, REALWORLD_TRAIN)  # checks every usable file exists
    assert len(photos) == sum(1 for r in rows if r["class"] != "skip")


def test_sender_split_never_puts_one_sender_on_both_sides():
    photos = read_labels(SHIPPED_LABELS, check_files=False)
    train, val = split_by_sender(photos)
    assert not {p.sender for p in train} & {p.sender for p in val}
    assert 0.1 < len(val) / len(photos) < 0.35
    # every class the photos have, and "none", are on the held-out side too (except the 8
    # ankle boots, which are too few)
    held_out = {p.label for p in val}
    assert NONE_LABEL in held_out and {0, 1, 2, 3, 4, 6} <= held_out
    # the same on every run and machine
    assert [p.file for p in split_by_sender(photos)[1]] == [p.file for p in val]


# ---------------------------------------------------------------------------------------------
# Reading a labels file


def _photo(path: Path, colour=(30, 30, 90), size=(80, 100)) -> Path:
    img = Image.new("RGB", size, (235, 235, 230))
    ImageDraw.Draw(img).rectangle([20, 15, 60, 85], fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def _labels(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    out = folder / "labels.csv"
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "class", "sender_id", "source_label", "how", "reason"])
        for file, cls, sender in rows:
            w.writerow([file, cls, sender, "x", "rule", "test"])
    return out


@pytest.mark.parametrize("row, words", [
    (("a/missing.jpg", "Dress", "1"), "does not exist"),
    (("a/p.jpg", "Scarf", "1"), "unknown class"),
    (("../p.jpg", "Dress", "1"), "not a path inside"),
])
def test_bad_labels_files_are_refused_naming_the_row(tmp_path, row, words):
    _photo(tmp_path / "a" / "p.jpg")
    with pytest.raises(PhotoLabelsError, match=words) as info:
        read_labels(_labels(tmp_path, [row]))
    assert "line 2" in str(info.value)


def test_duplicate_rows_and_foreign_csvs_are_refused(tmp_path):
    _photo(tmp_path / "a" / "p.jpg")
    with pytest.raises(PhotoLabelsError, match="twice"):
        read_labels(_labels(tmp_path, [("a/p.jpg", "Dress", "1"), ("a/p.jpg", "Coat", "1")]))
    other = tmp_path / "other.csv"
    other.write_text("name,value\nx,1\n")
    with pytest.raises(PhotoLabelsError, match="not a photo labels file"):
        read_labels(other)


def test_skip_rows_are_recorded_but_not_used_and_none_is_minus_one(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        _photo(tmp_path / name)
    photos = read_labels(_labels(tmp_path, [("a.jpg", "T-shirt/top", "1"), ("b.jpg", "skip", "1"),
                                            ("c.jpg", "none", "2")]))
    assert [(p.file, p.label) for p in photos] == [("a.jpg", 0), ("c.jpg", NONE_LABEL)]


# ---------------------------------------------------------------------------------------------
# The prepared-photo cache


def test_cache_prepares_each_photo_once_and_again_when_the_pipeline_changes(tmp_path, monkeypatch):
    files = [_photo(tmp_path / f"p{i}.png", colour=(20 * i, 30, 90)) for i in range(3)]
    calls = []
    real = photo_dataset._prepare_one
    monkeypatch.setattr(photo_dataset, "_prepare_one", lambda p: calls.append(p) or real(p))
    first, ok = prepare_photos(files, tmp_path / "cache")
    assert ok.all() and len(calls) == 3
    assert np.array_equal(first[0], np.asarray(photo.prepare_photo(photo.load_image(files[0])).final))
    again, _ = prepare_photos(files, tmp_path / "cache")
    assert len(calls) == 3 and np.array_equal(again, first)  # all from the cache

    _photo(files[1], colour=(200, 20, 20))  # a changed file is prepared again
    prepare_photos(files, tmp_path / "cache")
    assert len(calls) == 4

    monkeypatch.setattr(photo_dataset, "pipeline_fingerprint", lambda: "another-pipeline")
    prepare_photos(files, tmp_path / "cache")
    assert len(calls) == 7  # a changed pipeline never reuses old results


def test_pipeline_fingerprint_follows_the_pipelines_source(tmp_path, monkeypatch):
    package = Path(photo.__file__).parent  # core/photo/: every module of the pipeline counts
    for source in package.glob("*.py"):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr(photo, "__file__", str(tmp_path / "__init__.py"))
    before = photo_dataset.pipeline_fingerprint()
    assert photo_dataset.pipeline_fingerprint() == before
    copy = tmp_path / "segmentation.py"
    copy.write_bytes(copy.read_bytes() + b"\n# GRABCUT_ITERS changed\n")
    assert photo_dataset.pipeline_fingerprint() != before


def test_unreadable_photos_are_flagged_not_fatal_and_a_damaged_cache_is_rebuilt(tmp_path):
    good = _photo(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    images, ok = prepare_photos([good, bad], tmp_path / "cache")
    assert ok.tolist() == [True, False] and images[0].max() > 0 and images[1].max() == 0
    for f in (tmp_path / "cache").glob("*.npz"):
        f.write_bytes(b"garbage")
    images2, ok2 = prepare_photos([good], tmp_path / "cache")
    assert ok2.all() and np.array_equal(images2[0], images[0])


# ---------------------------------------------------------------------------------------------
# Training with photos


def _photo_tree(folder: Path, n_per_sender: int = 6) -> Path:
    """Tiny generated 'photos': dark squares of the tiny_patterns sizes on light backgrounds
    (class k is a square of side ~ 4 + 2k, as in the tiny IDX data), and 'none' photos (a thin
    horizontal bar), from 6 senders."""
    rows = []
    for sender in range(6):
        for i in range(n_per_sender):
            k = (sender + i) % 4 * 3  # classes 0, 3, 6, 9
            side = (4 + 2 * k) * 4
            img = Image.new("RGB", (112, 112), (230, 225, 215))
            c = 56 - side // 2
            ImageDraw.Draw(img).rectangle([c, c, c + side, c + side], fill=(40, 40, 60))
            name = f"s{sender}/p{i}.png"
            (folder / f"s{sender}").mkdir(parents=True, exist_ok=True)
            img.save(folder / name)
            rows.append((name, photo_dataset.class_name(k), str(sender)))
        junk = Image.new("RGB", (112, 112), (230, 225, 215))
        ImageDraw.Draw(junk).rectangle([10, 50, 100, 58], fill=(150, 40, 40))
        junk.save(folder / f"s{sender}/none.png")
        rows.append((f"s{sender}/none.png", "none", str(sender)))
    return _labels(folder, rows)


def test_short_training_run_on_generated_photos_and_tiny_idx_data_calibrates_a_threshold(tmp_path, tiny_idx_dir):
    from fmnist_desktop.core.data.fashion_mnist import load_dataset
    from fmnist_desktop.core.learn.training import Finished, TrainConfig, run_training

    labels = _photo_tree(tmp_path / "photos")
    photos = load_photo_training_set(labels, val_share=0.5, cache_dir=tmp_path / "cache")
    counts = photos.counts()
    assert counts["train"] and counts["val"] and counts["train_none"] and counts["val_none"]
    data = load_dataset(tiny_idx_dir, val_size=100)
    result = run_training(TrainConfig(preset="fast", epochs=2, batch_size=32, device="cpu", photos=photos,
                                      photo_weight=2), data)
    assert isinstance(result, Finished), result
    assert result.history[-1].val_acc > 30.0  # it still learns the IDX classes
    cal = result.calibration
    assert cal is not None and 0.2 <= cal["not_sure_threshold"] <= 0.95
    assert cal["held_out_photos"]["n"] > 0 and cal["held_out_photos"]["n_none"] > 0
    summary = result.config.summary()
    assert summary["photos"]["train"] == counts["train"]


def _class_folder_tree(folder: Path) -> Path:
    """`<index>_<name>/` folders: photos of senders in sub-folders, loose photos, a none/ folder."""
    for sender in ("anna", "ben"):
        _photo(folder / "3_Dress" / sender / "a.png")
        _photo(folder / "3_Dress" / sender / "b.jpg")
    _photo(folder / "0_T-shirt_top" / "loose.png")
    _photo(folder / "none" / "cup.png")
    _photo(folder / "notes" / "ignored.png")  # not a class folder
    _photo(folder / "3_Dress" / ".hidden" / "x.png")
    (folder / "3_Dress" / "readme.txt").write_text("not a photo")
    return folder


def test_a_folder_of_class_subfolders_reads_as_a_labels_file_would(tmp_path):
    """Issue 10: the Train page takes a folder of <index>_<name>/ subfolders as a photo set."""
    root = _class_folder_tree(tmp_path / "photos")
    photos = {p.file: p for p in photo_dataset.read_photo_folder(root)}
    assert set(photos) == {"0_T-shirt_top/loose.png", "3_Dress/anna/a.png", "3_Dress/anna/b.jpg",
                           "3_Dress/ben/a.png", "3_Dress/ben/b.jpg", "none/cup.png"}
    assert photos["3_Dress/anna/a.png"].label == 3 and photos["none/cup.png"].label == photo_dataset.NONE_LABEL
    assert photos["3_Dress/anna/a.png"].sender == photos["3_Dress/anna/b.jpg"].sender != photos["3_Dress/ben/a.png"].sender
    assert photos["0_T-shirt_top/loose.png"].sender == "0_T-shirt_top/loose.png"  # a loose photo is its own sender
    loaded = load_photo_training_set(root, cache_dir=tmp_path / "cache", val_share=0.5)
    assert sum(loaded.counts()[k] for k in ("train", "val")) == 6
    assert loaded.source == str(root)


def test_a_folder_without_class_subfolders_is_refused_with_the_naming_rule(tmp_path):
    _photo(tmp_path / "holiday" / "p.png")
    with pytest.raises(photo_dataset.PhotoLabelsError, match="0_T-shirt_top"):
        photo_dataset.read_photo_folder(tmp_path)


def test_rare_photo_classes_are_repeated_more_often():
    import torch

    from fmnist_desktop.core.learn.training import photo_repeats

    labels = torch.tensor([0] * 400 + [1] * 100 + [7] * 25 + [-1] * 100)
    r = photo_repeats(labels, 3.0)
    per = {c: int(r[labels == c][0]) for c in (0, 1, 7, -1)}
    assert per[7] > per[1] > per[0] >= 1 and per[-1] == per[1]  # sqrt of the rarity, "none" a class
    assert per[7] <= 4 * 3 and (r >= 1).all()
