"""GUI responsiveness while training: event-loop stalls, and epoch time against the headless trainer.

    .venv/bin/python bench/bench_gui_stall.py [--preset seed] [--epochs 1] [--train-images N]
                                              [--threads T] [--data DIR]

In one process, on the real Fashion-MNIST files (Debian's dataset-fashion-mnist, or --data):
  1. headless: `core.learn.training.run_training` with the same config, no Qt — the baseline epoch time;
  2. GUI: the real MainWindow (offscreen platform, isolated settings and data folder) on its Train
     page; the run is started with the page's own Train button path (`TrainPage.start_training`)
     and runs as its training task (`ui.training_task`) with the live charts, progress bar and log, then the
     page evaluates and saves the model as it always does. Meanwhile a 5 ms QTimer on the GUI
     thread records the gap between its ticks; a gap much longer than 5 ms is a stall the user
     would feel (a frozen window, a late repaint).
Prints the worst and 99th-percentile stall, how many ticks were late by more than 50 ms, and the
GUI epoch time against the headless one (target: stalls ≤ 50 ms, ratio ≤ 1.10×).

The headless baseline runs in a child process (its main thread trains, as `fmnist train` does).
Headless and GUI runs alternate, `--repeats` GUI runs each between two headless ones, and the
ratio is of the median epoch times: on a shared machine one epoch varies by ±15 % from run to run. The GUI process is set up like the
app: its main thread never runs a parallel torch op (see fmnist_desktop/core/threads.py); the data
set is read in a short-lived thread and handed to the Train page, so loading is outside both
timings.

`--train-images N` trains on the first N training images only (real data, fewer batches) so the
benchmark also fits a busy machine; the validation split stays 5,000 images. `--threads` sets
torch's CPU threads for all runs through OMP_NUM_THREADS (default: torch's own choice).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TICK_MS = 5


def load_data(folder: str | None, train_images: int | None):
    from fmnist_desktop.core.data import fashion_mnist as data

    dataset = data.load_dataset(folder)
    if train_images:
        train = data.Split(dataset.train.images[:train_images].clone(), dataset.train.labels[:train_images].clone())
        dataset = dataclasses.replace(dataset, train=train)
    return dataset


def headless_config(args):
    from fmnist_desktop.core.learn.training import TrainConfig

    return TrainConfig(preset=args.preset, epochs=args.epochs, device="cpu")


def headless_in_child(args) -> list[float]:
    """The baseline in a fresh process whose main thread trains, exactly as `fmnist train` does."""
    command = [sys.executable, __file__, "--headless-child", "--preset", args.preset, "--epochs", str(args.epochs)]
    if args.train_images:
        command += ["--train-images", str(args.train_images)]
    if args.data:
        command += ["--data", args.data]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode != 0:
        raise SystemExit(f"the headless run failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])["epoch_times"]


def headless_epoch_times(config, dataset) -> list[float]:
    from fmnist_desktop.core.learn.training import EpochEnd, Finished, run_training

    times: list[float] = []
    result = run_training(config, dataset, on_event=lambda e: times.append(e.epoch_time_s) if isinstance(e, EpochEnd) else None)
    if not isinstance(result, Finished):
        raise SystemExit(f"headless training did not finish: {result}")
    return times


def gui_run(args, dataset) -> tuple[list[float], list[float], int, float]:
    """(epoch times, tick gaps in ms during training, chart redraws, Train-click handler ms)."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    tmp = tempfile.mkdtemp(prefix="bench-gui-stall-")
    os.environ["FMNIST_DESKTOP_HOME"] = f"{tmp}/home"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, f"{tmp}/settings")
    app = QApplication.instance() or QApplication([])

    from fmnist_desktop.ui.main_window import MainWindow

    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    page = window.pages["train"]

    def pump_until(condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.002)
        return condition()

    if not pump_until(lambda: page.train_button.isEnabled() and page.charts is not None, 120):
        raise SystemExit("the Train page did not become ready (torch import or charts)")
    window.nav.setCurrentRow(1)
    page.set_data_folder(args.data or None)
    page.form.select_preset(args.preset)
    page.epochs_spin.setValue(args.epochs)
    settings = page.current_settings()
    # Hand the page the data set this script already loaded (same tensors as the headless run):
    # the cache key is the one the page computes from its settings.
    page._data_cache = (f"{settings.data_dir or ''}|{settings.val_size}|0", dataset)
    epoch_times: list[float] = []
    gaps_ms: list[float] = []
    clock = QElapsedTimer()
    last = [0]
    training = [False]
    started_at = [None]

    def tick() -> None:
        now = clock.elapsed()
        # Only gaps wholly inside the run count (the click handler itself is timed separately).
        if training[0] and started_at[0] is not None and last[0] >= started_at[0]:
            gaps_ms.append(float(now - last[0]))
        last[0] = now

    def on_started(_event) -> None:
        training[0] = True
        started_at[0] = clock.elapsed()

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    clock.start()
    timer.start()

    def on_event(event) -> None:
        name = type(event).__name__
        if name == "EpochEnd":
            epoch_times.append(event.epoch_time_s)
        elif name == "Started":
            on_started(event)
        elif name in ("Finished", "Cancelled", "Failed"):
            training[0] = False

    page.trainingEvent.connect(on_event)
    click_start = time.perf_counter()
    if not page.start_training():
        raise SystemExit("the Train page refused to start")
    click_ms = 1000 * (time.perf_counter() - click_start)

    loop = QEventLoop()
    page.runStateChanged.connect(lambda busy: None if busy else loop.quit())
    QTimer.singleShot(args.timeout * 1000, loop.quit)
    loop.exec()
    timer.stop()
    if len(epoch_times) != args.epochs:
        raise SystemExit(f"the GUI run did not finish: {page.banner.text() or page.progress_label.text()}")
    redraws = page.charts.redraw_count
    for p in window.pages.values():
        getattr(p, "shutdown", lambda timeout_ms: True)(5000)
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)  # the saved model and settings of this run
    return epoch_times, gaps_ms, redraws, click_ms


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="seed")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for both runs")
    parser.add_argument("--data", default=None, help="folder with the Fashion-MNIST files (default: search)")
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--repeats", type=int, default=3, help="GUI runs, each between two headless runs (default 3)")
    parser.add_argument("--headless-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.threads:
        # Before torch is imported, so that it is torch's default in every thread of both runs
        # (the GUI's worker threads take torch's default, see fmnist_desktop/core/threads.py).
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.headless_child:
        dataset = load_data(args.data, args.train_images)
        config = headless_config(args)
        print(json.dumps({"epoch_times": headless_epoch_times(config, dataset)}))
        return

    import torch

    # The GUI run gets the loaded tensors from a short-lived thread: loading on this (the GUI)
    # thread would give it an OpenMP pool for life, which the app never has (core/threads.py).
    t0 = time.perf_counter()
    loaded: list = []
    loader = threading.Thread(target=lambda: loaded.append(load_data(args.data, args.train_images)))
    loader.start()
    loader.join()
    dataset = loaded[0]
    print(f"data: {len(dataset.train):,} training / {len(dataset.val):,} validation images from "
          f"{dataset.source.description} (loaded in {time.perf_counter() - t0:.1f} s)")
    load1 = os.getloadavg()[0]
    print(f"torch threads: {torch.get_num_threads()}; CPUs: {os.cpu_count()}; load average before: {load1:.1f}")

    # Headless and GUI runs alternate (H G H G … H), so drift in the machine's load during the
    # benchmark moves both sides alike; the ratio is of the medians.
    headless: list[float] = []
    gui_epochs: list[float] = []
    gaps: list[float] = []
    redraws: list[int] = []
    click_ms: list[float] = []

    def headless_round() -> None:
        times = headless_in_child(args)
        headless.extend(times)
        print(f"  headless (own process, as the CLI): {', '.join(f'{t:.2f}' for t in times)} s", flush=True)

    for _ in range(args.repeats):
        headless_round()
        times, round_gaps, round_redraws, round_click = gui_run(args, dataset)
        gui_epochs.extend(times)
        gaps.extend(round_gaps)
        redraws.append(round_redraws)
        click_ms.append(round_click)
        print(f"  GUI (Train page): {', '.join(f'{t:.2f}' for t in times)} s, worst stall "
              f"{max((max(0.0, g - TICK_MS) for g in round_gaps), default=float('nan')):.0f} ms, "
              f"{round_redraws} chart redraws", flush=True)
    headless_round()

    stalls = [max(0.0, g - TICK_MS) for g in gaps]
    headless_median = statistics.median(headless)
    gui_median = statistics.median(gui_epochs)
    ratio = gui_median / headless_median
    late = sum(1 for s in stalls if s > 50)
    print(f"headless epoch: median {headless_median:.2f} s of {len(headless)}")
    print(f"GUI epoch:      median {gui_median:.2f} s of {len(gui_epochs)}; chart redraws per run: "
          f"{', '.join(map(str, redraws))}")
    print(f"event-loop ticks during training: {len(gaps):,} (every {TICK_MS} ms asked)")
    print(f"stall: worst {max(stalls, default=float('nan')):.1f} ms, 99th percentile {percentile(stalls, 99):.1f} ms, "
          f"median {percentile(stalls, 50):.1f} ms; ticks late by > 50 ms: {late}")
    print(f"Train click handled in {max(click_ms):.0f} ms at most (resets and draws the empty charts before the "
          f"worker starts)")
    print(f"epoch time GUI / headless (medians): {ratio:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    verdict_stall = "OK" if max(stalls, default=0) <= 50 else "ABOVE TARGET"
    verdict_ratio = "OK" if ratio <= 1.10 else "ABOVE TARGET"
    print(f"targets: worst stall ≤ 50 ms: {verdict_stall}; ratio ≤ 1.10x: {verdict_ratio}")


if __name__ == "__main__":
    main()
