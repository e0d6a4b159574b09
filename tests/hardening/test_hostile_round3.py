"""Hostile input, round three (issue 17): `fmnist serve`, `tune` and `export` options and names."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

EVIL_NAME = "nice\x1b[2J\x1b[1;1Hmodel\rForged: 100%\nSecond line"


@pytest.fixture
def evil_model(tmp_path) -> Path:
    """A model whose stored name clears the screen, returns the carriage and forges a line."""
    import torch

    from fmnist_desktop.core.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "evil.pt", build_model("bn_cnn_small"), CheckpointMeta.for_preset("fast", EVIL_NAME))


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text
    assert "Second line" not in [line.strip() for line in text.splitlines()]


# --- item 3: serve --device that is not there ------------------------------------------------------


@pytest.mark.parametrize("device", ["tpu", "cuda:7"])
def test_serve_on_a_device_that_is_not_there_is_one_error_line(run_cli, evil_model, device):
    pytest.importorskip("fastapi")
    line = run_cli("serve", "--weights", evil_model, "--device", device, "--port", "0").assert_one_error_line(device)
    assert "unexpected" not in line


# --- item 14: model names printed by export, serve and evaluate ------------------------------------


def test_export_serve_and_evaluate_escape_the_model_name(run_cli, evil_model, tmp_path, tiny_idx_dir, monkeypatch):
    r = run_cli("export", "--weights", evil_model, tmp_path / "copy.pt")
    assert r.code == 0, r
    _no_raw_controls(r.out)
    assert "\\x1b[2J" in r.out and "\\r" in r.out and "\\n" in r.out

    r = run_cli("evaluate", "--weights", evil_model, "--data", tiny_idx_dir)
    assert r.code == 0, r
    _no_raw_controls(r.out)

    pytest.importorskip("fastapi")
    import fmnist_desktop.serve.server as server

    monkeypatch.setattr(server, "run_server", lambda *a, **k: None)  # print the banner, serve nothing
    r = run_cli("serve", "--weights", evil_model, "--port", "0")
    assert r.code == 0, r
    _no_raw_controls(r.out)
    assert "Model: nice\\x1b[2J" in r.out
