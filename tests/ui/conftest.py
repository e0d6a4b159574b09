"""Fixtures for GUI tests: offscreen Qt, a real main window with a model, drops. The window factory
(`make_main_window`) and `isolated_settings` are in tests/conftest.py, shared with tests/hardening."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture
def main_window(make_main_window):
    """A shown MainWindow whose background torch import has finished."""
    return make_main_window()


# --------------------------------------------------------------------------- models and inputs
DEFAULT_WEIGHTS = __import__("pathlib").Path(__file__).resolve().parents[2] / "weights" / "default.pt"


@pytest.fixture
def window_with_model(main_window, seed_model_file, qtbot):
    """A ready main window whose active model is a user model (imported into the library)."""
    ctx = main_window.context
    if ctx.import_error():
        pytest.fail(f"the model engine did not load: {ctx.import_error()}")
    entry = ctx.library().import_file(seed_model_file)
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
