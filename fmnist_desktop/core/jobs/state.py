"""The state object a task function gets: progress, partial results, is-stop-requested.

Every job is a module-level `run(inputs, state)` (Orange's TaskState pattern): `inputs` is a small
frozen dataclass, `state` is anything with the methods of `TaskState` below. The GUI passes its
QThread-backed state (`ui.tasks.TaskState`), the CLI and the tests pass a `PlainState`. `state`
also has `is_set()`, so it is the `stop=` argument every stoppable core function takes.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class TaskState(Protocol):
    def is_interruption_requested(self) -> bool: ...

    def is_set(self) -> bool: ...

    def set_progress(self, fraction: float | None = None, message: str = "", *,
                     done: int | None = None, total: int | None = None) -> None: ...

    def set_partial_result(self, value: Any) -> None: ...


class PlainState:
    """A `TaskState` without a GUI: partial results are kept in order (and passed to `on_partial`),
    the latest progress is kept (and passed to `on_progress`), `stop` is a threading.Event."""

    def __init__(self, stop: threading.Event | None = None, on_partial=None, on_progress=None):
        self.stop = stop if stop is not None else threading.Event()
        self.partial_results: list[Any] = []
        self.progress: tuple[float | None, str, int | None, int | None] | None = None
        self._on_partial = on_partial
        self._on_progress = on_progress

    def is_interruption_requested(self) -> bool:
        return self.stop.is_set()

    def is_set(self) -> bool:
        return self.stop.is_set()

    def set_progress(self, fraction: float | None = None, message: str = "", *,
                     done: int | None = None, total: int | None = None) -> None:
        self.progress = (fraction, message, done, total)
        if self._on_progress is not None:
            self._on_progress(fraction, message, done, total)

    def set_partial_result(self, value: Any) -> None:
        self.partial_results.append(value)
        if self._on_partial is not None:
            self._on_partial(value)


class Throttle:
    """Lets a report through at most every `interval_s`, plus the first and the final one."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._last = float("-inf")

    def allow(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False
