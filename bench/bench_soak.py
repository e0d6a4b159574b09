"""Soak: many training runs and predictions in one app session; memory and threads over time.

    .venv/bin/python bench/bench_soak.py [--runs 30] [--predictions 2000] [--batch 200]
                                         [--preset fast] [--train-images 500]

In one process, offscreen: the real MainWindow with an isolated settings and data folder (a temp
dir, FMNIST_DESKTOP_HOME); a tiny generated Fashion-MNIST look-alike (IDX files) as the data set.
  1. `--runs` consecutive training runs on the Train page (its Train button path,
     `TrainPage.start_training`; each run evaluates and saves its model into the library, as a
     user's would), 1 epoch of `--preset` each;
  2. `--predictions` predictions through the Predict page's worker path (`predict_paths` on a
     folder of `--batch` PNG images, repeated), with the table filled each time.
Prints, at start (window shown, torch loaded), after run 1, after the last run and at the end:
resident memory (psutil RSS), the process's OS threads, live Python threads (threading module,
without the never-dying _DummyThread records of Qt's threads) and how many QThreads are running.
Targets (issue 6): RSS growth after the first run < 100 MB; thread counts back to their values
after run 1 (run 1 starts torch's intra-op pool, which stays: that is not a leak).

`soak(...)` is also used by tests/hardening/test_soak.py (a short variant, marked slow).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

MB = 1024 * 1024


@dataclass
class Sample:
    label: str
    rss_mb: float
    os_threads: int
    python_threads: int
    qthreads_running: int
    elapsed_s: float


@dataclass
class SoakFigures:
    samples: list[Sample] = field(default_factory=list)
    run_seconds: list[float] = field(default_factory=list)
    rss_after_run_mb: list[float] = field(default_factory=list)
    predictions: int = 0
    prediction_seconds: float = 0.0
    models_saved: int = 0

    def at(self, label: str) -> Sample:
        return next(s for s in self.samples if s.label == label)


def write_tiny_idx(folder: Path, n_train: int, n_test: int) -> Path:
    """Four gzip IDX files of learnable square patterns (the tests' `tiny_patterns`)."""
    import numpy as np

    def patterns(n: int, seed: int):
        rng = np.random.default_rng(seed)
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 30, size=(n, 28, 28), dtype=np.uint8)
        for i, k in enumerate(labels):
            side = 4 + 2 * int(k)
            top = left = 14 - side // 2
            images[i, top : top + side, left : left + side] = 230
        return images, labels.astype(np.uint8)

    def idx(array) -> bytes:
        header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
        return header + np.ascontiguousarray(array).tobytes()

    folder.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in (("train", patterns(n_train, 1)), ("t10k", patterns(n_test, 2))):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(images), 1))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx(labels), 1))
    return folder


def write_photos(folder: Path, count: int) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(count):
        image = rng.integers(0, 40, size=(28, 28), dtype=np.uint8)
        side = 4 + 2 * (i % 10)
        image[14 - side // 2 : 14 + side // 2, 14 - side // 2 : 14 + side // 2] = 220
        Image.fromarray(image, "L").save(folder / f"item_{i:04d}.png")
    return folder


def _rss_after_malloc_trim(process) -> float | None:
    """RSS once glibc has returned its free heap pages (None where there is no glibc)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    gc.collect()
    libc.malloc_trim(0)
    return process.memory_info().rss / MB


def python_threads() -> int:
    return sum(1 for t in threading.enumerate() if not isinstance(t, threading._DummyThread) and t.is_alive())


def soak(
    workdir: Path,
    runs: int = 30,
    predictions: int = 2000,
    batch: int = 200,
    preset: str = "fast",
    train_images: int = 500,
    log=print,
    detail: bool = False,
    trim_before_samples: bool = False,
) -> SoakFigures:
    """Run the soak in this process (QApplication created if there is none); returns the figures.

    The caller sets FMNIST_DESKTOP_HOME and QSettings' path (the script does it in `main`).
    `trim_before_samples`: collect garbage and return glibc's free heap before each sample, so
    RSS shows memory in use rather than transient peaks (the test uses it; the benchmark reports
    the raw RSS a user's system monitor shows)."""
    import psutil
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from fmnist_desktop.ui.main_window import MainWindow
    from fmnist_desktop.ui.tasks import TaskRunner

    process = psutil.Process()
    figures = SoakFigures()
    t0 = time.monotonic()

    def pump_until(condition, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"soak: timed out waiting for {what}")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.005)

    def qthreads_running() -> int:
        """Task threads not yet joined (every page's TaskRunner, training included)."""
        return sum(len(runner._tasks) for runner in window.findChildren(TaskRunner))

    def sample(label: str) -> Sample:
        for _ in range(5):  # let finished threads be joined and deleted before counting
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.02)
        if trim_before_samples:
            _rss_after_malloc_trim(process)
        s = Sample(label, process.memory_info().rss / MB, process.num_threads(), python_threads(),
                   qthreads_running(), time.monotonic() - t0)
        figures.samples.append(s)
        log(f"{label:<22} RSS {s.rss_mb:8.1f} MB   OS threads {s.os_threads:3d}   Python threads "
            f"{s.python_threads:2d}   QThreads running {s.qthreads_running}   t={s.elapsed_s:6.1f} s")
        return s

    data_dir = write_tiny_idx(workdir / "tiny-fmnist", n_train=train_images, n_test=200)
    photos = write_photos(workdir / "photos", batch)

    window = MainWindow()
    window.show()
    pump_until(lambda: window.context.is_torch_ready() or window.context.import_error() is not None, 120, "torch")
    if window.context.import_error():
        raise SystemExit(f"soak: the model engine did not load: {window.context.import_error()}")
    train = window.pages["train"]
    predict = window.pages["predict"]
    window.show_page("train")
    pump_until(lambda: train.train_button.isEnabled() and train.charts is not None, 60, "the Train page")
    train.set_data_folder(str(data_dir))
    pump_until(lambda: train.data_label.property("datasetFound") is True, 30, "the data set")
    train.preset_combo.setCurrentIndex(train.preset_combo.findData(preset))
    train.epochs_spin.setValue(1)
    train.val_size_spin.setValue(100)
    sample("start")

    saved = []
    train.runFinished.connect(saved.append)
    for run in range(1, runs + 1):
        started = time.monotonic()
        if not train.start_training():
            raise SystemExit(f"soak: run {run} could not start")
        pump_until(lambda: not train.is_busy(), 300, f"run {run}")
        figures.run_seconds.append(time.monotonic() - started)
        figures.rss_after_run_mb.append(process.memory_info().rss / MB)
        if detail:
            from PySide6.QtCore import QObject

            log(f"  run {run:3d}: {figures.run_seconds[-1]:5.2f} s, RSS {figures.rss_after_run_mb[-1]:7.1f} MB, "
                f"Python objects {len(gc.get_objects()):,}, QObjects under the window "
                f"{len(window.findChildren(QObject)):,}, OS threads {process.num_threads()}")
        if len(saved) != run:
            raise SystemExit(f"soak: run {run} did not save a model: {train.banner.text()}")
        if run == 1:
            sample("after run 1")
    figures.models_saved = len(saved)
    sample(f"after run {runs}")

    window.show_page("predict")
    started = time.monotonic()
    done = 0
    while done < predictions:
        predict.predict_paths([str(photos)])
        pump_until(lambda: not predict.is_busy(), 300, "a batch of predictions")
        rows = predict.model.rowCount()
        if rows != batch:
            raise SystemExit(f"soak: a batch gave {rows} rows, not {batch}")
        done += rows
    figures.predictions = done
    figures.prediction_seconds = time.monotonic() - started
    sample("end")
    trimmed = _rss_after_malloc_trim(process)
    if trimmed is not None:
        log(f"{'end, after malloc_trim':<22} RSS {trimmed:8.1f} MB   (memory the C allocator kept but was not using)")

    window.close()
    for page in window.pages.values():
        if hasattr(page, "shutdown"):
            page.shutdown(5000)
    window.deleteLater()
    app.processEvents()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--predictions", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200, help="images per prediction batch")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--train-images", type=int, default=500)
    parser.add_argument("--detail", action="store_true", help="one line per run: RSS, objects, QObjects, threads")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QSettings

    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    os.environ["FMNIST_DESKTOP_HOME"] = str(workdir / "home")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(workdir / "settings"))
    print(f"soak: {args.runs} runs of '{args.preset}' (1 epoch, {args.train_images} images), "
          f"{args.predictions} predictions in batches of {args.batch}; load average {os.getloadavg()}")
    try:
        figures = soak(workdir, args.runs, args.predictions, args.batch, args.preset, args.train_images,
                       detail=args.detail)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # 30 saved models and the photos

    start, first, end = figures.at("start"), figures.at("after run 1"), figures.at("end")
    runs = figures.run_seconds
    print(f"runs: {len(runs)} saved {figures.models_saved}; run time first {runs[0]:.2f} s, "
          f"median {sorted(runs)[len(runs) // 2]:.2f} s, last {runs[-1]:.2f} s")
    shown = sorted({1, 2, 5, 10, 20, len(runs)} & set(range(1, len(runs) + 1)))
    print("RSS after run " + ", ".join(f"{n}: {figures.rss_after_run_mb[n - 1]:.0f} MB" for n in shown))
    print(f"predictions: {figures.predictions} in {figures.prediction_seconds:.1f} s "
          f"({figures.predictions / figures.prediction_seconds:.0f}/s)")
    growth = end.rss_mb - first.rss_mb
    print(f"RSS growth after run 1: {growth:+.1f} MB (target < 100 MB): {'ok' if growth < 100 else 'FAIL'}")
    if len(runs) >= 10:
        # A single snapshot may catch a transient peak (a chart redraw, the allocator holding freed
        # pages); the median after the last ten runs shows the level the session settles at.
        settled = sorted(figures.rss_after_run_mb[-10:])[5] - first.rss_mb
        print(f"RSS after the last 10 runs, median, minus after run 1: {settled:+.1f} MB")
    threads_ok = end.os_threads <= first.os_threads and end.python_threads <= start.python_threads
    print(f"OS threads start {start.os_threads}, after run 1 {first.os_threads}, end {end.os_threads}; "
          f"Python threads start {start.python_threads}, end {end.python_threads}; "
          f"QThreads running at the end {end.qthreads_running}: {'ok' if threads_ok else 'FAIL'}")
    print(f"load average {os.getloadavg()}")
    return 0 if growth < 100 and threads_ok and end.qthreads_running == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
