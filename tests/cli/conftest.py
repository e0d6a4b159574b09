"""Fixtures for the `fmnist` command: small model files to run it on (the in-process runner,
`run_cli`, is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmnist_desktop.core.base import paths


@pytest.fixture
def small_model(tmp_path) -> Path:
    """An untrained 'fast' model saved in the app's format (fine for plumbing, not accuracy)."""
    import torch

    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "small.pt", build_model("bn_cnn_small"), CheckpointMeta.for_preset("fast", "small"))


@pytest.fixture
def no_builtin_model(tmp_path, monkeypatch):
    """Pretend the app ships no default model (so the library starts empty)."""
    monkeypatch.setattr(paths, "default_weights_path", lambda: tmp_path / "no-default.pt")
