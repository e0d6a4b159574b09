"""Stop pressed, and the window closed, at every phase of a training run, in the real window.

A phase is held deterministically: a core function the worker calls in that phase is patched to
block on a `threading.Event` until the test releases it. The test then presses Stop (or closes
the window, answering "Quit anyway?" with Yes) and releases the hold at once, as the real step
would end by itself; from the press, the page must be idle (or the window closed) within 2 s, no
thread may be left running, and the library may hold only complete models: none for a run
stopped while training, the trained model (without a test accuracy) for one stopped during its
test-set evaluation, and the trained model for one stopped while it was being saved.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from fmnist_desktop.core.data import fashion_mnist as core_data
from fmnist_desktop.core.learn import evaluation, training
from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.checkpoint import load_checkpoint
from fmnist_desktop.core.store.library import ModelLibrary
from fmnist_desktop.ui.tasks import TaskRunner

LIMIT_MS = 2000
PHASES = ("loading data", "first batch", "mid-epoch", "epoch validation", "test-set evaluation", "saving")
# What the library holds after Stop/close in each phase: nothing, or the trained model.
SAVES_MODEL = {"test-set evaluation", "saving"}


@pytest.fixture
def window(make_main_window):
    """A shown MainWindow, torch loaded, settings isolated (tests/hardening/conftest.py)."""
    main = make_main_window()
    assert main.context.import_error() is None
    return main


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a loaded 2-core machine, OpenMP's spinning team makes tiny batches
    ten times slower; these tests time the app's reactions, not the arithmetic."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class Hold:
    """Blocks the worker where `wait_here` is called, once, until `release()`."""

    def __init__(self):
        self.entered = threading.Event()
        self.released = threading.Event()

    def wait_here(self) -> None:
        if self.released.is_set():
            return
        self.entered.set()
        if not self.released.wait(30):
            raise RuntimeError("the test never released the hold")

    def release(self) -> None:
        self.released.set()


def hold_phase(monkeypatch, phase: str) -> Hold:
    hold = Hold()
    if phase == "loading data":
        real_load = core_data.load_dataset

        def held_load(*args, **kwargs):
            hold.wait_here()
            return real_load(*args, **kwargs)

        monkeypatch.setattr(core_data, "load_dataset", held_load)
    elif phase in ("first batch", "mid-epoch", "epoch validation"):
        real_build = training.build_model
        wanted = {"first batch": (True, 1), "mid-epoch": (True, 4), "epoch validation": (False, 1)}[phase]

        def held_build(arch):
            model = real_build(arch)
            real_forward = model.forward
            counts = {True: itertools.count(1), False: itertools.count(1)}

            def forward(*args, **kwargs):
                if (model.training, next(counts[model.training])) == wanted:
                    hold.wait_here()
                return real_forward(*args, **kwargs)

            model.forward = forward
            return model

        monkeypatch.setattr(training, "build_model", held_build)
        if phase == "epoch validation":
            # Two validation chunks of the 100 images, so Stop can land between them as it does
            # between the 1,000-image chunks of a real 5,000-image validation.
            monkeypatch.setattr(training, "EVAL_BATCH", 50)
    elif phase == "test-set evaluation":
        real_evaluate = evaluation.evaluate

        def held_evaluate(*args, **kwargs):
            hold.wait_here()
            return real_evaluate(*args, **kwargs)

        monkeypatch.setattr(evaluation, "evaluate", held_evaluate)
    elif phase == "saving":
        real_add = ModelLibrary.add

        def held_add(self, *args, **kwargs):
            hold.wait_here()
            return real_add(self, *args, **kwargs)

        monkeypatch.setattr(ModelLibrary, "add", held_add)
    else:
        raise ValueError(phase)
    return hold


def start_tiny_run(window, qtbot, data_dir, phase):
    window.show_page("train")
    page = window.pages["train"]
    qtbot.waitUntil(lambda: page.train_button.isEnabled(), timeout=30_000)
    page.set_data_folder(str(data_dir))
    page.preset_combo.setCurrentIndex(page.preset_combo.findData("seed"))
    # Two epochs where Stop must cancel the run (so "stopped" is not "finished"), one otherwise.
    page.epochs_spin.setValue(1 if phase in SAVES_MODEL else 2)
    page.batch_spin.setValue(64)  # 500 training images: 8 batches an epoch
    page.val_size_spin.setValue(100)
    qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    return page


def reach(page, qtbot, hold, phase) -> None:
    """Wait until the worker is held in `phase` and the page has seen every signal sent before."""
    qtbot.waitUntil(hold.entered.is_set, timeout=60_000)
    if phase in SAVES_MODEL:
        qtbot.waitUntil(lambda: "Finished in" in page.log_view.toPlainText(), timeout=5_000)
    qtbot.wait(50)


def python_threads() -> set[threading.Thread]:
    # Threads Python did not start (Qt's) show up as _DummyThread objects that never die.
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread) and t.is_alive()}


def assert_nothing_running(window, page, threads_before) -> None:
    assert not page.tasks.threads_alive(), "the training QThread is still running"
    for runner in window.findChildren(TaskRunner):
        assert not runner._tasks, f"a task thread of {runner.parent().objectName()} is still running"
    assert python_threads() <= threads_before, "a Python thread was left running"


def assert_library_complete(phase: str, before: set[str]) -> list:
    """No partial file, every model file loads, and the run added the model it should have."""
    folder = paths.models_dir()
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(paths.TEMP_SUFFIX)]
    assert leftovers == [], f"{phase}: half-written files left in the library: {leftovers}"
    for file in folder.glob("*.pt"):
        load_checkpoint(file)  # complete and loadable, or CheckpointError
    added = [e for e in ModelLibrary().entries() if not e.builtin and e.id not in before]
    assert len(added) == (1 if phase in SAVES_MODEL else 0), f"{phase}: {[m.name for m in added]}"
    return added


def user_model_ids() -> set[str]:
    return {e.id for e in ModelLibrary().entries() if not e.builtin}


def test_stop_in_every_phase_of_successive_runs_is_idle_within_2_s(window, qtbot, tiny_idx_dir):
    """One window, one run per phase, Stop pressed in each: the page is usable after every stop."""
    threads_before = python_threads()
    for phase in PHASES:
        before = user_model_ids()
        with pytest.MonkeyPatch.context() as patch:
            hold = hold_phase(patch, phase)
            page = start_tiny_run(window, qtbot, tiny_idx_dir, phase)
            reach(page, qtbot, hold, phase)
            assert page.stop_button.isEnabled(), f"Stop is not available during {phase}"

            pressed = time.monotonic()
            qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
            hold.release()
            qtbot.waitUntil(lambda: not page.is_busy(), timeout=LIMIT_MS)
            print(f"{phase}: idle {time.monotonic() - pressed:.2f} s after Stop")

        page.tasks.wait(1000)
        assert_nothing_running(window, page, threads_before)
        added = assert_library_complete(phase, before)
        banner = page.banner.text()
        if phase == "test-set evaluation":
            assert added[0].test_accuracy is None and "test accuracy not measured" in banner, banner
        elif phase == "saving":
            assert added[0].test_accuracy is not None and "Saved" in banner, banner
        else:
            assert "Nothing was saved" in banner, f"{phase}: {banner}"
        if phase == "epoch validation":  # stopped inside the validation, not after the epoch's end
            assert "Stopped at epoch 1, batch 8." in page.log_view.toPlainText()
        assert page.train_button.isEnabled() and not page.stop_button.isEnabled(), phase


@pytest.mark.parametrize("phase", PHASES)
def test_closing_the_window_in_each_phase_takes_under_2_s_and_leaves_only_complete_models(
    window, qtbot, monkeypatch, tiny_idx_dir, phase
):
    threads_before = python_threads()
    asked = []

    def answer_yes(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer_yes)
    hold = hold_phase(monkeypatch, phase)
    page = start_tiny_run(window, qtbot, tiny_idx_dir, phase)
    reach(page, qtbot, hold, phase)

    # close() blocks the GUI thread until the worker has ended; the held step ends by itself
    # a moment later, as a real one would.
    threading.Timer(0.1, hold.release).start()
    pressed = time.monotonic()
    assert window.close(), "the window refused to close"
    took_s = time.monotonic() - pressed
    print(f"{phase}: closed in {took_s:.2f} s")

    assert took_s < LIMIT_MS / 1000, f"closing during {phase} took {took_s:.2f} s"
    assert asked, "closing during a run must ask first"
    if phase in SAVES_MODEL:
        assert "still saves it" in asked[0]
    assert_nothing_running(window, page, threads_before)
    added = assert_library_complete(phase, set())
    if phase == "test-set evaluation":  # the evaluation was cut short, the model saved anyway
        assert added[0].test_accuracy is None
