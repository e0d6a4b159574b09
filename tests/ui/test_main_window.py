"""The main window: pages, navigation, menus, status bar, closing while busy."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from fmnist_desktop.ui.main_window import PAGE_KEYS


def test_window_has_four_pages_and_opens_on_predict(make_main_window):
    window = make_main_window(wait_ready=False)
    names = [window.stack.widget(i).objectName() for i in range(window.stack.count())]
    assert names == ["predictPage", "trainPage", "evaluatePage", "modelsPage"]
    assert window.stack.currentWidget().objectName() == "predictPage"
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == ["Predict", "Train", "Evaluate", "Models"]


def test_side_bar_and_shortcuts_switch_pages(make_main_window, qtbot):
    window = make_main_window(wait_ready=False)
    window.nav.setCurrentRow(3)
    assert window.stack.currentWidget().objectName() == "modelsPage"
    window.windowHandle().requestActivate()  # shortcuts only reach the active window
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page_key() == "train"
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page_key() == "predict"


def test_menu_has_the_file_actions_with_shortcuts(make_main_window):
    window = make_main_window(wait_ready=False)
    texts = [a.text() for a in window.menuBar().actions()]
    assert texts == ["&File", "&View", "&Help"]
    file_menu = window.menuBar().actions()[0].menu()
    names = [a.objectName() for a in file_menu.actions() if not a.isSeparator()]
    assert names == ["openModelAction", "saveModelAsAction", "importPthAction", "exportAction", "quitAction"]
    # Ctrl+O is the Predict page's Open images… (its main action); models open with Ctrl+Shift+O.
    assert window.open_action.shortcut().toString() == "Ctrl+Shift+O"


def test_status_bar_names_the_active_model_once_loaded(window_with_model):
    label = window_with_model.model_label
    entry = window_with_model.context.active_entry()
    assert entry.name in label.text()
    assert "test 10.0%" in label.text()
    assert window_with_model.context.device_summary() in label.text()
    assert window_with_model.context.device_summary() in ("CPU", "MPS") or "CUDA" in label.text()
    assert window_with_model.open_action.isEnabled()


def test_status_bar_says_loading_before_torch_is_ready(make_main_window):
    window = make_main_window(show=False)
    assert window.model_label.text() == "Loading model engine…"
    assert not window.open_action.isEnabled()


class _BusyPage(QWidget):
    def __init__(self):
        super().__init__()
        self.stopped_with = None

    def is_busy(self):
        return True

    def busy_description(self):
        return "Training epoch 3 of 10"

    def shutdown(self, timeout_ms=5000):
        self.stopped_with = timeout_ms
        return True


def test_closing_while_busy_asks_and_can_be_refused(make_main_window, monkeypatch):
    window = make_main_window(wait_ready=False)
    busy = _BusyPage()
    window.pages["busy"] = busy
    asked = []

    def refuse(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", refuse)
    assert not window.close()
    assert window.isVisible()
    assert "Training epoch 3 of 10" in asked[0]
    assert busy.stopped_with is None

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert window.close()
    assert busy.stopped_with == 5000


def test_unhandled_exception_is_logged_and_shown_not_fatal(qtbot, isolated_settings, tmp_path):
    import sys

    from fmnist_desktop.app import ExceptionReporter
    from fmnist_desktop.core.store.logs import log_path

    reporter = ExceptionReporter()
    try:
        raise ValueError("boom in a slot")
    except ValueError:
        reporter.handle(*sys.exc_info())
    qtbot.waitUntil(lambda: reporter.dialogs_shown == 1)
    text = log_path().read_text(encoding="utf-8")
    assert "ValueError: boom in a slot" in text
    assert "Traceback" in text


def test_exception_in_a_python_thread_is_logged_and_shown(qtbot, isolated_settings):
    import threading

    from fmnist_desktop.app import ExceptionReporter
    from fmnist_desktop.core.store.logs import log_path

    reporter = ExceptionReporter()
    reporter.install()
    try:
        def crash():
            raise RuntimeError("boom in a thread")

        thread = threading.Thread(target=crash)
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: reporter.dialogs_shown == 1)
    finally:
        reporter.uninstall()
    assert "RuntimeError: boom in a thread" in log_path().read_text(encoding="utf-8")
    # The hook is gone again: later failures go to the previous handlers.
    assert threading.excepthook != reporter._handle_thread


def test_window_has_a_minimum_size_where_every_page_fits(make_main_window, qtbot):
    """Issue 12 item 11: at 640×420 the toolbar buttons clipped and the Train charts were crushed."""
    from PySide6.QtWidgets import QPushButton

    window = make_main_window()
    window.resize(640, 420)
    assert window.width() >= 900 and window.height() >= 600
    window.resize(window.minimumSize())
    for key in ("train", "evaluate"):
        window.show_page(key)
        page = window.pages[key]
        qtbot.waitUntil(lambda: page.isVisible(), timeout=5000)
        for button in page.findChildren(QPushButton):
            if button.isVisibleTo(page) and button.text():
                assert button.width() >= button.minimumSizeHint().width(), f"{key}: {button.text()} is clipped"
    train = window.pages["train"]
    assert train.chart_holder.height() >= 200
    tabs = window.pages["evaluate"].tabs
    assert tabs.tabBar().sizeHint().width() <= tabs.width(), "every Evaluate tab is in sight"


def test_the_engine_loading_status_has_a_spinner_until_ready(make_main_window, qtbot):
    """Issue 12 item 11: "Loading the model engine…" floated without a spinner."""
    window = make_main_window(show=False)
    assert not window.context.is_torch_ready(), "the engine loads only after the first show"
    assert window.engine_spinner.isVisibleTo(window)
    assert "Loading" in window.model_label.text()
    # Issue 26 item 11: its steps and the seconds so far (31 s on a busy machine with no sign of progress).
    spinner = window.engine_spinner
    assert spinner.maximum() > 1 and spinner.isTextVisible() and spinner.text().endswith(" s")
    assert "step 1 of" in spinner.toolTip()
    window.show()
    qtbot.waitUntil(lambda: "step 1 of" not in spinner.toolTip() or window.context.is_torch_ready(), timeout=60_000)
    qtbot.waitUntil(window.context.is_torch_ready, timeout=60_000)
    assert not window.engine_spinner.isVisibleTo(window)
