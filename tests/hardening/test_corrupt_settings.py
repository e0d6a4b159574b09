"""Damaged settings and history: the QSettings file, the model library's index (`library.json`,
which also caches every run's metadata and history), index entries whose model file has gone,
and run histories that are garbage inside a model file.

Start-up must never fail over them: a damaged file is set aside (renamed `*.corrupt-<time>`, its
bytes kept for a bug report), the user is told once, defaults are used, and everything that can
be recovered (the models themselves) is.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from fmnist_desktop.core import paths
from fmnist_desktop.core.checkpoint import load_checkpoint
from fmnist_desktop.core.library import INDEX_NAME, ModelLibrary

pytestmark = pytest.mark.timeout(120)

GARBAGE = bytes(range(256)) * 3 + b"\x00\x00\xff\xfe"


def _start(make_main_window):
    """A started window, with every error or notice it showed (title, message)."""
    window = make_main_window()
    shown = []
    if window.context.last_error is not None:
        shown.append(window.context.last_error)
    window.context.errorShown.connect(lambda title, message: shown.append((title, message)))
    return window, shown


def _settings_file(isolated_settings: Path) -> Path:
    """Where the app keeps its settings in this test (inside `isolated_settings`)."""
    from fmnist_desktop.ui.context import make_settings

    path = Path(make_settings().fileName())
    assert isolated_settings in path.parents
    return path


def _user_model(seed_model_file: Path, name: str = "my-run.pt") -> Path:
    target = paths.models_dir() / name
    shutil.copyfile(seed_model_file, target)
    return target


def _set_aside(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{name}.corrupt-*"))


# ---------------------------------------------------------------------------------- QSettings


@pytest.mark.parametrize("content", [
    GARBAGE,
    b"[window]\npage=train\ngeometry=@ByteArray(\x01\xd9\xd0\xcb\x00\x03\x00\x00",  # cut mid-write
    b"[General\nthis is not = an ini file\n\x00\x00\x00",
    "[window]\npage=train\n\u00e9t\u00e9 \u2603 garbage without equals sign\n".encode("utf-16"),
])
def test_damaged_settings_file_is_set_aside_and_defaults_are_used(make_main_window, qtbot, isolated_settings,
                                                                 content):
    settings_file = _settings_file(isolated_settings)
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_bytes(content)

    window, _ = _start(make_main_window)

    aside = _set_aside(settings_file.parent, settings_file.name)
    assert len(aside) == 1 and aside[0].read_bytes() == content, "the damaged file is kept, renamed"
    title, message = window.context.last_error
    assert "settings" in message.lower() and aside[0].name in message and "\n" not in message
    assert window.current_page_key() == "predict", "default page, not whatever the garbage said"
    from fmnist_desktop.ui.predict_page import DEFAULT_THRESHOLD_PERCENT

    assert window.pages["predict"].threshold_spin.value() == DEFAULT_THRESHOLD_PERCENT

    # The next start is clean: the settings written on close are readable and nothing is set aside.
    window.show_page("evaluate")
    window.close()
    second, shown = _start(make_main_window)
    assert second.current_page_key() == "evaluate"
    assert len(_set_aside(settings_file.parent, settings_file.name)) == 1
    assert not [s for s in shown if "settings" in s[1].lower()]


def test_settings_with_nonsense_values_fall_back_to_defaults_one_by_one(make_main_window, isolated_settings):
    from fmnist_desktop.ui.predict_page import DEFAULT_THRESHOLD_PERCENT

    settings_file = _settings_file(isolated_settings)
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(
        "[window]\ngeometry=not-a-geometry\npage=settings-page-from-the-future\n"
        "[predict]\nthreshold_percent=lots\nlast_dir=@Invalid()\n"
        "[train]\nlastRun={\"preset\": \"no-such-preset\", \"epochs\": \"many\"}\nform=[1, 2, 3]\n"
        "dataFolder=/nonexistent/folder\n"
        "[models]\nlast_dir=42\n"
    )
    window, _ = _start(make_main_window)
    assert window.isVisible() and window.current_page_key() == "predict"
    assert window.pages["predict"].threshold_spin.value() == DEFAULT_THRESHOLD_PERCENT
    train = window.pages["train"]
    window.show_page("train")
    assert not train.retrain()  # no usable last run: says so instead of failing
    assert "no previous run" in train.banner.text()
    assert _set_aside(settings_file.parent, settings_file.name) == [], "readable files are not set aside"


# ---------------------------------------------------------------------------------- library index


@pytest.mark.parametrize("content", [
    b'{"version": 1, "active": "my-run", "models": [{"id": "my-run", "file": "my-run.pt", "na',  # truncated
    GARBAGE,
    b'["a list, not the index"]',
    b'{"version": 1, "models": "not a list"}',
    b'{"version": 1, "models": [{"id": 7, "file": ["x"]}]}',
    b"",
])
def test_damaged_library_index_is_set_aside_rebuilt_and_reported(make_main_window, seed_model_file, content):
    model = _user_model(seed_model_file)
    index = paths.models_dir() / INDEX_NAME
    index.write_bytes(content)

    window, _ = _start(make_main_window)

    aside = _set_aside(index.parent, INDEX_NAME)
    assert len(aside) == 1 and aside[0].read_bytes() == content
    title, message = window.context.last_error
    assert INDEX_NAME in message and aside[0].name in message and "\n" not in message
    ids = [e.id for e in window.context.library().entries()]
    assert model.stem in ids, "the models themselves are recovered from their files"
    json.loads(index.read_text())  # a fresh, valid index was written
    assert window.model_label.text().startswith("Model: ")


def test_cli_models_lists_the_recovered_library_and_notes_the_repair(seed_model_file, run_cli):
    model = _user_model(seed_model_file)
    (paths.models_dir() / INDEX_NAME).write_bytes(GARBAGE)
    result = run_cli("models")
    assert result.code == 0 and model.stem in result.out
    notes = [line for line in result.err.splitlines() if line.strip()]
    assert len(notes) == 1 and notes[0].startswith("fmnist: note: ") and ".corrupt-" in notes[0], result.err
    assert "Traceback" not in result.err


def test_index_entry_whose_file_is_gone_is_dropped_and_the_default_becomes_active(make_main_window,
                                                                                  seed_model_file):
    model = _user_model(seed_model_file, "vanishing.pt")
    library = ModelLibrary()
    library.set_active(model.stem)
    model.unlink()  # deleted behind the app's back (file manager, another disk, a sync tool)

    window, _ = _start(make_main_window)

    entries = window.context.library().entries()
    assert model.stem not in [e.id for e in entries]
    active = window.context.active_entry()
    assert active is not None and active.builtin, "the shipped default model takes over"
    title, message = window.context.last_error
    assert "vanishing.pt" in message and "\n" not in message
    assert window.model_label.text().startswith("Model: ")


@pytest.mark.parametrize("garbage_field", ["history", "metrics", "training", "class_names_type"])
def test_garbage_metadata_cached_in_the_index_is_reread_from_the_model_file(make_main_window, seed_model_file,
                                                                           garbage_field):
    model = _user_model(seed_model_file)
    library = ModelLibrary()
    library.set_active(model.stem)
    index_path = paths.models_dir() / INDEX_NAME
    index = json.loads(index_path.read_text())
    record = next(r for r in index["models"] if r["file"] == model.name)
    if garbage_field == "class_names_type":
        record["meta"]["class_names"] = 12345
    else:
        record["meta"][garbage_field] = {"history": 17, "metrics": "\x00\x01binary", "training": [1, 2]}[garbage_field]
    index_path.write_text(json.dumps(index))

    window, _ = _start(make_main_window)
    active = window.context.active_entry()
    assert active.id == model.stem
    assert window.model_label.text().startswith("Model: Hardening seed model")
    window.show_page("models")
    assert window.pages["models"].select_entry(model.stem)


@pytest.mark.parametrize("history", [17, "\x00garbage", [1, 2, 3], [{"epoch": "x"}], {"not": "a list"}])
def test_garbage_history_inside_a_model_file_keeps_the_model_usable(make_main_window, seed_model_file, tmp_path,
                                                                   history):
    state, meta = load_checkpoint(seed_model_file)
    payload = torch.load(seed_model_file, weights_only=True)
    payload["meta"]["history"] = history
    target = paths.models_dir() / "odd-history.pt"
    torch.save(payload, target)

    state2, meta2 = load_checkpoint(target)  # the weights are fine: the model loads
    assert all(torch.equal(state[k], state2[k]) for k in state)
    assert all(isinstance(epoch, dict) for epoch in meta2.history)

    window, _ = _start(make_main_window)
    assert "odd-history" in [e.id for e in window.context.library().entries()]
    window.show_page("models")
    page = window.pages["models"]
    assert page.select_entry("odd-history")
    assert "odd-history" not in (window.context.last_error or ("", ""))[1]
    assert page.history_label.text()  # says "no recorded history" or "cannot be shown", never crashes
