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
