"""Hostile input, round four (issue 27, items 1 and 2): only the image formats the app lists are
ever opened, and a progressive JPEG is counted at the size it really costs to decode."""

from __future__ import annotations

import io
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# An 87-byte EPS whose program never ends: Ghostscript spins on it with no time limit.
POSTSCRIPT_LOOP = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\n"


def fits_bytes(side: int = 10) -> bytes:
    """A minimal FITS image (Pillow decodes FITS pixel by pixel in Python)."""
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    2",
             f"NAXIS1  = {side:>20}", f"NAXIS2  = {side:>20}", "END"]
    header = b"".join(card.ljust(80).encode() for card in cards).ljust(2880, b" ")
    return header + bytes(side * side).ljust(2880, b"\0")


def progressive_jpeg_declaring(width: int, height: int) -> bytes:
    """A tiny progressive JPEG whose frame header (SOF2) declares width × height (only the header
    is read by what is tested here)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buf, "JPEG", progressive=True)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc2")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.fixture
def no_ghostscript(monkeypatch):
    """Pillow's Ghostscript call, replaced by one that records that it was reached."""
    from PIL import EpsImagePlugin

    started = []

    def ghostscript(*args, **kwargs):
        started.append(args)
        raise OSError("Ghostscript was started")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    return started


NOT_LISTED = "not a PNG, JPEG, WebP, BMP, GIF or TIFF file"


def test_postscript_named_jpg_is_refused_in_one_line_without_ghostscript(run_cli, small_model, tmp_path, no_ghostscript):
    photo = tmp_path / "loop.jpg"
    photo.write_bytes(POSTSCRIPT_LOOP)
    result = run_cli("predict", "--weights", small_model, photo)
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert any(NOT_LISTED in line and "loop.jpg" in line for line in lines), result.err
    assert no_ghostscript == []


@pytest.mark.parametrize("name, data", [("sky.jpg", fits_bytes()), ("loop.png", POSTSCRIPT_LOOP)])
def test_other_formats_pillow_knows_are_not_images_here(tmp_path, name, data, no_ghostscript):
    from fmnist_desktop.core.base.errors import ImageLoadError
    from fmnist_desktop.core.photo import load_image

    path = tmp_path / name
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(ImageLoadError, match=NOT_LISTED):
            load_image(source)
    assert no_ghostscript == []


def test_a_phone_jpeg_that_pillow_calls_mpo_still_opens(tmp_path):
    """Phone photos with a second picture (MPO) are JPEGs: they open, and decode at draft size."""
    from PIL import Image

    from fmnist_desktop.core.photo import load_image

    path = tmp_path / "phone.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, "MPO", save_all=True,
                                                     append_images=[Image.new("RGB", (64, 48))])
    with Image.open(path) as img:
        assert img.format == "MPO"
    loaded = load_image(path)
    assert loaded.size == (64, 48) and loaded.getpixel((10, 10))[0] > 150


def test_every_image_is_opened_through_the_one_allow_list():
    """No module opens an image with Pillow's every-format `Image.open` but core.base.formats."""
    offenders = []
    for path in (REPO / "fmnist_desktop").rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if re.search(r"\bImage\.open\(", code) and not code.strip().startswith(("\"", "'", "`")) \
                    and path.name != "formats.py" and "`Image.open`" not in line:
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_cli_predict_of_a_postscript_loop_returns_at_once_and_leaves_no_ghostscript(small_model, tmp_path):
    """The real command, real Pillow: before, `fmnist predict loop.jpg` never returned and left
    `gs` spinning at 80 % CPU."""
    photo = tmp_path / "loop.jpg"
    photo.write_bytes(POSTSCRIPT_LOOP)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "fmnist_desktop.cli", "predict", "--weights", str(small_model), str(photo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and the gs it started
        proc.communicate()
        pytest.fail("fmnist predict of a PostScript loop did not return in 90 s")
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert len(err.strip().splitlines()) == 1 and NOT_LISTED in err, err
    assert "Traceback" not in err
    # Ghostscript by name: the command's session may also hold the child that makes the model's
    # ONNX twin (core.jobs.twin_process), which ends on its own once its parent is gone.
    leftovers = subprocess.run(["pgrep", "-s", str(proc.pid), "-x", "gs"], capture_output=True, text=True).stdout.split()
    assert leftovers == []  # no gs left in the command's session
    assert elapsed < 60


# --------------------------------------------------------------------------------- item 2


def test_a_progressive_jpeg_is_counted_at_full_size():
    """libjpeg keeps a progressive JPEG's coefficients for the whole image even at draft scale:
    13000×13000 was counted as 10.6 megapixels and ran in the ordinary lane."""
    from fmnist_desktop.serve.decode_budget import (DEFAULT_MAX_REQUEST_PIXELS, HEAVY_REQUEST_PIXELS,
                                                    decode_cost)

    assert decode_cost(progressive_jpeg_declaring(13000, 13000)) >= 13000 * 13000 > DEFAULT_MAX_REQUEST_PIXELS
    assert decode_cost(progressive_jpeg_declaring(6000, 6000)) >= 36_000_000 > HEAVY_REQUEST_PIXELS
    assert decode_cost(progressive_jpeg_declaring(800, 600)) == 800 * 600 + 2 * 600  # small ones: as before


def test_a_real_progressive_jpeg_is_counted_at_full_size_and_still_opens():
    from PIL import Image

    from fmnist_desktop.core.photo import load_image
    from fmnist_desktop.serve.decode_budget import HEAVY_REQUEST_PIXELS, decode_cost

    buf = io.BytesIO()
    Image.new("L", (5000, 5000), 90).save(buf, "JPEG", progressive=True, quality=50)  # flat: a few kB
    data = buf.getvalue()
    assert len(data) < 200_000
    assert decode_cost(data) >= 25_000_000 > HEAVY_REQUEST_PIXELS  # the heavy lane, one at a time
    assert max(load_image(data).size) <= 2048
