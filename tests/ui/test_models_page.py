"""Models page: list, make active (status bar follows), rename, delete with confirmation,
export, and opening damaged/foreign model files."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

pytestmark = pytest.mark.timeout(180)


def _models_page(window):
    window.show_page("models")
    return window.pages["models"]


def _add_model(window, model_file, name, history=None):
    """Add a copy of `model_file` under another name (optionally with a training history)."""
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

    state, meta = load_checkpoint(model_file)
    meta.name = name
    if history is not None:
        meta.history = history
    target = model_file.parent / f"{name.replace(' ', '_')}.pt"
    save_checkpoint(target, state, meta)
    entry = window.context.library().import_file(target)
    window.context.refresh_models()
    return entry


def _table_names(page):
    from fmnist_desktop.ui.pages.models import ENTRY_ROLE

    return [page.model.item(r, 0).data(ENTRY_ROLE).name for r in range(page.model.rowCount())]


def test_table_lists_every_library_entry(window_with_model):
    page = _models_page(window_with_model)
    entries = window_with_model.context.library().entries()
    assert _table_names(page) == [e.name for e in entries]
    active = window_with_model.context.active_entry()
    row = _table_names(page).index(active.name)
    assert page.model.item(row, 0).text().startswith("● ")  # the active model is marked
    from fmnist_desktop.ui.pages.models import COL_ACC, COL_KIND

    assert page.model.item(row, COL_ACC).text() == "10.00%"  # test accuracy from the checkpoint
    assert page.model.item(row, COL_KIND).text() == "28×28 network"


def test_make_active_updates_status_bar(window_with_model, seed_model_file, qtbot):
    window = window_with_model
    page = _models_page(window)
    other = _add_model(window, seed_model_file, "Second model")
    assert page.select_entry(other.id)
    assert page.activate_button.isEnabled()
    with qtbot.waitSignal(window.context.activeModelChanged, timeout=5000):
        qtbot.mouseClick(page.activate_button, __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton)
    assert window.context.active_entry().id == other.id
    assert "Second model" in window.model_label.text()
    assert "test 10.0%" in window.model_label.text()
    assert not page.activate_button.isEnabled()  # it is already the active one


def test_rename_changes_table_and_status_bar(window_with_model, monkeypatch):
    window = window_with_model
    page = _models_page(window)
    active = window.context.active_entry()
    page.select_entry(active.id)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Sunday shirts", True))
    page.rename_button.click()
    assert "Sunday shirts" in _table_names(page)
    assert "Sunday shirts" in window.model_label.text()
    assert [e.name for e in window.context.library().entries() if e.id == active.id] == ["Sunday shirts"]


def test_delete_asks_first_and_only_deletes_on_yes(window_with_model, seed_model_file, monkeypatch):
    window = window_with_model
    page = _models_page(window)
    doomed = _add_model(window, seed_model_file, "Doomed")
    page.select_entry(doomed.id)
    questions = []

    def answer(value):
        def ask(*args, **kwargs):
            questions.append(args[2])
            return value
        return ask

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    page.delete_button.click()
    assert "Doomed" in _table_names(page)
    assert "Doomed" in questions[0]

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    page.delete_button.click()
    assert "Doomed" not in _table_names(page)
    assert all(e.id != doomed.id for e in window.context.library().entries())


def test_builtin_default_cannot_be_deleted_or_renamed(window_with_model):
    page = _models_page(window_with_model)
    builtin = [e for e in window_with_model.context.library().entries() if e.builtin]
    if not builtin:
        pytest.skip("no builtin default model in this checkout")
    page.select_entry(builtin[0].id)
    assert not page.delete_button.isEnabled()
    assert not page.rename_button.isEnabled()
    assert page.export_button.isEnabled()


@pytest.mark.parametrize("content", [b"not a model at all", b"PK\x03\x04garbage"])
def test_opening_a_damaged_file_shows_one_line_and_keeps_library(window_with_model, tmp_path, qtbot, content):
    window = window_with_model
    page = _models_page(window)
    before = _table_names(page)
    bad = tmp_path / "broken.pt"
    bad.write_bytes(content)
    with qtbot.waitSignal(window.context.errorShown, timeout=30_000) as shown:
        page.import_model(bad)
    title, message = shown.args
    assert "\n" not in message and "Traceback" not in message
    assert page.banner.text() == message
    qtbot.waitUntil(lambda: not page.is_busy())
    assert _table_names(page) == before


def test_export_writes_a_loadable_checkpoint(window_with_model, tmp_path, qtbot):
    from fmnist_desktop.core.store.checkpoint import load_checkpoint

    window = window_with_model
    page = _models_page(window)
    entry = window.context.active_entry()
    target = tmp_path / "out" / "exported.pt"
    with qtbot.waitSignal(page.modelExported, timeout=30_000):
        page.export_entry(entry, target)
    _state, meta = load_checkpoint(target)
    assert meta.name == entry.name


def test_history_of_selected_run_is_charted(window_with_model, seed_model_file):
    window = window_with_model
    page = _models_page(window)
    history = [
        {"epoch": i, "epochs": 3, "train_loss": 1.0 / i, "val_loss": 1.1 / i, "train_acc": 80 + i,
         "val_acc": 79 + i, "epoch_time_s": 1.0, "lr": 0.01}
        for i in (1, 2, 3)
    ]
    entry = _add_model(window, seed_model_file, "With history", history=history)
    page.select_entry(entry.id)
    assert page.chart is not None
    assert page.chart.epochs == [1, 2, 3]
    assert page.chart.val_acc == [80, 81, 82]
    assert "With history" in page.history_label.text()


def test_importing_origin_notebook_weights_adds_a_model(window_with_model, tmp_path, qtbot):
    import torch

    from fmnist_desktop.core.store.checkpoint import save_state_dict
    from fmnist_desktop.core.models import build_model
    from fmnist_desktop.core.store.user_presets import get_preset

    window = window_with_model
    page = _models_page(window)
    torch.manual_seed(1)
    notebook_file = tmp_path / "fashion_mnist_cnn.pth"  # a bare state_dict, as the notebook saves it
    save_state_dict(notebook_file, build_model(get_preset("seed").arch))
    before = len(_table_names(page))
    with qtbot.waitSignal(page.modelImported, timeout=30_000) as imported:
        page.import_model(notebook_file)
    entry = imported.args[0]
    assert len(_table_names(page)) == before + 1
    assert page.selected_entry().id == entry.id
    assert "Added" in page.banner.text()
    assert "no recorded training history" in page.history_label.text()


def test_shipped_model_history_says_which_epochs_came_from_which_run(window_with_model):
    """The shipped model was made in two runs and averaged: its chart jumps at epoch 13, and the
    page says why instead of showing what looks like a broken run."""
    page = _models_page(window_with_model)
    builtin = [e for e in window_with_model.context.library().entries() if e.builtin]
    if not builtin:
        pytest.skip("no builtin default model in this checkout")
    page.select_entry(builtin[0].id)
    text = page.history_label.text()
    # the shipped model's whole path (weights/README.md): standard, realworld, then the photo runs
    assert "epochs 1–12: “standard” preset" in text and "epochs 13–16: “realworld” preset" in text
    assert "epochs 17–22: “photos” preset" in text and "epochs 26–28: “standard” preset" in text
    assert page.chart.epochs == list(range(1, 29))


# --------------------------------------------------------------------------- issue 12 (items 6, 10, 11)
HISTORY = [{"epoch": i, "epochs": 3, "train_loss": 1.0 / i, "val_loss": 1.1 / i, "train_acc": 80 + i,
            "val_acc": 79 + i, "epoch_time_s": 1.0, "lr": 0.01} for i in (1, 2, 3)]


def test_make_active_and_rename_keep_the_selection_the_chart_and_the_layout(window_with_model, seed_model_file,
                                                                            qtbot, monkeypatch):
    window = window_with_model
    page = _models_page(window)
    other = _add_model(window, seed_model_file, "Second model", history=HISTORY)
    assert page.select_entry(other.id)
    qtbot.waitUntil(lambda: page.chart is not None and page.chart.epochs == [1, 2, 3])
    table_y = page.table.mapTo(page, page.table.rect().topLeft()).y()
    seen, charted = [], []
    page.table.selectionModel().selectionChanged.connect(lambda *_: seen.append(page.selected_entry()))
    real_set_history = page.chart.set_history
    monkeypatch.setattr(page.chart, "set_history", lambda h: charted.append(list(h)) or real_set_history(h))

    with qtbot.waitSignal(window.context.activeModelChanged, timeout=60_000):  # after comparing the two
        page.activate_button.click()
    assert window.context.active_entry().id == other.id
    assert "is now the active 28×28 network" in page.banner.text()
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Renamed model", True))
    page.rename_button.click()
    assert "Renamed to" in page.banner.text()

    assert all(entry is not None and entry.id == other.id for entry in seen), "the selection blinked"
    assert page.selected_entry().id == other.id
    assert charted == [], "the chart was redrawn (blank for a moment) although its curves did not change"
    assert page.chart.epochs == [1, 2, 3] and page.chart.isVisible()
    # The message line is reserved: a message, late or not, never pushes the table down.
    assert page.table.mapTo(page, page.table.rect().topLeft()).y() == table_y
    page.show_banner("")
    assert page.table.mapTo(page, page.table.rect().topLeft()).y() == table_y


def test_every_model_shows_its_real_photo_score_and_a_weaker_one_says_so(window_with_model, qtbot, monkeypatch):
    import re

    from fmnist_desktop.ui.pages.models import COL_PHOTOS

    window = window_with_model
    page = _models_page(window)
    entries = window.context.library().entries()
    builtin = [e for e in entries if e.builtin]
    if not builtin:
        pytest.skip("no builtin default model in this checkout")
    qtbot.waitUntil(lambda: all(page.photo_score(e) is not None for e in entries), timeout=60_000)
    for row in range(page.model.rowCount()):
        assert re.fullmatch(r"\d of 3 photos", page.model.item(row, COL_PHOTOS).text())  # the tests' 3 (conftest)
        assert "real photos shipped with the app" in page.model.item(row, COL_PHOTOS).toolTip()
    shipped, untrained = page.photo_score(builtin[0]), page.photo_score(window.context.active_entry())
    assert shipped.right > untrained.right  # the random-weights model names fewer right

    page.select_entry(builtin[0].id)
    with qtbot.waitSignal(window.context.activeModelChanged, timeout=60_000):
        page.activate_button.click()
    assert page.banner.text() == f"“{builtin[0].name}” is now the active 28×28 network."  # better: nothing to warn about
    untrained_entry = next(e for e in entries if not e.builtin)
    page.select_entry(untrained_entry.id)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)  # "anyway?" Yes
    qtbot.waitUntil(page.activate_button.isEnabled, timeout=10_000)  # the first comparison's task has ended
    with qtbot.waitSignal(window.context.activeModelChanged, timeout=60_000):
        page.activate_button.click()
    assert "does worse" in page.banner.text()
    assert f"names {untrained.right} of the 3 real photos shipped with the app right" in page.banner.text()


def test_the_loss_chart_legend_does_not_cover_the_curves_at_900_by_600(window_with_model, seed_model_file, qtbot):
    window = window_with_model
    window.resize(900, 600)
    page = _models_page(window)
    entry = _add_model(window, seed_model_file, "Charted", history=HISTORY)
    page.select_entry(entry.id)
    qtbot.waitUntil(lambda: page.chart.epochs == [1, 2, 3])
    page.chart.draw()
    figure = page.chart.figure
    assert page.chart.loss_ax.get_legend() is None and page.chart.acc_ax.get_legend() is None
    assert len(figure.legends) == 1
    legend = figure.legends[0].get_window_extent()
    for ax in (page.chart.loss_ax, page.chart.acc_ax):
        assert not legend.overlaps(ax.get_window_extent()), "the legend sits on a chart"
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["train", "validation"]
