"""Fixtures for the HTTP API: a small model, generated images of every kind, a test client."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pytest.importorskip("httpx")


@pytest.fixture
def make_client(small_model):
    """make_client(**ServeSettings fields) → a FastAPI TestClient over the small model."""
    from fastapi.testclient import TestClient

    from fmnist_desktop.serve.app import ServeSettings
    from fmnist_desktop.serve.server import load_app

    clients = []

    def make(**settings):
        app, _ = load_app(small_model, ServeSettings(**{"threads": 2, **settings}))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)
