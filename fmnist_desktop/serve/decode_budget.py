"""How much decoding a request asks for, read from the image headers before any pixel is decoded,
and the lane that large requests wait in (issue 17, hostile item 1).

Each image of a request is bounded on its own (`core.image_limits`: 40 megapixels for formats
decoded at full size), but one 5 MB request could hold 32 such images: it took 32 s of decoding
and left the server 2 GB larger, and two of them made a 28×28 request wait 45 s. So:

- `decode_cost(data)`: the work one image will take, in pixel units, from its header alone
  (cheap: opening reads no pixel data; the JPEG marker walk is bounded first). A baseline JPEG
  is counted at the reduced size `load_image` decodes it at (Pillow's `draft`, 1/2 to 1/8); a
  progressive JPEG at its full size: libjpeg keeps every DCT coefficient of the whole image
  until the last scan, whatever the output scale (two 13000×13000 progressive uploads counted at
  draft size ran side by side in the ordinary lane and took the server from 0.6 to 2.6 GB). Each
  decoded row adds `ROW_COST`: a 1×2,000,000 PNG took 0.13 s to decode, about as long as a
  square PNG of 4 megapixels would (measured on the shared 2-core machine).
- A request whose images together cost more than `max_request_pixels` (default
  `DEFAULT_MAX_REQUEST_PIXELS`) is refused with 413 before anything is decoded.
- A request costing more than `HEAVY_REQUEST_PIXELS` goes to `HeavyLane`: one thread of its own,
  so at most one large decode runs at a time (bounding the server's memory as a whole) and the
  ordinary requests keep the inference threads; on Linux that thread also runs `HEAVY_NICE`
  nicer, so it takes the CPU the ordinary requests leave. At most `HEAVY_WAITING` more may wait for it;
  beyond that the answer is 503 with Retry-After.
- `give_memory_back()`: after a large decode, glibc keeps the freed pages in its arenas (the
  server stayed 2 GB larger); `malloc_trim(0)` returns them to the system.

Plain Python and Pillow: no torch, no Qt.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import io
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

DEFAULT_MAX_REQUEST_PIXELS = 100_000_000  # two and a half of the largest images one may send
HEAVY_REQUEST_PIXELS = 16_000_000  # a request above this decodes in the heavy lane
GIVE_BACK_PIXELS = 2_000_000  # after a request above this the pool thread trims the heap
HEAVY_WAITING = 2  # heavy requests that may wait while one decodes; more get 503
ROW_COST = 2  # pixel units per decoded row (see the module doc)
RETRY_AFTER_S = 5


def _draft_scale(width: int, height: int) -> int:
    """The reduction `load_image` gets from JPEG draft mode: Pillow picks the largest of 8, 4, 2,
    1 not above min(width, height) // LOAD_MAX_SIDE, and load_image asks only above twice that side."""
    from ..core.photo.loading import LOAD_MAX_SIDE

    if max(width, height) <= 2 * LOAD_MAX_SIDE:
        return 1
    scale = min(width // LOAD_MAX_SIDE, height // LOAD_MAX_SIDE)
    return next((s for s in (8, 4, 2, 1) if scale >= s), 1)  # a side under LOAD_MAX_SIDE: no reduction


def decode_cost(data: bytes) -> int:
    """Pixel units decoding `data` will take (0 when the header cannot be read: `load_image`
    then refuses it, with its own message, before decoding anything)."""
    from ..core.base.formats import JPEG_FORMATS, open_listed_image
    from ..core.base.image_limits import check_file_size, check_jpeg_markers

    try:
        check_file_size(len(data), "The image")
        fp = io.BytesIO(data)
        check_jpeg_markers(fp, "The image")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_listed_image(fp) as img:
                width, height, fmt = img.width, img.height, img.format
                progressive = bool(img.info.get("progressive") or img.info.get("progression"))
    except Exception:  # noqa: BLE001 — a bad header (or an unlisted format) is load_image's to report
        return 0
    if fmt in JPEG_FORMATS and not progressive:
        s = _draft_scale(width, height)
        width, height = -(-width // s), -(-height // s)
    return width * height + ROW_COST * height


def request_cost(items: list[tuple[str, bytes]]) -> int:
    return sum(decode_cost(data) for _, data in items)


def too_much_text(cost: int, limit: int) -> str:
    return (f"The images in this request are too large to decode together ({cost / 1e6:,.0f} megapixels; "
            f"very tall or wide images count extra): the server decodes at most {limit / 1e6:,.0f} megapixels "
            "per request. Send fewer or smaller images.")


BUSY_TEXT = (f"The server is busy decoding other large images; send this request again in "
             f"{RETRY_AFTER_S} seconds, or send smaller images.")


class HeavyLane:
    """One thread for requests above HEAVY_REQUEST_PIXELS; `run` answers None (busy) when
    HEAVY_WAITING requests already wait. Used from the event loop only (no locking needed)."""

    def __init__(self, initializer=None, waiting: int = HEAVY_WAITING):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fmnist-heavy",
                                           initializer=_lower_priority_then, initargs=(initializer,))
        self.capacity = 1 + waiting
        self.admitted = 0

    async def run(self, fn, *args):
        if self.admitted >= self.capacity:
            return None
        self.admitted += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, then_give_back, fn, args)
        finally:
            self.admitted -= 1

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


HEAVY_NICE = 10  # the heavy lane's thread runs this much nicer than the server's other threads


def _lower_priority_then(initializer) -> None:
    """Make the heavy lane's thread yield the CPU to ordinary requests (Linux: a thread has its own
    nice value), then run the pool's usual initializer."""
    try:
        import threading

        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + HEAVY_NICE))
    except (AttributeError, OSError):  # not Linux, or not allowed: only the ordering is lost
        pass
    if initializer is not None:
        initializer()


def then_give_back(fn, args):
    """fn(*args), then `give_memory_back` (in the pool thread that decoded)."""
    try:
        return fn(*args)
    finally:
        give_memory_back()


_libc = None


def give_memory_back() -> None:
    """Return freed heap pages to the system (glibc only; elsewhere nothing to do)."""
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim(0)
    except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
        _libc = False
