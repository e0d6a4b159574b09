"""Limits checked on an image before it is read whole or decoded (issue 12, hostile items 3 and 4).

`photo.load_image` calls these, so every way an image gets in (the CLI, the Predict page, drops,
the clipboard, labelled photo folders) is bounded the same way:

- `check_file_size`: a file (or in-memory data) larger than `MAX_IMAGE_FILE_BYTES` is refused from
  its size alone. A 10×10 PNG padded to 3 GB used to be read whole (3.6 GB of memory).
- `check_jpeg_markers`: the segments before a JPEG's image data are walked (lengths only, no
  copying) and a file with more than `MAX_JPEG_EXIF_SEGMENTS` EXIF segments, more than
  `MAX_JPEG_SEGMENTS` segments or more than `MAX_JPEG_METADATA_BYTES` of metadata is refused.
  Pillow joins EXIF segments by repeated `bytes +=` (quadratic): 2,000 of them (120 MB) took
  121 s in `Image.open`, holding the GIL, and froze the window. Real photos have one EXIF
  segment and at most a few dozen in all (ICC profiles and extended XMP are split into 64 kB
  segments).
- `check_pixels`: decoding needs the whole image in memory except for JPEG, which Pillow can
  decode at 1/2, 1/4 or 1/8 scale (`draft`). Other formats above `MAX_FULL_DECODE_PIXELS` are
  refused from their header (a 13000×13000 PNG peaked at 2.0–2.7 GB); every format stays under
  Pillow's own bomb limit.

Plain Python, no Qt, no torch.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from .errors import ImageLoadError
from .formats import JPEG_FORMATS

MAX_IMAGE_FILE_BYTES = 100_000_000  # 100 MB: a 50-megapixel PNG photo is about that
MAX_FULL_DECODE_PIXELS = 40_000_000  # 40 megapixels for formats decoded at full size
MAX_JPEG_SEGMENTS = 1_000
MAX_JPEG_EXIF_SEGMENTS = 16
MAX_JPEG_METADATA_BYTES = 16_000_000

_RESIZE_HINT = "Resize it (or save it as a JPEG) and try again."


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 10e6 else f"{n / 1e6:,.1f} MB"


def check_file_size(size: int, name: str) -> None:
    """Refuse `size` bytes above MAX_IMAGE_FILE_BYTES, before any of them is read."""
    if size > MAX_IMAGE_FILE_BYTES:
        raise ImageLoadError(
            f"{name} is too large to open ({_mb(size)}; the limit for an image file is "
            f"{_mb(MAX_IMAGE_FILE_BYTES)}).",
            hint=_RESIZE_HINT,
        )


def check_pixels(width: int, height: int, image_format: str | None, name: str) -> None:
    """Refuse an image whose header declares more pixels than can be decoded at full size
    within MAX_FULL_DECODE_PIXELS (JPEG, MPO included, is decoded at reduced size, so it is exempt)."""
    pixels = int(width) * int(height)
    if image_format not in JPEG_FORMATS and pixels > MAX_FULL_DECODE_PIXELS:
        raise ImageLoadError(
            f"{name} is too large to open ({width:,}×{height:,} = {pixels / 1e6:,.0f} megapixels; "
            f"the limit for {image_format or 'this format'} images is {MAX_FULL_DECODE_PIXELS / 1e6:,.0f} megapixels).",
            hint=_RESIZE_HINT,
        )


def check_jpeg_markers(fp: BinaryIO, name: str) -> None:
    """Walk a JPEG's segments up to its image data (SOS) and refuse absurd metadata. `fp` is
    left at the position it had. Anything that is not a well-formed marker sequence is left to
    Pillow, which reports damage its own way."""
    start = fp.tell()
    try:
        if fp.read(2) != b"\xff\xd8":
            return
        segments = exif = metadata = 0
        while True:
            byte = fp.read(1)
            while byte == b"\xff":  # fill bytes before a marker
                nxt = fp.read(1)
                if nxt != b"\xff":
                    byte = b"\xff" + nxt
                    break
            if len(byte) != 2 or byte[0] != 0xFF:
                return
            marker = byte[1]
            if marker in (0xD9, 0xDA):  # end of image, start of scan: the header is over
                return
            if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
                continue
            raw = fp.read(2)
            if len(raw) != 2:
                return
            length = int.from_bytes(raw, "big")
            if length < 2:
                return
            segments += 1
            if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # APPn and COM: metadata
                metadata += length
                if marker == 0xE1:
                    peek = fp.read(6)
                    exif += peek == b"Exif\x00\x00"
                    fp.seek(-len(peek), io.SEEK_CUR)
            if exif > MAX_JPEG_EXIF_SEGMENTS or segments > MAX_JPEG_SEGMENTS or metadata > MAX_JPEG_METADATA_BYTES:
                what = (
                    f"more than {MAX_JPEG_EXIF_SEGMENTS} EXIF segments (a photo has one)" if exif > MAX_JPEG_EXIF_SEGMENTS
                    else f"more than {MAX_JPEG_SEGMENTS:,} segments" if segments > MAX_JPEG_SEGMENTS
                    else f"more than {_mb(MAX_JPEG_METADATA_BYTES)} of metadata"
                )
                raise ImageLoadError(
                    f"{name} is not a photo this app will open: its JPEG header holds {what}.",
                    hint="Re-save it with an image editor (which drops the extra metadata) and try again.",
                )
            fp.seek(length - 2, io.SEEK_CUR)
    finally:
        fp.seek(start)
