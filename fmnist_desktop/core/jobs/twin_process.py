"""Making an ONNX twin in a child process, so the app keeps running while torch's exporter works.

torch's exporter holds the GIL for seconds at a time: run in a worker thread it stalled the window
1–2 s (docs/BENCHMARKS.md). Here it runs in a child process started with multiprocessing's "spawn"
context (the same in a source checkout and in the PyInstaller bundle, whose entry script calls
`multiprocessing.freeze_support()`), and the caller's thread only waits on a pipe. The parent
imports no torch for it.

The child runs `jobs.twins.make_twin_here`, which writes the twin (the verified export through
a temporary copy, then its manifest), and sends back ("ok", "") or (error class, one line). The parent
then reads the twin back with `store.twins.find_twin`, which checks it against the model file's
content and the .onnx file's bytes, as for any twin found on disk.

No orphan and no half-written twin: the child is a daemon (multiprocessing ends it when the app
exits), it ends itself when its parent is gone, and it is stopped with SIGTERM, which it turns into
an exception so the exporter's temporary files are removed; a twin's manifest is written last, so
an .onnx file without one never answers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

from ..base.errors import CheckpointError, FmnistError

STOP_GRACE_S = 10.0  # how long a stopped child may take to clean up before it is killed
POLL_S = 0.2


class TwinProcessStopped(FmnistError):
    """The child making a twin ended without an answer (killed, crashed, or the app is closing)."""


# The child's errors raised again here by class name; the others (an ExportError, whose module
# imports torch) as FmnistError with their message: the callers catch FmnistError.
_RAISED_AGAIN = {cls.__name__: cls for cls in (FmnistError, CheckpointError)}


def _stop_on_sigterm(_signum, _frame) -> None:
    raise SystemExit(1)  # unwinds the exporter's `finally` blocks: its temporary files are removed


def _end_with_parent() -> None:
    """Interrupt this child when its parent is gone (the app was killed): never an orphan."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait

        wait([parent.sentinel])
        import _thread

        _thread.interrupt_main()  # KeyboardInterrupt in the export: its `finally` blocks run
        threading.Event().wait(STOP_GRACE_S)
        os._exit(1)

    threading.Thread(target=watch, name="twin-parent-watch", daemon=True).start()


def _child_main(make: Callable[[str], object], source: str, conn) -> None:
    """The child: make the twin with `make` (jobs.twins.make_twin_here, sent by reference) and send
    back how it went, in one line."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    _end_with_parent()
    try:
        make(source)
        conn.send(("ok", ""))
    except FmnistError as exc:
        conn.send((type(exc).__name__, str(exc)))
    except Exception as exc:  # noqa: BLE001 — the exporter's own errors become one readable line
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        conn.send(("FmnistError", f"Making the ONNX twin of {Path(source).name} failed: "
                                  f"{type(exc).__name__}{': ' + first if first else ''}."))
    finally:
        conn.close()
    # Out at once: the twin is written, and tearing torch down takes seconds the parent would wait.
    # multiprocessing's own exit steps still run: they release the named semaphores a library made
    # here (else the parent's resource tracker warns of a leak).
    try:
        from multiprocessing import util

        util._exit_function()  # noqa: SLF001 — what a normal exit of this child would run
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def make_in_child(make: Callable[[str], object], source: str | os.PathLike[str],
                  should_stop: Callable[[], bool] | None = None) -> None:
    """Run `make(source)` (a module-level function that makes the twin) in a child process and
    wait for it. Raises the child's error (CheckpointError, else FmnistError) with its message, or
    TwinProcessStopped when the child ended without one or `should_stop()` became true (the child
    is stopped then)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(make, str(source), send), name="fmnist-twin", daemon=True)
    child.start()
    send.close()  # only the child holds the sending end: its death is an EOF here
    answer = None
    try:
        answer = _wait_for_answer(receive, child, Path(source).name, should_stop)
    finally:
        _end(child, answered=answer is not None)
        receive.close()
    kind, message = answer
    if kind != "ok":
        raise _RAISED_AGAIN.get(kind, FmnistError)(message)


def _wait_for_answer(receive, child, name: str, should_stop) -> tuple[str, str]:
    while True:
        if should_stop is not None and should_stop():
            raise TwinProcessStopped(f"Making the ONNX twin of {name} was stopped.")
        if receive.poll(POLL_S):
            try:
                answer = receive.recv()
            except (EOFError, OSError):
                answer = None
            if isinstance(answer, tuple) and len(answer) == 2:
                return answer
            break
        if not child.is_alive() and not receive.poll(0):
            break
    child.join(STOP_GRACE_S)
    raise TwinProcessStopped(f"The process making the ONNX twin of {name} stopped without an answer "
                             f"(exit code {child.exitcode}).")


def _end(child, answered: bool) -> None:
    """Let a child that answered exit; stop one that did not (SIGTERM, then kill)."""
    if answered:
        child.join(STOP_GRACE_S)
    if child.is_alive():
        child.terminate()
        child.join(STOP_GRACE_S)
    if child.is_alive():
        child.kill()
        child.join()
