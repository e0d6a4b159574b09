"""The model library: the built-in model first, add/rename/delete/active, a damaged index."""

from __future__ import annotations

import json

import pytest
import torch

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from fmnist_desktop.core.base.errors import CheckpointError, FmnistError
from fmnist_desktop.core.store.library import BUILTIN_ID, ModelLibrary
from fmnist_desktop.core.models import build_model


@pytest.fixture
def builtin(tmp_path, monkeypatch):
    path = tmp_path / "bundle" / "weights" / "default.pt"
    path.parent.mkdir(parents=True)
    save_checkpoint(path, build_model("bn_cnn_small"), CheckpointMeta.for_preset("fast", "shipped"))
    monkeypatch.setattr(paths, "default_weights_path", lambda: path)
    return path


def _meta(name):
    return CheckpointMeta.for_preset("fast", name, metrics={"test_accuracy": 90.5})


def test_builtin_first_then_added_models_and_active_choice(builtin):
    lib = ModelLibrary()
    assert [e.id for e in lib.entries()] == [BUILTIN_ID]
    assert lib.active().builtin and lib.active().path == builtin
    first = lib.add(build_model("bn_cnn_small"), _meta("Run one"))
    second = lib.add(build_model("bn_cnn_small"), _meta("Run one"))  # same name: new file
    assert first.path != second.path and first.path.parent == paths.models_dir()
    assert [e.name for e in lib.entries()] == [lib.builtin().name, "Run one", "Run one (2)"]  # told apart (issue 18)
    assert lib.entries()[1].test_accuracy == 90.5
    lib.set_active(second.id)
    assert ModelLibrary().active().id == second.id  # persisted
    with pytest.raises(FmnistError, match="no model 'nope'"):
        lib.set_active("nope")


def test_rename_is_kept_in_the_file_and_builtin_is_protected(builtin):
    lib = ModelLibrary()
    entry = lib.add(build_model("bn_cnn_small"), _meta("old name"))
    renamed = lib.rename(entry.id, "  Jackets   v2 ")
    assert renamed.name == "Jackets v2"
    assert load_checkpoint(entry.path)[1].name == "Jackets v2"
    with pytest.raises(FmnistError, match="built-in model cannot be renamed"):
        lib.rename(BUILTIN_ID, "x")
    with pytest.raises(FmnistError, match="built-in model cannot be deleted"):
        lib.delete(BUILTIN_ID)
    with pytest.raises(FmnistError, match="empty"):
        lib.rename(entry.id, "   ")
    assert builtin.exists()


def test_deleting_or_losing_the_active_model_falls_back_to_default(builtin):
    lib = ModelLibrary()
    a = lib.add(build_model("bn_cnn_small"), _meta("a"))
    b = lib.add(build_model("bn_cnn_small"), _meta("b"))
    lib.set_active(a.id)
    lib.delete(a.id)
    assert not a.path.exists()
    assert lib.active().builtin
    lib.set_active(b.id)
    b.path.unlink()  # gone behind the app's back
    assert lib.active().builtin
    assert [e.id for e in lib.entries()] == [BUILTIN_ID]


def test_corrupt_index_is_set_aside_and_rebuilt_from_the_files(builtin):
    lib = ModelLibrary()
    a = lib.add(build_model("bn_cnn_small"), _meta("kept a"))
    b = lib.add(build_model("bn_cnn_small"), _meta("kept b"))
    lib.index_path.write_text('{"models": [ {"file": ')  # half-written by some crash
    entries = ModelLibrary().entries()
    assert sorted(e.name for e in entries if not e.builtin) == ["kept a", "kept b"]
    assert {e.path for e in entries} == {builtin, a.path, b.path}
    aside = list(lib.folder.glob("library.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('{"models"')
    assert json.loads(lib.index_path.read_text())["models"]  # a good index again


def test_files_dropped_into_the_folder_are_listed_and_junk_ignored(builtin):
    lib = ModelLibrary()
    torch.save(build_model("seed_cnn").state_dict(), lib.folder / "notebook.pt")
    (lib.folder / "junk.pt").write_text("not a model")
    names = {e.id: e.name for e in lib.entries()}
    assert names == {BUILTIN_ID: lib.builtin().name, "notebook": "Imported notebook model"}
    assert (lib.folder / "junk.pt").exists()  # left alone


def test_import_copies_and_validates(builtin, tmp_path):
    lib = ModelLibrary()
    outside = tmp_path / "fashion_mnist_cnn.pth"
    torch.save(build_model("seed_cnn").state_dict(), outside)
    entry = lib.import_file(outside)
    assert entry.meta.preset == "seed" and entry.path.parent == lib.folder and outside.exists()
    bad = tmp_path / "bad.pt"
    bad.write_text("text")
    with pytest.raises(CheckpointError):
        lib.import_file(bad)
    assert len(lib.entries()) == 2


def test_without_any_model_active_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "default_weights_path", lambda: tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="Train one"):
        ModelLibrary().active()
