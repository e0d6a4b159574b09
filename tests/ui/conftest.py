"""Fixtures for GUI tests: offscreen Qt, isolated settings and data folder, a real main window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch):
    """Redirect QSettings and the app data folder into tmp_path; returns the settings folder."""
    settings_dir = tmp_path / "settings"
    settings_dir.mkdir()
    monkeypatch.setenv("FMNIST_DESKTOP_HOME", str(tmp_path / "home"))
    previous_format = QSettings.defaultFormat()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(settings_dir))
    yield settings_dir
    QSettings.setDefaultFormat(previous_format)


def _make_window(qtbot):
    from fmnist_desktop.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    return window


@pytest.fixture
def make_main_window(qtbot, isolated_settings):
    """Factory: build (and show) a fresh MainWindow in the same isolated settings/data dir."""
    windows = []

    def make(show: bool = True, wait_ready: bool = True):
        window = _make_window(qtbot)
        windows.append(window)
        if show:
            window.show()
            qtbot.waitExposed(window)
            if wait_ready:
                qtbot.waitUntil(
                    lambda: window.context.is_torch_ready() or window.context.import_error() is not None,
                    timeout=60_000,
                )
        return window

    yield make
    for window in windows:
        for page in window.pages.values():
            shutdown = getattr(page, "shutdown", None)
            if shutdown is not None:
                shutdown(5000)


@pytest.fixture
def main_window(make_main_window):
    """A shown MainWindow whose background torch import has finished."""
    return make_main_window()


# --------------------------------------------------------------------------- models and inputs
DEFAULT_WEIGHTS = __import__("pathlib").Path(__file__).resolve().parents[2] / "weights" / "default.pt"


@pytest.fixture(scope="session")
def untrained_model_file(tmp_path_factory):
    """A valid checkpoint of the seed CNN with fixed random weights (predictions are arbitrary
    but deterministic): enough to drive the pages without training."""
    import torch

    from fmnist_desktop.core.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model, get_preset

    torch.manual_seed(0)
    preset = get_preset("seed")
    model = build_model(preset.arch)
    path = tmp_path_factory.mktemp("models") / "untrained-seed.pt"
    meta = CheckpointMeta.for_preset("seed", name="Untrained seed", metrics={"test_accuracy": 10.0})
    save_checkpoint(path, model, meta)
    return path


@pytest.fixture
def window_with_model(main_window, untrained_model_file, qtbot):
    """A ready main window whose active model is a user model (imported into the library)."""
    ctx = main_window.context
    if ctx.import_error():
        pytest.fail(f"the model engine did not load: {ctx.import_error()}")
    entry = ctx.library().import_file(untrained_model_file)
    ctx.refresh_models()
    assert ctx.set_active(entry.id)
    return main_window


@pytest.fixture
def window_with_trained_model(main_window):
    """A ready main window whose active model is trained: the default shipped in weights/, or
    the checkpoint named by $FMNIST_TRAINED_MODEL (e.g. one made with `fmnist train --out`)."""
    trained = os.environ.get("FMNIST_TRAINED_MODEL")
    if trained:
        entry = main_window.context.library().import_file(trained)
        main_window.context.refresh_models()
        assert main_window.context.set_active(entry.id)
        return main_window
    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip("no trained model: weights/default.pt is missing and FMNIST_TRAINED_MODEL is not set")
    entry = main_window.context.active_entry()
    if entry is None or not entry.builtin:
        builtin = [e for e in main_window.context.library().entries() if e.builtin]
        if not builtin:
            pytest.skip("the library lists no builtin default model")
        main_window.context.set_active(builtin[0].id)
    return main_window


@pytest.fixture
def drop_paths():
    """`drop_paths(widget, paths)`: drag files/folders onto a widget as a file manager does."""
    return _drop_paths


def _drop_paths(widget, paths) -> None:
    """Drag `paths` (files/folders) onto `widget` the way a file manager does."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    enter = QDragEnterEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drop target refused the drag"
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
