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

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.base.verdict import shown_percent
from fmnist_desktop.core.store.checkpoint import load_checkpoint
from fmnist_desktop.core.store.library import INDEX_NAME, ModelLibrary

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


SETTINGS_DAMAGE = {
    "binary": GARBAGE,
    "cut_mid_write": b"[window]\npage=train\ngeometry=@ByteArray(\x01\xd9\xd0\xcb\x00\x03\x00\x00",
    "not_ini": b"[General\nthis is not = an ini file\n\x00\x00\x00",
    "utf16": "[window]\npage=train\n\u00e9t\u00e9 \u2603 garbage without equals sign\n".encode("utf-16"),
}


@pytest.mark.parametrize("kind", sorted(SETTINGS_DAMAGE))
def test_damaged_settings_file_is_set_aside_and_reported(qapp, isolated_settings, kind):
    from fmnist_desktop.ui.context import open_settings

    content = SETTINGS_DAMAGE[kind]
    settings_file = _settings_file(isolated_settings)
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_bytes(content)
    settings, notice = open_settings()
    aside = _set_aside(settings_file.parent, settings_file.name)
    assert len(aside) == 1 and aside[0].read_bytes() == content, "the damaged file is kept, renamed"
    assert notice and "settings" in notice.lower() and aside[0].name in notice and "\n" not in notice
    assert settings.allKeys() == [], "defaults: nothing read from the damaged file"


def test_readable_settings_are_left_alone(qapp, isolated_settings):
    from fmnist_desktop.ui.context import make_settings, open_settings

    written = make_settings()
    written.setValue("window/page", "train")
    written.sync()
    del written
    settings_file = _settings_file(isolated_settings)
    settings_file.write_text("\ufeff; a comment a user added\n" + settings_file.read_text())
    settings, notice = open_settings()
    assert notice is None and settings.value("window/page") == "train"
    assert _set_aside(settings_file.parent, settings_file.name) == []


@pytest.mark.parametrize("kind", ["binary", "not_ini"])
def test_window_opens_with_defaults_over_a_damaged_settings_file(make_main_window, isolated_settings, kind):
    settings_file = _settings_file(isolated_settings)
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_bytes(SETTINGS_DAMAGE[kind])

    window, _ = _start(make_main_window)

    [aside] = _set_aside(settings_file.parent, settings_file.name)
    title, message = window.context.last_error  # the one-time message box
    assert title == "Settings reset" and aside.name in message
    assert aside.name in window.status_label.text()
    assert window.current_page_key() == "predict", "default page, not whatever the garbage said"
    # the spin box shows the active model's own "not sure" threshold, not a stored setting
    predict = window.pages["predict"]
    assert not predict.is_threshold_overridden()
    assert predict.threshold_spin.value() == pytest.approx(shown_percent(predict.model_threshold()))  # issue 18.8
    if kind == "binary":
        # The next start is clean: the settings written on close are readable, nothing set aside.
        window.show_page("evaluate")
        window.close()
        second, shown = _start(make_main_window)
        assert second.current_page_key() == "evaluate"
        assert len(_set_aside(settings_file.parent, settings_file.name)) == 1
        assert not [s for s in shown if "settings" in s[1].lower()]


def test_settings_with_nonsense_values_fall_back_to_defaults_one_by_one(make_main_window, isolated_settings):
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
    # the spin box shows the active model's own "not sure" threshold, not a stored setting
    predict = window.pages["predict"]
    assert not predict.is_threshold_overridden()
    assert predict.threshold_spin.value() == pytest.approx(shown_percent(predict.model_threshold()))  # issue 18.8
    train = window.pages["train"]
    window.show_page("train")
    assert not train.retrain()  # no usable last run: says so instead of failing
    assert "no previous run" in train.banner.text()
    assert _set_aside(settings_file.parent, settings_file.name) == [], "readable files are not set aside"


# ---------------------------------------------------------------------------------- library index


INDEX_DAMAGE = {
    "truncated": b'{"version": 1, "active": "my-run", "models": [{"id": "my-run", "file": "my-run.pt", "na',
    "binary": GARBAGE,
    "a_list": b'["a list, not the index"]',
    "models_not_a_list": b'{"version": 1, "models": "not a list"}',
    "bad_record": b'{"version": 1, "models": [{"id": 7, "file": ["x"]}]}',
    "empty": b"",
}


@pytest.mark.parametrize("kind", sorted(INDEX_DAMAGE))
def test_damaged_library_index_is_set_aside_rebuilt_and_reported(seed_model_file, kind):
    model = _user_model(seed_model_file)
    index = paths.models_dir() / INDEX_NAME
    index.write_bytes(INDEX_DAMAGE[kind])
    library = ModelLibrary()
    assert model.stem in [e.id for e in library.entries()], "the models are recovered from their files"
    [aside] = _set_aside(index.parent, INDEX_NAME)
    assert aside.read_bytes() == INDEX_DAMAGE[kind]
    [notice] = library.take_notices()
    assert INDEX_NAME in notice and aside.name in notice and "\n" not in notice
    json.loads(index.read_text())  # a fresh, valid index was written
    assert library.take_notices() == [] and ModelLibrary().take_notices() == [], "reported once"


def test_window_opens_over_a_damaged_library_index_and_says_so(make_main_window, seed_model_file):
    model = _user_model(seed_model_file)
    (paths.models_dir() / INDEX_NAME).write_bytes(GARBAGE)

    window, _ = _start(make_main_window)

    [aside] = _set_aside(paths.models_dir(), INDEX_NAME)
    title, message = window.context.last_error
    assert title == "Model library repaired" and aside.name in message
    assert model.stem in [e.id for e in window.context.library().entries()]
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


def _cache_garbage_in_index(model: Path, field: str) -> None:
    index_path = paths.models_dir() / INDEX_NAME
    index = json.loads(index_path.read_text())
    record = next(r for r in index["models"] if r["file"] == model.name)
    record["meta"][field] = {"history": 17, "metrics": "\x00\x01binary", "training": [1, 2],
                             "class_names": 12345}[field]
    index_path.write_text(json.dumps(index))


@pytest.mark.parametrize("field", ["history", "metrics", "training", "class_names"])
def test_garbage_metadata_cached_in_the_index_is_dropped_or_reread(seed_model_file, field):
    model = _user_model(seed_model_file)
    ModelLibrary().set_active(model.stem)
    _cache_garbage_in_index(model, field)
    entry = ModelLibrary().active()
    assert entry.id == model.stem and entry.name == "Untrained seed"
    assert isinstance(entry.meta.history, list) and isinstance(entry.meta.metrics, dict)
    assert isinstance(entry.meta.training, dict) and len(entry.meta.class_names) == 10
    assert entry.test_accuracy in (None, 10.0)


def test_garbage_metrics_in_the_index_do_not_break_the_status_bar(make_main_window, seed_model_file):
    # Before the fix, metrics cached as a string raised AttributeError in the status bar's slot:
    # the label stayed "Loading model engine…" for good.
    model = _user_model(seed_model_file)
    ModelLibrary().set_active(model.stem)
    _cache_garbage_in_index(model, "metrics")

    window, _ = _start(make_main_window)
    assert window.context.active_entry().id == model.stem
    assert window.model_label.text().startswith("Model: Untrained seed")
    window.show_page("models")
    assert window.pages["models"].select_entry(model.stem)


def _model_with_history(seed_model_file: Path, history) -> Path:
    payload = torch.load(seed_model_file, weights_only=True)
    payload["meta"]["history"] = history
    target = paths.models_dir() / "odd-history.pt"
    torch.save(payload, target)
    return target


@pytest.mark.parametrize("history", [17, "\x00garbage", [1, 2, 3], [{"epoch": "x"}], {"not": "a list"}])
def test_garbage_history_inside_a_model_file_keeps_the_model_usable(seed_model_file, history):
    state, _ = load_checkpoint(seed_model_file)
    target = _model_with_history(seed_model_file, history)
    state2, meta2 = load_checkpoint(target)  # the weights are fine: the model loads
    assert all(torch.equal(state[k], state2[k]) for k in state)
    assert isinstance(meta2.history, list) and all(isinstance(epoch, dict) for epoch in meta2.history)
    assert "odd-history" in [e.id for e in ModelLibrary().entries()]


@pytest.mark.parametrize("history", [17, [{"epoch": "x"}]])
def test_models_page_shows_a_model_with_garbage_history(make_main_window, seed_model_file, history):
    _model_with_history(seed_model_file, history)
    window, _ = _start(make_main_window)
    window.show_page("models")
    page = window.pages["models"]
    assert page.select_entry("odd-history")
    label = page.history_label.text()
    assert "no recorded training history" in label or "cannot be shown" in label, label
