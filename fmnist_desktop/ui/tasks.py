"""Long work off the GUI thread: a QObject worker moved to a QThread, signals out, a stop flag in.

Two tools, both following the idiom that ages best in Qt (never subclass QThread and forget it):

* `TaskRunner` / `run_task(...)` for generic work (batch prediction, loading a model, importing
  torch, evaluating). The task is a plain function `fn(report_progress, is_cancelled)` that runs
  in a worker thread; its progress is throttled, its result or error reaches the GUI thread through
  queued signals, starting a new task cancels the old one (whose late results are dropped), and
  `shutdown()` joins every thread. Modelled on Orange3's `widgets/utils/concurrent.py`.
* `TrainingWorker` runs `core.training.iter_training` (loading the data set first when asked to,
  and optionally evaluating/saving the result afterwards, all in the worker) and forwards each
  training event as a signal; per-batch events are throttled so the GUI is never flooded.

Nothing here imports torch at module level: the window must open before torch is loaded.
Core modules are imported inside the worker thread, when the work runs.
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

from ..core.errors import FmnistError

log = logging.getLogger(__name__)


def _use_all_cores_in_this_thread(import_torch: bool = False) -> None:
    """Give this worker thread's torch ops every core (the GUI thread runs serially; see core.threads).

    A task that starts before torch has finished loading in the background (a folder scan right
    after start-up, say) neither imports it nor waits for the import here, unless `import_torch`
    says the work needs torch anyway. Never fails the task: at worst it keeps torch's setting.
    """
    torch = sys.modules.get("torch")
    still_loading = torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False)
    if still_loading and not import_torch:
        return
    try:
        from ..core.threads import parallel_in_this_thread

        parallel_in_this_thread()
    except Exception:  # noqa: BLE001 - a thread count is not worth failing the user's work for
        log.warning("Could not set torch's thread count for a worker:\n%s", traceback.format_exc())


ReportProgress = Callable[..., None]
IsCancelled = Callable[[], bool]
TaskFn = Callable[[ReportProgress, IsCancelled], Any]

# Threads whose work ignored a cancel request and outlived shutdown(): kept referenced so the
# QThread object is never destroyed while its thread runs (that aborts the whole process).
_ORPHANED_THREADS: list[QThread] = []


class TaskCancelled(Exception):
    """A task may raise this after seeing `is_cancelled()`; it then ends as cancelled, not failed."""


def readable_error(exc: BaseException) -> str:
    """One line a user can read for an exception raised by a task.

    `FmnistError`s already carry a user-facing sentence (and hint). Anything else is a bug or an
    unforeseen condition: the traceback goes to the log, the user gets its type and message.
    """
    if isinstance(exc, FmnistError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory. Close other programs or use smaller settings, then try again."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    lowered = text.lower()
    if "out of memory" in lowered and any(word in lowered for word in ("cuda", "hip", "mps", "gpu")):
        return f"Out of GPU memory ({text}). Try a smaller batch size or the CPU."
    if "out of memory" in lowered or "can't allocate memory" in lowered:  # torch's CPU allocator says the latter
        return "Out of memory. Close other programs or use smaller settings, then try again."
    return f"Unexpected error ({name}): {text}" if text else f"Unexpected error ({name})."


class _ProgressThrottle:
    """Lets a progress report through at most every `interval_s`, plus the first and the 100 % one."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._last = float("-inf")

    def allow(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False


class CancelFlag:
    """Looks like a threading.Event to core functions that take `stop=`, backed by a task's
    `is_cancelled`, so Cancel reaches a core loop without the core knowing about tasks."""

    def __init__(self, is_cancelled: IsCancelled):
        self._is_cancelled = is_cancelled

    def is_set(self) -> bool:
        return self._is_cancelled()


class _TaskWorker(QObject):
    """Runs one task function in its thread; every outcome leaves through a signal tagged with its id."""

    progress = Signal(int, float, str)  # task id, fraction 0..1 (or -1 when unknown), message
    partial = Signal(int, object)  # task id, partial result (e.g. one prediction of a batch)
    result = Signal(int, object)
    error = Signal(int, str, object)  # task id, readable message, the exception
    cancelled = Signal(int)
    done = Signal(int)  # always last; the thread quits on it

    def __init__(self, task_id: int, fn: TaskFn, cancel_event: threading.Event, progress_interval_s: float):
        super().__init__()
        self.task_id = task_id
        self._fn = fn
        self._cancel = cancel_event
        self._throttle = _ProgressThrottle(progress_interval_s)

    def report_progress(self, fraction: float | None = None, message: str = "", partial: Any = None) -> None:
        """Called by the task from the worker thread. `partial` results are never dropped."""
        if partial is not None:
            self.partial.emit(self.task_id, partial)
        value = -1.0 if fraction is None else float(fraction)
        if self._throttle.allow(final=value >= 1.0):
            self.progress.emit(self.task_id, value, message)

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @Slot()
    def run(self) -> None:
        try:
            _use_all_cores_in_this_thread()
            value = self._fn(self.report_progress, self.is_cancelled)
        except TaskCancelled:
            self.cancelled.emit(self.task_id)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the UI, never kill it
            if self._cancel.is_set():
                self.cancelled.emit(self.task_id)
            else:
                if not isinstance(exc, FmnistError):
                    log.error("Task %s failed:\n%s", self.task_id, traceback.format_exc())
                self.error.emit(self.task_id, readable_error(exc), exc)
        else:
            if self._cancel.is_set():
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
    on_progress: Callable[[float, str], None] | None = None
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
    (fraction, message), `taskFinished`, `busyChanged(bool)`.
    """

    taskStarted = Signal(str)
    progressChanged = Signal(float, str)
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
        on_progress: Callable[[float, str], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        description: str = "",
    ) -> int:
        """Start `fn(report_progress, is_cancelled)` in a new worker thread; returns the task id.

        `report_progress(fraction=None, message="", partial=None)`: fraction in 0..1 (None when
        unknown); reports are throttled, partial results are not.
        """
        self._supersede_current()
        task_id = next(self._ids)
        cancel_event = threading.Event()
        thread = QThread()
        thread.setObjectName(f"task-{task_id}")
        worker = _TaskWorker(task_id, fn, cancel_event, self._progress_interval_s)
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

    # --- slots (GUI thread) ----------------------------------------------------------------------

    def _supersede_current(self) -> None:
        if self._current is not None:
            self._current.callbacks_live = False
            self._current.cancel_event.set()
            self._current = None

    def _live(self, task_id: int) -> _Task | None:
        task = self._tasks.get(task_id)
        return task if task is not None and task.callbacks_live else None

    @Slot(int, float, str)
    def _on_progress(self, task_id: int, fraction: float, message: str) -> None:
        task = self._live(task_id)
        if task is None:
            return
        self.progressChanged.emit(fraction, message)
        if task.on_progress is not None:
            task.on_progress(fraction, message)

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


def run_task(
    parent: QObject,
    fn: TaskFn,
    *,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[str], None] | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    on_partial: Callable[[Any], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    description: str = "",
) -> TaskRunner:
    """Run `fn(report_progress, is_cancelled)` in the background for `parent`.

    Uses (and creates on first use) the `TaskRunner` child of `parent`, so a second call for the
    same parent cancels the first task. Returns the runner (for `cancel()` / `shutdown()`).
    """
    runner = parent.findChild(TaskRunner, "defaultTaskRunner")
    if runner is None:
        runner = TaskRunner(parent)
        runner.setObjectName("defaultTaskRunner")
    runner.start(
        fn,
        on_result=on_result,
        on_error=on_error,
        on_progress=on_progress,
        on_partial=on_partial,
        on_cancelled=on_cancelled,
        on_finished=on_finished,
        description=description,
    )
    return runner


# --- training ------------------------------------------------------------------------------------


class TrainingWorker(QObject):
    """Runs one training run in its own QThread and forwards its events as signals.

    Steps, all in the worker thread: load the data set (unless one was given; `dataLoaded` hands it
    back so a page can cache it for the next run), run `core.training.iter_training`, then, after a
    `Finished`, call `after_training(finished, data, report_status, is_stopped)` (evaluate on the test
    set and save to the library, say) and emit its return value with `afterTraining`. Failures of
    any step arrive as `failed(core.training.Failed)`; nothing raises into the GUI.

    Signal order: `status`*, `downloadProgress`*, `dataLoaded`?, `started`, (`batchEnd`*, `epochEnd`)*,
    then exactly one of `finished` / `cancelled` / `failed`, then `afterTraining` (only after a
    finished run whose hook succeeded; if the hook fails, `failed` follows `finished`), then `done`.
    `batchEnd` is throttled to `max_batch_rate_hz` (the last batch of each epoch always goes).
    """

    status = Signal(str)
    downloadProgress = Signal(int, int)  # bytes done, bytes total
    dataLoaded = Signal(object)  # core.data.FashionMNIST
    started = Signal(object)  # core.training.Started
    batchEnd = Signal(object)
    epochEnd = Signal(object)
    finished = Signal(object)  # core.training.Finished
    cancelled = Signal(object)
    failed = Signal(object)  # core.training.Failed (message, advice)
    afterTraining = Signal(object)  # the after_training hook's result
    done = Signal()  # always last; the thread quits on it

    def __init__(
        self,
        config: Any,
        data: Any = None,
        *,
        download: bool = False,
        after_training: Callable[..., Any] | None = None,
        max_batch_rate_hz: float = 20.0,
    ):
        super().__init__()  # no parent: it is moved to its own thread
        self.config = config
        self._data = data
        self._download = download
        self._after_training = after_training
        self._stop = threading.Event()
        self._batch_throttle = _ProgressThrottle(1.0 / max_batch_rate_hz if max_batch_rate_hz > 0 else 0.0)
        self._thread: QThread | None = None
        self._running = False

    # --- control (GUI thread) --------------------------------------------------------------------

    def start(self) -> None:
        """Start the run in a new thread. A worker runs once."""
        if self._thread is not None:
            raise RuntimeError("A TrainingWorker runs once; create a new one for the next run.")
        thread = QThread()
        thread.setObjectName("training")
        self.moveToThread(thread)
        thread.started.connect(self.run)
        self.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)  # see TaskRunner.start
        self._thread = thread
        self._running = True
        thread.start()

    def stop(self) -> None:
        """Ask the run to stop; the trainer checks the flag between batches (thread-safe)."""
        self._stop.set()

    def is_stopping(self) -> bool:
        return self._stop.is_set()

    def is_running(self) -> bool:
        """True from start() until the thread has ended."""
        if self._thread is None:
            return False
        return not self._thread.isFinished()

    def wait(self, timeout_ms: int = 5000) -> bool:
        if self._thread is None:
            return True
        return self._thread.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop and join the thread; True if it ended in time (else it is kept alive safely)."""
        if self._thread is None:
            return True
        self.stop()
        self._thread.quit()
        if self._thread.wait(timeout_ms):
            return True
        log.warning("Training thread did not stop within %d ms", timeout_ms)
        _ORPHANED_THREADS.append(self._thread)
        return False

    # --- the run (worker thread) -----------------------------------------------------------------

    @Slot()
    def run(self) -> None:
        try:
            _use_all_cores_in_this_thread(import_torch=True)
            self._run()
        except BaseException as exc:  # noqa: BLE001 - the run must end with a signal, never a crash
            log.error("Training worker failed:\n%s", traceback.format_exc())
            self._emit_failed(readable_error(exc), None)
        finally:
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.done.emit()

    def _emit_failed(self, message: str, advice: str | None) -> None:
        try:
            from ..core.training import Failed

            self.failed.emit(Failed(message=message, advice=advice))
        except Exception:  # core.training itself failed to import: still say something readable
            self.failed.emit(_PlainFailed(message, advice))

    def _run(self) -> None:
        from ..core import training

        data = self._data
        if data is None:
            data = self._load_data()
            if data is None:
                return
            self.dataLoaded.emit(data)
        if self._stop.is_set():
            self.cancelled.emit(training.Cancelled(epoch=0, batch=0, history=()))
            return
        self.status.emit("Training…")
        finished = None
        for event in training.iter_training(self.config, data, stop=self._stop):
            if isinstance(event, training.BatchEnd):
                if self._batch_throttle.allow(final=event.batch >= event.batches):
                    self.batchEnd.emit(event)
            elif isinstance(event, training.EpochEnd):
                self.epochEnd.emit(event)
            elif isinstance(event, training.Started):
                self.started.emit(event)
            elif isinstance(event, training.Finished):
                finished = event
                self.finished.emit(event)
            elif isinstance(event, training.Cancelled):
                self.cancelled.emit(event)
            elif isinstance(event, training.Failed):
                self.failed.emit(event)
        if finished is None or self._after_training is None:
            return
        try:
            value = self._after_training(finished, data, self.status.emit, self._stop.is_set)
        except FmnistError as exc:
            self._emit_failed(exc.message, exc.hint)
        except BaseException as exc:  # noqa: BLE001
            log.error("After-training step failed:\n%s", traceback.format_exc())
            self._emit_failed(readable_error(exc), None)
        else:
            self.afterTraining.emit(value)

    def _load_data(self) -> Any:
        from ..core import data as core_data

        self.status.emit("Loading Fashion-MNIST…")
        throttle = _ProgressThrottle(0.1)

        def progress(done: int, total: int) -> None:
            if throttle.allow(final=bool(total) and done >= total):
                self.downloadProgress.emit(int(done), int(total or 0))

        try:
            config = self.config
            return core_data.load_dataset(
                folder=getattr(config, "data_dir", None),
                val_size=getattr(config, "val_size", 5000),
                seed=getattr(config, "seed", 0),
                download=self._download,
                progress=progress,
                stop=self._stop,
            )
        except FmnistError as exc:
            if self._stop.is_set():  # Stop pressed during a download: a cancelled run, not a failure
                from ..core.training import Cancelled

                self.cancelled.emit(Cancelled(epoch=0, batch=0, history=()))
            else:
                self._emit_failed(exc.message, exc.hint)
        except BaseException as exc:  # noqa: BLE001
            log.error("Loading the data set failed:\n%s", traceback.format_exc())
            self._emit_failed(readable_error(exc), None)
        return None


@dataclass(frozen=True)
class _PlainFailed:
    message: str
    advice: str | None
