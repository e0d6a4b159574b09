"""Background work: results, progress, errors, cancellation and joining threads, as the GUI sees them."""

import os
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QObject

from fmnist_desktop.core.base.errors import DatasetError
from fmnist_desktop.ui.tasks import TaskCancelled, TaskGroup, TaskRunner


@pytest.fixture
def runner(qtbot):
    owner = QObject()
    runner = TaskRunner(owner)
    yield runner
    assert runner.shutdown(5000), "a task thread was still running after the test"


def test_result_arrives_on_gui_thread_with_progress(qtbot, runner):
    seen = {"progress": [], "result": None, "finished": 0, "result_thread": None}
    gui_thread = threading.current_thread()

    def work(state):
        worker_thread = threading.current_thread()
        for i in range(5):
            state.set_progress((i + 1) / 5, f"step {i + 1}")
        return ("done", worker_thread)

    def on_result(value):
        seen["result"] = value
        seen["result_thread"] = threading.current_thread()

    with qtbot.waitSignals([runner.taskStarted, runner.taskFinished], timeout=5000):
        runner.start(
            work,
            on_result=on_result,
            on_progress=lambda p: seen["progress"].append((p.fraction, p.message)),
            on_finished=lambda: seen.__setitem__("finished", seen["finished"] + 1),
        )
    value, worker_thread = seen["result"]
    assert value == "done"
    assert worker_thread is not gui_thread, "the task must not run on the GUI thread"
    assert seen["result_thread"] is gui_thread, "callbacks must run on the GUI thread"
    # Throttled, but the first and the final (100 %) reports always arrive.
    assert seen["progress"][0] == (0.2, "step 1")
    assert seen["progress"][-1] == (1.0, "step 5")
    assert seen["finished"] == 1
    assert not runner.is_running()


def test_progress_is_throttled(qtbot, runner):
    received = []

    def work(state):
        for i in range(10_000):
            state.set_progress(i / 10_000, "")
        return None

    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(work, on_progress=lambda p: received.append(p.fraction))
    assert 1 <= len(received) < 100, f"{len(received)} progress updates reached the GUI for one fast task"


def test_exception_arrives_as_readable_error(qtbot, runner):
    errors, results, finished = [], [], []

    def work(state):
        raise DatasetError("Fashion-MNIST was not found.", hint="Pick a folder that holds it.")

    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(work, on_result=results.append, on_error=errors.append, on_finished=lambda: finished.append(1))
    assert errors == ["Fashion-MNIST was not found. Pick a folder that holds it."]
    assert results == [] and finished == [1]


def test_unexpected_exception_is_one_line_without_traceback(qtbot, runner):
    errors = []

    def work(state):
        return {}["missing"]

    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(work, on_error=errors.append)
    assert len(errors) == 1
    assert "KeyError" in errors[0] and "missing" in errors[0]
    assert "Traceback" not in errors[0] and "\n" not in errors[0]


def test_cancel_stops_the_task_and_drops_its_result(qtbot, runner):
    started = threading.Event()
    calls = {"result": 0, "cancelled": 0, "finished": 0}

    def work(state):
        started.set()
        while not state.is_interruption_requested():
            time.sleep(0.005)
        raise TaskCancelled()

    runner.start(
        work,
        on_result=lambda v: calls.__setitem__("result", calls["result"] + 1),
        on_cancelled=lambda: calls.__setitem__("cancelled", calls["cancelled"] + 1),
        on_finished=lambda: calls.__setitem__("finished", calls["finished"] + 1),
    )
    assert started.wait(5)
    assert runner.is_running()
    with qtbot.waitSignal(runner.busyChanged, timeout=5000) as blocker:
        runner.cancel()
    assert blocker.args == [False]
    assert calls == {"result": 0, "cancelled": 1, "finished": 1}


def test_new_task_supersedes_the_old_one(qtbot, runner):
    release_first = threading.Event()
    results = []

    def first(state):
        release_first.wait(5)
        return "first"  # returns although cancelled: its result must be dropped

    def second(state):
        return "second"

    runner.start(first, on_result=results.append)
    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(second, on_result=results.append)
    release_first.set()
    qtbot.waitUntil(lambda: not runner._tasks, timeout=5000)
    assert results == ["second"]


def test_shutdown_joins_a_running_thread(qtbot):
    owner = QObject()
    entered, left = threading.Event(), threading.Event()

    def work(state):
        entered.set()
        while not state.is_interruption_requested():
            time.sleep(0.005)
        time.sleep(0.2)  # slow clean-up: shutdown() must wait for it
        left.set()
        return None

    runner = TaskRunner(owner)
    runner.start(work)
    assert entered.wait(5)
    threads = [task.thread for task in runner._tasks.values()]
    assert runner.shutdown(5000)
    assert left.is_set(), "shutdown() returned before the task function ended"
    assert threads and all(thread.isFinished() for thread in threads)
    assert not runner.is_running()


def test_a_task_group_keeps_one_runner_per_name_and_shuts_them_all_down(qtbot):
    owner = QObject()
    group = TaskGroup(owner, "scan", "download")
    assert group["scan"] is group["scan"] and group["scan"] is not group["download"]
    stopped = []

    def wait_for_stop(name):
        def work(state):
            while not state.is_interruption_requested():
                time.sleep(0.005)
            stopped.append(name)

        return work

    group["scan"].start(wait_for_stop("scan"))
    group["download"].start(wait_for_stop("download"))
    assert group.running() == ["scan", "download"] and group.is_running("download")
    assert group.shutdown(5000), "shutdown must join every runner's thread"
    assert sorted(stopped) == ["download", "scan"] and not group.threads_alive()
    assert group.running() == []


def test_progress_carries_numbers_not_text(qtbot, runner):
    """A page reads the total from the report itself (the batch table's range), never from its message."""
    reports = []

    def work(state):
        for done in range(0, 31, 10):
            state.set_progress(done=done, total=30)

    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(work, on_progress=reports.append)
    assert reports[0].done == 0 and reports[0].total == 30 and reports[0].fraction == 0.0
    assert (reports[-1].done, reports[-1].total, reports[-1].fraction) == (30, 30, 1.0)
    assert all(r.message == "" for r in reports)


def test_a_caught_traceback_reaches_the_log_file(qtbot, runner, monkeypatch, tmp_path):
    from fmnist_desktop.core.store import logs

    monkeypatch.setenv("FMNIST_DESKTOP_HOME", str(tmp_path))
    logs.configure(logs.APP_LOG)

    def work(state):
        return {}["key-only-in-this-test"]

    errors = []
    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(work, on_error=errors.append)
    text = logs.log_path(logs.APP_LOG).read_text(encoding="utf-8")
    assert "Traceback" in text and "key-only-in-this-test" in text
    assert errors and "Traceback" not in errors[0]


def test_gui_thread_computes_serially_and_workers_use_every_core(main_window, qtbot):
    """The GUI thread must never own an OpenMP pool: beside it, every training epoch ran ~1.5x slower."""
    import torch

    from fmnist_desktop.core.base.threads import default_thread_count

    qtbot.waitUntil(main_window.context.is_torch_ready, timeout=60_000)
    assert torch.get_num_threads() == 1, "the GUI thread must run its (small) torch work serially"
    counts = []
    runner = TaskRunner(main_window)
    with qtbot.waitSignal(runner.taskFinished, timeout=10_000):
        runner.start(lambda state: torch.get_num_threads(), on_result=counts.append)
    assert counts == [default_thread_count()]
    assert torch.get_num_threads() == 1, "a worker's setting must not leak back into the GUI thread"
    assert runner.shutdown(5000)
