"""Hostile data sets: every way a Fashion-MNIST folder can be wrong, seen from the core, the
`fmnist` command and the Train page. Each must end in one `DatasetError` line that names the
file (or the folder) and says how to fix it — never a traceback, never a half-loaded set.

tests/core/test_data.py already checks the core messages for truncated/damaged gzip, extra
data, bad magic, 14×14 images, label 12, count mismatch, an empty file and a random-damage
fuzz; this file adds the cases it lacks (32×32 images, the label just out of range, a folder
where a file should be, an unreadable file, an empty `.gz`) and runs the whole list through the
CLI and the GUI.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from fmnist_desktop.core.data import fashion_mnist as data
from fmnist_desktop.core.base.errors import DatasetError

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FIX_WORDS = ("Re-download", "reinstall", "Pick a folder", "pick another folder", "permissions")


def _unzipped(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def damage(folder: Path, kind: str, target: str, idx_writer) -> str:
    """Damage `target` (one of the four file names) in `folder` the way `kind` says; returns the
    words the user must read in the message."""
    path = folder / target
    n = int.from_bytes(_unzipped(path)[4:8], "big")
    is_labels = "labels" in target
    if kind == "truncated":
        blob = _unzipped(path)
        path.write_bytes(gzip.compress(blob[: len(blob) - 7]))
        return "truncated"
    if kind == "truncated_gzip":
        blob = path.read_bytes()
        path.write_bytes(blob[: len(blob) // 2])
        return "truncated"
    if kind == "not_gzip":
        path.write_bytes(b"<html><body>404 Not Found</body></html>\n")
        return "not a gzip file"
    if kind == "empty_gz":
        path.write_bytes(b"")
        return "not a gzip file"
    if kind == "bad_magic":
        blob = bytearray(_unzipped(path))
        blob[0:4] = b"\x00\x00\x0c\x99"
        path.write_bytes(gzip.compress(bytes(blob)))
        return "not an IDX data file"
    if kind == "images_32x32":
        assert not is_labels
        idx_writer.write_idx_file(path, np.zeros((n, 32, 32), np.uint8))
        return "32×32 images"
    if kind == "label_10":
        assert is_labels
        labels = np.arange(n) % 10
        labels[n // 2] = 10  # one label just past the last class
        idx_writer.write_idx_file(path, labels.astype(np.uint8))
        return "label 10"
    if kind == "count_mismatch":
        assert is_labels
        idx_writer.write_idx_file(path, np.zeros(n - 1, np.uint8))
        return f"{n - 1:,} labels"
    if kind == "missing":
        path.unlink()
        return f"missing {target[:-3]}[.gz]"
    if kind == "folder_not_file":
        path.unlink()
        path.mkdir()
        return f"{target} is a folder, not a file"
    raise ValueError(kind)


TRAIN_CASES = [
    ("truncated", TRAIN_IMAGES),
    ("truncated_gzip", TRAIN_LABELS),
    ("not_gzip", TRAIN_IMAGES),
    ("empty_gz", TRAIN_LABELS),
    ("bad_magic", TRAIN_IMAGES),
    ("images_32x32", TRAIN_IMAGES),
    ("label_10", TRAIN_LABELS),
    ("count_mismatch", TRAIN_LABELS),
    ("missing", TRAIN_LABELS),
    ("folder_not_file", TRAIN_IMAGES),
]
TEST_CASES = [
    ("truncated", TEST_IMAGES),
    ("not_gzip", TEST_LABELS),
    ("images_32x32", TEST_IMAGES),
    ("label_10", TEST_LABELS),
    ("count_mismatch", TEST_LABELS),
    ("folder_not_file", TEST_LABELS),
]


def assert_dataset_message(message: str, target: str, words: str) -> None:
    assert words in message, message
    assert target[: -len(".gz")] in message, f"the file is not named: {message}"
    assert "\n" not in message and "Traceback" not in message
    assert any(fix in message for fix in FIX_WORDS), f"no fix offered: {message}"


# ---------------------------------------------------------------------------------- core


@pytest.mark.parametrize("kind, target", [
    ("images_32x32", TRAIN_IMAGES), ("label_10", TRAIN_LABELS), ("empty_gz", TEST_IMAGES),
    ("folder_not_file", TRAIN_IMAGES), ("folder_not_file", TEST_LABELS),
])
def test_damage_test_data_py_lacks_is_one_dataset_error(tiny_idx_dir, idx_writer, kind, target):
    words = damage(tiny_idx_dir, kind, target, idx_writer)
    with pytest.raises(DatasetError) as info:
        data.load_dataset(tiny_idx_dir, val_size=10)
    assert_dataset_message(str(info.value), target, words)


def test_unreadable_file_is_named_with_the_permission_problem(tiny_idx_dir, monkeypatch):
    victim = tiny_idx_dir / TRAIN_LABELS
    if os.geteuid() != 0:
        victim.chmod(0)
    else:  # root reads anything: make the read fail the way chmod 000 does for a user
        real_read_bytes = Path.read_bytes

        def read_bytes(self):
            if self == victim:
                raise PermissionError(13, "Permission denied", str(self))
            return real_read_bytes(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
        real_open = open

        def open_(file, *args, **kwargs):  # read_idx streams the file (issue 12) instead of read_bytes
            if Path(file) == victim:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(data, "open", open_, raising=False)
    try:
        with pytest.raises(DatasetError) as info:
            data.load_dataset(tiny_idx_dir, val_size=10)
    finally:
        victim.chmod(0o644)
    assert_dataset_message(str(info.value), TRAIN_LABELS, "Permission denied")


def test_a_failed_load_changes_no_file_and_writes_none(tiny_idx_dir, idx_writer):
    from fmnist_desktop.core.base import paths

    damage(tiny_idx_dir, "label_10", TRAIN_LABELS, idx_writer)
    before = {p: p.read_bytes() for p in tiny_idx_dir.rglob("*")}
    with pytest.raises(DatasetError):
        data.load_dataset(tiny_idx_dir, val_size=10)
    assert {p: p.read_bytes() for p in tiny_idx_dir.rglob("*")} == before  # nothing renamed, fixed or added
    assert list(paths.datasets_dir().rglob("*")) == []  # no copy or download started


# ---------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("kind, target", TRAIN_CASES)
def test_fmnist_train_on_a_damaged_folder_exits_2_with_one_line(tiny_idx_dir, idx_writer, run_cli, kind, target):
    words = damage(tiny_idx_dir, kind, target, idx_writer)
    result = run_cli("train", "--preset", "seed", "--epochs", "1", "--val-size", "10", "--device", "cpu",
                     "--data", tiny_idx_dir)
    line = result.assert_one_error_line(words)
    assert result.code == 2
    assert_dataset_message(line, target, words)
    assert "Epoch" not in result.out  # refused before any training


@pytest.mark.parametrize("kind, target", TEST_CASES)
def test_fmnist_evaluate_on_a_damaged_folder_exits_2_with_one_line(tiny_idx_dir, idx_writer, run_cli,
                                                                  seed_model_file, kind, target):
    words = damage(tiny_idx_dir, kind, target, idx_writer)
    result = run_cli("evaluate", "--weights", seed_model_file, "--device", "cpu", "--data", tiny_idx_dir)
    line = result.assert_one_error_line(words)
    assert result.code == 2
    assert_dataset_message(line, target, words)
    assert "Test Accuracy" not in result.out


def test_fmnist_train_on_a_folder_with_half_the_files_lists_what_is_missing(tiny_idx_dir, run_cli):
    (tiny_idx_dir / TRAIN_LABELS).unlink()
    (tiny_idx_dir / TEST_IMAGES).unlink()
    result = run_cli("train", "--preset", "seed", "--epochs", "1", "--device", "cpu", "--data", tiny_idx_dir)
    line = result.assert_one_error_line("train-labels-idx1-ubyte[.gz]", "t10k-images-idx3-ubyte[.gz]", "Pick a folder")
    assert result.code == 2 and "train-images" not in line.split("missing", 1)[1]


# ---------------------------------------------------------------------------------- GUI


def test_train_page_shows_the_damaged_file_and_stays_usable(make_main_window, qtbot, tiny_idx_dir, idx_writer):
    from PySide6.QtCore import Qt

    window = make_main_window()
    words = damage(tiny_idx_dir, "label_10", TRAIN_LABELS, idx_writer)
    window.show_page("train")
    page = window.pages["train"]
    qtbot.waitUntil(lambda: page.train_button.isEnabled(), timeout=30_000)
    page.set_data_folder(str(tiny_idx_dir))
    models_before = [e.id for e in window.context.library().entries()]
    page.preset_combo.setCurrentIndex(page.preset_combo.findData("seed"))
    page.epochs_spin.setValue(1)
    page.val_size_spin.setValue(10)
    with qtbot.waitSignal(page.runStateChanged, timeout=60_000, check_params_cb=lambda busy: not busy):
        qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    banner = page.banner.text()
    assert "Training failed" in banner and words in banner and "train-labels-idx1-ubyte" in banner, banner
    assert "Traceback" not in banner
    assert page.train_button.isEnabled() and not page.is_busy(), "the page stays usable"
    assert [e.id for e in window.context.library().entries()] == models_before, "no model was added"
