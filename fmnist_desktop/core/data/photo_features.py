"""The photo model's training data, prepared once: each image's backbone activations at the
first trained block, for a clean view and a few augmented ones, cached on disk (float16).

Training then runs only the last blocks and the head, so an epoch costs a fraction of a full
forward pass; retraining the head alone (fine-tuning with the user's photos) takes seconds.
The cache is keyed by everything that produced it (the backbone's weights, this module's
preparation version, the image list, the views, the cut), so a change to any of them makes a
new cache instead of reusing a stale one. No Qt here.

The cache lives in `cache_dir()` (the app's data folder, cache/photo-features) and is bounded:
after each run the least recently used files beyond MAX_CACHE_BYTES, and any unused for
MAX_CACHE_AGE_S, are removed (each file is one training recipe's images, ~56 kB an image).
A file being written is `<key>.<pid>-<random>.partial.npy`, its own per process, renamed over
`<key>.npy` when complete (two processes finishing the same cache both leave a whole file); a
partial left by a killed process is removed at the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..base.errors import FmnistError
from ..base.paths import app_data_dir

PREPARATION_VERSION = 1  # bump when the views below change: old caches are then not reused
NONE_CLASS = 10
DECODE_SIDE = 320  # photos are decoded once at this size; the views are cut from it
BATCH = 8  # the backbone is fastest on CPU in small channels-last batches (84 vs 12 img/s at 64)
MAX_CACHE_BYTES = 2 * 1024**3  # a few recipes' worth (the default recipe's cache is ~300 MB)
MAX_CACHE_AGE_S = 30 * 24 * 3600.0
STALE_PARTIAL_S = 24 * 3600.0  # a partial file this old is a leftover even if its process id lives again
PARTIAL_SUFFIX = ".partial.npy"


@dataclass(frozen=True)
class PhotoItem:
    """One training image: a photo file, or a Fashion-MNIST image by index."""

    label: int  # 0..9, or NONE_CLASS
    path: str | None = None
    fashion_mnist_index: int | None = None


def cache_dir() -> Path:
    return app_data_dir() / "cache" / "photo-features"


def describe_cache() -> str:
    """Where the cache is and how it is bounded, for the CLI and the docs."""
    return (f"{cache_dir()} (at most {MAX_CACHE_BYTES / 1024**3:.0f} GB; the least recently used "
            f"files beyond that, and any unused for {MAX_CACHE_AGE_S / 86400:.0f} days, are removed)")


def _owner_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # no cheap check there; the age rule clears its leftovers
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_partials(folder: Path, now: float | None = None) -> int:
    """Delete the partial files of runs that are gone (a killed process, or older than
    STALE_PARTIAL_S); returns how many went. Another process's partial in progress stays."""
    now = time.time() if now is None else now
    removed = 0
    for path in folder.glob(f"*{PARTIAL_SUFFIX}"):
        owner = path.name[: -len(PARTIAL_SUFFIX)].rsplit(".", 1)[-1].split("-")[0]
        try:
            old = now - path.stat().st_mtime > STALE_PARTIAL_S
            if old or not owner.isdigit() or not _owner_alive(int(owner)):
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def prune_cache(folder: Path, keep: Path | None = None, max_bytes: int | None = None,
                max_age_s: float | None = None) -> int:
    """Remove finished cache files unused for `max_age_s`, then the least recently used until the
    rest fit in `max_bytes` (`keep`, the one in use, always stays); returns how many went."""
    max_bytes = MAX_CACHE_BYTES if max_bytes is None else max_bytes
    max_age_s = MAX_CACHE_AGE_S if max_age_s is None else max_age_s
    files = []
    for path in folder.glob("*.npy"):
        if path.name.endswith(PARTIAL_SUFFIX) or path == keep:
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files) + (keep.stat().st_size if keep is not None and keep.is_file() else 0)
    removed = 0
    now = time.time()
    for mtime, size, path in sorted(files):  # least recently used first
        if total <= max_bytes and now - mtime <= max_age_s:
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


def _touch(path: Path) -> None:
    try:
        os.utime(path)  # "recently used": pruning goes by modification time (atime is often off)
    except OSError:
        pass


def fingerprint(items: Sequence[PhotoItem], views: int, cut: int, input_size: int, weights_id: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([PREPARATION_VERSION, views, cut, input_size, weights_id]).encode())
    for it in items:
        h.update(f"{it.label}|{it.path}|{it.fashion_mnist_index}\n".encode())
    return h.hexdigest()[:20]


# ---------------------------------------------------------------------------------------------
# Views


def fashion_mnist_photo(img28: np.ndarray, invert: bool, size: int) -> Image.Image:
    """A 28×28 Fashion-MNIST image as the photo model would meet it: upsampled, grey RGB; as it
    is (light on black) or inverted (dark on white, like the catalogue shots it was made from)."""
    a = 255 - img28 if invert else img28
    return Image.fromarray(np.ascontiguousarray(a, dtype=np.uint8), "L").resize((size, size), Image.BILINEAR).convert("RGB")


def augmented_view(img: Image.Image, size: int, rng: random.Random) -> Image.Image:
    """What real photos vary in: framing (crop 55–100 % of the area, aspect ±33 %, object 75–100 %
    of the frame), mirror, tilt (±15°), light and colour, grey shots, blur, and the background
    around the letterbox (a random colour 60 % of the time)."""
    from torchvision.transforms import v2

    from .photo_views import frame_and_tilt, grey_blur_and_letterbox

    img, fill = frame_and_tilt(img, rng)
    torch.manual_seed(rng.randrange(2**31))  # ColorJitter draws from torch's generator
    img = v2.ColorJitter(0.35, 0.35, 0.35, 0.04)(img)
    return grey_blur_and_letterbox(img, size, fill, rng)


# ---------------------------------------------------------------------------------------------
# The cache


@dataclass
class CachedActivations:
    """Activations at the first trained block, one row per (view, item): row v * n_items + i
    is item i's view v (view 0 is the clean letterbox). Float16 on disk, memory-mapped."""

    activations: np.ndarray  # (views * n_items, C, H, W) float16
    labels: np.ndarray  # (n_items,) int64, 0..9 or NONE_CLASS
    views: int

    @property
    def n_items(self) -> int:
        return len(self.labels)

    def rows(self, items: np.ndarray, views: np.ndarray) -> np.ndarray:
        return views * self.n_items + items


def _decode(path: str, size: int) -> Image.Image:
    from ..photo import load_image
    from ..photo.model_input import flatten_alpha

    img = flatten_alpha(load_image(path, max_side=DECODE_SIDE))
    return img


def build_activations(
    backbone,
    items: Sequence[PhotoItem],
    views: int,
    cut: int,
    input_size: int,
    fashion_mnist_images: np.ndarray | None,
    weights_id: str,
    folder: Path | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> CachedActivations | None:
    """Run the frozen backbone up to block `cut` over every item's views, or reuse the cache
    made by the same inputs. Returns None when stopped (a partial cache is never kept).
    Unreadable photos raise FmnistError naming the file."""
    from ..photo.model_input import letterbox, to_unit_tensor

    folder = Path(folder) if folder is not None else cache_dir()
    key = fingerprint(items, views, cut, input_size, weights_id)
    final = folder / f"{key}.npy"
    labels = np.array([it.label for it in items], np.int64)
    if final.is_file():
        try:
            acts = np.load(final, mmap_mode="r")
            if acts.shape[0] == views * len(items):
                _touch(final)
                return CachedActivations(acts, labels, views)
        except (OSError, ValueError):
            pass  # damaged: made again below
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder)
    with torch.inference_mode():
        probe = backbone.blocks(backbone.stem(torch.zeros(1, 3, input_size, input_size)), 0, cut)
    shape = tuple(probe.shape[1:])
    partial = folder / f"{key}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16, shape=(views * len(items), *shape))
    decoded: dict[int, Image.Image] = {}

    def source(i: int) -> Image.Image:
        it = items[i]
        if it.fashion_mnist_index is not None:
            return None  # type: ignore[return-value]
        if i not in decoded:
            try:
                decoded[i] = _decode(it.path, input_size)
            except FmnistError as exc:
                raise FmnistError(f"A training photo cannot be used: {exc}") from None
        return decoded[i]

    def render(i: int, view: int) -> Image.Image:
        it = items[i]
        rng = random.Random(seed * 1_000_003 + view * 7_919 + i)
        if it.fashion_mnist_index is not None:
            img = fashion_mnist_photo(fashion_mnist_images[it.fashion_mnist_index],
                                      invert=(rng.random() < 0.5) if view else (i % 2 == 0), size=input_size)
        else:
            img = source(i)
        return letterbox(img, input_size) if view == 0 else augmented_view(img, input_size, rng)

    # Item by item, every view of one image in a row, so a decoded photo (~230 kB) is dropped
    # after its last view: holding every decoded photo until the end took ~230 kB per photo.
    jobs = [(v, i) for i in range(len(items)) for v in range(views)]
    batches = [jobs[k:k + BATCH] for k in range(0, len(jobs), BATCH)]

    def make(batch):
        tensor = to_unit_tensor([render(i, v) for v, i in batch])
        for v, i in batch:
            if v == views - 1:
                decoded.pop(i, None)
        return tensor

    mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    done = 0
    try:
        # One thread prepares the next batch (decode, augment: Pillow releases the GIL) while
        # torch runs the backbone on this one.
        with ThreadPoolExecutor(1) as pool, torch.inference_mode():
            future = pool.submit(make, batches[0]) if batches else None
            for b, batch in enumerate(batches):
                if stop is not None and stop.is_set():
                    future.cancel()
                    del out
                    partial.unlink(missing_ok=True)
                    return None
                x = future.result()
                if b + 1 < len(batches):
                    future = pool.submit(make, batches[b + 1])
                x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
                a = backbone.blocks(backbone.stem(x), 0, cut)
                rows = [v * len(items) + i for v, i in batch]  # row v * n_items + i, as CachedActivations reads
                out[rows] = a.float().numpy().astype(np.float16)
                done += len(batch)
                # decoded photos are kept only for the views still to come
                if progress is not None:
                    progress(done, len(jobs))
        out.flush()
        del out
        os.replace(partial, final)  # a whole file either way, whoever finishes last
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    prune_cache(folder, keep=final)
    return CachedActivations(np.load(final, mmap_mode="r"), labels, views)
