"""Decoding a photo safely: `load_image` (EXIF orientation, first frame, Pillow's bomb limit, odd
modes, downscaling while decoding).

Part of `core.photo` (its `__init__` re-exports the public names). No Qt here.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..base.errors import ImageLoadError
from ..base.formats import JPEG_FORMATS, not_listed_text, open_listed_image
from ..base.image_limits import check_file_size, check_jpeg_markers, check_pixels


LOAD_MAX_SIDE = 2048  # load_image downscales larger photos (display and processing never need more)


_HIGH_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


def load_image(source, max_side: int | None = LOAD_MAX_SIDE) -> Image.Image:
    """Open a photo from a path, bytes or a PIL image; return an "RGB" or "RGBA" PIL image.

    Applies the EXIF orientation, keeps the first frame of animations, converts 16-bit, CMYK,
    palette and grey+alpha modes, and downscales to `max_side` (JPEG decodes at reduced size
    directly, so a 10000x10000 photo is cheap). Pillow's decompression-bomb limit stays on.
    Raises `ImageLoadError` with one readable sentence for anything that is not a usable image.
    """
    name = "The image"
    if isinstance(source, Image.Image):
        img = source
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if not data:
                raise ImageLoadError("The image is empty (0 bytes).")
            name = "The data"
            check_file_size(len(data), "The image")
            fp = io.BytesIO(data)
        else:
            path = Path(os.fspath(source))
            name = path.name
            try:
                if path.is_dir():
                    raise ImageLoadError(f"{name} is a folder, not an image.")
                size = path.stat().st_size
                if size == 0:
                    raise ImageLoadError(f"{name} is empty (0 bytes).")
                check_file_size(size, name)  # before reading: a padded file is refused unread
                fp = io.BytesIO(path.read_bytes())
            except FileNotFoundError:
                raise ImageLoadError(f"{name} does not exist.") from None
            except PermissionError:
                raise ImageLoadError(f"{name} cannot be read (permission denied).") from None
            except OSError as exc:
                raise ImageLoadError(f"{name} cannot be read ({exc.strerror or exc}).") from None
        check_jpeg_markers(fp, name)  # before Pillow parses the header (quadratic in EXIF segments)
        img = _open(fp, name)
        check_pixels(img.width, img.height, img.format, name)  # from the header, before decoding
    return _normalise_loaded(img, name, max_side)


def _open(fp: io.BytesIO, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Between 1x and 2x Pillow's limit Pillow only warns; we downscale those anyway. Its
            # other warnings note damage it worked around (corrupt EXIF, skipped TIFF tags): the
            # user gets the image or one ImageLoadError, not stray warning lines on stderr.
            warnings.simplefilter("ignore")
            img = open_listed_image(fp)  # only the listed formats: never Ghostscript, FITS, …
            img.seek(0)  # first frame of animated GIF/PNG/WebP
            return img
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(name, int(found.group(1)) if found else None) from None
    except UnidentifiedImageError:
        raise ImageLoadError(not_listed_text(name)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if "truncated" in str(exc).lower():  # cut inside the header ("Truncated File Read")
            raise ImageLoadError(f"{name} is truncated (the file ends before the image does).") from None
        raise ImageLoadError(f"{name} is a damaged image ({_short(exc)}).") from None


def _too_large(name: str, pixels: int | None) -> ImageLoadError:
    limit = Image.MAX_IMAGE_PIXELS
    size = f"{pixels:,} pixels; " if pixels else ""
    lim = f"limit {2 * limit:,}" if limit else "limit reached"
    return ImageLoadError(f"Cannot open {name}: image too large ({size}{lim}).",
                          hint="Resize it below that size and try again.")


def _normalise_loaded(img: Image.Image, name: str, max_side: int | None) -> Image.Image:
    limit = Image.MAX_IMAGE_PIXELS
    pixels = img.width * img.height
    if limit and pixels > 2 * limit:
        raise _too_large(name, pixels)
    if img.width < 1 or img.height < 1:
        raise ImageLoadError(f"{name} has no pixels.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as in _open: bomb-range and damage warnings
            if max_side and img.format in JPEG_FORMATS and max(img.size) > 2 * max_side:
                img.draft(img.mode, (max_side, max_side))  # DCT-domain downscale: fast, low memory
            img.load()
            img = ImageOps.exif_transpose(img) or img
    except Image.DecompressionBombError:
        raise _too_large(name, pixels) from None
    except MemoryError:
        raise ImageLoadError(f"{name}: image too large to decode in memory ({pixels:,} pixels).") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        if "truncated" in str(exc).lower():
            raise ImageLoadError(f"{name} is truncated (the file ends before the image does).") from None
        raise ImageLoadError(f"{name} is a damaged image ({_short(exc)}).") from None
    if max_side and img.mode in _HIGH_BIT_MODES and max(img.size) > max_side:
        # These become float64 arrays in _to_rgb_or_rgba (8 bytes a pixel): shrink them first.
        # BOX is the one filter Pillow offers for every high-bit mode (I;16 has no thumbnail).
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BOX)
    img = _to_rgb_or_rgba(img)
    if max_side and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return img


def _to_rgb_or_rgba(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("RGB", "RGBA"):
        return img
    if mode in _HIGH_BIT_MODES:
        # NaN/inf pixels (damaged float TIFFs) count as black/white, not as undefined bytes.
        with np.errstate(invalid="ignore"):
            arr = np.asarray(img).astype(np.float64)
        arr = np.nan_to_num(arr, nan=0.0, posinf=65535.0, neginf=0.0)
        top = arr.max() if arr.size else 0.0
        # 16-bit files (Pillow opens them as I;16 or I) use 0..65535; floats usually 0..1.
        scale = 255.0 / 65535.0 if top > 255 else (255.0 if mode == "F" and top <= 1.0 else 1.0)
        grey = np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P":
        has_alpha = "transparency" in img.info or img.palette.mode == "RGBA" if img.palette else False
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode in ("LA", "La", "PA", "RGBa"):
        return img.convert("RGBA")
    if mode == "L" and "transparency" in img.info:
        return img.convert("RGBA")
    return img.convert("RGB")  # 1, L, CMYK, YCbCr, LAB, HSV


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
