"""Fixtures for the hardening tests (the in-process `fmnist` runner is in tests/conftest.py): a small valid model file,
and a real main window with isolated settings (like tests/ui, whose fixtures are not visible
from this folder)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(scope="session")
def seed_model_file(tmp_path_factory) -> Path:
    """A valid checkpoint of the small seed CNN (fixed random weights; answers are arbitrary)."""
    import torch

    from fmnist_desktop.core.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "seed-model.pt"
    meta = CheckpointMeta.for_preset("seed", name="Hardening seed model", metrics={"test_accuracy": 10.0})
    return save_checkpoint(path, build_model("seed_cnn"), meta)


# --------------------------------------------------------------------------------- GUI


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch, tmp_home):
    """QSettings in INI format under tmp_path/settings (never the user's); returns that folder."""
    from PySide6.QtCore import QSettings

    settings_dir = tmp_path / "settings"
    settings_dir.mkdir()
    previous_format = QSettings.defaultFormat()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(settings_dir))
    yield settings_dir
    QSettings.setDefaultFormat(previous_format)


@pytest.fixture
def make_main_window(qtbot, isolated_settings):
    """Factory: a fresh shown MainWindow whose background torch import has finished."""
    windows = []

    def make():
        from fmnist_desktop.ui.main_window import MainWindow

        window = MainWindow()
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitExposed(window)
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
