"""The photo model's feature cache (issue 27, items 9 and 10): partial files are each process's
own and renamed whole (two processes building one cache both finish), a partial left by a killed
run is removed at the next, and the cache is pruned, least recently used first, beyond its bound."""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np
import torch

from fmnist_desktop.core.data import photo_features
from fmnist_desktop.core.data.photo_features import PhotoItem, build_activations, prune_cache

SIZE = 32


class _TinyBackbone:
    """Stands in for EfficientNet: a 1×4×4 "activation" per image, in no time."""

    def stem(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x[:, :1], 4)

    def blocks(self, x, start, end=None):
        return x


def _items(n=12):
    return [PhotoItem(label=i % 10, fashion_mnist_index=i) for i in range(n)]


def _images(n=12):
    return np.random.default_rng(0).integers(0, 255, (n, 28, 28), dtype=np.uint8)


def _build(folder, weights_id="w"):
    return build_activations(_TinyBackbone(), _items(), 1, 3, SIZE, _images(), weights_id, folder)


def test_a_partial_left_by_a_killed_run_is_removed_at_the_next(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    dead = subprocess_pid_that_exited()
    leftovers = [folder / "abc.partial.npy", folder / f"abc.{dead}-0a1b2c3d.partial.npy"]
    for path in leftovers:
        path.write_bytes(b"\0" * 4096)
    mine = folder / f"def.{os.getpid()}-01234567.partial.npy"  # a run in progress here: kept
    mine.write_bytes(b"\0" * 16)
    acts = _build(folder)
    assert acts.activations.shape[0] == 12
    assert not any(p.exists() for p in leftovers) and mine.exists()
    assert [p.name for p in folder.glob("*.npy") if "partial" not in p.name] != []


def subprocess_pid_that_exited() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_cache_is_pruned_least_recently_used_first_beyond_its_bound(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    now = time.time()
    for k, age_days in enumerate((40, 3, 2, 1)):  # one past the age limit, three by use
        path = folder / f"old{k}.npy"
        path.write_bytes(b"\0" * 1000)
        os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    monkeypatch.setattr(photo_features, "MAX_CACHE_BYTES", 2500)
    _build(folder)  # adds one more file and prunes
    left = sorted(p.name for p in folder.glob("*.npy"))
    assert "old0.npy" not in left  # unused for 40 days
    assert "old1.npy" not in left  # least recently used, beyond the size bound
    assert "old3.npy" in left and len(left) <= 3
    assert prune_cache(folder, max_bytes=10**9) == 0  # within bounds: nothing more goes


def test_reusing_a_cache_marks_it_recently_used(tmp_path):
    folder = tmp_path / "cache"
    _build(folder)
    [final] = list(folder.glob("*.npy"))
    os.utime(final, (1, 1))
    _build(folder)
    assert final.stat().st_mtime > time.time() - 60


def _build_after(barrier, folder):
    torch.set_num_threads(1)  # a forked child must not enter the parent's OpenMP pool
    barrier.wait(timeout=30)
    acts = _build(folder, weights_id="shared")
    assert acts.activations.shape[0] == 12


def test_two_processes_building_one_cache_both_finish(tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir()
    ctx = multiprocessing.get_context("fork")
    for _ in range(3):
        for path in folder.glob("*"):
            path.unlink()
        barrier = ctx.Barrier(2)
        procs = [ctx.Process(target=_build_after, args=(barrier, folder)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0]
        assert not list(folder.glob("*.partial.npy"))
        [final] = list(folder.glob("*.npy"))
        assert np.load(final).shape[0] == 12


def test_the_cli_says_where_the_cache_is():
    text = photo_features.describe_cache()
    assert str(photo_features.cache_dir()) in text and "GB" in text


def _photo_items(folder, n):
    from PIL import Image

    folder.mkdir()
    items = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.new("RGB", (40 + i, 30), (10 * i % 255, 100, 200 - 5 * i)).save(path)
        items.append(PhotoItem(label=i % 10, path=str(path)))
    return items


def test_decoded_photos_are_dropped_after_their_last_view(tmp_path, monkeypatch):
    """Every decoded training photo stayed in memory until the end of the preparation (~230 kB
    a photo at the real size); now only those whose views are still to come."""
    import weakref

    items = _photo_items(tmp_path / "photos", 24)
    alive = [0]
    real_decode = photo_features._decode

    def counted(path, size):
        img = real_decode(path, size)
        alive[0] += 1
        weakref.finalize(img, lambda: alive.__setitem__(0, alive[0] - 1))
        return img

    peak = []
    monkeypatch.setattr(photo_features, "_decode", counted)
    two = build_activations(_TinyBackbone(), items, 2, 3, SIZE, None, "w", tmp_path / "cache",
                            progress=lambda done, total: peak.append(alive[0]))
    assert max(peak) <= 2 * photo_features.BATCH and max(peak) < len(items), peak
    # Each row is still its item's view: the clean views match a one-view cache of the same photos.
    one = build_activations(_TinyBackbone(), items, 1, 3, SIZE, None, "w", tmp_path / "cache")
    np.testing.assert_array_equal(np.asarray(two.activations[:24]), np.asarray(one.activations))
