"""Faults in the middle of work: the data folder vanishing or becoming unreadable after a run
started, and the GPU running out of memory (simulated: no GPU is needed).

The data set is read into memory once when a run starts, so a run in progress finishes and saves
its model; what reads the folder again afterwards (the Evaluate page) says clearly what is wrong.
Out of memory ends the run as `Failed` with advice (a smaller batch, the CPU), shown on the Train
page, and the next run works.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import shutil
import threading

import pytest
import torch
from PySide6.QtCore import Qt

from fmnist_desktop.core.learn import training
from fmnist_desktop.core.store.checkpoint import load_checkpoint
from fmnist_desktop.core.learn.training import Failed, TrainConfig, iter_training

# --------------------------------------------------------------------------- core: out of memory

GPU_OOM_ERRORS = [
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 4.00 GiB total capacity)"),
    RuntimeError("CUDA out of memory. Tried to allocate 512.00 MiB"),  # older torch, some CUDA paths
    RuntimeError("HIP out of memory. Tried to allocate 1.00 GiB"),  # ROCm builds
]


def raising_build(error, after_calls: int = 0):
    """training.build_model whose model's forward raises `error` after `after_calls` calls."""
    real_build = training.build_model

    def build(arch):
        model = real_build(arch)
        real_forward = model.forward
        calls = itertools.count(1)

        def forward(*args, **kwargs):
            if next(calls) > after_calls:
                raise error
            return real_forward(*args, **kwargs)

        model.forward = forward
        return model

    return build


@pytest.mark.parametrize("error", GPU_OOM_ERRORS, ids=["OutOfMemoryError", "RuntimeError-CUDA", "RuntimeError-HIP"])
def test_gpu_out_of_memory_mid_epoch_fails_with_batch_and_cpu_advice(monkeypatch, idx_writer, tmp_path, error):
    from fmnist_desktop.core.data.fashion_mnist import load_dataset

    folder = idx_writer.write_tiny_dataset(tmp_path / "data", n_train=300, n_test=50)
    data = load_dataset(folder, val_size=50)
    monkeypatch.setattr(training, "build_model", raising_build(error, after_calls=2))
    events = list(iter_training(TrainConfig(preset="seed", epochs=1, batch_size=32, device="cpu"), data))
    last = events[-1]
    assert isinstance(last, Failed)
    assert "out of gpu memory" in last.message.lower()
    assert "smaller batch size" in last.advice and "CPU" in last.advice


# --------------------------------------------------------------------------- the window


@pytest.fixture
def window(make_main_window):
    """A shown MainWindow, torch loaded, settings isolated (tests/hardening/conftest.py)."""
    main = make_main_window()
    assert main.context.import_error() is None
    return main


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny batches on a loaded 2-core machine run faster on one intra-op thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def train_page(window, qtbot, data_dir):
    window.show_page("train")
    page = window.pages["train"]
    qtbot.waitUntil(lambda: page.train_button.isEnabled(), timeout=30_000)
    page.set_data_folder(str(data_dir))
    page.preset_combo.setCurrentIndex(page.preset_combo.findData("seed"))
    page.epochs_spin.setValue(1)
    page.batch_spin.setValue(64)
    page.val_size_spin.setValue(100)
    return page


def run_to_the_end(page, qtbot) -> None:
    qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.is_training(), timeout=60_000)


def hold_first_batch(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """The run blocks in its first batch until `release` is set; `entered` says it got there."""
    entered, release = threading.Event(), threading.Event()
    real_build = training.build_model

    def build(arch):
        model = real_build(arch)
        real_forward = model.forward

        def forward(*args, **kwargs):
            if not release.is_set():
                entered.set()
                release.wait(30)
            return real_forward(*args, **kwargs)

        model.forward = forward
        return model

    monkeypatch.setattr(training, "build_model", build)
    return entered, release


def evaluate_page_error(window, qtbot) -> str:
    window.show_page("evaluate")
    page = window.pages["evaluate"]
    page.start_evaluation()
    qtbot.waitUntil(lambda: not page.is_busy() and bool(page.banner.text()), timeout=30_000)
    return page.banner.text()


def test_data_folder_deleted_mid_run_the_run_finishes_and_evaluation_fails_clearly(
    window, qtbot, monkeypatch, tiny_idx_dir
):
    page = train_page(window, qtbot, tiny_idx_dir)
    entered, release = hold_first_batch(monkeypatch)
    qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(entered.is_set, timeout=60_000)
    shutil.rmtree(tiny_idx_dir)  # the USB stick is pulled out
    release.set()
    with qtbot.waitSignal(page.runFinished, timeout=60_000) as saved:
        pass
    entry = saved.args[0]
    assert entry.test_accuracy is not None, "the test split was in memory: the run is evaluated as usual"
    load_checkpoint(entry.path)
    qtbot.waitUntil(lambda: not page.is_training(), timeout=5_000)

    window.context.set_active(entry.id)
    message = evaluate_page_error(window, qtbot)
    assert "Evaluation failed" in message and str(tiny_idx_dir) in message and "does not exist" in message
    assert "Traceback" not in message and "\n" not in message
    assert not window.pages["evaluate"].is_busy()
    assert page.train_button.isEnabled()


def test_data_files_unreadable_mid_run_evaluation_says_permission_denied(window, qtbot, monkeypatch, tiny_idx_dir):
    page = train_page(window, qtbot, tiny_idx_dir)
    entered, release = hold_first_batch(monkeypatch)
    qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(entered.is_set, timeout=60_000)
    if os.geteuid() != 0:
        for file in tiny_idx_dir.iterdir():
            file.chmod(0)
    else:  # root reads any file whatever its mode: make the read itself fail as it would
        real_read_bytes = pathlib.Path.read_bytes

        def read_bytes(path):
            if tiny_idx_dir in path.parents:
                raise PermissionError(13, "Permission denied", str(path))
            return real_read_bytes(path)

        monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
        real_open = open

        def open_(file, *args, **kwargs):  # read_idx streams the file (issue 12) instead of read_bytes
            if tiny_idx_dir in pathlib.Path(file).parents:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        from fmnist_desktop.core.data import fashion_mnist as data

        monkeypatch.setattr(data, "open", open_, raising=False)
    release.set()
    with qtbot.waitSignal(page.runFinished, timeout=60_000) as saved:
        pass
    qtbot.waitUntil(lambda: not page.is_training(), timeout=5_000)
    window.context.set_active(saved.args[0].id)
    message = evaluate_page_error(window, qtbot)
    assert "Evaluation failed" in message and "Permission denied" in message, message
    assert "Traceback" not in message
    for file in tiny_idx_dir.iterdir():
        file.chmod(0o644)


def test_gpu_out_of_memory_shows_advice_on_the_train_page_and_the_next_run_works(
    window, qtbot, monkeypatch, tiny_idx_dir
):
    page = train_page(window, qtbot, tiny_idx_dir)
    with pytest.MonkeyPatch.context() as gpu:
        gpu.setattr(training, "build_model", raising_build(GPU_OOM_ERRORS[0], after_calls=1))
        run_to_the_end(page, qtbot)
    banner = page.banner.text()
    assert "Training failed" in banner and "Out of GPU memory" in banner
    assert "smaller batch size" in banner and "CPU" in banner
    assert "Traceback" not in banner and "Tried to allocate" not in banner
    assert page.train_button.isEnabled() and not page.stop_button.isEnabled()
    assert [e for e in window.context.library().entries() if not e.builtin] == []

    with qtbot.waitSignal(page.runFinished, timeout=60_000) as saved:
        qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    assert saved.args[0].test_accuracy is not None


def test_out_of_memory_in_the_test_set_evaluation_still_saves_the_model(window, qtbot, monkeypatch, tiny_idx_dir):
    from fmnist_desktop.core.learn import evaluation

    def evaluate_out_of_memory(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9000000000 bytes")

    monkeypatch.setattr(evaluation, "evaluate", evaluate_out_of_memory)
    page = train_page(window, qtbot, tiny_idx_dir)
    with qtbot.waitSignal(page.runFinished, timeout=60_000) as saved:
        qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    entry = saved.args[0]
    assert entry.test_accuracy is None and load_checkpoint(entry.path)[1].history
    banner = page.banner.text()
    assert "Saved" in banner and "test accuracy not measured" in banner and "Out of memory" in banner
