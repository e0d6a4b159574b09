"""Hostile model files: pickles that would run code, other networks, the wrong number of classes,
damaged or foreign files, a newer format. Through the core, `fmnist evaluate/predict/models
--import`, the model library and File ▸ Open model… in the window.

Each must be refused with one sentence, never execute anything (the payloads below would create
a marker file), and leave no trace: the library, the active model and the status bar stay as
they were. tests/core/test_checkpoint.py checks the core messages one by one; this file checks
that every way in gives the same outcome.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from fmnist_desktop.core.store.checkpoint import (
    FORMAT_VERSION,
    CheckpointMeta,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from fmnist_desktop.core.base.errors import CheckpointError
from fmnist_desktop.core.models import build_model


class CreatesFile:
    """Unpickling this calls open(marker, "w"): proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class RunsCode:
    """Unpickling this calls exec() on source that creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _valid(tmp: Path) -> dict:
    path = save_checkpoint(tmp / "valid-source.pt", build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "valid"))
    return torch.load(path, weights_only=True)


# kind → words the user must read
KINDS = {
    "pickle_open_in_torch_zip": "refusing to execute code",
    "pickle_exec_bare": "refusing to execute code",
    "pickle_exec_as_weights": "refusing to execute code",
    "wrong_architecture": "does not fit the 'bn_cnn_small' network",
    "eleven_classes": "classifies 11 classes",
    "bare_eleven_classes": "classifies 11 classes",
    "truncated": "truncated or damaged",
    "zip_not_torch": "zip archive of something else, not a PyTorch model file",
    "newer_format": "Update the app",
    "empty": "is empty",
    "folder": "is a folder, not a model file",
    "random_bytes": "not a PyTorch model file",
}


def hostile_checkpoint(tmp: Path, kind: str, marker: Path) -> Path:
    """Write the `kind` of bad model file under `tmp`; the code-running ones aim at `marker`."""
    path = tmp / f"{kind}.pt"
    valid = _valid(tmp)
    if kind == "pickle_open_in_torch_zip":
        torch.save({**valid, "state_dict": CreatesFile(marker)}, path)
    elif kind == "pickle_exec_bare":
        path.write_bytes(pickle.dumps({"conv1.weight": RunsCode(marker)}))
    elif kind == "pickle_exec_as_weights":  # the payload hides among real tensors in torch's zip
        torch.save({**valid["state_dict"], "fc2.bias": RunsCode(marker)}, path)
    elif kind == "wrong_architecture":
        meta = CheckpointMeta.for_preset("fast", "mislabelled").to_dict()
        torch.save({**valid, "meta": meta}, path)  # says bn_cnn_small, holds seed_cnn weights
    elif kind == "eleven_classes":
        state = dict(valid["state_dict"])
        state["fc2.weight"], state["fc2.bias"] = torch.zeros(11, 128), torch.zeros(11)
        torch.save({**valid, "state_dict": state}, path)
    elif kind == "bare_eleven_classes":
        state = build_model("seed_cnn").state_dict()
        state["fc2.weight"], state["fc2.bias"] = torch.zeros(11, 128), torch.zeros(11)
        torch.save(state, path)
    elif kind == "truncated":
        blob = (tmp / "valid-source.pt").read_bytes()
        path.write_bytes(blob[: int(len(blob) * 0.6)])
    elif kind == "zip_not_torch":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("model/weights.txt", "1 2 3")
    elif kind == "newer_format":
        torch.save({**valid, "format_version": FORMAT_VERSION + 1}, path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    elif kind == "random_bytes":
        path.write_bytes(bytes(range(256)) * 40)
    else:
        raise ValueError(kind)
    assert not marker.exists()
    return path


def assert_refusal(message: str, kind: str) -> None:
    assert KINDS[kind] in message, message
    assert "\n" not in message and "Traceback" not in message and len(message) < 300, message


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "CODE-RAN"


# ---------------------------------------------------------------------------------- core


@pytest.mark.parametrize("kind", ["pickle_open_in_torch_zip", "pickle_exec_bare", "pickle_exec_as_weights"])
def test_the_payloads_are_live_so_the_refusals_below_prove_something(tmp_path, marker, kind):
    path = hostile_checkpoint(tmp_path, kind, marker)
    if kind == "pickle_exec_bare":
        pickle.loads(path.read_bytes())  # what an unguarded loader would do
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_core_refuses_with_one_sentence_and_runs_nothing(tmp_path, marker, kind):
    path = hostile_checkpoint(tmp_path, kind, marker)
    for load in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError) as info:
            load(path)
        assert_refusal(str(info.value), kind)
    assert not marker.exists(), "unpickling ran code from the file"


def test_library_ignores_hostile_files_dropped_into_its_folder(tmp_path, marker):
    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.store.library import ModelLibrary

    library = ModelLibrary()
    before = [(e.id, e.name) for e in library.entries()]
    for kind in KINDS:
        if kind != "folder":
            hostile_checkpoint(tmp_path, kind, marker).rename(paths.models_dir() / f"{kind}.pt")
    assert [(e.id, e.name) for e in library.entries()] == before
    assert not marker.exists()
    if before:
        assert library.active().id == before[0][0]


# ---------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fmnist_evaluate_predict_and_import_refuse_with_one_line(tmp_path, marker, run_cli, kind):
    from fmnist_desktop.core.store.library import ModelLibrary

    path = hostile_checkpoint(tmp_path, kind, marker)
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (40, 60), "white").save(photo)
    library_before = [e.id for e in ModelLibrary().entries()]
    for argv in (
        ("evaluate", "--weights", path, "--device", "cpu"),  # refused before any data is looked for
        ("predict", "--weights", path, photo),
        ("models", "--import", path),
    ):
        result = run_cli(*argv)
        line = result.assert_one_error_line()
        assert result.code == 2, (argv, result)
        assert_refusal(line, kind)
        assert result.out == "", argv
    assert [e.id for e in ModelLibrary().entries()] == library_before, "nothing was imported"
    assert not marker.exists()


# ---------------------------------------------------------------------------------- GUI


# Three windows are enough here: every kind takes the same path (a worker calls
# library.import_file, whose refusals the core and CLI tests above cover one by one).
@pytest.mark.parametrize("kind", ["pickle_exec_as_weights", "eleven_classes", "newer_format"])
def test_file_open_model_refuses_and_keeps_the_active_model(make_main_window, qtbot, monkeypatch, tmp_path,
                                                            marker, kind):
    from PySide6.QtWidgets import QFileDialog

    window = make_main_window()
    context = window.context
    path = hostile_checkpoint(tmp_path, kind, marker)
    active_before = context.active_entry()
    label_before = window.model_label.text()
    entries_before = [e.id for e in context.library().entries()]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), ""))

    assert window.open_action.isEnabled()
    with qtbot.waitSignal(context.errorShown, timeout=30_000) as shown:
        window.open_action.trigger()  # File ▸ Open model…
    title, message = shown.args
    assert_refusal(message, kind)
    page = window.pages["models"]
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    assert message in page.banner.text()
    assert context.active_entry() == active_before
    assert window.model_label.text() == label_before, "the status bar still names the previous model"
    assert [e.id for e in context.library().entries()] == entries_before
    assert not marker.exists()
