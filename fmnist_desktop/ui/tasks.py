"""Background work, one pattern for all of it: a task function runs in a QThread with a state object.

A task is a plain function `fn(state)` (in the spirit of Orange3's `TaskState` and napari's
generator workers). The `TaskState` it receives is its whole link to the GUI:

* `state.is_interruption_requested()` (and `state.is_set()`, so `state` itself is the `stop=`
  argument every stoppable core function takes),
* `state.set_progress(fraction, message, done=, total=)`: numeric progress, throttled (the first
  and the final report always pass),
* `state.set_partial_result(value)`: never dropped (a prediction of a batch, a training event).

`TaskRunner` runs one task at a time for its owner: results, errors (one readable line; the
traceback goes to the log file) and partial results reach the GUI thread through queued signals,
starting a new task cancels the old one (whose late results are dropped), and `shutdown()` joins
every thread. A page keeps its runners in one `TaskGroup`, so `is_busy()` and `shutdown()` cannot
forget one. Every job of `core.jobs` (`run(inputs, state)`) is such a task: training forwards
`iter_training`'s events as partial results.

Nothing here imports torch at module level: the window must open before torch is loaded.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, Qt, Signal, Slot

from ..core.base.errors import FmnistError, describe_exception
from ..core.jobs.state import Throttle

log = logging.getLogger(__name__)


def _use_all_cores_in_this_thread(import_torch: bool = False) -> None:
    """Give this worker thread's torch ops every core (the GUI thread runs serially; see core.base.threads).

    A task that starts before torch has finished loading in the background (a folder scan right
    after start-up, say) neither imports it nor waits for the import here, unless `import_torch`
    says the work needs torch anyway. Never fails the task: at worst it keeps torch's setting.
    """
    torch = sys.modules.get("torch")
    still_loading = torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False)
    if still_loading and not import_torch:
        return
    try:
        from ..core.base.threads import parallel_in_this_thread

        parallel_in_this_thread()
    except Exception:  # noqa: BLE001 - a thread count is not worth failing the user's work for
        log.warning("Could not set torch's thread count for a worker:\n%s", traceback.format_exc())


TaskFn = Callable[["TaskState"], Any]

# Threads whose work ignored a cancel request and outlived shutdown(): kept referenced so the
# QThread object is never destroyed while its thread runs (that aborts the whole process).
_ORPHANED_THREADS: list[QThread] = []


class TaskCancelled(Exception):
    """A task may raise this after seeing an interruption request; it then ends as cancelled, not failed."""


@dataclass(frozen=True)
class Progress:
    """One progress report: `fraction` 0..1 (None when unknown), a message, and the numbers
    behind it when there are any (`done` of `total` images, bytes...)."""

    fraction: float | None
    message: str = ""
    done: int | None = None
    total: int | None = None


class TaskState:
    """What a task function gets: the interruption flag, progress and partial results.

    Thread-safe: called from the task's thread; everything reaches the GUI through queued signals.
    """

    def __init__(self, worker: "_TaskWorker"):
        self._worker = worker

    def is_interruption_requested(self) -> bool:
        return self._worker.cancel_event.is_set()

    def is_set(self) -> bool:
        """The `threading.Event` face of the interruption flag, for core functions' `stop=`."""
        return self._worker.cancel_event.is_set()

    def set_progress(self, fraction: float | None = None, message: str = "", *,
                     done: int | None = None, total: int | None = None) -> None:
        """Report progress; `done`/`total` give the fraction when it is None. Numeric reports are
        throttled (the first and the final one always pass); a bare status message always passes."""
        if fraction is None and done is not None and total:
            fraction = done / total
        final = (fraction is None and done is None) or (fraction is not None and fraction >= 1.0)
        if self._worker.throttle.allow(final=final):
            self._worker.progress.emit(self._worker.task_id, Progress(fraction, message, done, total))

    def set_partial_result(self, value: Any) -> None:
        """Hand a partial result to the owner; never dropped, always in order."""
        self._worker.partial.emit(self._worker.task_id, value)


class _TaskWorker(QObject):
    """Runs one task function in its thread; every outcome leaves through a signal tagged with its id."""

    progress = Signal(int, object)  # task id, Progress
    partial = Signal(int, object)  # task id, partial result (e.g. one prediction of a batch)
    result = Signal(int, object)
    error = Signal(int, str, object)  # task id, readable message, the exception
    cancelled = Signal(int)
    done = Signal(int)  # always last; the thread quits on it

    def __init__(self, task_id: int, fn: TaskFn, cancel_event: threading.Event, progress_interval_s: float,
                 needs_torch: bool = False):
        super().__init__()
        self.task_id = task_id
        self._fn = fn
        self.cancel_event = cancel_event
        self.throttle = Throttle(progress_interval_s)
        self._needs_torch = needs_torch

    @Slot()
    def run(self) -> None:
        try:
            _use_all_cores_in_this_thread(import_torch=self._needs_torch)
            value = self._fn(TaskState(self))
        except TaskCancelled:
            self.cancelled.emit(self.task_id)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI, never kill it
            if not isinstance(exc, FmnistError):  # a bug or an unforeseen condition: keep its traceback
                log.error("Task %s failed:\n%s", self.task_id, traceback.format_exc())
            if self.cancel_event.is_set():
                self.cancelled.emit(self.task_id)
            else:
                self.error.emit(self.task_id, describe_exception(exc), exc)
        else:
            if self.cancel_event.is_set():
                self.cancelled.emit(self.task_id)
            else:
                self.result.emit(self.task_id, value)
        finally:
            # Hand the object back to the GUI thread so it can be garbage-collected there safely.
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.done.emit(self.task_id)


@dataclass
class _Task:
    task_id: int
    thread: QThread
    worker: _TaskWorker
    cancel_event: threading.Event
    on_result: Callable[[Any], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_progress: Callable[[Progress], None] | None = None
    on_partial: Callable[[Any], None] | None = None
    on_cancelled: Callable[[], None] | None = None
    on_finished: Callable[[], None] | None = None
    description: str = ""
    callbacks_live: bool = field(default=True)


class TaskRunner(QObject):
    """Runs one background task at a time for its owner (a page); starting a new one cancels the old.

    Only the current task's callbacks are called, always on the GUI thread: a superseded task's
    late result is dropped. `on_finished` is called once after the result, the error or the
    cancellation of the current task, so a page can go back to idle there.

    Signals mirror the callbacks for code that prefers to connect: `taskStarted`, `progressChanged`
    (Progress), `taskFinished`, `busyChanged(bool)`.
    """

    taskStarted = Signal(str)
    progressChanged = Signal(object)  # Progress
    taskFinished = Signal()
    busyChanged = Signal(bool)

    _ids = itertools.count(1)

    def __init__(self, parent: QObject | None = None, progress_interval_s: float = 0.05):
        super().__init__(parent)
        self._progress_interval_s = progress_interval_s
        self._tasks: dict[int, _Task] = {}  # every task whose thread has not finished yet
        self._current: _Task | None = None

    # --- starting and stopping -------------------------------------------------------------------

    def start(
        self,
        fn: TaskFn,
        *,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        description: str = "",
        needs_torch: bool = False,
    ) -> int:
        """Start `fn(state)` in a new worker thread; returns the task id.

        `state` is a `TaskState`. `needs_torch`: the task imports torch anyway, so its thread gets
        every core at once (otherwise a task that starts while torch is still loading leaves
        torch's thread setting alone).
        """
        self._supersede_current()
        task_id = next(self._ids)
        cancel_event = threading.Event()
        thread = QThread()
        thread.setObjectName(f"task-{task_id}")
        worker = _TaskWorker(task_id, fn, cancel_event, self._progress_interval_s, needs_torch)
        worker.moveToThread(thread)
        task = _Task(
            task_id,
            thread,
            worker,
            cancel_event,
            on_result=on_result,
            on_error=on_error,
            on_progress=on_progress,
            on_partial=on_partial,
            on_cancelled=on_cancelled,
            on_finished=on_finished,
            description=description,
        )
        # Worker -> runner connections are queued (different threads): slots run on the GUI thread.
        worker.progress.connect(self._on_progress)
        worker.partial.connect(self._on_partial)
        worker.result.connect(self._on_result)
        worker.error.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        worker.done.connect(self._on_done)
        # Direct: QThread.quit() is thread-safe, and a queued call would wait for the GUI thread,
        # which may itself be blocked in thread.wait() (shutdown) -> a needless timeout.
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.started.connect(worker.run)
        thread.finished.connect(self._on_thread_finished)
        self._tasks[task_id] = task
        self._current = task
        thread.start()
        self.taskStarted.emit(description)
        self.busyChanged.emit(True)
        return task_id

    def cancel(self) -> None:
        """Ask the current task to stop; its `on_cancelled` and `on_finished` follow when it has."""
        if self._current is not None:
            self._current.cancel_event.set()

    def is_running(self) -> bool:
        return self._current is not None

    def description(self) -> str:
        return self._current.description if self._current is not None else ""

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel every task and join every thread; True when all have ended within the timeout.

        Callbacks of the tasks are not called any more (the owner is going away).
        """
        deadline = time.monotonic() + timeout_ms / 1000
        for task in list(self._tasks.values()):
            task.callbacks_live = False
            task.cancel_event.set()
        self._current = None
        all_ended = True
        for task in list(self._tasks.values()):
            task.thread.quit()  # takes effect once the task function has returned
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if task.thread.wait(left_ms):
                self._tasks.pop(task.task_id, None)
            else:
                all_ended = False
                log.warning("Task %s did not stop within %d ms", task.task_id, timeout_ms)
                _ORPHANED_THREADS.append(task.thread)
        return all_ended

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Join the threads of tasks that have ended or are ending; True when none is left."""
        deadline = time.monotonic() + timeout_ms / 1000
        for task_id, task in list(self._tasks.items()):
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if task.thread.wait(left_ms):
                self._tasks.pop(task_id, None)
        return not self._tasks

    def threads_alive(self) -> bool:
        """True while a thread of this runner (even a cancelled task's) has not ended."""
        return any(not task.thread.isFinished() for task in self._tasks.values())

    # --- slots (GUI thread) ----------------------------------------------------------------------

    def _supersede_current(self) -> None:
        if self._current is not None:
            self._current.callbacks_live = False
            self._current.cancel_event.set()
            self._current = None

    def _live(self, task_id: int) -> _Task | None:
        task = self._tasks.get(task_id)
        return task if task is not None and task.callbacks_live else None

    @Slot(int, object)
    def _on_progress(self, task_id: int, progress: Progress) -> None:
        task = self._live(task_id)
        if task is None:
            return
        self.progressChanged.emit(progress)
        if task.on_progress is not None:
            task.on_progress(progress)

    @Slot(int, object)
    def _on_partial(self, task_id: int, value: Any) -> None:
        task = self._live(task_id)
        if task is not None and task.on_partial is not None:
            task.on_partial(value)

    @Slot(int, object)
    def _on_result(self, task_id: int, value: Any) -> None:
        task = self._live(task_id)
        if task is not None and task.on_result is not None:
            task.on_result(value)

    @Slot(int, str, object)
    def _on_error(self, task_id: int, message: str, _exc: object) -> None:
        task = self._live(task_id)
        if task is None:
            return
        if task.on_error is not None:
            task.on_error(message)
        else:
            log.error("Background task failed: %s", message)

    @Slot(int)
    def _on_cancelled(self, task_id: int) -> None:
        task = self._live(task_id)
        if task is not None and task.on_cancelled is not None:
            task.on_cancelled()

    @Slot(int)
    def _on_done(self, task_id: int) -> None:
        task = self._live(task_id)
        if task is None:
            return
        task.callbacks_live = False
        if self._current is task:
            self._current = None
        try:
            if task.on_finished is not None:
                task.on_finished()
        finally:
            self.taskFinished.emit()
            if self._current is None:
                self.busyChanged.emit(False)

    @Slot()
    def _on_thread_finished(self) -> None:
        for task_id, task in list(self._tasks.items()):
            if task.thread.isFinished():
                task.thread.wait()
                del self._tasks[task_id]


class TaskGroup(QObject):
    """A page's background tasks, by name, in one place: `is_busy`, `shutdown` and `wait` cover
    every one of them, so a page cannot forget a runner when the window closes.

    `group["scan"]` is the `TaskRunner` for the "scan" jobs (created on first use); tasks of one
    name supersede each other, tasks of different names run side by side.
    """

    def __init__(self, parent: QObject, *names: str):
        super().__init__(parent)
        self._runners: dict[str, TaskRunner] = {}
        for name in names:
            self[name]

    def __getitem__(self, name: str) -> TaskRunner:
        runner = self._runners.get(name)
        if runner is None:
            runner = TaskRunner(self)
            runner.setObjectName(f"{name}Tasks")
            self._runners[name] = runner
        return runner

    def running(self) -> list[str]:
        """Names of the runners with a current task, in the order they were made."""
        return [name for name, runner in self._runners.items() if runner.is_running()]

    def is_running(self, *names: str) -> bool:
        """Any task running (of `names`, when given)."""
        return any(self._runners[n].is_running() for n in (names or self._runners) if n in self._runners)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel every task and join every thread within one shared timeout."""
        deadline = time.monotonic() + timeout_ms / 1000
        for runner in self._runners.values():
            for task in runner._tasks.values():  # ask them all first, so they stop side by side
                task.cancel_event.set()
        ok = True
        for runner in self._runners.values():
            ok = runner.shutdown(max(0, int((deadline - time.monotonic()) * 1000))) and ok
        return ok

    def wait(self, timeout_ms: int = 5000) -> bool:
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for runner in self._runners.values():
            ok = runner.wait(max(0, int((deadline - time.monotonic()) * 1000))) and ok
        return ok

    def threads_alive(self) -> bool:
        return any(runner.threads_alive() for runner in self._runners.values())
