"""Fixtures for the `fmnist` command (the in-process runner `run_cli` and the small model files
are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from fmnist_desktop.core.base import paths


@pytest.fixture
def no_builtin_model(tmp_path, monkeypatch):
    """Pretend the app ships no default model (so the library starts empty)."""
    monkeypatch.setattr(paths, "default_weights_path", lambda: tmp_path / "no-default.pt")
