"""Hostile input, round three (issue 17): `fmnist serve`, `tune` and `export` options and names."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

EVIL_NAME = "nice\x1b[2J\x1b[1;1Hmodel\rForged: 100%\nSecond line"


@pytest.fixture
def evil_model(tmp_path) -> Path:
    """A model whose stored name clears the screen, returns the carriage and forges a line."""
    import torch

    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "evil.pt", build_model("bn_cnn_small"), CheckpointMeta.for_preset("fast", EVIL_NAME))


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text
    assert "Second line" not in [line.strip() for line in text.splitlines()]


# --- item 3: serve --device that is not there ------------------------------------------------------


@pytest.mark.parametrize("device", ["tpu", "cuda:7"])
def test_serve_on_a_device_that_is_not_there_is_one_error_line(run_cli, evil_model, device):
    pytest.importorskip("fastapi")
    line = run_cli("serve", "--weights", evil_model, "--device", device, "--port", "0").assert_one_error_line(device)
    assert "unexpected" not in line


# --- item 14: model names printed by export, serve and evaluate ------------------------------------


def test_export_serve_and_evaluate_escape_the_model_name(run_cli, evil_model, tmp_path, tiny_idx_dir, monkeypatch):
    r = run_cli("export", "--weights", evil_model, tmp_path / "copy.pt")
    assert r.code == 0, r
    _no_raw_controls(r.out)
    assert "\\x1b[2J" in r.out and "\\r" in r.out and "\\n" in r.out

    r = run_cli("evaluate", "--weights", evil_model, "--data", tiny_idx_dir)
    assert r.code == 0, r
    _no_raw_controls(r.out)

    pytest.importorskip("fastapi")
    import fmnist_desktop.serve.server as server

    monkeypatch.setattr(server, "run_server", lambda *a, **k: None)  # print the banner, serve nothing
    r = run_cli("serve", "--weights", evil_model, "--port", "0")
    assert r.code == 0, r
    _no_raw_controls(r.out)
    assert "Model: nice\\x1b[2J" in r.out


# --- items 10-13 and the modes: where an export may go, what it carries ---------------------------


def test_export_refuses_a_pipe_and_leaves_it_a_pipe(run_cli, evil_model, tmp_path):
    fifo = tmp_path / "out.pt"
    os.mkfifo(fifo)
    for fmt in ("checkpoint", "torchscript"):
        run_cli("export", "--weights", evil_model, "--format", fmt, fifo).assert_one_error_line("a pipe, not a file")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_export_does_not_follow_a_symlink_planted_at_its_temporary_name(run_cli, evil_model, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".s.pt.verify.pt").symlink_to(victim)  # the temporary name export used to write
    r = run_cli("export", "--weights", evil_model, "--format", "torchscript", tmp_path / "s.pt")
    assert r.code == 0, r
    assert victim.read_text() == "precious"


def test_export_to_a_long_legal_name_works(run_cli, evil_model, tmp_path):
    out = tmp_path / ("m" * 245 + ".pt")  # 248 characters: the contract's 253-character name fits too
    r = run_cli("export", "--weights", evil_model, "--format", "torchscript", out)
    assert r.code == 0, r
    assert out.is_file() and Path(str(out) + ".json").is_file()


def test_exports_carry_no_path_of_the_exporting_machine(evil_model, tmp_path):
    from fmnist_desktop.core.jobs import export

    repo = str(Path(__file__).resolve().parents[2]).encode()
    formats = ["torchscript"] + (["onnx"] if export.export_formats_available()["onnx"] is None else [])
    for fmt in formats:
        out = tmp_path / f"m{export.SUFFIXES[fmt]}"
        export.export_model(evil_model, out, fmt)
        data = out.read_bytes()
        assert repo not in data and b"site-packages" not in data and os.path.expanduser("~").encode() + b"/" not in data, fmt


def test_export_refuses_a_read_only_target_and_gives_readable_files(run_cli, evil_model, tmp_path):
    locked = tmp_path / "locked.pt"
    locked.write_bytes(b"keep me")
    locked.chmod(0o444)
    run_cli("export", "--weights", evil_model, locked).assert_one_error_line("read-only")
    assert locked.read_bytes() == b"keep me"

    umask = os.umask(0o022)
    os.umask(umask)
    fresh = tmp_path / "fresh.pt"
    assert run_cli("export", "--weights", evil_model, "--format", "torchscript", fresh).code == 0
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(str(fresh) + ".json").st_mode) == 0o666 & ~umask
    kept = tmp_path / "kept.pt"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    assert run_cli("export", "--weights", evil_model, kept).code == 0
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o640


# --- items 8 and 9: the user's presets.json ------------------------------------------------------


def _write_presets(entries: dict) -> None:
    from fmnist_desktop.core.store.user_presets import presets_path

    presets_path().parent.mkdir(parents=True, exist_ok=True)
    presets_path().write_text(json.dumps(entries), encoding="utf-8")


def test_a_preset_name_with_a_trailing_newline_is_refused(tmp_home):
    from fmnist_desktop.core.base.errors import FmnistError
    from fmnist_desktop.core.models import PRESETS
    from fmnist_desktop.core.store.user_presets import save_user_preset

    with pytest.raises(FmnistError, match="cannot be a preset name"):
        save_user_preset(PRESETS["fast"], "ok\n")


@pytest.mark.parametrize("bad", [{"epochs": "3"}, {"arch": ["bn_cnn"]}, {"lr": True}, {"batch_size": 2.5}])
def test_a_wrongly_typed_preset_is_set_aside_with_a_note(run_cli, tmp_home, evil_model, bad):
    import dataclasses

    from fmnist_desktop.core.models import PRESETS

    good = dataclasses.asdict(PRESETS["fast"])
    _write_presets({"mine": {**good, **bad}, "ok\n": good, "fine": good})
    r = run_cli("models")
    assert r.code == 0 and "Traceback" not in r.err, r
    assert f"fmnist: note: Your preset 'mine' in presets.json is ignored: its '{next(iter(bad))}' has the wrong type" in r.err
    assert "Your preset 'ok\\n' in presets.json is ignored" in r.err
    r = run_cli("train", "--help")
    assert r.code == 0 and "fine" in r.out and "Traceback" not in r.err
    r = run_cli("predict", "--weights", evil_model, "/nonexistent.png")
    assert "Traceback" not in r.err and "TypeError" not in r.err


# --- items 4, 6, 7 and 8 through `fmnist tune`, and its other options ------------------------------


@pytest.mark.parametrize("argv, words", [
    (["--seed", "99999999999999999999999"], "--seed must be between 0 and 4294967295"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
    (["--save-preset", "ok\n"], "cannot be a preset name"),
    (["--save-preset", "fast"], "built-in preset"),
    (["--study", ""], "--study must not be empty"),
    (["--budget", "1h1h"], "give each unit once"),
])
def test_tune_refuses_bad_options_before_reading_any_data(run_cli, tmp_path, argv, words):
    pytest.importorskip("optuna")
    # The data folder does not exist: an option checked only after loading would report that instead.
    run_cli("tune", "--data", tmp_path / "no-data", *argv).assert_one_error_line(words)


def test_tune_checks_the_plots_folder_before_the_study_runs(run_cli, tmp_path):
    pytest.importorskip("optuna")
    a_file = tmp_path / "plots.png"
    a_file.write_bytes(b"x")
    run_cli("tune", "--data", tmp_path / "no-data", "--plots", a_file).assert_one_error_line("is a file, not a folder")
    run_cli("tune", "--data", tmp_path / "no-data", "--plots", a_file / "sub").assert_one_error_line("cannot be created")


def test_studies_whose_names_flatten_alike_keep_separate_best_models(tmp_home):
    from fmnist_desktop.core.jobs.tuning import best_model_path

    paths = {best_model_path(name) for name in ("a/b", "a b", "a_b", "a?b")}
    assert len(paths) == 4
    assert best_model_path("fmnist").name == "fmnist-best.pt"  # plain names keep their file


def test_a_read_only_study_database_is_named_as_such(tmp_home, tmp_path, tiny_idx_dir):
    optuna = pytest.importorskip("optuna")
    from fmnist_desktop.core.jobs import tuning
    from fmnist_desktop.core.data.fashion_mnist import load_dataset

    db = tmp_path / "studies.sqlite3"
    optuna.create_study(study_name="other", storage=f"sqlite:///{db}")
    # SQLite's own read-only mode: chmod would not stop root, which runs these tests in CI.
    config = tuning.TuneConfig(base_preset="fast", n_trials=1, study="s", device="cpu",
                               storage=f"sqlite:///file:{db}?mode=ro&uri=true")
    events = list(tuning.iter_tuning(config, load_dataset(tiny_idx_dir, val_size=100)))
    failed = events[-1]
    assert isinstance(failed, tuning.TuneFailed)
    assert "is read-only, and tuning has to write to it" in failed.message and "exceeding max length" not in failed.message
