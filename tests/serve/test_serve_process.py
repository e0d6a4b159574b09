"""The server as a process and as a background thread: real sockets, graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from serve_images import fmnist_like, png_bytes

REPO = Path(__file__).resolve().parents[2]


def test_background_server_starts_answers_and_stops(small_model):
    from fmnist_desktop.serve.server import BackgroundServer

    server = BackgroundServer(small_model, port=0)
    url = server.start()
    try:
        assert url.startswith("http://127.0.0.1:") and server.is_running() and server.url == url
        r = httpx.post(f"{url}/predict", files={"files": ("a.png", png_bytes(fmnist_like()), "image/png")}, timeout=30)
        assert r.status_code == 200 and r.json()[0]["name"] == "a.png"
    finally:
        server.stop()
    assert not server.is_running() and server.url is None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)


def test_a_taken_port_is_one_clear_error(small_model):
    import socket

    from fmnist_desktop.core.base.errors import FmnistError
    from fmnist_desktop.serve.server import BackgroundServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(FmnistError, match=f"127.0.0.1:{port}"):
            BackgroundServer(small_model, port=port).start()


def test_sigterm_finishes_the_request_in_flight_and_exits_cleanly(small_model):
    """A slow request is in flight when SIGTERM arrives: it still gets its answer, exit 0."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        import fmnist_desktop.core.predict.predictor as predict
        slow = predict.Predictor.predict_images
        def predict_images(self, *a, **k):
            time.sleep(1.5)  # long enough for SIGTERM to arrive mid-request
            return slow(self, *a, **k)
        predict.Predictor.predict_images = predict_images
        from fmnist_desktop.serve.server import run_server
        run_server({str(small_model)!r}, port=0, log_level="warning",
                   on_ready=lambda port: print("PORT", port, flush=True))
        print("EXITED", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        line = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not line.startswith("PORT"):
            line = proc.stdout.readline()
            if not line:
                break
        assert line.startswith("PORT"), "the server never came up"
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        answer = {}

        def request():
            answer["r"] = httpx.post(f"{url}/predict", content=png_bytes(fmnist_like()),
                                     headers={"content-type": "image/png"}, timeout=30)

        t = threading.Thread(target=request)
        t.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        t.join(30)
        assert answer["r"].status_code == 200 and answer["r"].json()[0]["label"]
        assert proc.wait(30) == 0
        assert "EXITED" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
