"""Generated images for the HTTP API tests and the load benchmark."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(array: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def fmnist_like(seed: int = 0) -> np.ndarray:
    """A 28×28 light-on-black garment-ish blob (used as is by the photo pipeline)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((28, 28), np.uint8)
    img[6:22, 8:20] = rng.integers(150, 250)
    return img


def photo_like(seed: int = 0) -> np.ndarray:
    """A 240×320 RGB 'phone photo': a dark object on a light, slightly noisy background."""
    rng = np.random.default_rng(seed)
    img = np.full((240, 320, 3), 225, np.uint8) + rng.integers(0, 20, (240, 320, 3), dtype=np.uint8)
    img[60:200, 110:210] = (40, 50, 90)
    return img


def bomb_png(side: int = 40_000) -> bytes:
    """A tiny PNG whose header claims side×side pixels (over Pillow's decompression-bomb limit)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
