"""A short soak in one app session (the long one is bench/bench_soak.py): 5 training runs and
200 predictions in the real window; no thread may be left behind and memory must stay bounded."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_soak.py"


@pytest.mark.slow
def test_five_runs_and_200_predictions_leave_no_threads_and_bounded_memory(
    qapp, isolated_settings, tmp_path, monkeypatch
):
    spec = importlib.util.spec_from_file_location("bench_soak", BENCH)
    bench_soak = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_soak", bench_soak)  # its dataclasses look themselves up there
    spec.loader.exec_module(bench_soak)

    # Samples are taken after returning glibc's free heap: a single raw RSS reading can catch a
    # transient peak of tens of MB (see docs/RELIABILITY.md, Long sessions); a leak stays.
    figures = bench_soak.soak(tmp_path, runs=5, predictions=200, batch=100, trim_before_samples=True)

    start, first, end = figures.at("start"), figures.at("after run 1"), figures.at("end")
    seen = "; ".join(f"{s.label}: {s.rss_mb:.0f} MB, {s.os_threads} OS / {s.python_threads} Python threads, "
                     f"{s.qthreads_running} task threads" for s in figures.samples)
    assert figures.models_saved == 5 and figures.predictions == 200, seen
    assert end.qthreads_running == 0, seen
    assert end.python_threads <= start.python_threads, seen
    assert end.os_threads <= first.os_threads, f"threads accumulate from run to run: {seen}"
    assert end.rss_mb - first.rss_mb < 100, f"memory grew after the first run: {seen}"
