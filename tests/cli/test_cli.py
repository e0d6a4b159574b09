"""The `fmnist` command: what a user sees and the exit status, for each subcommand."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from fmnist_desktop import cli
from fmnist_desktop.cli import console
from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.checkpoint import load_checkpoint
from fmnist_desktop.core.store.library import ModelLibrary


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("fmnist: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def small_data(tmp_path, idx_writer):
    return idx_writer.write_tiny_dataset(tmp_path / "data", n_train=300, n_test=100)


def test_train_saves_into_the_library_and_makes_it_active(run_cli, small_data, no_builtin_model):
    result = run_cli(
        "train", "--preset", "fast", "--epochs", "1", "--batch-size", "32", "--data", small_data,
        "--val-size", "60", "--device", "cpu",
    )
    assert result.code == 0, result.err
    assert f"Data: the folder {small_data}" in result.out
    assert "Device: cpu" in result.out
    assert "Epoch [1/1], Train Loss: " in result.out and "Val Acc: " in result.out
    assert "Test Accuracy: " in result.out
    assert "skipped" not in result.out  # the Ctrl-C line once followed every run without photos
    assert "Epoch 1/1 [" in result.err  # the progress bar
    entry = ModelLibrary().active()
    assert not entry.builtin and entry.meta.preset == "fast"
    assert 0 <= entry.meta.metrics["test_accuracy"] <= 100
    assert len(entry.meta.history) == 1 and entry.meta.training["epochs"] == 1
    assert entry.meta.training["data_source"].startswith("the folder")

    listing = run_cli("models")
    assert listing.code == 0
    assert any(line.startswith("* " + entry.id) for line in listing.out.splitlines())

    evaluated = run_cli("evaluate", "--data", small_data, "--json")  # default: the active model
    assert evaluated.code == 0, evaluated.err
    report = json.loads(evaluated.out)
    assert report["n"] == 100 and report["model"]["path"] == str(entry.path)
    assert report["accuracy"] == pytest.approx(entry.meta.metrics["test_accuracy"], abs=1e-3)


@pytest.fixture(params=["default", "ignored"])
def sigint_on_entry(request):
    """The SIGINT handler the process has before a command: Python's default, or ignored (what a
    shell gives a background job, `pytest … &`)."""
    previous = signal.getsignal(signal.SIGINT)
    if request.param == "ignored":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_after_the_batch_and_saves_nothing(run_cli, small_data, tmp_path, monkeypatch, no_builtin_model,
                                                        sigint_on_entry):
    original_update = cli.ProgressBar.update

    def update_then_interrupt(self, done, extra=""):
        original_update(self, done, extra)
        if self.label.startswith("Epoch"):
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C during the first batch

    monkeypatch.setattr(cli.ProgressBar, "update", update_then_interrupt)
    out = tmp_path / "should-not-exist.pt"
    result = run_cli("train", "--preset", "fast", "--epochs", "2", "--batch-size", "32", "--data", small_data,
                     "--val-size", "60", "--device", "cpu", "--out", out)
    assert result.code == 130
    assert "nothing was saved" in result.out
    assert not out.exists() and not list(tmp_path.glob(".should-not-exist*"))
    assert ModelLibrary().entries() == []
    assert signal.getsignal(signal.SIGINT) is sigint_on_entry  # the handler found on entry, given back


def test_ctrl_c_after_an_epoch_saves_the_best_finished_epoch(run_cli, small_data, tmp_path, monkeypatch,
                                                             no_builtin_model):
    """Like the Train page's Stop: finished epochs are not thrown away (issue 16)."""
    original_update = cli.ProgressBar.update

    def update_then_interrupt(self, done, extra=""):
        original_update(self, done, extra)
        if self.label.startswith("Epoch 2"):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during the second epoch

    monkeypatch.setattr(cli.ProgressBar, "update", update_then_interrupt)
    out = tmp_path / "kept.pt"
    result = run_cli("train", "--preset", "fast", "--epochs", "3", "--batch-size", "32", "--data", small_data,
                     "--val-size", "60", "--device", "cpu", "--out", out)
    assert result.code == 130, result.err
    assert "saving the best finished epoch (1," in result.out and f"Saved: {out}" in result.out
    from fmnist_desktop.core.store.checkpoint import read_meta

    meta = read_meta(out)
    assert meta.name.endswith("(stopped early)") and len(meta.history) == 1
    assert "test_accuracy" not in meta.metrics and "val_accuracy" in meta.metrics


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["train", "--epochs", "0"], 2, "--epochs must be at least 1"),
        (["train", "--device", "tpu"], 2, "Unknown device"),
        (["train", "--lr", "-1"], 2, "--lr must be a positive number"),
        (["evaluate", "--weights", "/nonexistent/model.pt"], 2, "There is no model file at /nonexistent/model.pt"),
        (["predict", "--weights", "/nonexistent/model.pt", "/nonexistent/photo.jpg"], 2, "There is no model file"),
        (["predict", "--top-k", "11", "x.png"], 2, "--top-k must be between 1 and 10"),
        (["evaluate"], 2, "There is no model yet"),
        (["models", "--activate", "nope"], 2, "There is no model 'nope'"),
        (["train", "--out", "/"], 2, "is a folder"),
        (["train", "--out", "/nonexistent/dir/model.pt"], 2, "does not exist"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(run_cli, argv, code, message, no_builtin_model):
    result = run_cli(*argv)
    assert result.code == code
    assert message in _one_error_line(result.err)


def test_missing_dataset_names_the_sources(run_cli, small_model, tmp_path, monkeypatch):
    from fmnist_desktop.core.data import fashion_mnist as data

    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-package")
    result = run_cli("evaluate", "--weights", small_model)
    assert result.code == 2
    line = _one_error_line(result.err)
    assert "Fashion-MNIST was not found" in line and "dataset-fashion-mnist" in line


def test_damaged_dataset_file_is_named(run_cli, small_model, small_data):
    labels = small_data / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])
    result = run_cli("evaluate", "--weights", small_model, "--data", small_data)
    assert result.code == 2
    assert "t10k-labels-idx1-ubyte.gz is truncated" in _one_error_line(result.err)


def test_predict_lists_results_and_reports_bad_files(run_cli, small_model, tmp_path):
    good = tmp_path / "photos" / "shirt.png"
    good.parent.mkdir()
    rgb = np.full((64, 48, 3), 245, np.uint8)
    rgb[8:56, 10:38] = 60
    Image.fromarray(rgb).save(good)
    fake = tmp_path / "photos" / "fake.png"
    fake.write_text("I am text")
    result = run_cli("predict", "--weights", small_model, "--top-k", "2", tmp_path / "photos")
    assert result.code == 1  # one image could not be read
    [line] = [l for l in result.out.splitlines() if l.startswith(str(good))]
    path, label, confidence, verdict, model, others = line.split("\t")
    assert verdict in {"sure", "not sure"} and model == "28×28"
    assert label in {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
    assert confidence.endswith("%") and others.count("%") == 1
    assert "fmnist: skipped: fake.png is not an image" in result.err
    assert "1 of 2 images classified" in result.out

    as_json = run_cli("predict", "--weights", small_model, "--json", good, fake)
    assert as_json.code == 1
    items = json.loads(as_json.out)
    assert isinstance(items, list) and items[0]["path"] == str(good) and items[0]["index"] in range(10)
    assert len(items[0]["top_k"]) == 3 and sum(items[0]["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert "not an image" in items[1]["error"]

    only_good = run_cli("predict", "--weights", small_model, good)
    assert only_good.code == 0 and only_good.err == ""


def test_export_checkpoint_and_bare_state_dict(run_cli, small_model, tmp_path):
    out = tmp_path / "copy.pt"
    assert run_cli("export", "--weights", small_model, out).code == 0
    assert load_checkpoint(out)[1].name == "Small test model"
    bare = tmp_path / "bare.pth"
    assert run_cli("export", "--weights", small_model, "--format", "state_dict", bare).code == 0
    raw = torch.load(bare, weights_only=True)
    assert "format" not in raw and all(isinstance(v, torch.Tensor) for v in raw.values())
    state, _ = load_checkpoint(small_model)
    assert all(torch.equal(raw[k], state[k]) for k in state)


def test_models_import_rename_delete(run_cli, tmp_path, no_builtin_model):
    from fmnist_desktop.core.models import build_model

    notebook = tmp_path / "fashion_mnist_cnn.pth"
    torch.save(build_model("seed_cnn").state_dict(), notebook)
    imported = run_cli("models", "--import", notebook)
    assert imported.code == 0 and "Imported notebook model" in imported.out
    [entry] = ModelLibrary().entries()
    renamed = run_cli("models", "--rename", entry.id, "Notebook v1", "--activate", entry.id)
    assert "* " + entry.id in renamed.out and "Notebook v1" in renamed.out
    assert run_cli("models", "--delete", entry.id).code == 0
    assert ModelLibrary().entries() == []


def test_unexpected_error_is_one_line_and_logged(run_cli, monkeypatch):
    def broken(args):
        raise ValueError("boom inside")

    monkeypatch.setitem(cli.COMMANDS, "models", cli.Command("models", "x", lambda p: None, broken))
    result = run_cli("models")
    assert result.code == 1
    line = _one_error_line(result.err)
    assert "unexpected ValueError: boom inside" in line and "see log file" in line
    log = paths.logs_dir() / "cli.log"
    assert "Traceback" in log.read_text() and "boom inside" in log.read_text()


def test_subprocess_damaged_model_shows_no_traceback(tmp_path):
    model = tmp_path / "damaged.pt"
    model.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    env = {**os.environ, "FMNIST_DESKTOP_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "fmnist_desktop.cli", "evaluate", "--weights", str(model)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    assert _one_error_line(proc.stderr) == "fmnist: error: damaged.pt is truncated or damaged (its archive is incomplete)."
    assert proc.stdout == ""


def test_usage_error_and_help_exit_codes(run_cli):
    assert run_cli("frobnicate").code == 2
    assert run_cli("--help").code == 0
    for name in ("train", "evaluate", "predict", "models", "export"):
        assert name in cli.COMMANDS


def test_a_failed_save_after_training_keeps_the_model_elsewhere(run_cli, small_data, tmp_path, monkeypatch, no_builtin_model):
    from fmnist_desktop.core.base.errors import SaveError
    from fmnist_desktop.core.store.library import ModelLibrary as Library

    def disk_full(self, model, meta):
        raise SaveError("Cannot write the library: the disk is full.")

    monkeypatch.setattr(Library, "add", disk_full)
    monkeypatch.chdir(tmp_path)
    result = run_cli("train", "--preset", "seed", "--epochs", "1", "--batch-size", "64", "--data", small_data,
                     "--val-size", "60", "--device", "cpu")
    assert result.code == 1
    line = _one_error_line(result.err.split("Testing")[-1].split("\n", 1)[-1])
    assert "the disk is full" in line and "saved instead to" in line
    [rescued] = tmp_path.glob("fmnist-unsaved-*.pt")
    assert load_checkpoint(rescued)[1].preset == "seed"


class _FakeStream:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_bar_redraws_on_a_terminal_and_stays_short_in_logs(monkeypatch):
    log = _FakeStream(tty=False)
    bar = cli.ProgressBar("Epoch 1/3", 1000, stream=log)
    for i in range(1, 1001):
        bar.update(i, "loss 0.5")
    bar.close()
    lines = log.text.splitlines()
    assert 4 <= len(lines) <= 5 and "\r" not in log.text
    assert lines[-1].startswith("Epoch 1/3 [") and "100% 1,000/1,000 loss 0.5" in lines[-1]

    term = _FakeStream(tty=True)
    clock = iter(range(10_000))
    monkeypatch.setattr(console.time, "monotonic", lambda: next(clock) * 1.0)
    bar = cli.ProgressBar("Testing", 10, stream=term)
    for i in range(1, 11):
        bar.update(i)
    assert term.text.count("\r") == 10 and "\n" not in term.text and "100% 10/10" in term.text
    bar.close()
    assert term.text.endswith("\r")



def test_train_init_refuses_a_damaged_or_foreign_model_before_reading_data(run_cli, tmp_path, small_data, small_model):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    result = run_cli("train", "--preset", "fast", "--epochs", "1", "--data", small_data,
                     "--init", junk, "--out", tmp_path / "m.pt")
    assert result.code == 2 and "junk.pt" in result.err and "Traceback" not in result.err
    assert "Data:" not in result.out  # refused before the data set was read
    result = run_cli("train", "--preset", "seed", "--epochs", "1", "--data", small_data,
                     "--init", small_model, "--out", tmp_path / "m.pt")
    assert result.code == 2 and "'bn_cnn_small'" in result.err and "seed" in result.err
    assert not (tmp_path / "m.pt").exists()


def test_train_init_fine_tunes_from_a_model(run_cli, tmp_path, small_data, small_model):
    result = run_cli("train", "--preset", "fast", "--epochs", "1", "--data", small_data, "--val-size", "50",
                     "--init", small_model, "--out", tmp_path / "tuned.pt")
    assert result.code == 0, result.err
    from fmnist_desktop.core.store.checkpoint import read_meta

    assert read_meta(tmp_path / "tuned.pt").training["init_checkpoint"] == str(small_model)


def test_predict_says_not_sure_by_the_models_own_threshold(run_cli, tmp_path):
    # The threshold stored in a model file decides "not sure" in both outputs.
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
    from fmnist_desktop.core.models import build_model

    rgb = np.full((64, 48, 3), 245, np.uint8)
    rgb[8:56, 10:38] = 60
    Image.fromarray(rgb).save(tmp_path / "shirt.png")
    for threshold, expected in ((0.999, "not sure"), (0.001, "sure")):
        model = save_checkpoint(tmp_path / f"m{threshold}.pt", build_model("bn_cnn_small"),
                                CheckpointMeta.for_preset("fast", "m", metrics={"not_sure_threshold": threshold}))
        table = run_cli("predict", "--weights", model, tmp_path / "shirt.png")
        assert table.code == 0 and table.out.splitlines()[0].split("\t")[3] == expected
        as_json = run_cli("predict", "--weights", model, "--json", tmp_path / "shirt.png")
        assert json.loads(as_json.out)[0]["not_sure"] is (expected == "not sure")


def test_train_with_photos_stores_the_calibrated_threshold(run_cli, tiny_idx_dir, tmp_path):
    from fmnist_desktop.core.store.checkpoint import read_meta

    rows = ["file,class,sender_id"]
    for sender in range(8):
        for i, (cls, box) in enumerate((("Trouser", [20, 4, 36, 60]), ("Bag", [8, 20, 56, 52]), ("none", [4, 28, 60, 36]))):
            rgb = np.full((64, 64, 3), 235, np.uint8)
            x0, y0, x1, y1 = box
            rgb[y0:y1, x0:x1] = 40 + 10 * sender
            (tmp_path / "p").mkdir(exist_ok=True)
            Image.fromarray(rgb).save(tmp_path / "p" / f"{sender}_{i}.png")
            rows.append(f"{sender}_{i}.png,{cls},{sender}")
    (tmp_path / "p" / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "model.pt"
    result = run_cli("train", "--preset", "fast", "--epochs", "1", "--data", tiny_idx_dir, "--val-size", "100",
                     "--photos", tmp_path / "p" / "labels.csv", "--out", out)
    assert result.code == 0, result.err
    assert "Photos:" in result.out and "Held-out photos:" in result.out
    metrics = read_meta(out).metrics
    assert 0.2 <= metrics["not_sure_threshold"] <= 0.95 and "held_out_photos" in metrics
    assert read_meta(out).training["photos"]["train"] > 0

    missing = run_cli("train", "--preset", "fast", "--photos", tmp_path / "nope.csv", "--data", tiny_idx_dir)
    assert missing.code == 2 and "--photos" in missing.assert_one_error_line("is not a file")


def test_help_lists_the_subcommands_in_their_usual_order():
    """The subcommands moved into one module per group; `fmnist --help` still lists them as before."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == ["train", "evaluate", "predict", "evaluate-photos", "models", "export", "serve", "tune"]
