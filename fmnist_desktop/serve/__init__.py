"""`fmnist serve`: the active model behind a local HTTP API (FastAPI + uvicorn).

Qt-free, over `core.predict.Predictor`: `app.create_app(predictor, settings)` is the FastAPI
application, `server.run_server(...)` runs it in the foreground (the CLI), and
`server.BackgroundServer` runs it in a thread for the GUI's Start/Stop. FastAPI, uvicorn and
python-multipart are the optional extra `serve` (`pip install "fmnist-desktop[serve]"`);
`missing_dependencies()` says which are absent.
"""

from __future__ import annotations

# Defined here, not in app/server, so `fmnist --help` builds its parser without importing FastAPI.
DEFAULT_MAX_FILES = 32  # most images in one request
ENV_TOKEN = "FMNIST_SERVE_TOKEN"  # the bearer token, for worker processes and the command line

INSTALL_HINT = 'Install the serve extra: pip install "fmnist-desktop[serve]" (fastapi, uvicorn, python-multipart).'


def missing_dependencies() -> list[str]:
    """The serve extra's packages that cannot be imported here (empty when serving works)."""
    import importlib.util

    return [name for module, name in (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("multipart", "python-multipart"))
            if importlib.util.find_spec(module) is None]
