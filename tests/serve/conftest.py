"""Fixtures for the HTTP API: a small model, generated images of every kind, a test client."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")


@pytest.fixture
def small_weights(tmp_path) -> Path:
    """An untrained 'fast' model in the app's format (plumbing, not accuracy)."""
    import torch

    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    torch.manual_seed(0)
    meta = CheckpointMeta.for_preset("fast", "Small test model", metrics={"test_accuracy": 12.5})
    return save_checkpoint(tmp_path / "small.pt", build_model("bn_cnn_small"), meta)


@pytest.fixture
def make_client(small_weights):
    """make_client(**ServeSettings fields) → a FastAPI TestClient over the small model."""
    from fastapi.testclient import TestClient

    from fmnist_desktop.serve.app import ServeSettings
    from fmnist_desktop.serve.server import load_app

    clients = []

    def make(**settings):
        app, _ = load_app(small_weights, ServeSettings(**{"threads": 2, **settings}))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)
