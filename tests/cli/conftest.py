"""Fixtures for the `fmnist` command: run it in-process, and small model files to run it on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fmnist_desktop.core import paths


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys):
    """run_cli("predict", "--json", path) → CliResult(code, out, err), in this process."""
    from fmnist_desktop.cli import main

    def run(*argv: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def small_model(tmp_path) -> Path:
    """An untrained 'fast' model saved in the app's format (fine for plumbing, not accuracy)."""
    import torch

    from fmnist_desktop.core.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "small.pt", build_model("bn_cnn_small"), CheckpointMeta.for_preset("fast", "small"))


@pytest.fixture
def no_builtin_model(tmp_path, monkeypatch):
    """Pretend the app ships no default model (so the library starts empty)."""
    monkeypatch.setattr(paths, "default_weights_path", lambda: tmp_path / "no-default.pt")
