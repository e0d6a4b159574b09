"""Ending the requests in flight when the server is told to stop (issue 17, hostile item 2).

Uvicorn's graceful shutdown waits `timeout_graceful_shutdown` for the requests in flight and then
cancels them: the client got a plain-text 500 after nearly a minute, a 43-line CancelledError
traceback went to stderr, and the CLI still said the requests "were answered".

`ShutdownGuard` (ASGI middleware) runs each request as a task. Once `ShutdownState.begin()` is
called (from uvicorn's signal handling), the requests in flight get `GRACE_S` seconds to finish;
any still running then is cancelled and answered `503 {"error": ...}` with `Connection: close`
(unless its answer had already started). `GRACE_S` is well under uvicorn's own timeout, so
uvicorn never has to cancel anything. `ShutdownState` counts what happened, for the CLI's
closing line.
"""

from __future__ import annotations

import asyncio
import json
import threading

GRACE_S = 10.0  # seconds the requests in flight get to finish after SIGTERM / Ctrl-C

STOPPING_TEXT = ("The server is shutting down and stopped this request before it finished; "
                 "send it again when the server is back.")


class ShutdownState:
    def __init__(self, grace_s: float | None = None):
        self.grace_s = GRACE_S if grace_s is None else grace_s
        self.in_flight = 0
        self.in_flight_at_stop: int | None = None
        self.finished_after_stop = 0
        self.cut = 0
        self._begun = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    @property
    def stopping(self) -> bool:
        return self._begun.is_set()

    def begin(self) -> None:
        """Start the grace period (from any thread, or a signal handler)."""
        if self._begun.is_set():
            return
        self.in_flight_at_stop = self.in_flight
        self._begun.set()
        loop, event = self._loop, self._event
        if loop is not None and event is not None and not loop.is_closed():
            try:
                # Never event.set() directly: begin() may run in a signal handler that interrupted
                # the loop itself; call_soon_threadsafe wakes it safely from anywhere.
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop has just closed: nothing is in flight any more
                pass

    def _stop_event(self) -> asyncio.Event:
        # One event per loop: a test client may run each request in a loop of its own, and an
        # event of another loop cannot be awaited.
        if self._event is None or self._loop is not asyncio.get_running_loop():
            self._loop = asyncio.get_running_loop()
            self._event = asyncio.Event()
            if self._begun.is_set():
                self._event.set()
        return self._event

    async def _grace_over(self) -> None:
        await self._stop_event().wait()
        await asyncio.sleep(self.grace_s)

    def summary(self) -> str:
        """What happened to the requests in flight, for the closing line."""
        if not self.in_flight_at_stop:
            return "no request was in flight"
        finished = self.in_flight_at_stop - self.cut
        parts = []
        if finished:
            parts.append(f"{finished} request{'s' if finished != 1 else ''} in flight finished")
        if self.cut:
            parts.append(f"{self.cut} still running after {self.grace_s:g} s "
                         f"{'was' if self.cut == 1 else 'were'} answered 503 (not finished)")
        return " and ".join(parts)


class ShutdownGuard:
    """ASGI middleware: see the module doc."""

    def __init__(self, app, state: ShutdownState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = self.state
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        state.in_flight += 1
        work = asyncio.ensure_future(self.app(scope, receive, tracking_send))
        grace = asyncio.ensure_future(state._grace_over())
        try:
            await asyncio.wait({work, grace}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done() and grace.exception() is not None:  # the grace timer failed: never cut for that
                await work
            if work.done():
                return work.result()
            work.cancel()
            try:
                await work
            except BaseException:  # noqa: BLE001 — the cancelled request's own unwinding
                pass
            state.cut += 1
            if not started:
                body = json.dumps({"error": STOPPING_TEXT}).encode()
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"connection", b"close"), (b"retry-after", b"30")]})
                await send({"type": "http.response.body", "body": body})
        except asyncio.CancelledError:
            work.cancel()
            raise
        finally:
            grace.cancel()
            state.in_flight -= 1
            if state.stopping and work.done() and not work.cancelled():
                state.finished_after_stop += 1
