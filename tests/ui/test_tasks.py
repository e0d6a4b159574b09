"""Background work: results, progress, errors, cancellation and joining threads, as the GUI sees them."""

import os
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QObject

from fmnist_desktop.core.errors import DatasetError
from fmnist_desktop.ui.workers import TaskCancelled, TaskRunner, run_task


@pytest.fixture
def runner(qtbot):
    owner = QObject()
    runner = TaskRunner(owner)
    yield runner
    assert runner.shutdown(5000), "a task thread was still running after the test"


def test_result_arrives_on_gui_thread_with_progress(qtbot, runner):
    seen = {"progress": [], "result": None, "finished": 0, "result_thread": None}
    gui_thread = threading.current_thread()

    def work(report_progress, is_cancelled):
        worker_thread = threading.current_thread()
        for i in range(5):
            report_progress((i + 1) / 5, f"step {i + 1}")
        return ("done", worker_thread)

    def on_result(value):
        seen["result"] = value
        seen["result_thread"] = threading.current_thread()

    with qtbot.waitSignals([runner.taskStarted, runner.taskFinished], timeout=5000):
        runner.start(
            work,
            on_result=on_result,
            on_progress=lambda f, m: seen["progress"].append((f, m)),
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

    def work(report_progress, is_cancelled):
        for i in range(10_000):
            report_progress(i / 10_000, "")
        return None

    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(work, on_progress=lambda f, m: received.append(f))
    assert 1 <= len(received) < 100, f"{len(received)} progress updates reached the GUI for one fast task"


def test_exception_arrives_as_readable_error(qtbot, runner):
    errors, results, finished = [], [], []

    def work(report_progress, is_cancelled):
        raise DatasetError("Fashion-MNIST was not found.", hint="Pick a folder that holds it.")

    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(work, on_result=results.append, on_error=errors.append, on_finished=lambda: finished.append(1))
    assert errors == ["Fashion-MNIST was not found. Pick a folder that holds it."]
    assert results == [] and finished == [1]


def test_unexpected_exception_is_one_line_without_traceback(qtbot, runner):
    errors = []

    def work(report_progress, is_cancelled):
        return {}["missing"]

    with qtbot.waitSignal(runner.taskFinished, timeout=5000):
        runner.start(work, on_error=errors.append)
    assert len(errors) == 1
    assert "KeyError" in errors[0] and "missing" in errors[0]
    assert "Traceback" not in errors[0] and "\n" not in errors[0]


def test_cancel_stops_the_task_and_drops_its_result(qtbot, runner):
    started = threading.Event()
    calls = {"result": 0, "cancelled": 0, "finished": 0}

    def work(report_progress, is_cancelled):
        started.set()
        while not is_cancelled():
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

    def first(report_progress, is_cancelled):
        release_first.wait(5)
        return "first"  # returns although cancelled: its result must be dropped

    def second(report_progress, is_cancelled):
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

    def work(report_progress, is_cancelled):
        entered.set()
        while not is_cancelled():
            time.sleep(0.005)
        time.sleep(0.2)  # slow clean-up: shutdown() must wait for it
        left.set()
        return None

    runner = run_task(owner, work)
    assert entered.wait(5)
    threads = [task.thread for task in runner._tasks.values()]
    assert runner.shutdown(5000)
    assert left.is_set(), "shutdown() returned before the task function ended"
    assert threads and all(thread.isFinished() for thread in threads)
    assert not runner.is_running()


def test_run_task_reuses_the_parents_runner(qtbot):
    owner = QObject()
    gate = threading.Event()
    first = run_task(owner, lambda rp, ic: gate.wait(5))
    second = run_task(owner, lambda rp, ic: None)
    gate.set()
    assert first is second
    assert first.shutdown(5000)


def test_training_worker_loads_data_trains_and_forwards_events_in_order(qtbot, tiny_idx_dir):
    from fmnist_desktop.core.training import TrainConfig
    from fmnist_desktop.ui.workers import TrainingWorker

    config = TrainConfig(preset="seed", epochs=2, batch_size=32, val_size=100, device="cpu", data_dir=tiny_idx_dir)
    worker = TrainingWorker(config, max_batch_rate_hz=1000)
    events = []
    for name in ("dataLoaded", "started", "batchEnd", "epochEnd", "finished", "cancelled", "failed", "done"):
        getattr(worker, name).connect(lambda *args, name=name: events.append((name, args[0] if args else None)))
    with qtbot.waitSignal(worker.done, timeout=120_000):
        worker.start()
    assert worker.wait(5000) and not worker.is_running()
    names = [name for name, _ in events]
    assert names[0] == "dataLoaded" and names[1] == "started"
    assert names[-2:] == ["finished", "done"]
    assert names.count("epochEnd") == 2 and "failed" not in names and "cancelled" not in names
    batches = [event for name, event in events if name == "batchEnd"]
    assert batches[-1].batch == batches[-1].batches and batches[-1].epoch == 2  # the last batch always arrives


def test_training_worker_throttles_batch_events_and_stops(qtbot, tiny_idx_dir):
    from fmnist_desktop.core.training import TrainConfig
    from fmnist_desktop.ui.workers import TrainingWorker

    config = TrainConfig(preset="seed", epochs=500, batch_size=8, val_size=100, device="cpu", data_dir=tiny_idx_dir)
    worker = TrainingWorker(config, max_batch_rate_hz=2)
    batches, cancelled = [], []
    worker.batchEnd.connect(batches.append)
    worker.cancelled.connect(cancelled.append)
    worker.start()
    qtbot.waitUntil(lambda: len(batches) >= 3, timeout=120_000)
    with qtbot.waitSignal(worker.done, timeout=30_000):
        worker.stop()
    assert worker.wait(5000)
    assert len(cancelled) == 1 and cancelled[0].epoch < 500
    # At 2 events/s, consecutive forwarded batches are ≥ 0.5 s apart in the trainer's clock,
    # except the last batch of an epoch, which is always forwarded.
    mid_epoch = [b for b in batches if b.batch < b.batches]
    gaps = [b.elapsed_s - a.elapsed_s for a, b in zip(mid_epoch, mid_epoch[1:])]
    assert all(gap >= 0.45 for gap in gaps), gaps


def test_training_worker_reports_a_missing_data_set_as_failed(qtbot, tmp_path):
    from fmnist_desktop.core.training import TrainConfig
    from fmnist_desktop.ui.workers import TrainingWorker

    worker = TrainingWorker(TrainConfig(preset="seed", epochs=1, data_dir=tmp_path / "nothing-here"))
    failures = []
    worker.failed.connect(failures.append)
    with qtbot.waitSignal(worker.done, timeout=30_000):
        worker.start()
    assert worker.wait(5000)
    assert len(failures) == 1 and "does not exist" in failures[0].message and failures[0].advice


def test_gui_thread_computes_serially_and_workers_use_every_core(main_window, qtbot):
    """The GUI thread must never own an OpenMP pool: beside it, every training epoch ran ~1.5x slower."""
    import torch

    from fmnist_desktop.core.threads import default_thread_count

    qtbot.waitUntil(main_window.context.is_torch_ready, timeout=60_000)
    assert torch.get_num_threads() == 1, "the GUI thread must run its (small) torch work serially"
    counts = []
    runner = TaskRunner(main_window)
    with qtbot.waitSignal(runner.taskFinished, timeout=10_000):
        runner.start(lambda report, cancelled: torch.get_num_threads(), on_result=counts.append)
    assert counts == [default_thread_count()]
    assert torch.get_num_threads() == 1, "a worker's setting must not leak back into the GUI thread"
    assert runner.shutdown(5000)
