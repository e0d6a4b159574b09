"""torch's CPU threads per OS thread: a GUI thread computes serially, worker threads use every core.

Why this exists. torch's CPU kernels run on OpenMP (libgomp in the PyPI wheels). libgomp keeps a
pool of helper threads for every OS thread that has ever run a parallel region, for the life of
that thread. Once the process holds more such threads than there are CPUs, libgomp stops letting
idle helpers spin between regions and puts them to sleep instead, so every small kernel pays a
wake-up. A GUI's main thread lives as long as the app; if it ever ran one parallel torch op (a
tensor copy of more than a few thousand elements is enough), its idle pool sat beside every later
training or prediction thread. Measured on the 2-core CI machine (docs/BENCHMARKS.md, "GUI
responsiveness"): a ReLU over a 64×32×16×16 batch took 0.031 ms on a worker thread normally and
0.09–0.14 ms once the main thread had a pool, and a training epoch in the GUI took 1.5–1.9× the
headless one.

So the GUI calls `serial_in_this_thread()` on its main thread before that thread touches torch
(its torch work is small by design: long work runs in workers), and every worker thread calls
`parallel_in_this_thread()` before its first torch op. A headless process (the CLI, a benchmark)
keeps torch's defaults and needs neither.

torch's thread setting is per OS thread once a thread has used it, and a call also becomes the
default for threads that have not, which is why workers set their count explicitly.
"""

from __future__ import annotations

import os
import threading

from .edition import has_torch

_lock = threading.Lock()
_default_count: int | None = None


def default_thread_count() -> int:
    """torch's own choice for a fresh thread (one per physical core, or OMP_NUM_THREADS).

    Remembered on the first call, which `serial_in_this_thread` makes before it switches the GUI
    thread to one thread, so a later call anywhere returns the same number.
    """
    global _default_count
    with _lock:
        if _default_count is None and not has_torch():  # the lite edition: onnxruntime picks its own
            return max(1, os.cpu_count() or 1)
        if _default_count is None:
            import torch

            _default_count = max(1, int(torch.get_num_threads()))
        return _default_count


def serial_in_this_thread() -> None:
    """Run this thread's torch ops on this thread only (no OpenMP pool is ever made for it)."""
    if not has_torch():
        return
    import torch

    default_thread_count()  # remember the default before this call changes it
    torch.set_num_threads(1)


def parallel_in_this_thread(count: int | None = None) -> int:
    """Give this thread's torch ops `count` threads (default: torch's own choice); returns it."""
    count = max(1, int(count or default_thread_count()))
    if not has_torch():
        return count
    import torch

    torch.set_num_threads(count)
    return count
