"""The Evaluate page in the real window: evaluate, click a confusion cell, browse the mistakes."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from fmnist_desktop.ui.settings_keys import DATA_FOLDER as SETTINGS_DATA_FOLDER


@pytest.fixture
def evaluated_page(main_window, qtbot, tiny_idx_dir):
    """The Evaluate page after evaluating an untrained seed CNN (plenty of mistakes) on tiny data."""
    import torch

    from fmnist_desktop.core.store.checkpoint import CheckpointMeta
    from fmnist_desktop.core.models import build_model

    torch.manual_seed(3)
    context = main_window.context
    entry = context.library().add(build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "Untrained seed CNN"))
    context.refresh_models()
    assert context.set_active(entry.id)
    context.settings.setValue(SETTINGS_DATA_FOLDER, str(tiny_idx_dir))

    main_window.nav.setCurrentRow(2)
    page = main_window.pages["evaluate"]
    qtbot.waitUntil(lambda: page.evaluate_button.isEnabled() and page.matrix is not None, timeout=30_000)
    with qtbot.waitSignal(page.evaluationFinished, timeout=60_000):
        qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    return page


def worst_off_diagonal_cell(confusion):
    off = confusion.copy()
    np.fill_diagonal(off, -1)
    return np.unravel_index(int(off.argmax()), off.shape)


def test_evaluation_shows_accuracy_table_and_matrix(evaluated_page):
    page = evaluated_page
    result = page.outcome.result
    assert len(result.labels) == 200  # the tiny test split
    assert page.accuracy_label.text() == f"Test accuracy: {result.accuracy:.2f} %"
    assert page.metrics_table.rowCount() == 10
    assert page.metrics_table.item(0, 0).text() == "T-shirt/top"
    assert page.metrics_table.item(9, 4).text() == str(int(result.per_class[9]["support"]))
    assert np.array_equal(page.matrix.confusion, result.confusion)
    assert page.matrix.isVisible()


def test_clicking_a_cell_shows_exactly_its_images_worst_first(evaluated_page, qtbot):
    page = evaluated_page
    result = page.outcome.result
    true_index, pred_index = worst_off_diagonal_cell(result.confusion)
    assert result.confusion[true_index, pred_index] > 0

    page.matrix.draw()  # lays the figure out, so cell positions are final
    x, y = page.matrix.cell_centre(true_index, pred_index)
    with qtbot.waitSignal(page.matrix.cellClicked, timeout=5000) as clicked:
        qtbot.mouseClick(page.matrix, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    assert clicked.args == [true_index, pred_index]

    shown = page.cell_gallery.gallery_model.indices()
    expected = np.flatnonzero((result.labels == true_index) & (result.predictions == pred_index))
    assert sorted(shown) == sorted(expected.tolist())  # exactly that cell's images
    confidences = result.confidences[shown]
    assert np.all(np.diff(confidences) <= 0), "the most confident mistakes come first"
    assert page.tabs.currentIndex() == 1 and page.cell_gallery.isVisible()
    assert f"{len(shown):,} images" in page.cell_label.text()
    # Each item says what the model predicted and how sure it was.
    first = page.cell_gallery.gallery_model.index(0)
    text = page.cell_gallery.gallery_model.data(first)
    assert text.startswith(result.class_names[pred_index])
    assert f"{100 * confidences[0]:.0f} %" in text


def test_misclassified_gallery_lists_every_mistake_lazily(evaluated_page, qtbot):
    page = evaluated_page
    result = page.outcome.result
    model = page.misclassified_gallery.gallery_model
    wrong = np.flatnonzero(result.labels != result.predictions)
    assert sorted(model.indices()) == sorted(wrong.tolist())
    assert np.all(np.diff(result.confidences[model.indices()]) <= 0)
    assert f"{len(wrong):,} of 200" in page.misclassified_label.text()
    # Thumbnails are made only when the view paints them, not for every item up front.
    assert model.thumbnails_made == 0
    page.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: model.thumbnails_made > 0, timeout=5000)
    assert model.thumbnails_made <= len(wrong)


def test_row_normalised_view_shows_percentages_of_each_true_class(evaluated_page, qtbot):
    page = evaluated_page
    qtbot.mouseClick(page.normalize_check, Qt.MouseButton.LeftButton)
    assert page.matrix.normalized
    values = page.matrix.values()
    totals = page.outcome.result.confusion.sum(axis=1)
    assert np.allclose(values.sum(axis=1)[totals > 0], 100.0)
    qtbot.mouseClick(page.normalize_check, Qt.MouseButton.LeftButton)
    assert np.array_equal(page.matrix.values(), page.outcome.result.confusion)


def test_evaluating_without_the_data_set_shows_the_reason(main_window, qtbot, tmp_path):
    import torch

    from fmnist_desktop.core.store.checkpoint import CheckpointMeta
    from fmnist_desktop.core.models import build_model

    context = main_window.context
    entry = context.library().add(build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "Untrained"))
    context.refresh_models()
    context.set_active(entry.id)
    context.settings.setValue(SETTINGS_DATA_FOLDER, str(tmp_path / "empty"))
    page = main_window.pages["evaluate"]
    main_window.nav.setCurrentRow(2)
    qtbot.waitUntil(page.evaluate_button.isEnabled, timeout=30_000)
    qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=30_000)
    text = page.banner.text()
    assert "Evaluation failed" in text and "does not exist" in text
    assert page.evaluate_button.isEnabled()


def test_ctrl_e_on_the_evaluate_page_exports_the_evaluation_not_the_model(evaluated_page, main_window, qtbot,
                                                                         monkeypatch, tmp_path):
    """File ▸ Export… (Ctrl+E) promises the current page's export; on Evaluate it used to open
    "Save model as"."""
    import json

    from PySide6.QtWidgets import QFileDialog

    target = tmp_path / "evaluation.json"
    asked = []

    def save_dialog(parent, caption, *args, **kwargs):
        asked.append(caption)
        return str(target), "JSON files (*.json)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    monkeypatch.setattr(main_window.pages["models"], "export_active_dialog",
                        lambda: asked.append("Save model as"))
    assert main_window.current_page_key() == "evaluate"
    main_window.export_action.trigger()
    assert asked == ["Export the evaluation report"]
    report = json.loads(target.read_text(encoding="utf-8"))
    result = evaluated_page.outcome.result
    assert report["accuracy"] == pytest.approx(result.accuracy, abs=1e-3)
    assert report["confusion"] == result.confusion.tolist()
    assert report["model"]["name"] == "Untrained seed CNN"
    assert "Saved the evaluation report" in evaluated_page.banner.text()


# --------------------------------------------------------------------------- issue 12, items 2, 9, 11
def _add_second_model(window, name="Second model"):
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta
    from fmnist_desktop.core.models import build_model

    context = window.context
    entry = context.library().add(build_model("seed_cnn"), CheckpointMeta.for_preset("seed", name))
    context.refresh_models()
    return entry


def test_a_result_names_its_model_and_is_marked_stale_when_another_model_is_active(evaluated_page, main_window):
    """Issue 12 item 2: the header named the new model beside the old model's accuracy and matrix."""
    page = evaluated_page
    evaluated = page.outcome.entry.name
    assert evaluated in page.model_label.text() and "the active model" in page.model_label.text()
    second = _add_second_model(main_window)
    assert main_window.context.set_active(second.id)
    assert page.is_stale()
    header = page.model_label.text()
    assert f"Results of <b>{evaluated}</b>" in header and "not the active model" in header
    assert "Second model" in header
    assert "not the active model" in page.accuracy_label.text(), "the accuracy says it is not the active model's"
    assert not page.accuracy_label.isEnabled() and not page.matrix.isEnabled(), "stale figures are greyed"


def test_re_evaluating_clears_the_old_result_until_the_new_one_arrives(evaluated_page, main_window, qtbot):
    """Issue 12 item 2: the stale matrix stayed up while re-evaluating another model."""
    page = evaluated_page
    second = _add_second_model(main_window)
    assert main_window.context.set_active(second.id)
    with qtbot.waitSignal(page.evaluationFinished, timeout=60_000) as finished:
        assert page.start_evaluation()
        assert page.outcome is None and not page.matrix.isVisible() and page.metrics_table.rowCount() == 0
        assert page.accuracy_label.text() == "Test accuracy: …"
        assert "Evaluating <b>Second model</b>" in page.model_label.text()
    assert finished.args[0].entry.id == second.id
    assert not page.is_stale() and "Results of <b>Second model</b>" in page.model_label.text()
    assert page.matrix.isVisible() and page.accuracy_label.isEnabled()


def test_a_cancelled_re_evaluation_brings_the_previous_result_back_labelled(evaluated_page, main_window, qtbot):
    page = evaluated_page
    previous = page.outcome
    page.start_evaluation()
    page.cancel_evaluation()
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    assert page.outcome is previous and page.matrix.isVisible()
    assert f"Results of <b>{previous.entry.name}</b>" in page.model_label.text()


def test_the_first_evaluation_moves_a_determinate_bar_through_its_steps(main_window, qtbot, tiny_idx_dir):
    """Issue 12 item 11: the first evaluation showed only an indeterminate bar."""
    context = main_window.context
    context.settings.setValue(SETTINGS_DATA_FOLDER, str(tiny_idx_dir))
    main_window.nav.setCurrentRow(2)
    page = main_window.pages["evaluate"]
    qtbot.waitUntil(lambda: page.evaluate_button.isEnabled(), timeout=30_000)
    ranges, formats = [], []

    def record(progress):
        ranges.append(page.progress_bar.maximum())
        formats.append(page.progress_bar.format())

    original = page._on_progress

    def spy(progress):
        original(progress)
        record(progress)

    page._on_progress = spy
    with qtbot.waitSignal(page.evaluationFinished, timeout=60_000):
        page.start_evaluation()
    assert ranges and all(maximum > 0 for maximum in ranges), "the bar never goes indeterminate"
    assert any("Step 1 of 3" in f for f in formats) and any("Step 3 of 3" in f for f in formats)


def test_gallery_thumbnails_zoom_fill_the_width_and_open_large(evaluated_page, qtbot):
    """Issue 12 item 9: 56 px thumbnails that did not enlarge, with empty space beside them."""
    from fmnist_desktop.ui.pages import evaluate

    page = evaluated_page
    page.tabs.setCurrentIndex(2)
    gallery = page.misclassified_gallery
    page.window().resize(1280, 800)
    qtbot.waitUntil(lambda: gallery.viewport().width() > 200, timeout=5000)
    assert gallery.iconSize().width() >= 80, "thumbnails start readable"
    # The columns fill the view's width: what is left over is less than one pixel per column.
    used = gallery.columns() * gallery.gridSize().width()
    assert gallery.viewport().width() - 4 - used < gallery.columns() + 1
    page.zoom_slider.setValue(evaluate.MAX_THUMB_SIZE)
    assert gallery.iconSize().width() == evaluate.MAX_THUMB_SIZE
    assert page.cell_gallery.iconSize().width() == evaluate.MAX_THUMB_SIZE
    first = gallery.gallery_model.index(0)
    assert gallery.gallery_model.data(first, Qt.ItemDataRole.DecorationRole).width() == evaluate.MAX_THUMB_SIZE
    rect = gallery.visualRect(first)
    qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a real double-click
    qtbot.mouseDClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # starts with a press
    qtbot.waitUntil(lambda: page.enlarged is not None and page.enlarged.isVisible(), timeout=5000)
    assert page.enlarged.picture.pixmap().width() >= 280
    sample = gallery.gallery_model.indices()[0]
    assert f"#{sample}" in page.enlarged.caption.text()
    page.enlarged.close()


def test_matrix_fills_its_canvas_and_its_numbers_grow_with_it(evaluated_page, qtbot):
    """Issue 12 item 9: small numbers in the confusion matrix with large blank margins."""
    page = evaluated_page
    page.window().resize(1280, 800)
    qtbot.waitUntil(lambda: page.matrix.width() > 400, timeout=5000)
    page.matrix.draw()
    page.matrix.flush()
    page.matrix.draw()
    box = page.matrix.ax.get_window_extent()
    ratio = page.matrix.devicePixelRatioF() or 1.0
    assert box.width / ratio > 0.6 * page.matrix.width() and box.height / ratio > 0.6 * page.matrix.height()
    assert page.matrix.cell_font_size > 8.5, "the numbers grow beyond the small UI size in a large window"
