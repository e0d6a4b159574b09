"""How long the current phase of a task has left ("about 0:42 left"), from its own pace so far.

A task reports "Step 1 of 2: …" with `done` of `total`; each phase (preparing images, training
the head, comparing on the real photos) is timed from its first report, so a slow first phase
does not make the second one's ETA wrong. No ETA in a phase's first `SETTLE_S` seconds (start-up
costs would make it a wild guess)."""

from __future__ import annotations

import time

from ...core.base.formats import format_clock

SETTLE_S = 2.0


class PhaseClock:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._phase: str | None = None
        self._started = 0.0
        self._done_at_start = 0

    def reset(self) -> None:
        self._phase = None

    def left_s(self, phase: str, done: int | None, total: int | None) -> float | None:
        """Seconds left in `phase` at `done` of `total`, None while it cannot be said."""
        now = self._clock()
        if phase != self._phase:
            self._phase, self._started, self._done_at_start = phase, now, int(done or 0)
            return None
        if done is None or not total:
            return None
        elapsed, progressed = now - self._started, done - self._done_at_start
        if elapsed < SETTLE_S or progressed <= 0:
            return None
        return elapsed * (total - done) / progressed

    def text(self, phase: str, done: int | None, total: int | None) -> str:
        """" · about 0:42 left", or "" while it cannot be said."""
        left = self.left_s(phase, done, total)
        return "" if left is None else f" · about {format_clock(left)} left"


def phase_of(message: str) -> str:
    """The phase a progress message belongs to: its text before the first ":" ("Step 1 of 2")."""
    return message.split(":", 1)[0]
