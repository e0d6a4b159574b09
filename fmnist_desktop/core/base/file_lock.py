"""A lock on a file that holds across processes and threads, for read-modify-write of shared
files (the model library's index): two `fmnist` commands, the app and a server all change it.

The operating system's own advisory lock, no extra package: `fcntl.flock` on POSIX,
`msvcrt.locking` on Windows. Either is released by the OS when the holding process dies, so a
killed process never leaves the library locked. Re-entrant within a process (a method holding
it may call another that takes it). Where the lock file cannot be created (a read-only folder)
the work goes on unlocked: nothing can be written there anyway.

Torch-free and Qt-free.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from .errors import FmnistError

WAIT_S = 60.0  # a holder this slow is stuck (a stopped process), not busy


class InterProcessLock:
    def __init__(self, path: Path, wait_s: float = WAIT_S):
        self.path = path
        self.wait_s = wait_s
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> "InterProcessLock":
        self._threads.acquire()
        try:
            if self._depth == 0:
                self._fd = self._acquire()
            self._depth += 1
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                _unlock(fd)
                os.close(fd)
        finally:
            self._threads.release()

    def _acquire(self) -> int | None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return None  # a read-only folder: nobody can change the files the lock guards
        deadline = time.monotonic() + self.wait_s
        pause = 0.002
        while True:
            try:
                _try_lock(fd)
                return fd
            except BlockingIOError:
                pass
            except OSError as exc:  # a file system without locks (some network shares)
                if not _is_busy(exc):
                    os.close(fd)
                    return None
            if time.monotonic() > deadline:
                os.close(fd)
                raise FmnistError(f"{self.path.parent} is in use by another program of this app that does not let go "
                                  f"(waited {self.wait_s:.0f} s for {self.path.name}).",
                                  "Close the other window or command and try again.")
            time.sleep(pause)
            pause = min(0.05, pause * 2)


_registry: dict[Path, InterProcessLock] = {}
_registry_guard = threading.Lock()


def lock_for(path: str | os.PathLike[str]) -> InterProcessLock:
    """The process's one lock object for `path` (every holder in the process shares it)."""
    key = Path(os.path.abspath(path))
    with _registry_guard:
        lock = _registry.get(key)
        if lock is None:
            lock = _registry[key] = InterProcessLock(key)
        return lock


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            raise BlockingIOError(str(exc)) from None

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

    def _is_busy(exc: OSError) -> bool:
        return True
else:
    import errno
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass

    def _is_busy(exc: OSError) -> bool:
        return exc.errno in (errno.EAGAIN, errno.EACCES)
