"""Images that are hostile by size (issue 12, hostile items 3 for images and 4): a small PNG padded
to gigabytes, a header declaring more pixels than can be decoded at full size, JPEGs whose header
holds thousands of EXIF segments or megabytes of metadata. Each is refused with one sentence
that states the limit, before the file is read whole or decoded, quickly (Pillow's EXIF joining
is quadratic and holds the GIL: 2,000 segments took 121 s and froze the window).
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import pytest
from PIL import Image

from fmnist_desktop.core.base import image_limits
from fmnist_desktop.core.base.errors import ImageLoadError
from fmnist_desktop.core.photo import load_image

pytestmark = pytest.mark.timeout(120)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _header_only_png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def _small_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (10, 10), 200).save(out, "PNG")
    return out.getvalue()


def _jpeg_with_segments(count: int, payload_bytes: int, exif: bool = True) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(out, "JPEG")
    jpeg = out.getvalue()
    body = (b"Exif\x00\x00" if exif else b"XMPish\x00") + b"\x00" * (payload_bytes - 7)
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segment * count + jpeg[2:]


def test_a_small_png_padded_to_gigabytes_is_refused_unread(tmp_path, run_cli):
    path = tmp_path / "padded.png"
    with open(path, "wb") as handle:  # sparse: costs no disk
        handle.write(_small_png())
        handle.truncate(3_000_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(ImageLoadError, match=r"padded\.png is too large to open \(3,000 MB; the limit for an "
                                                 r"image file is 100 MB\)"):
            load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    result = run_cli("predict", path)
    assert result.code == 1 and "fmnist: skipped: padded.png is too large to open" in result.err


def test_in_memory_data_over_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(image_limits, "MAX_IMAGE_FILE_BYTES", 1000)
    with pytest.raises(ImageLoadError, match="too large to open"):
        load_image(_small_png() + b"\0" * 2000)


@pytest.mark.parametrize("side", [13_000, 7_000])
def test_a_png_declaring_more_megapixels_than_the_limit_is_refused_from_its_header(tmp_path, side):
    path = tmp_path / "big.png"
    path.write_bytes(_header_only_png(side, side))
    started = time.perf_counter()
    with pytest.raises(ImageLoadError, match=rf"big\.png is too large to open \({side:,}×{side:,} = \d+ megapixels; "
                                             r"the limit for PNG images is 40 megapixels\)"):
        load_image(path)
    assert time.perf_counter() - started < 2.0


def test_a_large_jpeg_is_still_accepted_because_it_decodes_at_reduced_size():
    image_limits.check_pixels(13_000, 13_000, "JPEG", "photo.jpg")  # no error
    image_limits.check_pixels(6_000, 6_000, "PNG", "photo.png")  # 36 MP: under the limit


def test_a_jpeg_with_thousands_of_exif_segments_is_refused_at_once(tmp_path, run_cli):
    path = tmp_path / "exif.jpg"
    path.write_bytes(_jpeg_with_segments(2_000, 1_000))
    started = time.perf_counter()
    with pytest.raises(ImageLoadError, match=r"exif\.jpg is not a photo this app will open: its JPEG header holds "
                                             r"more than 16 EXIF segments \(a photo has one\)"):
        load_image(path)
    assert time.perf_counter() - started < 2.0
    result = run_cli("predict", path)
    assert result.code == 1 and "more than 16 EXIF segments" in result.err


def test_a_jpeg_with_80_mb_of_metadata_is_refused_quickly(tmp_path):
    path = tmp_path / "meta.jpg"
    path.write_bytes(_jpeg_with_segments(1_250, 64_000, exif=False))
    assert path.stat().st_size < image_limits.MAX_IMAGE_FILE_BYTES
    started = time.perf_counter()
    with pytest.raises(ImageLoadError, match="more than 16 MB of metadata"):
        load_image(path)
    assert time.perf_counter() - started < 2.0


def test_ordinary_jpegs_with_exif_icc_and_xmp_still_open(tmp_path):
    out = io.BytesIO()
    img = Image.new("RGB", (64, 48), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated
    img.save(out, "JPEG", exif=exif, icc_profile=b"\0" * 200_000)  # ICC split over 4 APP2 segments
    loaded = load_image(out.getvalue())
    assert loaded.size == (48, 64)


def test_the_marker_walk_leaves_damaged_files_to_pillow(tmp_path):
    for blob in (b"\xff\xd8", b"\xff\xd8\xff", b"\xff\xd8\xff\xe1\x00", b"\xff\xd8\xff\xe1\x00\x01junk"):
        with pytest.raises(ImageLoadError, match="truncated|damaged|not an image"):
            load_image(blob)
