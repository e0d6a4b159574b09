"""Models page (issue 26): Make active asks before a worse model replaces the active one, and the
table's facts agree with each other (epochs actually run, a fine-tuned photo model's own facts,
one column per measure)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.timeout(180)


def _models_page(window):
    window.show_page("models")
    return window.pages["models"]


def _answer(button, asked: list):
    def question(parent, title, text, buttons, default):
        asked.append((title, text, default))
        return button

    return question


def _row_of(page, entry_id):
    from fmnist_desktop.ui.pages.models import ENTRY_ROLE

    return next(r for r in range(page.model.rowCount()) if page.model.item(r, 0).data(ENTRY_ROLE).id == entry_id)


def test_make_active_asks_before_a_worse_model_naming_both_figures(window_with_model, qtbot, monkeypatch):
    window = window_with_model
    ctx = window.context
    page = _models_page(window)
    builtin = [e for e in ctx.library().entries() if e.builtin and e.kind == "fmnist"]
    if not builtin:
        pytest.skip("no builtin default model in this checkout")
    shipped = builtin[0]
    untrained = ctx.active_entry()  # the random-weights seed model: 10 % on the test set
    assert ctx.set_active(shipped.id)

    asked: list = []
    monkeypatch.setattr(QMessageBox, "question", _answer(QMessageBox.StandardButton.No, asked))
    assert page.select_entry(untrained.id)
    page.activate_button.click()
    qtbot.waitUntil(lambda: bool(asked) or not page.active_guard.is_running(), timeout=60_000)
    qtbot.waitUntil(lambda: not page.active_guard.is_running(), timeout=60_000)
    assert asked, "Make active switched to a worse model without asking"
    title, text, default = asked[0]
    assert default == QMessageBox.StandardButton.No
    assert "10.00 %" in text and f"{shipped.test_accuracy:.2f} %" in text  # both test figures
    assert "real photos" in text and "right" in text  # and both real-photo figures
    assert ctx.active_entry_of("fmnist").id == shipped.id  # No: nothing changed
    assert "stays" in page.banner.text()

    monkeypatch.setattr(QMessageBox, "question", _answer(QMessageBox.StandardButton.Yes, asked))
    with qtbot.waitSignal(ctx.activeModelChanged, timeout=60_000):
        page.activate_button.click()
    assert ctx.active_entry_of("fmnist").id == untrained.id
    assert "does worse" in page.banner.text()


def test_a_run_stopped_early_shows_the_epochs_it_ran(window_with_model, seed_model_file):
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint
    from fmnist_desktop.ui.pages.models import COL_EPOCHS

    window = window_with_model
    state, meta = load_checkpoint(seed_model_file)
    meta.name = "Fast – 2 epochs (stopped early)"
    meta.training = {**(meta.training or {}), "epochs": 8}  # the recipe asked for 8
    meta.history = [{"epoch": e, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5, "lr": 0.01}
                    for e in (1, 2)]
    target = seed_model_file.parent / "stopped.pt"
    save_checkpoint(target, state, meta)
    entry = window.context.library().import_file(target)
    window.context.refresh_models()
    page = _models_page(window)
    cell = page.model.item(_row_of(page, entry.id), COL_EPOCHS)
    assert cell.text() == "2"
    assert "8" in cell.toolTip()  # of the 8 planned


def test_one_column_per_measure_each_saying_what_it_measured(window_with_model):
    from fmnist_desktop.ui.pages.models import HEADERS

    page = _models_page(window_with_model)
    assert "Test accuracy" not in HEADERS
    assert any("Fashion-MNIST" in h for h in HEADERS)
    assert any("held-out photos" in h.lower() for h in HEADERS)
    for row in range(page.model.rowCount()):
        texts = [page.model.item(row, c).text() for c in range(len(HEADERS))]
        assert not any("photos" in t and "%" in t for t in texts)  # no "86.9 % photos" in a test-accuracy cell


def test_a_fine_tuned_photo_model_shows_its_own_facts(window_with_model, shipped_photo_model, tmp_path):
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, read_meta, save_checkpoint
    from fmnist_desktop.ui.pages.models import COL_EPOCHS

    window = window_with_model
    ctx = window.context
    parent = read_meta(shipped_photo_model)
    state, meta = load_checkpoint(shipped_photo_model)
    meta.name = f"{parent.name}, fine-tuned 7 Dec 16:00 – 3 photos"
    meta.metrics = {"threshold": 0.404, "threshold_inherited_from": parent.name,
                    "finetune": {"n_photos": 3, "n_kept_out": 0, "before_photos": None, "after_photos": None}}
    meta.training = {"kind": "finetune", "method": "head only, frozen backbone", "steps": 120, "n_train": 3,
                     "elapsed_s": 9.4, "device": "cpu"}
    meta.history = []
    target = tmp_path / "finetuned.pt"
    save_checkpoint(target, state, meta)
    entry = ctx.library().import_file(target)
    ctx.refresh_models()
    page = _models_page(window)
    assert page.select_entry(entry.id)
    label = page.history_label.text()
    assert "imported notebook weights" not in label
    assert "fine-tuned" in label and "3 of your photos" in label and "120 steps" in label
    row = _row_of(page, entry.id)
    assert "120 steps" in page.model.item(row, COL_EPOCHS).toolTip()
