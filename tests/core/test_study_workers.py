"""core.study_workers: a trial whose worker on another machine stopped sending heartbeats is
failed and queued again with its settings; a live one is left alone; the best-model file keeps
the better model; the library claim is taken once."""

from __future__ import annotations

import time

import pytest

optuna = pytest.importorskip("optuna")

from fmnist_desktop.core.jobs import study_workers, tuning  # noqa: E402


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_silent_remote_worker_s_trial_is_failed_and_retried_with_its_settings(tmp_path):
    storage = tuning._storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_s=1)
    study = optuna.create_study(study_name="h", storage=storage, direction="maximize")
    silent = study.ask()
    silent.suggest_float("lr", 1e-3, 1e-1, log=True)
    # Its worker is on another machine (no process id to check here): only its heartbeat tells.
    study._storage.set_trial_user_attr(silent._trial_id, "worker", {"host": "elsewhere.example", "pid": 1})
    storage.record_heartbeat(silent._trial_id)
    alive = study.ask()
    study_workers.mark_trial(study, alive)
    with study_workers.Heartbeat(storage, alive._trial_id):
        time.sleep(study_workers.grace_period_s(1) + 1.5)
        assert study_workers.fail_abandoned(study, 1) == 1
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "RUNNING", "WAITING"]
    assert "heartbeats" in trials[0].user_attrs["note"]
    assert trials[2].params == trials[0].params and trials[2].system_attrs["failed_trial"] == 0
    assert "worker" not in trials[2].user_attrs  # the dead worker's identity is not carried over
    # The next ask takes the queued retry, which says what it retries.
    retry = study.ask()
    assert retry.number == 2 and study_workers.mark_trial(study, retry) == 0
    assert study.get_trials()[2].user_attrs["note"] == "retry of trial 0"
    assert study_workers.accounted(study.get_trials()) == 2  # the retry stands for the failed trial


def test_the_best_model_file_keeps_the_better_model(tmp_path):
    path = tmp_path / "best.pt"
    saved = []

    def save(value, number, uid="u1"):
        def write():
            from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
            from fmnist_desktop.core.models import build_model

            meta = CheckpointMeta.for_preset("fast", "m", training={"tuning": {"uid": uid, "trial": number, "value": value}})
            saved.append(number)
            return save_checkpoint(path, build_model(meta.arch), meta)

        return study_workers.save_if_best(path, uid, number, value, write)

    assert save(80.0, 0) and not save(79.0, 1) and save(85.0, 2)
    assert not save(85.0, 3)  # a tie keeps the earlier trial, as best_record does
    assert save(10.0, 0, uid="another study of that name")  # a file of a deleted study is replaced
    assert saved == [0, 2, 0]


def test_claim_once_and_printable_urls(tmp_path):
    marker = tmp_path / "best.trial-3.in-library"
    assert study_workers.claim_once(marker) and not study_workers.claim_once(marker)
    assert study_workers.hide_password("postgresql://me:secret@db.example/tune") == "postgresql://me:***@db.example/tune"
    assert tuning._display_url("postgresql://me:secret@db.example/tune") == "postgresql://me:***@db.example/tune"
