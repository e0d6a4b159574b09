"""Fixtures for the hardening tests: a small valid model file. The in-process `fmnist` runner and
the main-window factory (`make_main_window`, `isolated_settings`) are in tests/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(scope="session")
def seed_model_file(tmp_path_factory) -> Path:
    """A valid checkpoint of the small seed CNN (fixed random weights; answers are arbitrary)."""
    import torch

    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "seed-model.pt"
    meta = CheckpointMeta.for_preset("seed", name="Hardening seed model", metrics={"test_accuracy": 10.0})
    return save_checkpoint(path, build_model("seed_cnn"), meta)
