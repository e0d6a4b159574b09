"""A short soak in one app session (the long one is bench/bench_soak.py): 5 training runs and
200 predictions in the real window; no thread may be left behind and memory must stay bounded."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_soak.py"


@pytest.mark.slow
def test_five_runs_and_200_predictions_leave_no_threads_and_bounded_memory(qapp, tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_soak", BENCH)
    bench_soak = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_soak", bench_soak)  # its dataclasses look themselves up there
    spec.loader.exec_module(bench_soak)
    previous_format = QSettings.defaultFormat()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    try:
        figures = bench_soak.soak(tmp_path, runs=5, predictions=200, batch=100)
    finally:
        QSettings.setDefaultFormat(previous_format)

    start, first, end = figures.at("start"), figures.at("after run 1"), figures.at("end")
    assert figures.models_saved == 5 and figures.predictions == 200
    assert end.qthreads_running == 0
    assert end.python_threads <= start.python_threads
    assert end.os_threads <= first.os_threads, "threads accumulate from run to run"
    assert end.rss_mb - first.rss_mb < 100, f"memory grew {end.rss_mb - first.rss_mb:.0f} MB after the first run"
