"""The Optuna tuner on tiny generated data: a study runs, prunes, honours its budget, resumes
from SQLite after an interruption, and a killed trial leaves the study usable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

optuna = pytest.importorskip("optuna")

from fmnist_desktop.core.jobs import tuning  # noqa: E402
from fmnist_desktop.core.store.checkpoint import load_model  # noqa: E402
from fmnist_desktop.core.data.fashion_mnist import DataSource, FashionMNIST, Split  # noqa: E402
from fmnist_desktop.core.store.user_presets import get_preset  # noqa: E402
from fmnist_desktop.core.jobs.tuning import (  # noqa: E402
    SearchSpace,
    TrialBatch,
    TrialDone,
    TrialEpoch,
    TrialStarted,
    TuneConfig,
    TuneFailed,
    TuneFinished,
    TuneStarted,
    iter_tuning,
)

REPO = Path(__file__).resolve().parents[2]


def _split(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.randint(0, 40, (n, 28, 28), generator=g)
    for i, k in enumerate(labels.tolist()):
        images[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 230
    return Split(images.to(torch.uint8), labels.to(torch.int64))


def _data(n_train=160, n_val=60) -> FashionMNIST:
    return FashionMNIST(_split(n_train, 1), _split(n_val, 2), _split(40, 3), DataSource("folder", None, "generated"))


SPACE = SearchSpace(
    lr=(2e-3, 2e-2), weight_decay=(1e-5, 1e-3), epochs=(2, 2), batch_sizes=(32,), widths=(16, 24),
    augments=("none", "flip"), label_smoothing=(0.0, 0.1),
)


class PruneTrialOne(optuna.pruners.BasePruner):
    """Deterministic: trial 1 is pruned after its first epoch, every other trial runs out."""

    def prune(self, study, trial) -> bool:
        return trial.number == 1


def _config(**kw) -> TuneConfig:
    defaults = dict(base_preset="fast", n_trials=3, study="t", device="cpu", space=SPACE, num_threads=1)
    defaults.update(kw)
    return TuneConfig(**defaults)


def _run(config: TuneConfig, data=None, stop=None, on_event=None) -> list:
    events = []
    for event in iter_tuning(config, data or _data(), stop):
        events.append(event)
        if on_event is not None:
            on_event(event, events)
    return events


def test_a_three_trial_study_runs_prunes_and_saves_the_best_model():
    events = _run(_config(pruner=PruneTrialOne()))
    assert isinstance(events[0], TuneStarted) and events[0].previous == ()
    assert isinstance(events[-1], TuneFinished), events[-1]
    done = [e for e in events if isinstance(e, TrialDone)]
    assert [d.record.state for d in done] == ["COMPLETE", "PRUNED", "COMPLETE"]
    assert done[1].record.epochs_run == 1  # stopped after its first epoch
    assert [e.number for e in events if isinstance(e, TrialStarted)] == [0, 1, 2]
    assert any(isinstance(e, TrialBatch) for e in events) and any(isinstance(e, TrialEpoch) for e in events)
    finished = events[-1]
    assert finished.reason == "trials" and finished.n_new == 3 and len(finished.records) == 3
    assert finished.best is not None and finished.best.state == "COMPLETE"
    assert finished.best.value == max(r.value for r in finished.records if r.state == "COMPLETE")
    # The best trial's model is a normal checkpoint that loads, with its settings recorded.
    model, meta = load_model(finished.best_model)
    assert meta.metrics["val_accuracy"] == pytest.approx(finished.best.value)
    assert meta.training["tuning"]["trial"] == finished.best.number
    assert meta.training["recipe"]["lr"] == pytest.approx(finished.best.params["lr"])
    expected_arch = {16: "bn_cnn_small_w16", 24: "bn_cnn_small"}[finished.best.params["width"]]
    assert meta.arch == expected_arch
    # The trial table for --json and the dialog.
    rows = tuning.trial_table(finished.records)
    assert sum(r["best"] for r in rows) == 1 and rows[1]["state"] == "PRUNED"


def test_the_study_resumes_from_sqlite_after_a_stop_mid_trial():
    stop = threading.Event()

    def stop_in_second_trial(event, events):
        if isinstance(event, TrialBatch) and event.number == 1:
            stop.set()

    first = _run(_config(n_trials=5), stop=stop, on_event=stop_in_second_trial)
    assert isinstance(first[-1], TuneFinished) and first[-1].reason == "stopped"
    assert [r.state for r in first[-1].records] == ["COMPLETE", "FAIL"]
    assert first[-1].records[1].note == "stopped by the user"
    # The database file is in the app data folder; a new run continues the same study.
    assert (tuning.tuning_dir() / "studies.sqlite3").is_file()
    second = _run(_config(n_trials=2))
    assert isinstance(second[0], TuneStarted) and [r.number for r in second[0].previous] == [0, 1]
    assert [e.number for e in second if isinstance(e, TrialStarted)] == [2, 3]
    assert [r.state for r in second[-1].records] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    # The resumed run draws new settings, not the first run's again.
    assert second[-1].records[2].params != first[-1].records[0].params
    assert tuning.study_names() == ["t"]


def test_a_budget_ends_the_study_within_one_batch():
    events = _run(_config(n_trials=None, budget_s=0.5, space=SearchSpace(**{**SPACE.to_dict(), "epochs": (30, 30)})))
    finished = events[-1]
    assert isinstance(finished, TuneFinished) and finished.reason == "budget", finished
    assert finished.n_new == 1 and finished.records[0].state == "FAIL"
    assert "budget" in finished.records[0].note
    assert finished.elapsed_s < 10


def test_a_killed_trial_leaves_the_study_usable(tmp_home):
    """A tuning process killed (SIGKILL) mid-trial leaves that trial RUNNING in SQLite; the next
    run marks it failed and carries on."""
    script = textwrap.dedent(
        f"""
        import sys, torch
        sys.path.insert(0, {str(REPO)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_tuning import _data, _config, SPACE, SearchSpace
        from fmnist_desktop.core.jobs.tuning import iter_tuning, TrialBatch
        space = SearchSpace(**{{**SPACE.to_dict(), "epochs": (50, 50)}})
        for event in iter_tuning(_config(n_trials=1, space=space), _data()):
            if isinstance(event, TrialBatch):
                print("BATCH", flush=True)
        """
    )
    env = dict(os.environ, FMNIST_DESKTOP_HOME=str(tmp_home), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("BATCH") or not line:
                break
        assert line.startswith("BATCH"), "the tuning process never started a trial"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    study = tuning.load_study("t")
    assert [t.state.name for t in study.get_trials()] == ["RUNNING"]

    events = _run(_config(n_trials=1))
    assert isinstance(events[-1], TuneFinished)
    records = events[-1].records
    assert [r.state for r in records] == ["FAIL", "COMPLETE"]
    assert "abandoned" in records[0].note


def test_best_model_goes_to_the_library_and_settings_become_a_preset():
    data = _data()
    events = _run(_config(n_trials=2), data=data)
    best = events[-1].best
    entry = tuning.save_best_to_library("t", test_split=data.test)
    assert entry.test_accuracy is not None and 0 <= entry.test_accuracy <= 100
    assert "trial" in entry.name
    preset = tuning.best_as_preset("t", name="my-tuned")
    assert preset.name == "my-tuned" and preset.lr == pytest.approx(best.params["lr"])
    assert preset.epochs == 2 and preset.batch_size == 32 and preset.input_size == 28


def test_plots_render_as_png():
    _run(_config(n_trials=3, pruner=PruneTrialOne()))
    plots = tuning.render_plots(tuning.load_study("t"))
    assert {"history", "intermediate"} <= set(plots)
    assert all(png.startswith(b"\x89PNG") for png in plots.values())


def test_bad_settings_and_unknown_things_end_in_tune_failed():
    assert isinstance(_run(_config(n_trials=0))[-1], TuneFailed)
    assert isinstance(_run(_config(base_preset="nope"))[-1], TuneFailed)
    # A study keeps its base preset.
    _run(_config(n_trials=1))
    failed = _run(_config(n_trials=1, base_preset="standard", space=None))[-1]
    assert isinstance(failed, TuneFailed) and "fast" in failed.message
    with pytest.raises(Exception, match="no tuning study named 'other'"):
        tuning.load_study("other")


def test_default_space_and_trial_preset():
    space = tuning.default_space(get_preset("standard"))
    assert space.widths == (24, 32, 48) and space.epochs[1] <= 16
    p = tuning.trial_preset(get_preset("standard"), {"width": 48, "lr": 1e-3, "augment": "flip", "epochs": 3})
    assert p.arch == "bn_cnn_w48" and p.augment == "flip" and p.epochs == 3 and p.lr == 1e-3
    assert tuning.trial_preset(get_preset("seed"), {"lr": 1e-3}).arch == "seed_cnn"
    assert "width 48" in tuning.format_params({"width": 48, "lr": 1e-3})


def test_two_threads_opening_a_new_study_database_at_once():
    """The GUI reads the study while a run starts: creating the SQLite tables must not race."""
    errors = []

    def open_it():
        try:
            tuning.study_names()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_the_tune_jobs_run_read_and_save_a_study_without_qt(tiny_idx_dir):
    """What the Tune… dialog starts (core.jobs.tune), run with a plain state."""
    from fmnist_desktop.core.jobs import tune
    from fmnist_desktop.core.jobs.state import PlainState

    state = PlainState()
    last = tune.run(tune.TuneInputs(_config(n_trials=1, study="job"), tiny_idx_dir, val_size=100), state)
    assert isinstance(last, TuneFinished) and last.n_new == 1
    kinds = [type(p).__name__ if not isinstance(p, tuple) else p[0] for p in state.partial_results]
    assert kinds[0] == "TuneStarted" and "TrialDone" in kinds and "TrialBatch" not in kinds
    assert state.progress is not None and state.progress[1].startswith("Trial 0: epoch")
    so_far = tune.read_study("job")
    assert so_far.base_preset == "fast" and len(so_far.records) == 1
    assert tune.read_study("no-such-study").records == ()
    entry = tune.save_best("job", tiny_idx_dir, PlainState())
    assert entry.test_accuracy is not None and "trial" in entry.name
