"""Small rules about how things are written, shared by the GUI, the CLI and the self-test.

Imports neither torch nor Qt, so the window can use it before the engine has loaded.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

# The photo formats the app names to the user (Open dialogs, the drop zone, "nothing found" messages)
# and keeps in My photos, and the only ones it opens (`open_listed_image`), whatever a file is called.
PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
PHOTO_FORMATS_TEXT = "PNG, JPEG, WebP, BMP, GIF, TIFF"

# Pillow's decoders for PHOTO_EXTENSIONS, in the order they are tried. Every other decoder stays
# unused: an 87-byte PostScript file named loop.jpg started Ghostscript on `{ } loop` (no time
# limit, a spinning `gs` left behind), a small gzip FITS file named .jpg was decoded pixel by
# pixel in Python (24 s, 1.1 GB).
PILLOW_DECODERS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# What Pillow reports as `img.format` for a JPEG: phone photos that carry a second picture (a
# depth map, a preview) are opened by the JPEG decoder and reported as "MPO"; both decode alike
# (draft mode included).
JPEG_FORMATS = frozenset({"JPEG", "MPO"})


def not_listed_text(name: str) -> str:
    """The one-line refusal for a file that none of PILLOW_DECODERS reads."""
    return (f"{name} is not an image this app opens: not a PNG, JPEG, WebP, BMP, GIF or TIFF file "
            "(another format, or damaged).")


def open_listed_image(fp):
    """`PIL.Image.open(fp)` with only PILLOW_DECODERS allowed: the one way the app opens an image
    (a path or a binary file object). Raises PIL.UnidentifiedImageError for anything else."""
    from PIL import Image

    return Image.open(fp, formats=PILLOW_DECODERS)


def is_photo_file(name: str) -> bool:
    """True for a file name with one of `PHOTO_EXTENSIONS` (any case)."""
    return name.lower().endswith(PHOTO_EXTENSIONS)


def is_hidden(relative_parts: tuple[str, ...] | list[str]) -> bool:
    """True when any part of a path below a folder the user chose starts with '.' (".DS_Store",
    ".thumbnails/x.jpg"): such files are never read as photos."""
    return any(part.startswith(".") for part in relative_parts)


def iter_photo_files(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """The photo files under `folder`, recursively, sorted; hidden files and folders skipped.
    The one rule for "the photos in a folder" (Predict, evaluate-photos, training with photos)."""
    folder = Path(folder)
    for found in sorted(folder.rglob("*")):
        if is_photo_file(found.name) and not is_hidden(found.relative_to(folder).parts) and found.is_file():
            yield found


def photo_file_filter() -> str:
    """The Open dialogs' name filter: "Images (*.png *.jpg …);;All files (*)"."""
    return "Images (" + " ".join(f"*{ext}" for ext in PHOTO_EXTENSIONS) + ");;All files (*)"


def format_clock(seconds: float, unknown: str = "–") -> str:
    """A duration as a clock: "4:05", "1:02:03" (progress lines, ETAs); `unknown` for NaN/negative."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return unknown
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_span(seconds: Any, unknown: str = "—") -> str:
    """A duration in words for tables: "42 s", "3 min 05 s", "2 h 07 min"."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return unknown
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def count_noun(n: int, singular: str, plural: str | None = None) -> str:
    """"1 epoch", "3 epochs", "1,200 images": a count with its noun in the right number."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def recorded_test_accuracy(metrics: Mapping[str, Any] | None) -> float | None:
    """The test accuracy a model file records, in percent (0..100), or None.

    Checkpoints written by this app store percent under "test_accuracy"; files from elsewhere may
    use "test_acc"/"accuracy" and a fraction 0..1, which is converted here, once.
    """
    if not isinstance(metrics, Mapping):
        return None
    for key in ("test_accuracy", "test_acc", "accuracy"):
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value) * 100 if value <= 1 else float(value)
    return None
