"""`fmnist tune` on a tiny generated data set: trials, resume, JSON table, library, preset."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("optuna")

from fmnist_desktop.cli.tune import parse_budget  # noqa: E402
from fmnist_desktop.core.base.errors import FmnistError  # noqa: E402


def test_tune_runs_saves_the_best_model_and_a_preset_and_resumes(run_cli, tiny_idx_dir, tmp_path):
    r = run_cli("tune", "--data", tiny_idx_dir, "--val-size", "100", "--trials", "2", "--device", "cpu",
                "--threads", "1", "--study", "s", "--save-preset", "mine", "--plots", tmp_path / "plots")
    assert r.code == 0, r
    assert r.out.count("Trial ") == 2 and "Best: trial" in r.out
    assert "Saved to the model library" in r.out and "test accuracy" in r.out
    assert (tmp_path / "plots" / "tune-history.png").is_file()
    from fmnist_desktop.core.store.library import ModelLibrary
    from fmnist_desktop.core.store.user_presets import get_preset

    assert any("tuned" in e.name for e in ModelLibrary().entries())
    assert get_preset("mine").name == "mine"  # the user's preset is usable by name
    # Again: the study continues (trials 2 and 3), and --json gives the whole table.
    r = run_cli("tune", "--data", tiny_idx_dir, "--val-size", "100", "--trials", "2", "--device", "cpu",
                "--threads", "1", "--study", "s", "--json", "--no-save")
    assert r.code == 0, r
    table = json.loads(r.out)
    assert [t["number"] for t in table["trials"]] == [0, 1, 2, 3]
    assert sum(t["best"] for t in table["trials"]) == 1 and table["best"]["value"] > 0
    assert "continuing 2 earlier trials" in r.err


def test_tune_refuses_bad_options(run_cli, tiny_idx_dir):
    run_cli("tune", "--trials", "0").assert_one_error_line("--trials")
    run_cli("tune", "--budget", "soon").assert_one_error_line("--budget")
    assert run_cli("tune", "--preset", "nope").code == 2


def test_parse_budget():
    assert parse_budget("30m") == 1800 and parse_budget("1h30m") == 5400 and parse_budget("90") == 90
    assert parse_budget("20 min") == 1200
    with pytest.raises(FmnistError):
        parse_budget("0s")
