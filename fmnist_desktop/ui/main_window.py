"""The main window: a side bar of pages, the menus, the status bar, settings persistence.

Pages: Predict (the window opens on it), Train, Evaluate, Models. Each page is constructed as
`Page(context, parent)`; pages that run work implement `is_busy()`, `busy_description()` and
`shutdown(timeout_ms)`, which `closeEvent` uses so no thread or file is left half-done.
"""

from __future__ import annotations

import traceback

from PySide6.QtCore import QByteArray, QElapsedTimer, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from fmnist_desktop import APP_NAME, __version__
from fmnist_desktop.core.store.logs import write_log
from fmnist_desktop.core.base import edition
from fmnist_desktop.core.base.formats import recorded_test_accuracy
from fmnist_desktop.ui.context import AppContext
from fmnist_desktop.ui.pages.evaluate import EvaluatePage
from fmnist_desktop.ui.pages.models import ModelsPage
from fmnist_desktop.ui.pages.predict import PredictPage
from fmnist_desktop.ui.pages.train import LiteTrainPage, TrainPage
from fmnist_desktop.ui.settings_keys import WINDOW_GEOMETRY, WINDOW_PAGE
from fmnist_desktop.ui.widgets.dialogs import ask_yes_no
from fmnist_desktop.ui.widgets.elided_label import ElidedLabel

# (key, title, page class, object name). Imported statically, so the import-linter contracts see
# the window's use of every page; none of them imports torch at module level.
PAGE_SPECS = (
    ("predict", "Predict", PredictPage, "predictPage"),
    ("train", "Train", TrainPage, "trainPage"),
    ("evaluate", "Evaluate", EvaluatePage, "evaluatePage"),
    ("models", "Models", ModelsPage, "modelsPage"),
)
PAGE_KEYS = tuple(spec[0] for spec in PAGE_SPECS)
# Below this every page still fits: no clipped buttons, Train's charts keep room for their curves.
MIN_WINDOW_SIZE = QSize(960, 620)


class MainWindow(QMainWindow):
    shown = Signal()  # emitted once, after the first showEvent (start-up probe, tests)

    def __init__(self, context: AppContext | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_NAME)
        self.context = context if context is not None else AppContext(parent=self)
        self.context.set_dialog_parent(self)
        self._first_show_done = False
        self._closing_confirmed = False
        self.pages: dict[str, QWidget] = {}
        self.setMinimumSize(MIN_WINDOW_SIZE)

        self._build_pages()
        self._build_status_bar()
        self._build_menus()
        self._connect_context()
        self._restore_settings()

    # ----------------------------------------------------------------- construction
    def _build_pages(self) -> None:
        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        self.nav = QListWidget(central)
        self.nav.setObjectName("pageNav")
        self.nav.setAccessibleName("Pages")
        self.nav.setFixedWidth(132)
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setSpacing(2)
        self.nav.setStyleSheet(
            "QListWidget#pageNav { border: none; border-right: 1px solid palette(mid);"
            " background: palette(window); font-size: 11pt; padding-top: 8px; }"
            "QListWidget#pageNav::item { padding: 8px 12px; }"
            "QListWidget#pageNav::item:selected { background: palette(highlight);"
            " color: palette(highlighted-text); }"
        )
        self.stack = QStackedWidget(central)
        self.stack.setObjectName("pageStack")
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        for index, (key, title, page_class, object_name) in enumerate(PAGE_SPECS):
            if page_class is TrainPage and not edition.has_torch():
                page_class = LiteTrainPage  # the lite edition: one line says the full edition trains
            page = self._create_page(title, page_class, object_name)
            self.pages[key] = page
            self.stack.addWidget(page)
            item = QListWidgetItem(title, self.nav)
            item.setToolTip(f"{title} (Ctrl+{index + 1})")
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)

        predict = self.pages["predict"]
        if hasattr(predict, "finetuneRequested"):
            predict.finetuneRequested.connect(self.start_finetune)
        train = self.pages["train"]
        if hasattr(train, "evaluateRequested"):
            train.evaluateRequested.connect(self.evaluate_model)

    def _create_page(self, title: str, page_class: type, object_name: str) -> QWidget:
        try:
            page = page_class(self.context, self)
        except Exception as exc:  # noqa: BLE001 — a broken page must not take the window down
            write_log(traceback.format_exc())
            page = QWidget(self)
            page.setObjectName(object_name)
            box = QVBoxLayout(page)
            label = QLabel(f"The {title} page could not be opened: {exc}", page)
            label.setObjectName(f"{object_name}Error")
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            box.addWidget(label)
        if not page.objectName():
            page.setObjectName(object_name)
        return page

    def _build_status_bar(self) -> None:
        # Messages have a label of their own (not QStatusBar's temporary text, which is drawn up to
        # the model label and into it): both labels share the bar and each is cut with "…".
        self.status_label = ElidedLabel("", self)
        self.status_label.setObjectName("statusMessageLabel")
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.timeout.connect(lambda: self.status_label.setText(""))
        self.model_label = ElidedLabel("", self, Qt.TextElideMode.ElideMiddle)
        self.model_label.setObjectName("activeModelLabel")
        self.model_label.setAccessibleName("Active model")
        self.model_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # Fills while the model engine (torch and the app's core) loads in the background, with the
        # seconds it has taken, so a slow start on a busy computer is visibly work, not a hang.
        self.engine_spinner = QProgressBar(self)
        self.engine_spinner.setObjectName("engineSpinner")
        self.engine_spinner.setAccessibleName("Loading the model engine")
        self.engine_spinner.setRange(0, 0)
        self.engine_spinner.setMaximumSize(150, 16)
        self._engine_clock = QElapsedTimer()
        self._engine_clock.start()
        self._engine_timer = QTimer(self)
        self._engine_timer.setInterval(500)
        self._engine_timer.timeout.connect(self._show_engine_progress)
        self._engine_timer.start()
        self._show_engine_progress()
        self.statusBar().addWidget(self.status_label, 2)
        self.statusBar().addPermanentWidget(self.engine_spinner)
        self.statusBar().addPermanentWidget(self.model_label, 3)
        self._update_model_label()

    def show_status(self, text: str, timeout_ms: int = 8000) -> None:
        """A passing message in the status bar (it goes after `timeout_ms`)."""
        self.status_label.setText(text)
        self._status_timer.start(timeout_ms)

    def _show_engine_progress(self) -> None:
        """The engine's loading: which of its steps, and the seconds so far."""
        if self.context.is_torch_ready() or self.context.import_error():
            self._engine_timer.stop()
            return
        done, total, _name = self.context.loading_step
        seconds = self._engine_clock.elapsed() // 1000
        self.engine_spinner.setRange(0, total)
        self.engine_spinner.setValue(done)
        self.engine_spinner.setFormat(f"{seconds} s")
        self.engine_spinner.setToolTip(f"Loading the model engine: step {done + 1} of {total}, {seconds} s so far")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action("&Open model…", "openModelAction", QKeySequence("Ctrl+Shift+O"), self.open_model)
        self.save_action = self._action("&Save model as…", "saveModelAsAction", QKeySequence("Ctrl+Shift+S"), self.save_model_as)
        self.import_action = self._action(
            "&Import origin-notebook .pth…", "importPthAction", None, self.import_notebook_weights
        )
        self.export_action = self._action("&Export…", "exportAction", QKeySequence("Ctrl+E"), self.export_current)
        self.quit_action = self._action("&Quit", "quitAction", QKeySequence.StandardKey.Quit, self.close)
        for action in (self.open_action, self.save_action, self.import_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        for action in (self.save_action, self.export_action):
            action.setEnabled(False)  # they need the model library (after torchReady)
        for action in (self.open_action, self.import_action):
            action.setEnabled(False)

        view_menu = self.menuBar().addMenu("&View")
        self.page_actions = []
        for index, (key, title, *_rest) in enumerate(PAGE_SPECS):
            action = self._action(title, f"show{title}Action", QKeySequence(f"Ctrl+{index + 1}"),
                                  lambda _checked=False, k=key: self.show_page(k))
            view_menu.addAction(action)
            self.page_actions.append(action)

        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = self._action("&About", "aboutAction", None, self.show_about)
        help_menu.addAction(self.about_action)

    def _action(self, text, object_name, shortcut, slot) -> QAction:
        action = QAction(text, self)
        action.setObjectName(object_name)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden (macOS global menu)
        return action

    def _connect_context(self) -> None:
        self.context.torchReady.connect(self._on_torch_ready)
        self.context.torchFailed.connect(lambda _msg: self._update_model_label())
        self.context.activeModelChanged.connect(lambda _entry: self._update_model_label())
        self.context.modelsChanged.connect(self._update_model_label)
        self.context.statusMessage.connect(self.show_status)

    # ----------------------------------------------------------------- state
    def _update_model_label(self) -> None:
        self.engine_spinner.setVisible(not self.context.is_torch_ready() and not self.context.import_error())
        self.model_label.setText(self.model_summary())
        self.model_label.setToolTip(self.model_summary(long=True))

    def model_summary(self, long: bool = False) -> str:
        """"Model: <name> · test 91.2% · CPU", or what is happening while there is none."""
        ctx = self.context
        if not ctx.is_torch_ready():
            if ctx.import_error():
                return "Model engine unavailable"
            return "Loading model engine…"
        entry = ctx.active_entry()
        if entry is None:
            return f"No model · {ctx.device_summary()}"
        accuracy = recorded_test_accuracy(entry.meta.metrics)
        acc_text = f"test {accuracy:.1f}%" if accuracy is not None else "test accuracy unknown"
        text = f"Model: {entry.name} · {acc_text} · {ctx.device_summary()}"
        photo = ctx.active_entry_of("photo")
        if photo is not None:  # photos meet the photo model, Fashion-MNIST-style images this network
            text = f"Photo model: {photo.name} · 28×28 network: {entry.name} ({acc_text}) · {ctx.device_summary()}"
        if long:
            text += f"\n{entry.path}" + (f"\n{photo.path}" if photo is not None else "")
        return text

    @Slot()
    def _on_torch_ready(self) -> None:
        for action in (self.open_action, self.import_action, self.save_action, self.export_action):
            action.setEnabled(True)
        self._update_model_label()

    def show_page(self, key: str) -> None:
        self.nav.setCurrentRow(PAGE_KEYS.index(key))

    def current_page_key(self) -> str:
        return PAGE_KEYS[self.stack.currentIndex()]

    # ----------------------------------------------------------------- menu actions
    def open_model(self) -> None:
        self.show_page("models")
        self._call_page("models", "open_model_dialog")

    def import_notebook_weights(self) -> None:
        self.show_page("models")
        self._call_page("models", "open_model_dialog", notebook=True)

    def save_model_as(self) -> None:
        self._call_page("models", "export_active_dialog")

    def export_current(self) -> None:
        """Export what the current page shows (prediction table, evaluation report), else the model."""
        page = self.stack.currentWidget()
        if hasattr(page, "export"):
            page.export()
        else:
            self.save_model_as()

    def open_images(self, paths: list) -> None:
        """Classify images or folders handed to the app at start ("Open with…", a file manager's
        drop on the launcher): the Predict page shows them as if they had been dropped on it."""
        self.show_page("predict")
        self._call_page("predict", "predict_paths", items=list(paths))

    def _call_page(self, key: str, method: str, **kwargs) -> None:
        fn = getattr(self.pages.get(key), method, None)
        if fn is None:
            self.context.show_error("Not available", f"The {key.title()} page could not be opened.")
            return
        fn(**kwargs)

    @Slot(object)
    def evaluate_model(self, entry) -> None:
        """The Train page's "Evaluate it": the Evaluate page, with that model chosen."""
        self.show_page("evaluate")
        self._call_page("evaluate", "select_model", entry_id=entry.id)

    @Slot()
    def start_finetune(self) -> None:
        """Route the Predict page's "Fine-tune with my photos" to the Train page."""
        train = self.pages.get("train")
        if train is None or not hasattr(train, "start_finetune"):
            self.context.show_error("Fine-tuning unavailable", "The Train page could not be opened.")
            return
        self.show_page("train")
        train.start_finetune()

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {__version__}<p>Train, inspect and use a Fashion-MNIST clothing "
            "classifier.</p><p>Fashion-MNIST © Zalando Research, MIT licence.</p>"
            f"<p>{self.model_summary(long=True).replace(chr(10), '<br>')}</p>",
        )

    # ----------------------------------------------------------------- settings
    def _restore_settings(self) -> None:
        settings = self.context.settings
        geometry = settings.value(WINDOW_GEOMETRY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1180, 760)
        page = settings.value(WINDOW_PAGE, "predict")
        # The window opens on Predict the first time; afterwards where the user left it.
        if page in PAGE_KEYS:
            self.show_page(page)

    def save_settings(self) -> None:
        settings = self.context.settings
        settings.setValue(WINDOW_GEOMETRY, self.saveGeometry())
        settings.setValue(WINDOW_PAGE, self.current_page_key())
        for page in self.pages.values():
            save = getattr(page, "save_settings", None)
            if save is not None:
                save()
        settings.sync()

    # ----------------------------------------------------------------- events
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._first_show_done:
            self._first_show_done = True
            # Start loading torch only once the window is on screen, so it appears at once.
            QTimer.singleShot(0, self._after_first_show)

    @Slot()
    def _after_first_show(self) -> None:
        self.shown.emit()
        self.context.start_background_import()

    def busy_pages(self) -> list[QWidget]:
        return [page for page in self.pages.values() if getattr(page, "is_busy", lambda: False)()]

    def closeEvent(self, event: QCloseEvent) -> None:
        busy = self.busy_pages()
        if busy and not self._closing_confirmed:
            work = "; ".join(  # each description may end in a full stop; the question adds one
                getattr(page, "busy_description", lambda: "work in progress")().rstrip(".") for page in busy
            )
            if not ask_yes_no(self, "Quit while work is running?",
                              f"{work}.\n\nQuit anyway? Running work will be stopped; saved models are kept."):
                event.ignore()
                return
        self._closing_confirmed = True
        self.save_settings()
        for page in self.pages.values():
            shutdown = getattr(page, "shutdown", None)
            if shutdown is not None:
                shutdown(5000)
        event.accept()
