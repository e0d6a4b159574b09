"""Hostile input, round four (issue 27, items 1–3) through the HTTP API: formats the app does not
list, progressive JPEGs, and a model whose answers are not numbers."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest
from serve_images import fmnist_like, png_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hardening"))
from test_hostile_round4_images import (NOT_LISTED, POSTSCRIPT_LOOP, fits_bytes,  # noqa: E402
                                        progressive_jpeg_declaring)


@pytest.fixture
def no_ghostscript(monkeypatch):
    from PIL import EpsImagePlugin

    started = []

    def ghostscript(*args, **kwargs):
        started.append(args)
        raise OSError("Ghostscript was started")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    return started


def test_postscript_and_fits_uploads_get_a_quick_4xx_and_photos_still_pass(make_client, no_ghostscript):
    client = make_client()
    for name, data in (("loop.jpg", POSTSCRIPT_LOOP), ("sky.jpg", fits_bytes())):
        start = time.monotonic()
        r = client.post("/predict", files={"files": (name, data, "image/jpeg")})
        assert 400 <= r.status_code < 500 and time.monotonic() - start < 10
        assert NOT_LISTED in r.json()["error"] and name in r.json()["error"]
        raw = client.post("/predict", content=data, headers={"content-type": "image/jpeg"})
        assert raw.status_code == 422 and NOT_LISTED in raw.json()["error"]
    assert no_ghostscript == []
    ok = client.post("/predict", files={"files": ("shirt.png", png_bytes(fmnist_like()), "image/png")})
    assert ok.status_code == 200


def test_progressive_jpegs_go_through_the_large_image_lane(make_client):
    """Counted at draft size, two parallel 13000×13000 progressive uploads ran in the ordinary
    lane (0.6 → 2.6 GB). Now: above the request limit a 413 before decoding, and a large one
    below it waits in the heavy lane."""
    client = make_client()
    lane = client.app.state.heavy_lane
    used = []
    real_run = lane.run

    async def run(fn, *args):
        used.append(args[1][0][0])
        return await real_run(fn, *args)

    lane.run = run
    huge = client.post("/predict", files={"files": ("huge.jpg", progressive_jpeg_declaring(13000, 13000), "image/jpeg")})
    assert huge.status_code == 413 and "too large to decode" in huge.json()["error"]
    large = client.post("/predict", files={"files": ("large.jpg", progressive_jpeg_declaring(6000, 6000), "image/jpeg")})
    assert large.status_code in (200, 422)  # its header declares more than its data holds
    assert used == ["large.jpg"]

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (600, 400), 120).save(buf, "JPEG", progressive=True)
    small = client.post("/predict", files={"files": ("small.jpg", buf.getvalue(), "image/jpeg")})
    assert small.status_code == 200 and used == ["large.jpg"]
