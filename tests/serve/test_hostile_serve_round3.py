"""Hostile input, round three (issue 17): what a request may make the server decode, and what the
requests in flight get when the server is stopped."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import httpx
import pytest
from serve_images import fmnist_like, png_bytes

REPO = Path(__file__).resolve().parents[2]


def grey_png(width: int, height: int) -> bytes:
    """A valid all-black 8-bit grey PNG of any size, made without holding its pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    parts = [packer.compress(row) for _ in range(height)] + [packer.flush()]
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
            + chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) declares width × height (only the header is read)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (16, 16)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.fixture(scope="module")
def near_limit_png() -> bytes:
    return grey_png(6300, 6300)  # 39.7 megapixels: just under the 40-megapixel limit for one PNG


def test_many_near_limit_images_are_refused_from_their_headers(make_client, near_limit_png, monkeypatch):
    """32 near-limit PNGs (5 MB in all) took 32 s and 2 GB: now a 413 before one is decoded."""
    import fmnist_desktop.core.photo as photo

    decoded = []
    real = photo.load_image
    monkeypatch.setattr(photo, "load_image", lambda *a, **k: decoded.append(1) or real(*a, **k))
    client = make_client()
    files = [("files", (f"big{i}.png", near_limit_png, "image/png")) for i in range(32)]
    r = client.post("/predict", files=files)
    assert r.status_code == 413
    message = r.json()["error"]
    assert "megapixels" in message and "per request" in message and "fewer or smaller" in message
    assert decoded == []


def test_a_tall_thin_image_counts_its_rows(make_client):
    """A 1×40,000,000 PNG is under the pixel limit but costs per row: refused, not decoded for seconds."""
    client = make_client()
    r = client.post("/predict", content=grey_png(1, 40_000_000), headers={"content-type": "image/png"})
    assert r.status_code == 413 and "too large to decode" in r.json()["error"]


def test_a_large_jpeg_counts_at_the_reduced_size_it_is_decoded_at():
    from fmnist_desktop.serve.decode_budget import HEAVY_REQUEST_PIXELS, decode_cost

    cost = decode_cost(jpeg_declaring(8192, 8192))  # JPEG draft decodes it at 1/4: 2048×2048
    assert cost == 2048 * 2048 + 2 * 2048
    assert cost < HEAVY_REQUEST_PIXELS < decode_cost(grey_png(4200, 4200))
    # A long thin JPEG (one side under 2048) is not reduced at all.
    assert decode_cost(jpeg_declaring(10000, 1000)) == 10000 * 1000 + 2 * 1000


def test_large_requests_wait_in_their_own_lane_and_small_ones_pass(small_model, monkeypatch):
    """While large decodes hold the heavy lane (one decoding, two waiting), another large request
    gets 503 with Retry-After and a 28×28 image is still answered at once."""
    import fmnist_desktop.serve.app as serve_app
    from fmnist_desktop.serve.server import BackgroundServer

    release = threading.Event()
    real = serve_app._classify

    def classify(predictor, items, top_k):
        if items[0][0].startswith("big"):
            release.wait(60)
            return []
        return real(predictor, items, top_k)

    monkeypatch.setattr(serve_app, "_classify", classify)
    big = grey_png(4200, 4200)  # 17.6 megapixels: a large request
    server = BackgroundServer(small_model, port=0)
    url = server.start()
    answers = []
    try:
        def post_big(i):
            answers.append(httpx.post(f"{url}/predict", files={"files": (f"big{i}.png", big, "image/png")}, timeout=60))

        threads = [threading.Thread(target=post_big, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        lane = server._server.config.app.state.heavy_lane
        for _ in range(600):  # until the three are admitted (one decoding, two waiting)
            if lane.admitted == 3:
                break
            time.sleep(0.05)
        assert lane.admitted == 3
        busy = httpx.post(f"{url}/predict", files={"files": ("big4.png", big, "image/png")}, timeout=30)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert "busy decoding other large images" in busy.json()["error"]
        small = httpx.post(f"{url}/predict", files={"files": ("small.png", png_bytes(fmnist_like()), "image/png")},
                           timeout=30)
        assert small.status_code == 200 and small.json()[0]["name"] == "small.png"
    finally:
        release.set()
        for t in threads:
            t.join(60)
        server.stop()
    assert [a.status_code for a in answers] == [200, 200, 200]


def test_memory_is_given_back_after_a_large_request(make_client, monkeypatch):
    import fmnist_desktop.serve.decode_budget as budget

    trims = []
    monkeypatch.setattr(budget, "give_memory_back", lambda: trims.append(1))
    client = make_client()
    r = client.post("/predict", files={"files": ("big.png", grey_png(4200, 4200), "image/png")})
    assert r.status_code == 200 and trims == [1]


# --- SIGTERM with requests in flight (item 2) -----------------------------------------------------


def _run_guarded(work_s: float, grace_s: float):
    """One request through ShutdownGuard whose app takes `work_s`; the stop comes right after it starts."""
    from fmnist_desktop.serve.shutdown import ShutdownGuard, ShutdownState

    async def slow_app(scope, receive, send):
        await asyncio.sleep(work_s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"[]"})

    state = ShutdownState(grace_s=grace_s)
    sent = []

    async def send(message):
        sent.append(message)

    async def main():
        call = asyncio.ensure_future(ShutdownGuard(slow_app, state)({"type": "http"}, None, send))
        await asyncio.sleep(0.01)
        state.begin()
        await call

    asyncio.run(main())
    return state, sent


def test_a_request_still_running_when_the_grace_ends_gets_a_json_503():
    state, sent = _run_guarded(work_s=30, grace_s=0.05)
    assert sent[0]["status"] == 503 and (b"connection", b"close") in sent[0]["headers"]
    assert "shutting down" in json.loads(sent[1]["body"])["error"]
    assert state.summary() == "1 still running after 0.05 s was answered 503 (not finished)"


def test_a_request_that_finishes_within_the_grace_keeps_its_answer():
    state, sent = _run_guarded(work_s=0.05, grace_s=30)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"[]"
    assert state.summary() == "1 request in flight finished"


def test_sigterm_with_a_request_running_too_long_answers_503_and_says_so(small_model):
    """`fmnist serve` gets SIGTERM while a request would run for a minute: the client gets a JSON
    503 after the grace period, stderr has no traceback, and the closing line says what happened."""
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        import fmnist_desktop.core.predict as predict
        try:
            import fmnist_desktop.serve.shutdown as shutdown
            shutdown.GRACE_S = 1.0
        except ImportError:  # before issue 17
            pass
        def predict_images(self, *a, **k):
            time.sleep(5)  # far longer than the grace period (kept short: the process waits for it)
            return []
        predict.Predictor.predict_images = predict_images
        from fmnist_desktop.cli import main
        sys.exit(main(["serve", "--weights", {str(small_model)!r}, "--port", "0"]))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        line = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not line.startswith("Serving on"):
            line = proc.stdout.readline()
            if not line:
                break
        assert line.startswith("Serving on"), "the server never came up"
        url = line.split()[2]
        answer = {}

        def request():
            answer["r"] = httpx.post(f"{url}/predict", content=png_bytes(fmnist_like()),
                                     headers={"content-type": "image/png"}, timeout=60)

        t = threading.Thread(target=request)
        t.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        t.join(60)
        assert answer["r"].status_code == 503 and "shutting down" in answer["r"].json()["error"]
        assert proc.wait(60) == 0
        out, err = proc.stdout.read(), proc.stderr.read()
        assert "Traceback" not in err and "CancelledError" not in err
        assert "Server stopped (SIGTERM); 1 still running after 1 s was answered 503 (not finished)." in out
    finally:
        if proc.poll() is None:
            proc.kill()


# --- the smaller ones ------------------------------------------------------------------------------


def test_an_upload_named_the_data_txt_keeps_its_name(make_client):
    r = make_client().post("/predict", files={"files": ("The data.txt", b"not an image", "text/plain")})
    assert r.status_code == 422
    assert r.json()["error"].startswith("The data.txt is not") and ".txt.txt" not in r.json()["error"]


def test_a_loopback_server_refuses_other_host_names_and_other_sites(make_client):
    from fmnist_desktop.serve.guards import loopback_hosts

    client = make_client(allowed_hosts=loopback_hosts("127.0.0.1"))
    rebound = client.get("/health", headers={"host": "attacker.example:8000"})
    assert rebound.status_code == 421 and "DNS rebinding" in rebound.json()["error"]
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost"):
        assert client.get("/health", headers={"host": host}).status_code == 200, host
    page = client.post("/predict", headers={"host": "127.0.0.1:8000", "origin": "http://attacker.example"},
                       files={"files": ("a.png", png_bytes(fmnist_like()), "image/png")})
    assert page.status_code == 403 and "other sites" in page.json()["error"]
    own = client.get("/health", headers={"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000"})
    assert own.status_code == 200


def test_the_docs_page_says_what_to_do_without_its_cdn(make_client):
    r = make_client().get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    assert "fmnist-offline" in r.text and 'href="/openapi.json"' in r.text


@pytest.mark.parametrize("argv, env, words", [
    (["--token", ""], {}, "--token is empty"),
    (["--token", "  "], {}, "--token is empty"),
    (["--token", "pässwort"], {}, "printable ASCII"),
    ([], {"FMNIST_SERVE_TOKEN": ""}, "FMNIST_SERVE_TOKEN is empty"),
    (["--host", "999.1.1.1"], {}, "not a valid address"),
])
def test_serve_refuses_tokens_and_hosts_that_cannot_work(run_cli, small_model, monkeypatch, argv, env, words):
    import fmnist_desktop.serve.server as server

    monkeypatch.setattr(server, "run_server", lambda *a, **k: None)  # never serve, even if the check is missed
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    line = run_cli("serve", "--weights", small_model, "--port", "0", *argv).assert_one_error_line(words)
    assert "--port" not in line


def test_serve_on_all_ipv6_addresses_prints_a_reachable_url(run_cli, small_model, monkeypatch):
    import fmnist_desktop.serve.server as server

    monkeypatch.setattr(server, "check_port_free", lambda host, port: None)
    monkeypatch.setattr(server, "run_server", lambda *a, on_ready=None, **k: on_ready(8123))
    r = run_cli("serve", "--weights", small_model, "--host", "::", "--port", "8123")
    assert r.code == 0, r
    assert "POST http://[::1]:8123/predict" in r.out and "127.0.0.1" not in r.out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_heavy_lane_runs_nicer_than_the_rest_of_the_server():
    from fmnist_desktop.serve.decode_budget import HeavyLane

    lane = HeavyLane()
    try:
        def nice_of_this_thread():
            return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert lane.executor.submit(nice_of_this_thread).result(30) == min(19, mine + 10)
    finally:
        lane.shutdown()


def test_requests_in_event_loops_of_their_own_are_not_taken_for_a_shutdown(small_model):
    """A client that runs each request in a new event loop (TestClient without `with`) must not
    meet the shutdown grace of an earlier loop's event."""
    from fastapi.testclient import TestClient

    from fmnist_desktop.serve.app import ServeSettings
    from fmnist_desktop.serve.server import load_app

    app, _ = load_app(small_model, ServeSettings(threads=1))
    client = TestClient(app)
    assert [client.get("/health").status_code for _ in range(3)] == [200, 200, 200]


def test_an_export_name_too_long_is_one_error_line(run_cli, small_model, tmp_path):
    line = run_cli("export", "--weights", small_model, "--format", "onnx", tmp_path / ("m" * 251 + ".onnx"))
    line.assert_one_error_line("File name too long")


def test_a_worker_process_starts_the_grace_before_uvicorns_own_handler():
    """`--workers N`: uvicorn's Server installs its SIGTERM handler before the app factory runs;
    the factory puts the app's grace period in front of it."""
    from types import SimpleNamespace

    from fmnist_desktop.serve.server import _chain_shutdown_to_signals
    from fmnist_desktop.serve.shutdown import ShutdownState

    calls = []
    state = ShutdownState()
    app = SimpleNamespace(state=SimpleNamespace(shutdown=state))
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(("uvicorn", state.stopping)))
        _chain_shutdown_to_signals(app)
        signal.raise_signal(signal.SIGTERM)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert calls == [("uvicorn", True)]
