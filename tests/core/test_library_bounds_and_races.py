"""The model library under hostile sizes and concurrent processes (issue 27, items 4 and 5):
bounded names and metadata, an oversized index set aside once with the active model kept, and
read-modify-write of the index whole across real processes."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest
import torch

from fmnist_desktop.core.base.errors import CheckpointError, FmnistError
from fmnist_desktop.core.models import build_model
from fmnist_desktop.core.store import library as library_module
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
from fmnist_desktop.core.store.library import ModelLibrary


@pytest.fixture
def builtin(tmp_path, monkeypatch):
    from fmnist_desktop.core.base import paths

    path = save_checkpoint(tmp_path / "bundle" / "default.pt", build_model("bn_cnn_small"),
                           CheckpointMeta.for_preset("fast", "shipped"))
    monkeypatch.setattr(paths, "default_weights_path", lambda: path)
    return path


def _meta(name, **fields):
    return CheckpointMeta.for_preset("fast", name, metrics={"test_accuracy": 90.5}, **fields)


def test_a_17_mb_name_is_refused_in_one_line_and_never_reaches_the_index(builtin, tmp_path, run_cli):
    huge = tmp_path / "huge-name.pt"
    save_checkpoint(huge, build_model("bn_cnn_small"), _meta("A" * 17_000_000))
    result = run_cli("models", "--import", huge)
    result.assert_one_error_line("characters of text")
    # Dropped into the folder instead: not listed (one notice), and the index stays small.
    lib = ModelLibrary()
    os.link(huge, lib.folder / "dropped.pt")
    for _ in range(3):
        assert [e.builtin for e in ModelLibrary().entries()] == [True]
    assert not list(lib.folder.glob("library.json.corrupt-*"))
    assert not lib.index_path.exists() or lib.index_path.stat().st_size < 100_000


def test_names_typed_or_stored_are_bounded(builtin):
    lib = ModelLibrary()
    entry = lib.add(build_model("bn_cnn_small"), _meta("B" * 5000))
    assert len(entry.name) == library_module.MAX_NAME_CHARS and entry.name.endswith("…")
    with pytest.raises(FmnistError, match="at most 200 characters"):
        lib.rename(entry.id, "C" * 201)
    with pytest.raises(CheckpointError):  # more text than a description holds
        lib.import_file(save_checkpoint(lib.folder.parent / "x.pt", build_model("bn_cnn_small"),
                                        _meta("x", training={"note": "D" * 1_100_000})))


def test_an_index_too_large_is_set_aside_once_and_the_active_model_is_kept(builtin, monkeypatch):
    limit = 200_000
    for module in ("fmnist_desktop.core.store.library_index", "fmnist_desktop.core.store.library"):
        try:
            monkeypatch.setattr(f"{module}.MAX_INDEX_BYTES", limit)
        except (ImportError, AttributeError):
            pass  # the limit lives in one of them
    lib = ModelLibrary()
    chosen = lib.add(build_model("bn_cnn_small"), _meta("chosen"))
    lib.set_active(chosen.id)
    # A model whose description is legal but large: its cached copy would take the index past
    # the limit, which set the index aside again at every later command.
    lib.add(build_model("bn_cnn_small"), _meta("wordy", training={"note": "w" * (limit + 10)}))
    for _ in range(4):
        later = ModelLibrary()
        assert later.active().id == chosen.id
    assert len(list(lib.folder.glob("library.json.corrupt-*"))) == 0
    # An index that is too large from outside: set aside once, the active choice read back.
    text = json.dumps({"version": 1, "active": chosen.id, "models": []})[:-1] + ', "pad": "' + "p" * limit + '"}'
    lib.index_path.write_text(text)
    for _ in range(4):
        later = ModelLibrary()
        assert later.active().id == chosen.id
    assert len(list(lib.folder.glob("library.json.corrupt-*"))) == 1
    assert lib.index_path.stat().st_size < limit


def test_library_json_never_holds_nan(builtin):
    lib = ModelLibrary()
    lib.add(build_model("bn_cnn_small"), _meta("nan metrics", history=[{"epoch": 1, "val_loss": float("nan")}]))
    text = lib.index_path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in library.json"))


# ----------------------------------------------------------------------------- real processes

ROUNDS = 5


def _activate_after(barrier, model_id):
    barrier.wait(timeout=30)
    ModelLibrary().set_active(model_id)


def _import_after(barrier, source, name):
    torch.set_num_threads(1)  # a forked child must not enter the parent's OpenMP pool (it hangs)
    barrier.wait(timeout=30)
    ModelLibrary().import_file(source, name=name)


def _run_together(target, arg_lists):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(arg_lists))
    procs = [ctx.Process(target=target, args=(barrier, *args)) for args in arg_lists]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0, f"a process failed ({p.exitcode})"


def test_two_processes_activating_at_once_both_stay_active(builtin, photo_model_file):
    lib = ModelLibrary()
    networks = [lib.add(build_model("bn_cnn_small"), _meta(f"net {i}")).id for i in range(2)]
    photos = [lib.import_file(photo_model_file, name=f"photo {i}").id for i in range(2)]
    lost = 0
    for round_ in range(ROUNDS):
        net_id, photo_id = networks[round_ % 2], photos[round_ % 2]
        _run_together(_activate_after, [(net_id,), (photo_id,)])
        after = ModelLibrary()
        lost += (after.active("fmnist").id != net_id) + (after.active("photo").id != photo_id)
    assert lost == 0, f"{lost} activations lost in {ROUNDS} rounds"


def test_three_imports_of_one_name_at_once_get_three_files_and_three_names(builtin, small_model):
    for round_ in range(3):
        _run_together(_import_after, [(small_model, "Twin", ) for _ in range(3)])
        listed = [e for e in ModelLibrary().entries() if not e.builtin]
        assert len(listed) == 3 * (round_ + 1) and len({e.path for e in listed}) == len(listed)  # none overwritten
        assert len({e.name for e in listed}) == len(listed), sorted(e.name for e in listed)
