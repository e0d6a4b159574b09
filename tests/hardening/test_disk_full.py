"""A full disk during a save: a model file, the library index ("history" of runs), and the GUI's
save at the end of a training run.

Two ways to fill the disk: a patched writer (every file `paths.atomic_write` opens accepts a few
bytes, then fails with ENOSPC as a full disk does), and, where the test may mount file systems
(root), a real 1 MiB tmpfs. Either way the user gets a SaveError saying "the disk is full", the
previous files are byte-for-byte intact and no partial file is left; in the window, the trained
model is kept in memory and can be saved elsewhere or into the library once there is room.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from fmnist_desktop.core.base.errors import SaveError
from fmnist_desktop.core.store.library import INDEX_NAME, ModelLibrary
from fmnist_desktop.core.models import build_model


class FullDiskFile:
    """Wraps a file object: the first `room` bytes are written, then write() fails with ENOSPC."""

    def __init__(self, handle, room: int):
        self._handle = handle
        self._room = room

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if size > self._room:
            self._handle.write(memoryview(data).cast("B")[: self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= size
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self._handle.__exit__(*exc_info)


def fill_disk(monkeypatch, room: int, only: str | None = None) -> None:
    """Every file opened by atomic_write (whose temp name contains `only`, if given) fills up
    after `room` bytes."""
    real_fdopen = os.fdopen

    def fdopen(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if only is not None and only not in Path(name).name:
            return handle
        return FullDiskFile(handle, room)

    monkeypatch.setattr(paths.os, "fdopen", fdopen)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def meta(name: str) -> CheckpointMeta:
    return CheckpointMeta.for_preset("seed", name, metrics={"test_accuracy": 50.0})


# --------------------------------------------------------------------------- patched writer


@pytest.mark.parametrize("room", [0, 100, 200_000])
def test_full_disk_while_overwriting_a_model_keeps_the_old_file(tmp_path, monkeypatch, room):
    path = tmp_path / "model.pt"
    save_checkpoint(path, build_model("seed_cnn"), meta("old"))
    before = snapshot(tmp_path)
    fill_disk(monkeypatch, room)
    with pytest.raises(SaveError) as caught:
        save_checkpoint(path, build_model("seed_cnn"), meta("new"))
    monkeypatch.undo()
    message = str(caught.value)
    assert "the disk is full" in message and "unchanged" in message and "\n" not in message
    assert snapshot(tmp_path) == before, "the old file changed or a partial file was left"
    assert load_checkpoint(path)[1].name == "old"


@pytest.mark.parametrize("room", [0, 300_000])
def test_full_disk_while_adding_a_run_leaves_the_library_as_it_was(tmp_path, monkeypatch, room):
    library = ModelLibrary(tmp_path)
    first = library.add(build_model("seed_cnn"), meta("First run"))
    library.set_active(first.id)
    before = snapshot(tmp_path)
    fill_disk(monkeypatch, room)
    with pytest.raises(SaveError, match="the disk is full"):
        library.add(build_model("seed_cnn"), meta("Second run"))
    monkeypatch.undo()
    assert snapshot(tmp_path) == before
    reopened = ModelLibrary(tmp_path)
    assert [e.name for e in reopened.entries() if not e.builtin] == ["First run"]
    assert reopened.active().id == first.id


def test_full_disk_while_writing_the_index_keeps_the_old_index_and_adds_nothing(tmp_path, monkeypatch):
    """The model file itself fits, the index (the list of runs) does not: all or nothing."""
    library = ModelLibrary(tmp_path)
    first = library.add(build_model("seed_cnn"), meta("First run"))
    before = snapshot(tmp_path)
    fill_disk(monkeypatch, 10, only=INDEX_NAME)
    with pytest.raises(SaveError, match=f"{INDEX_NAME}: the disk is full"):
        library.add(build_model("seed_cnn"), meta("Second run"))
    with pytest.raises(SaveError, match="the disk is full"):
        library.rename(first.id, "Renamed")
    monkeypatch.undo()
    after = snapshot(tmp_path)
    assert after[INDEX_NAME] == before[INDEX_NAME]
    assert set(after) == set(before), "a model whose index entry failed must not linger"
    # The rename rewrote the model file (it fitted) before the index failed; either name is
    # acceptable, a damaged file is not.
    assert load_checkpoint(first.path)[1].name in ("First run", "Renamed")
    assert [e.id for e in ModelLibrary(tmp_path).entries() if not e.builtin] == [first.id]


# --------------------------------------------------------------------------- a real tiny tmpfs


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted on tmp_path/disk; skipped where mounting is not allowed."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    result = subprocess.run([mount, "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run([shutil.which("umount") or "umount", str(mount_point)], check=False)


def fill_to_the_brim(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_real_full_tmpfs_during_model_and_index_saves(tiny_tmpfs):
    library = ModelLibrary(tiny_tmpfs / "models")
    first = library.add(build_model("seed_cnn"), meta("First run"))  # 0.6 MB of the 1 MiB
    library.set_active(first.id)
    models = tiny_tmpfs / "models"
    before = snapshot(models)

    with pytest.raises(SaveError) as caught:  # a second 0.6 MB model cannot fit
        library.add(build_model("seed_cnn"), meta("Second run"))
    assert "the disk is full" in str(caught.value), str(caught.value)
    assert snapshot(models) == before

    fill_to_the_brim(tiny_tmpfs)  # now not even the small index fits
    with pytest.raises(SaveError, match=f"{INDEX_NAME}: the disk is full"):
        library.set_active(first.id)
    assert snapshot(models) == before
    reopened = ModelLibrary(models)
    assert [e.name for e in reopened.entries() if not e.builtin] == ["First run"]
    assert load_checkpoint(reopened.active().path)[1].name == "First run"


# --------------------------------------------------------------------------- the Train page


@pytest.fixture
def window(make_main_window):
    """A shown MainWindow, torch loaded, settings isolated (tests/hardening/conftest.py)."""
    main = make_main_window()
    assert main.context.import_error() is None
    return main


@pytest.fixture
def one_torch_thread():
    """Tiny batches on a loaded 2-core machine run faster on one intra-op thread."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_train_page_keeps_a_model_it_cannot_save_and_saves_it_elsewhere_or_later(
    window, qtbot, monkeypatch, tiny_idx_dir, tmp_path, one_torch_thread
):
    window.show_page("train")
    page = window.pages["train"]
    qtbot.waitUntil(lambda: page.train_button.isEnabled(), timeout=30_000)
    page.set_data_folder(str(tiny_idx_dir))
    page.preset_combo.setCurrentIndex(page.preset_combo.findData("seed"))
    page.epochs_spin.setValue(1)
    page.batch_spin.setValue(64)
    page.val_size_spin.setValue(100)
    library_folder = paths.models_dir()

    with pytest.MonkeyPatch.context() as full:
        fill_disk(full, 0)
        qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not page.is_training(), timeout=60_000)

        # The message is on the Train page, the model is held, nothing half-written is left.
        banner = page.banner.text()
        assert "could not be saved" in banner and "the disk is full" in banner, banner
        assert page.save_as_button.isVisible() and page.retry_save_button.isVisible()
        assert [p.name for p in library_folder.iterdir() if p.name.endswith((".pt", ".tmp"))] == []
        assert page.train_button.isEnabled()

        # Still full: "Try again" fails the same way and keeps the model.
        qtbot.mouseClick(page.retry_save_button, Qt.MouseButton.LeftButton)
        assert "the disk is full" in page.banner.text() and page.save_as_button.isVisible()

    # Closing the window now asks first: the model exists only in memory.
    asked = []

    def answer_no(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer_no)
    assert not window.close()
    assert asked and "only in memory" in asked[0]

    # "Save model as…" to another disk, which has room.
    rescued = tmp_path / "elsewhere" / "rescued.pt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(rescued), "Model files (*.pt)"))
    qtbot.mouseClick(page.save_as_button, Qt.MouseButton.LeftButton)
    _, rescued_meta = load_checkpoint(rescued)
    assert len(rescued_meta.history) == 1 and rescued_meta.metrics.get("test_accuracy") is not None
    assert str(rescued) in page.banner.text()
    assert not page.save_as_button.isVisible() and not page.is_busy()

    # The next run's save fails too; once space is freed, "Try again" puts it into the library.
    with pytest.MonkeyPatch.context() as full:
        fill_disk(full, 0)
        qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not page.is_training(), timeout=60_000)
        assert page.retry_save_button.isVisible()
    with qtbot.waitSignal(page.runFinished, timeout=5_000) as saved:
        qtbot.mouseClick(page.retry_save_button, Qt.MouseButton.LeftButton)
    entry = saved.args[0]
    assert [e.id for e in window.context.library().entries() if not e.builtin] == [entry.id]
    assert "Saved" in page.banner.text() and not page.is_busy()
    assert load_checkpoint(entry.path)[1].name == entry.name
