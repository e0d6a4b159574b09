"""Hostile input to the model library (issue 12, hostile items 1, 2 and 7's library cases).

One bad file or index entry must never make the library unusable: it is set aside with one note
(the damaged-index path already did this for a damaged `library.json`), every other model is still
listed, and the built-in model always works — in `fmnist models`, `fmnist predict` without
`--weights`, saving a trained model, and the window. Index entries never reach outside the models
folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_checkpoint
from fmnist_desktop.core.store.library import INDEX_NAME, ModelLibrary
from fmnist_desktop.core.models import build_model

pytestmark = pytest.mark.timeout(120)

SAMPLE = paths.bundled_path("resources/samples")


def _user_model(seed_model_file: Path, name: str = "my-run.pt") -> Path:
    target = paths.models_dir() / name
    shutil.copyfile(seed_model_file, target)
    return target


def _sample_image() -> Path:
    return sorted(SAMPLE.glob("fashion-mnist_*.png"))[0]


def _deeply_nested_model(folder: Path, levels: int = 20_000) -> Path:
    """A valid model whose metadata nests `levels` lists deep (torch's weights-only unpickler
    reads it; every recursive reader after it overflowed the stack)."""
    import sys

    deep: list = []
    cur = deep
    for _ in range(levels):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    meta = CheckpointMeta.for_preset("seed", "deep").to_dict()
    meta["notes"] = deep
    path = folder / "deep.pt"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * levels))
    try:
        torch.save({"format": "fmnist-desktop", "format_version": 1,
                    "state_dict": build_model("seed_cnn").state_dict(), "meta": meta}, path)
    finally:
        sys.setrecursionlimit(limit)
    return path


def _notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("fmnist: note: ")]


# ------------------------------------------------------------------------------- item 1


def test_import_of_a_file_whose_name_is_not_utf8_works_and_leaves_no_stray_file(tmp_path, run_cli):
    source = Path(os.fsdecode(bytes(tmp_path) + b"/nb_\xff.pth"))
    torch.save(build_model("seed_cnn").state_dict(), source)  # the notebook's bare state_dict

    result = run_cli("models", "--import", source)

    assert result.code == 0, result
    assert "Traceback" not in result.err and "unexpected" not in result.err
    assert "Imported notebook model" in result.out
    [model] = list(paths.models_dir().glob("*.pt"))
    index = json.loads((paths.models_dir() / INDEX_NAME).read_text(encoding="utf-8"))
    assert [r["file"] for r in index["models"]] == [model.name]
    again = run_cli("models")
    assert again.code == 0 and model.stem in again.out and again.err == ""


def test_a_failed_index_write_during_import_removes_the_copied_model(tmp_path, monkeypatch, seed_model_file):
    library = ModelLibrary()

    def broken(index):
        raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(library, "_write_index", broken)
    with pytest.raises(UnicodeEncodeError):
        library.import_file(seed_model_file)
    assert list(paths.models_dir().glob("*.pt")) == [], "all or nothing: no stray file in models/"


@pytest.fixture
def deep_model() -> Path:
    return _deeply_nested_model(paths.models_dir())


def test_a_deeply_nested_model_file_is_set_aside_with_one_note_and_the_rest_works(deep_model, seed_model_file,
                                                                                    run_cli):
    good = _user_model(seed_model_file)

    listing = run_cli("models")
    assert listing.code == 0, listing
    assert "default" in listing.out and good.stem in listing.out and "deep" not in listing.out.split("(*")[0]
    [note] = _notes(listing.err)
    assert "deep.pt" in note and "nested more than 32 levels" in note
    assert deep_model.exists(), "the file itself is left alone"

    predicted = run_cli("predict", _sample_image())
    assert predicted.code == 0, predicted
    assert "\t" in predicted.out

    library = ModelLibrary()
    entry = library.add(build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "after a run"))
    assert entry.id in [e.id for e in library.entries()]
    assert library.active().builtin


def test_a_10_mb_index_of_brackets_is_set_aside_and_the_models_come_back(seed_model_file, run_cli):
    good = _user_model(seed_model_file)
    index = paths.models_dir() / INDEX_NAME
    index.write_bytes(b"[" * 10_000_000)

    result = run_cli("models")

    assert result.code == 0, result
    assert good.stem in result.out and "default" in result.out
    [note] = _notes(result.err)
    assert ".corrupt-" in note
    assert len(list(paths.models_dir().glob(f"{INDEX_NAME}.corrupt-*"))) == 1
    assert run_cli("predict", _sample_image()).code == 0


def test_one_unreadable_model_file_is_not_reported_again_and_again(deep_model):
    library = ModelLibrary()
    library.entries()
    library.entries()
    notes = library.take_notices()
    assert len(notes) == 1 and "deep.pt" in notes[0]
    assert ModelLibrary().take_notices() == [], "the same unchanged file is reported once per process"


def test_the_window_opens_on_the_builtin_model_despite_a_hostile_model_file(make_main_window, deep_model):
    window = make_main_window()
    active = window.context.active_entry()
    assert active is not None and active.builtin
    assert window.model_label.text().startswith("Model: ")
    title, message = window.context.last_error
    assert "Something went wrong" not in title and "deep.pt" in message


# ------------------------------------------------------------------------------- item 2


@pytest.mark.parametrize("where", ["relative", "absolute", "index_itself", "hidden_temp"])
def test_index_entries_pointing_outside_the_models_folder_are_refused(tmp_path, seed_model_file, run_cli, where):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    models = paths.models_dir()
    file = {
        "relative": os.path.relpath(victim, models),
        "absolute": str(victim),
        "index_itself": INDEX_NAME,
        "hidden_temp": ".victim.pt",
    }[where]
    if where == "hidden_temp":
        victim = models / ".victim.pt"
        victim.write_text("precious")
    hostile = json.dumps({"version": 1, "active": None, "models": [
        {"id": "victim", "file": file, "name": "victim", "meta": {}}]})
    (models / INDEX_NAME).write_text(hostile)
    library = ModelLibrary()
    assert [e.id for e in library.entries()] == ["default"]
    [note] = library.take_notices()
    assert "not a model file inside the models folder" in note and "no file was touched" in note

    (models / INDEX_NAME).write_text(hostile)
    result = run_cli("models", "--delete", "victim")

    assert result.code == 2
    assert "no model 'victim'" in result.err
    assert "fmnist: note: An entry of library.json pointed at" in result.err  # said even though the command failed
    assert victim.read_text() == "precious", "nothing outside the library is ever deleted"
    assert json.loads((models / INDEX_NAME).read_text())["models"] == []


# ------------------------------------------------------------------------------- item 7 (library)


@pytest.mark.parametrize("damage", [{"id": 5}, {"meta_input_size": "1e999"}, {"id": None, "name": 7},
                                    {"active": ["x"]}])
def test_index_entries_with_wrong_types_are_repaired_not_fatal(seed_model_file, run_cli, damage):
    good = _user_model(seed_model_file)
    ModelLibrary().entries()  # writes the index with the model's cached metadata
    index_path = paths.models_dir() / INDEX_NAME
    text = index_path.read_text()
    index = json.loads(text)
    record = index["models"][0]
    if "meta_input_size" in damage:
        record["meta"]["input_size"] = "@@BIG@@"
    for key in ("id", "name"):
        if key in damage:
            record[key] = damage[key]
    if "active" in damage:
        index["active"] = damage["active"]
    text = json.dumps(index).replace('"@@BIG@@"', "1e999")
    index_path.write_text(text)

    result = run_cli("models")

    assert result.code == 0, result
    assert good.stem in result.out and "Traceback" not in result.err
    entry = ModelLibrary().get(good.stem)
    assert entry.meta.input_size == 16
    assert run_cli("evaluate", "--weights", entry.path, "--data", "/nonexistent").code == 2  # loads, then no data


def test_load_checkpoint_reads_the_model_whose_cached_index_copy_is_damaged(seed_model_file):
    # control for the test above: the file itself is fine
    assert load_checkpoint(seed_model_file)[1].input_size == 16


def test_an_index_with_lone_surrogates_and_deep_cached_metadata_still_lists_the_model(seed_model_file, run_cli):
    good = _user_model(seed_model_file)
    ModelLibrary().entries()
    index_path = paths.models_dir() / INDEX_NAME
    index = json.loads(index_path.read_text())
    deep: list = []
    cur = deep
    for _ in range(200):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    index["models"][0]["meta"]["notes"] = deep
    index["models"][0]["name"] = "@@SURROGATE@@"
    index["active"] = good.stem
    index_path.write_text(json.dumps(index).replace("@@SURROGATE@@", "bad \\udcff name"))

    result = run_cli("models")

    assert result.code == 0, result
    assert good.stem in result.out and "Traceback" not in result.err
    library = ModelLibrary()
    assert library.active().id == good.stem
    assert library.get(good.stem).meta.extra.get("notes") is None, "the deep cached copy was replaced by the file's"
    library.set_active("default")  # the index can be written again
    json.loads(index_path.read_text())


def test_a_user_file_named_default_pt_does_not_shadow_the_builtin_model(seed_model_file, run_cli):
    _user_model(seed_model_file, "default.pt")
    index_path = paths.models_dir() / INDEX_NAME
    index_path.write_text(json.dumps({"version": 1, "active": "default", "models": [
        {"id": "default", "file": "default.pt", "name": "impostor", "meta": {}}]}))
    result = run_cli("models")
    assert result.code == 0, result
    assert "impostor" not in result.out and "Default model (shipped with the app)" in result.out
    [note] = _notes(result.err)
    assert "default.pt" in note and "built-in" in note
    library = ModelLibrary()
    assert library.active().builtin and [e.id for e in library.entries()] == ["default"]
    before = index_path.stat().st_mtime_ns
    library.entries()
    assert index_path.stat().st_mtime_ns == before, "the index is not rewritten on every read"
