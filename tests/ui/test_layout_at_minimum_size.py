"""Issue 26 items 10 and 11 in the real window at its minimum size (960×620): the Models table uses
the height, a long not-sure source is cut with "…" and its tooltip, the API address never breaks
inside a URL, a long status message never runs into the model label, and the training log follows
new lines unless the user scrolled up."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.timeout(240)

MIN_SIZE = (960, 620)


def _models_page(window):
    window.show_page("models")
    return window.pages["models"]


def _add(window, model_file, name, tmp_path, history=None, metrics=None):
    from fmnist_desktop.core.store.checkpoint import load_checkpoint, save_checkpoint

    state, meta = load_checkpoint(model_file)
    meta.name = name
    if history is not None:
        meta.history = history
    if metrics is not None:
        meta.metrics = metrics
    target = tmp_path / f"{name.replace(' ', '_')}.pt"
    save_checkpoint(target, state, meta)
    entry = window.context.library().import_file(target)
    window.context.refresh_models()
    return entry


HISTORY = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 50 + e, "val_loss": 1.1 / e, "val_acc": 49 + e, "lr": 0.01}
           for e in (1, 2, 3)]


def test_the_models_table_uses_the_height_at_the_minimum_size(window_with_model, seed_model_file, tmp_path, qtbot):
    window = window_with_model
    window.resize(*MIN_SIZE)
    page = _models_page(window)
    entries = [_add(window, seed_model_file, f"Model {i}", tmp_path, history=HISTORY if i == 0 else None)
               for i in range(5)]
    qtbot.wait(50)
    table = page.table
    assert page.model.rowCount() >= 6

    def all_rows_shown():
        bottom = table.viewport().height()
        return all(table.visualRect(page.model.index(r, 0)).bottom() <= bottom for r in range(page.model.rowCount()))

    # A model without curves: the table takes the height (no blank box where the chart would be).
    assert page.select_entry(entries[1].id)
    qtbot.waitUntil(all_rows_shown, timeout=5_000)
    assert page.chart_holder.height() < 90, "a blank history area under the table"
    assert page.select_entry(entries[0].id)
    qtbot.waitUntil(lambda: page.chart is not None and page.chart.isVisible(), timeout=10_000)
    qtbot.wait(50)
    # A model with curves: at the minimum size the rows get half the height (4 of 7 in sight, not
    # 3), the chart the rest; never blank rows under the table taken from the chart.
    shown = sum(table.visualRect(page.model.index(r, 0)).bottom() <= table.viewport().height()
                for r in range(page.model.rowCount()))
    assert shown >= 4, shown
    rows_bottom = table.visualRect(page.model.index(page.model.rowCount() - 1, 0)).bottom()
    assert table.viewport().height() - rows_bottom < 30, "blank rows under the table, taken from the chart"
    assert page.chart.height() >= 150


def test_a_long_not_sure_source_is_cut_with_its_tooltip(window_with_model, seed_model_file, tmp_path, qtbot):
    window = window_with_model
    window.resize(*MIN_SIZE)
    parent = "Photo model (shipped with the app, EfficientNet-Lite0 + head)"
    entry = _add(window, seed_model_file, "Fine-tuned", tmp_path,
                 metrics={"not_sure_threshold": 0.404, "threshold_inherited_from": parent})
    assert window.context.set_active(entry.id)
    window.show_page("predict")
    page = window.pages["predict"]
    qtbot.wait(50)
    source = page.threshold_source
    full = f"(inherited from “{parent}”)"
    assert source.text() == full
    assert window.width() <= MIN_SIZE[0] + 1, "the text widened the window"
    assert source.mapTo(page, source.rect().topRight()).x() <= page.width()
    shown = source.shown_text()
    assert shown == full or (shown.endswith("…") and full in source.toolTip())


def test_the_api_address_never_breaks_inside_a_url(window_with_model):
    from PySide6.QtGui import QTextDocument

    panel = _models_page(window_with_model).serve_panel
    url = "http://127.0.0.1:8000"
    panel.server = SimpleNamespace(url=url, is_running=lambda: True,
                                   model_names=["Photo model (shipped with the app)", "Fashion-MNIST + real photos"])
    try:
        panel._describe()
        html = panel.address.text()
        for width in range(180, 900, 7):
            doc = QTextDocument()
            doc.setDefaultFont(panel.address.font())
            doc.setHtml(html)
            doc.setTextWidth(width)
            text = doc.toPlainText()
            block = doc.begin()
            lines = []
            while block.isValid():
                layout = block.layout()
                for i in range(layout.lineCount()):
                    line = layout.lineAt(i)
                    lines.append(text[block.position() + line.textStart():
                                      block.position() + line.textStart() + line.textLength()])
                block = block.next()
            for line in lines:  # each address whole on one line: no "http://" | "127.0.0.1:8000/predict"
                assert line.count("127.0.0.1") == line.count(f"{url}"), (width, lines)
                assert line.count("POST") == line.count(f"POST {url}/predict"), (width, lines)
    finally:
        panel.server = None


def test_a_long_status_message_does_not_run_into_the_model_label(window_with_model, qtbot):
    window = window_with_model
    window.resize(*MIN_SIZE)
    qtbot.wait(50)
    long = "Deleted “A model with a very long name made in stages, fine-tuned 7 Dec 16:00 – 3 photos” " * 3
    window.context.statusMessage.emit(long)
    qtbot.wait(50)
    message, model = window.status_label, window.model_label
    assert message.text() == long
    assert message.mapTo(window, message.rect().topRight()).x() <= model.mapTo(window, model.rect().topLeft()).x()
    assert message.shown_text().endswith("…") and long.strip() in message.toolTip()


def test_the_training_log_follows_new_lines_unless_scrolled_up(window_with_model, qtbot):
    window = window_with_model
    window.resize(*MIN_SIZE)
    window.show_page("predict")  # lines arrive while the Train page is out of sight
    train = window.pages["train"]
    for i in range(40):
        train.log(f"Epoch {i + 1}: loss 0.{i:02d}")
    window.show_page("train")
    qtbot.wait(50)
    bar = train.log_view.verticalScrollBar()
    train.log("Stopped at epoch 3 of 8.")
    qtbot.wait(20)
    assert bar.maximum() > 0 and bar.value() == bar.maximum(), "the log stopped following new lines"
    bar.setValue(0)  # the user scrolls up to read
    train.log("Another line")
    qtbot.wait(20)
    assert bar.value() == 0, "the log jumped away from what the user was reading"
    bar.setValue(bar.maximum())
    train.log("And one more")
    qtbot.wait(20)
    assert bar.value() == bar.maximum()
