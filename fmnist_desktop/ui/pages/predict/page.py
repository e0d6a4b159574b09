"""Predict page: classify one photo (showing every preparation step) or many (a sortable table).

Input: drag and drop (files, folders — recursively — or raw images), Open images…, Open folder…,
paste (Ctrl+V) and "Try a sample". All model work runs in a `TaskRunner` worker; the Predictor is
loaded once per active model, in the worker. torch-based core modules are imported lazily, inside
the worker functions (they are already in `sys.modules` once the context's `torchReady` fired).
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QModelIndex, QSize, QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtGui import QAction, QImage, QKeySequence, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFrame,
    QGridLayout,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fmnist_desktop.core import paths
from fmnist_desktop.core.errors import FmnistError
from fmnist_desktop.core.labels import CLASS_NAMES
from fmnist_desktop.ui.context import AppContext
from fmnist_desktop.ui.widgets.drop_zone import DropZone
from fmnist_desktop.ui.widgets.images import ImagePanel, pil_to_qimage, thumbnail_qimage
from fmnist_desktop.ui.widgets.probability_bars import ProbabilityBars
from fmnist_desktop.ui.workers import TaskRunner

SETTINGS_THRESHOLD = "predict/threshold_percent"
SETTINGS_LAST_DIR = "predict/last_dir"
DEFAULT_THRESHOLD_PERCENT = 50
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif *.tif *.tiff);;All files (*)"
BATCH_CHUNK = 16  # images per predict call: big enough to batch on the model, small for smooth progress
NOT_SURE_TEXT = "Not sure — this may not be clothing from these 10 classes"

# Table columns
COL_THUMB, COL_FILE, COL_CLASS, COL_CONF, COL_RUNNER, COL_PROBLEM = range(6)
HEADERS = ("", "File", "Top class", "Confidence", "Runner-up", "Note")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
CLASS_ROLE = Qt.ItemDataRole.UserRole + 2  # the row's top class, or "" for unreadable files
ROW_ROLE = Qt.ItemDataRole.UserRole + 3  # the BatchRow object, on the File column

FILTER_ALL = "All images"
FILTER_UNSURE = "Not sure"
FILTER_ERRORS = "Unreadable files"


@dataclass
class SingleResult:
    prediction: object  # core.predict.Prediction
    source: object  # the path (str) or the PIL image that was classified
    images: dict[str, QImage] = field(default_factory=dict)  # original/mask/crop/final
    notes: tuple[str, ...] = ()


@dataclass
class BatchRow:
    path: str
    label: str | None
    index: int | None
    confidence: float
    runner_up: str | None
    runner_up_confidence: float
    probabilities: tuple[float, ...]
    error: str | None
    thumbnail: QImage | None


class _ClassFilterProxy(QSortFilterProxyModel):
    """Sorts by SORT_ROLE; filters rows by exact top class, "not sure", or unreadable."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._mode = FILTER_ALL
        self._threshold = DEFAULT_THRESHOLD_PERCENT / 100
        self.setSortRole(SORT_ROLE)

    def set_mode(self, mode: str) -> None:
        self._refilter(lambda: setattr(self, "_mode", mode))

    def set_threshold(self, threshold: float) -> None:
        self._refilter(lambda: setattr(self, "_threshold", threshold))

    def _refilter(self, change) -> None:
        # Qt 6.10 replaced invalidateFilter() with begin/endFilterChange(); support both.
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange()
        else:
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        if self._mode == FILTER_ALL:
            return True
        row: BatchRow = self.sourceModel().index(source_row, COL_FILE, source_parent).data(ROW_ROLE)
        if row is None:
            return False
        if self._mode == FILTER_ERRORS:
            return row.error is not None
        if self._mode == FILTER_UNSURE:
            return row.error is None and row.confidence < self._threshold
        return row.error is None and row.label == self._mode


class PredictPage(QWidget):
    finetuneRequested = Signal()
    predictionShown = Signal(object)  # SingleResult, when a single image's result is on screen
    batchFinished = Signal(int)  # number of rows in the table
    myPhotosChanged = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("predictPage")
        self.context = context
        self.runner = TaskRunner(self)
        self._predictor_lock = threading.Lock()
        self._predictors: dict[str, object] = {}
        self._pending: tuple[str, object] | None = None  # input that arrived before torch was ready
        self._single: SingleResult | None = None
        self._last_single_input: tuple[str, object] | None = None
        self._sample_index = 0
        self.setAcceptDrops(True)
        self._build()
        self._restore_settings()
        context.torchReady.connect(self._on_torch_ready)
        context.activeModelChanged.connect(self._on_active_model_changed)
        self._update_enabled()

    # ================================================================= layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 8)
        outer.setSpacing(8)

        bar = QHBoxLayout()
        self.open_files_button = self._button("Open images…", "openImagesButton", self.open_files_dialog)
        self.open_folder_button = self._button("Open folder…", "openFolderButton", self.open_folder_dialog)
        self.paste_button = self._button("Paste", "pasteButton", self.paste_from_clipboard)
        self.paste_button.setToolTip("Classify an image from the clipboard (Ctrl+V)")
        self.sample_button = self._button("Try a sample", "sampleButton", self.try_sample)
        for button in (self.open_files_button, self.open_folder_button, self.paste_button, self.sample_button):
            bar.addWidget(button)
        bar.addStretch(1)
        threshold_label = QLabel("Not sure below", self)
        self.threshold_spin = QSpinBox(self)
        self.threshold_spin.setObjectName("thresholdSpin")
        self.threshold_spin.setAccessibleName("Confidence threshold")
        self.threshold_spin.setRange(0, 100)
        self.threshold_spin.setSuffix(" %")
        self.threshold_spin.setValue(DEFAULT_THRESHOLD_PERCENT)
        self.threshold_spin.setToolTip("Below this confidence the page says it is not sure")
        threshold_label.setBuddy(self.threshold_spin)
        self.threshold_spin.valueChanged.connect(self._on_threshold_changed)
        bar.addWidget(threshold_label)
        bar.addWidget(self.threshold_spin)
        outer.addLayout(bar)

        self.paste_action = QAction("Paste image", self)
        self.paste_action.setShortcut(QKeySequence.StandardKey.Paste)
        self.paste_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)  # active while this page is shown
        self.paste_action.triggered.connect(self.paste_from_clipboard)
        self.addAction(self.paste_action)

        self.banner = QLabel(self)
        self.banner.setObjectName("predictBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        outer.addWidget(self.banner)

        self.drop_zone = DropZone(
            "Drop clothing photos or folders here\n\n(PNG, JPEG, WebP, BMP, GIF, TIFF — or use Open, Paste, Try a sample)",
            self,
        )
        self.drop_zone.pathsDropped.connect(self.predict_paths)
        self.drop_zone.imageDropped.connect(self.predict_qimage)
        outer.addWidget(self.drop_zone)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(QWidget(self))  # 0: nothing yet — the drop zone fills the page
        self.stack.addWidget(self._build_single_view())  # 1
        self.stack.addWidget(self._build_batch_view())  # 2
        outer.addWidget(self.stack, 1)
        self._show_view(0)

    def _button(self, text: str, name: str, slot) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setAccessibleName(text.rstrip("…"))
        button.clicked.connect(slot)
        return button

    def _build_single_view(self) -> QWidget:
        view = QWidget(self)
        view.setObjectName("singleView")
        layout = QVBoxLayout(view)
        layout.setContentsMargins(0, 0, 0, 0)

        top = QHBoxLayout()
        self.back_button = QPushButton("◀ Back to the list", view)
        self.back_button.setObjectName("backToListButton")
        self.back_button.clicked.connect(lambda: self._show_view(2))
        self.back_button.hide()
        top.addWidget(self.back_button)
        self.file_label = QLabel(view)
        self.file_label.setObjectName("singleFileLabel")
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.file_label, 1)
        layout.addLayout(top)

        # Left: the four preparation steps in a 2×2 grid; right: the verdict, the bars, teaching.
        # Side by side, both fit a 1024×640 window without scrolling.
        body = QHBoxLayout()
        steps = QGridLayout()
        steps.setSpacing(6)
        self.panels = {
            "original": ImagePanel("Your photo", parent=view),
            "mask": ImagePanel("Object found", parent=view),
            "crop": ImagePanel("Cropped", parent=view),
            "final": ImagePanel("What the model saw (28×28)", pixelated=True, parent=view),
        }
        for position, (key, panel) in enumerate(self.panels.items()):
            panel.setObjectName(f"{key}Panel")
            steps.addWidget(panel, position // 2, position % 2)
        left = QVBoxLayout()
        left.addLayout(steps, 1)
        self.notes_label = QLabel(view)
        self.notes_label.setObjectName("stepNotes")
        self.notes_label.setWordWrap(True)
        left.addWidget(self.notes_label)
        body.addLayout(left, 1)

        result_box = QVBoxLayout()
        self.verdict_label = QLabel(view)
        self.verdict_label.setObjectName("verdictLabel")
        self.verdict_label.setAccessibleName("Prediction")
        self.verdict_label.setWordWrap(True)
        font = self.verdict_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.verdict_label.setFont(font)
        self.guess_label = QLabel(view)  # the best guess, when the verdict is "not sure"
        self.guess_label.setObjectName("bestGuessLabel")
        self.guess_label.hide()
        self.bars = ProbabilityBars(view)
        result_box.addWidget(self.verdict_label)
        result_box.addWidget(self.guess_label)
        result_box.addWidget(self.bars)
        result_box.addWidget(self._build_teach_box(view))
        result_box.addStretch(1)
        body.addLayout(result_box, 1)
        layout.addLayout(body, 1)
        scroll = QScrollArea(self)
        scroll.setObjectName("singleScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        view.setMinimumHeight(470)  # below this the page scrolls instead of squashing the chart
        scroll.setWidget(view)
        return scroll

    def _build_teach_box(self, parent: QWidget) -> QWidget:
        box = QGroupBox("Teach the model", parent)
        box.setObjectName("teachBox")
        layout = QVBoxLayout(box)
        explain = QLabel("Keep this photo with its right class, then fine-tune the model on your photos.", box)
        explain.setWordWrap(True)
        layout.addWidget(explain)
        row = QHBoxLayout()
        self.confirm_button = QPushButton("Confirm", box)
        self.confirm_button.setObjectName("confirmButton")
        self.confirm_button.setAccessibleName("Confirm prediction")
        self.confirm_button.clicked.connect(self.confirm_current)
        self.correct_button = QToolButton(box)
        self.correct_button.setObjectName("correctButton")
        self.correct_button.setText("Correct…")
        self.correct_button.setAccessibleName("Correct the class")
        self.correct_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.correct_button)
        for index, name in enumerate(CLASS_NAMES):
            action = menu.addAction(name)
            action.triggered.connect(lambda _checked=False, i=index: self.correct_current(i))
        self.correct_button.setMenu(menu)
        row.addWidget(self.confirm_button)
        row.addWidget(self.correct_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.my_photos_label = QLabel(box)
        self.my_photos_label.setObjectName("myPhotosCount")
        layout.addWidget(self.my_photos_label)
        row2 = QHBoxLayout()
        self.my_photos_button = QPushButton("My photos…", box)
        self.my_photos_button.setObjectName("myPhotosButton")
        self.my_photos_button.clicked.connect(self.show_my_photos)
        self.finetune_button = QPushButton("Fine-tune with my photos", box)
        self.finetune_button.setObjectName("finetuneButton")
        self.finetune_button.clicked.connect(self.finetuneRequested.emit)
        row2.addWidget(self.my_photos_button)
        row2.addWidget(self.finetune_button)
        row2.addStretch(1)
        layout.addLayout(row2)
        layout.addStretch(1)
        return box

    def _build_batch_view(self) -> QWidget:
        view = QWidget(self)
        view.setObjectName("batchView")
        layout = QVBoxLayout(view)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.progress = QProgressBar(view)
        self.progress.setObjectName("batchProgress")
        self.progress.setAccessibleName("Batch progress")
        self.progress.setFormat("%v / %m")
        self.cancel_button = QPushButton("Cancel", view)
        self.cancel_button.setObjectName("cancelBatchButton")
        self.cancel_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)

        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Show:", view))
        self.filter_combo = QComboBox(view)
        self.filter_combo.setObjectName("classFilter")
        self.filter_combo.setAccessibleName("Filter by class")
        self.filter_combo.addItems([FILTER_ALL, *CLASS_NAMES, FILTER_UNSURE, FILTER_ERRORS])
        self.filter_combo.currentTextChanged.connect(self._on_filter_changed)
        row2.addWidget(self.filter_combo)
        self.count_label = QLabel(view)
        self.count_label.setObjectName("batchCount")
        row2.addWidget(self.count_label, 1)
        self.export_button = QPushButton("Export CSV…", view)
        self.export_button.setObjectName("exportCsvButton")
        self.export_button.clicked.connect(self.export)
        row2.addWidget(self.export_button)
        layout.addLayout(row2)

        self.model = QStandardItemModel(0, len(HEADERS), view)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.proxy = _ClassFilterProxy(view)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(view)
        self.table.setObjectName("resultsTable")
        self.table.setAccessibleName("Prediction results")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(40, 40))
        self.table.verticalHeader().setDefaultSectionSize(44)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_PROBLEM, QHeaderView.ResizeMode.Stretch)
        for column in (COL_THUMB, COL_CLASS, COL_CONF, COL_RUNNER):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.doubleClicked.connect(self._on_row_activated)
        self.table.setToolTip("Double-click a row to see how the model saw that image")
        layout.addWidget(self.table, 1)
        return view

    # ================================================================= settings
    def _restore_settings(self) -> None:
        value = self.context.settings.value(SETTINGS_THRESHOLD, DEFAULT_THRESHOLD_PERCENT)
        try:
            self.threshold_spin.setValue(int(value))
        except (TypeError, ValueError):
            self.threshold_spin.setValue(DEFAULT_THRESHOLD_PERCENT)

    def save_settings(self) -> None:
        self.context.settings.setValue(SETTINGS_THRESHOLD, self.threshold_spin.value())

    def threshold(self) -> float:
        return self.threshold_spin.value() / 100

    # ================================================================= state helpers
    def _show_view(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        empty = index == 0
        # Big drop target while nothing is shown; a slim strip (still a drop target) otherwise.
        self.drop_zone.setMinimumHeight(260 if empty else 0)
        self.drop_zone.setMaximumHeight(16777215 if empty else 44)
        self.drop_zone.setText(
            "Drop clothing photos or folders here\n\n(PNG, JPEG, WebP, BMP, GIF, TIFF — or use Open, Paste, Try a sample)"
            if empty
            else "Drop more photos or folders here"
        )
        self.stack.setVisible(not empty)
        self.back_button.setVisible(index == 1 and self.model.rowCount() > 0)

    def show_banner(self, text: str, error: bool = True) -> None:
        colour = "#b3261e" if error else "palette(window-text)"
        self.banner.setStyleSheet(f"QLabel#predictBanner {{ color: {colour}; padding: 4px; }}")
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _update_enabled(self) -> None:
        ready = self.context.is_torch_ready() and self.context.active_entry() is not None
        busy = self.runner.is_running()
        self.cancel_button.setEnabled(busy)
        samples = self.sample_paths()
        self.sample_button.setEnabled(bool(samples))
        self.sample_button.setToolTip("Classify one of the example photos shipped with the app" if samples else "No sample images are installed")
        has_single = self._single is not None and getattr(self._single.prediction, "error", None) is None
        store = self._user_photos_module()
        self.confirm_button.setEnabled(ready and has_single and store is not None)
        self.correct_button.setEnabled(ready and has_single and store is not None)
        count = self.my_photos_count()
        self.my_photos_label.setText(f"My photos: {count}" if store is not None else "My photos are not available.")
        self.my_photos_button.setEnabled(store is not None)
        self.finetune_button.setEnabled(ready and count > 0 and not busy)
        if has_single:
            label = self._single.prediction.label
            self.confirm_button.setText(f"Confirm “{label}”")
        else:
            self.confirm_button.setText("Confirm")

    @Slot()
    def _on_torch_ready(self) -> None:
        self._update_enabled()
        if self._pending is not None:
            kind, payload = self._pending
            self._pending = None
            self._dispatch(kind, payload)

    @Slot(object)
    def _on_active_model_changed(self, _entry) -> None:
        self._update_enabled()
        # Show the shown photo through the new model's eyes.
        if self._last_single_input is not None and self.stack.currentIndex() == 1 and not self.runner.is_running():
            self._dispatch(*self._last_single_input)

    # ================================================================= busy protocol
    def is_busy(self) -> bool:
        return self.runner.is_running()

    def busy_description(self) -> str:
        return self.runner.description() or "Classifying images"

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        return self.runner.shutdown(timeout_ms)

    @Slot()
    def cancel(self) -> None:
        self.runner.cancel()

    # ================================================================= inputs
    @Slot()
    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open images", self._last_dir(), IMAGE_FILTER)
        if files:
            self._remember_dir(Path(files[0]).parent)
            self.predict_paths(files)

    @Slot()
    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self._last_dir())
        if folder:
            self._remember_dir(Path(folder))
            self.predict_paths([folder])

    def _last_dir(self) -> str:
        return str(self.context.settings.value(SETTINGS_LAST_DIR, str(Path.home())))

    def _remember_dir(self, folder: Path) -> None:
        self.context.settings.setValue(SETTINGS_LAST_DIR, str(folder))

    @Slot()
    def paste_from_clipboard(self) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime is None or not self.drop_zone.handle_mime(mime):
            self.show_banner("The clipboard holds no image or image file to classify.")

    def sample_paths(self) -> list[Path]:
        folder = paths.bundled_path("resources/samples")
        if not folder.is_dir():
            return []
        suffixes = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
        return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)

    @Slot()
    def try_sample(self) -> None:
        samples = self.sample_paths()
        if not samples:
            self.show_banner("No sample images are installed with this copy of the app.")
            return
        sample = samples[self._sample_index % len(samples)]
        self._sample_index += 1
        self.predict_paths([str(sample)])

    def dragEnterEvent(self, event) -> None:  # the whole page is a drop target
        if DropZone.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        if self.drop_zone.handle_mime(event.mimeData()):
            event.acceptProposedAction()

    @Slot(list)
    def predict_paths(self, items: list) -> None:
        """Classify files and folders: one file → the detailed view; otherwise → the table."""
        items = [str(p) for p in items if str(p)]
        if not items:
            return
        if len(items) == 1 and not Path(items[0]).is_dir():
            self._dispatch("single-path", items[0])
        else:
            self._dispatch("batch", items)

    @Slot(QImage)
    def predict_qimage(self, image: QImage) -> None:
        """Classify an image that came as pixels (clipboard, dragged from a browser)."""
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        self._dispatch("single-bytes", bytes(buffer.data()))

    def _dispatch(self, kind: str, payload) -> None:
        if not self.context.is_torch_ready():
            if self.context.import_error():
                self.show_banner(f"Cannot classify: {self.context.import_error()}")
                return
            self._pending = (kind, payload)
            self.show_banner("Loading the model engine… your images will be classified as soon as it is ready.", error=False)
            return
        entry = self.context.active_entry()
        if entry is None:
            self.show_banner("No model is active. Train one or open one on the Models page.")
            return
        self.show_banner("")
        if kind == "batch":
            self._start_batch(entry, payload)
        else:
            self._last_single_input = (kind, payload)
            self._start_single(entry, kind, payload)

    # ================================================================= worker side
    def _predictor_for(self, entry):
        """The Predictor for a library entry, loaded once (called in worker threads)."""
        from fmnist_desktop.core.predict import Predictor

        key = str(entry.path)
        with self._predictor_lock:
            predictor = self._predictors.get(key)
            if predictor is None:
                predictor = Predictor.from_checkpoint(entry.path, device="cpu")
                self._predictors = {key: predictor}  # keep only the active model's weights
            return predictor

    def _start_single(self, entry, kind: str, payload) -> None:
        def task(report_progress, is_cancelled):
            from fmnist_desktop.core import photo

            report_progress(None, "Loading the model…")
            predictor = self._predictor_for(entry)
            if kind == "single-path":
                prediction = predictor.predict_paths([payload], keep_steps=True)[0]
                source = payload
            else:
                try:
                    image = photo.load_image(payload)
                except FmnistError as exc:
                    raise FmnistError(f"The pasted image cannot be read: {exc}") from exc
                prediction = predictor.predict_images([image], names=["Pasted image"])[0]
                source = image
            result = SingleResult(prediction, source)
            if getattr(prediction, "error", None):
                return result
            steps = getattr(prediction, "steps", None)
            if steps is None:
                image = photo.load_image(payload) if kind == "single-path" else source
                steps = photo.prepare_photo(image)
            if kind == "single-path":
                result.source = payload
            for name in ("original", "mask", "crop", "final"):
                pil = getattr(steps, name, None)
                if pil is not None:
                    result.images[name] = pil_to_qimage(pil)
            result.notes = tuple(getattr(steps, "notes", ()) or ())
            return result

        name = Path(payload).name if kind == "single-path" else "pasted image"
        self.runner.start(
            task,
            on_result=self._show_single,
            on_error=lambda message: self.show_banner(message),
            on_finished=self._update_enabled,
            description=f"Classifying {name}",
        )
        self._update_enabled()

    def _start_batch(self, entry, items: list[str]) -> None:
        self.model.removeRows(0, self.model.rowCount())
        self.progress.setRange(0, 0)  # busy until the folder walk has counted the files
        self._show_view(2)

        def task(report_progress, is_cancelled):
            from fmnist_desktop.core.predict import iter_image_paths

            report_progress(None, "Looking for images…")
            files: list[str] = []
            for item in items:
                if Path(item).is_dir():
                    files.extend(str(p) for p in iter_image_paths([item]))
                else:
                    files.append(item)  # named explicitly: keep it, so a bad file shows its reason
                if is_cancelled():
                    return 0
            total = len(files)
            report_progress(0.0 if total else 1.0, f"0 / {total}")
            predictor = self._predictor_for(entry)
            done = 0
            for start in range(0, total, BATCH_CHUNK):
                if is_cancelled():
                    break
                chunk = files[start : start + BATCH_CHUNK]
                # Steps are kept only for this chunk: the thumbnail is made from the original photo.
                predictions = predictor.predict_paths(chunk, keep_steps=True)
                rows = [_batch_row(p, path) for p, path in zip(predictions, chunk)]
                done += len(chunk)
                report_progress(done / total, f"{done} / {total}", partial=(rows, total))
            return total

        self.runner.start(
            task,
            on_partial=self._add_rows,
            on_progress=self._on_batch_progress,
            on_result=self._on_batch_result,
            on_cancelled=lambda: self.show_banner(f"Cancelled after {self.model.rowCount()} images.", error=False),
            on_error=lambda message: self.show_banner(message),
            on_finished=self._on_batch_finished,
            description=f"Classifying {len(items)} item(s)",
        )
        self._update_enabled()

    # ================================================================= results (GUI thread)
    def _show_single(self, result: SingleResult) -> None:
        prediction = result.prediction
        self._single = result
        self._show_view(1)
        source = result.source
        self.file_label.setText(str(source) if isinstance(source, str) else "Pasted image")
        error = getattr(prediction, "error", None)
        if error:
            for panel in self.panels.values():
                panel.set_image(None)
            self.verdict_label.setText("Cannot classify this file")
            self.guess_label.hide()
            self.notes_label.setText(error)
            self.bars.clear()
            self.show_banner(error)
        else:
            for name, panel in self.panels.items():
                image = result.images.get(name)
                panel.set_image(image, "" if image is not None else "not available")
            self.notes_label.setText(" · ".join(note for note in result.notes if note.strip()))
            self._render_verdict()
        self._update_enabled()
        self.predictionShown.emit(result)

    def _render_verdict(self) -> None:
        if self._single is None or getattr(self._single.prediction, "error", None):
            return
        prediction = self._single.prediction
        confident = prediction.confidence >= self.threshold()
        if confident:
            self.verdict_label.setText(f"{prediction.label} — {prediction.confidence * 100:.1f}%")
            self.guess_label.hide()
        else:
            self.verdict_label.setText(NOT_SURE_TEXT)
            self.guess_label.setText(f"Best guess: {prediction.label} ({prediction.confidence * 100:.1f}%)")
            self.guess_label.show()
        names = CLASS_NAMES if len(prediction.probabilities) == len(CLASS_NAMES) else None
        self.bars.set_probabilities(prediction.probabilities, names=names, confident=confident)

    def verdict_text(self) -> str:
        return self.verdict_label.text()

    def _add_rows(self, partial) -> None:
        rows, _total = partial
        for row in rows:
            self.model.appendRow(self._items_for(row))
        self._update_count()

    def _items_for(self, row: BatchRow) -> list[QStandardItem]:
        thumb = QStandardItem()
        if row.thumbnail is not None and not row.thumbnail.isNull():
            thumb.setData(QPixmap.fromImage(row.thumbnail), Qt.ItemDataRole.DecorationRole)
        thumb.setData(0, SORT_ROLE)
        file_item = QStandardItem(Path(row.path).name)
        file_item.setToolTip(row.path)
        file_item.setData(Path(row.path).name.lower(), SORT_ROLE)
        file_item.setData(row, ROW_ROLE)
        if row.error:
            cls = QStandardItem("—")
            cls.setData("", SORT_ROLE)
            conf = QStandardItem("")
            conf.setData(-1.0, SORT_ROLE)
            runner = QStandardItem("")
            runner.setData("", SORT_ROLE)
            problem = QStandardItem(row.error)
            problem.setToolTip(row.error)
        else:
            cls = QStandardItem(row.label)
            cls.setData(row.label, SORT_ROLE)
            conf = QStandardItem(f"{row.confidence * 100:.1f}%")
            conf.setData(row.confidence, SORT_ROLE)
            conf.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            runner = QStandardItem(f"{row.runner_up} ({row.runner_up_confidence * 100:.1f}%)" if row.runner_up else "")
            runner.setData(row.runner_up or "", SORT_ROLE)
            problem = QStandardItem("")
        problem.setData(row.error or "", SORT_ROLE)
        items = [thumb, file_item, cls, conf, runner, problem]
        for item in items:
            item.setData(row.label or "", CLASS_ROLE)
        self._style_row(items, row)
        return items

    def _style_row(self, items, row: BatchRow) -> None:
        unsure = row.error is None and row.confidence < self.threshold()
        items[COL_PROBLEM].setText(row.error or (NOT_SURE_TEXT if unsure else ""))

    def _on_batch_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
            self.count_label.setText(message)
            return
        total = _total_from_message(message)
        if total is not None:
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(round(fraction * total))

    def _on_batch_result(self, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(total)
        if total == 0:
            self.show_banner("No images found there (PNG, JPEG, WebP, BMP, GIF or TIFF files).")

    def _on_batch_finished(self) -> None:
        self._update_count()
        self._update_enabled()
        self.table.resizeColumnToContents(COL_CLASS)
        self.batchFinished.emit(self.model.rowCount())

    def _update_count(self) -> None:
        total = self.model.rowCount()
        errors = sum(1 for r in self.rows() if r.error)
        shown = self.proxy.rowCount()
        text = f"{total} images"
        if errors:
            text += f", {errors} unreadable"
        if shown != total:
            text += f" — showing {shown}"
        self.count_label.setText(text)

    def _on_filter_changed(self, mode: str) -> None:
        self.proxy.set_mode(mode)
        self._update_count()

    def _on_threshold_changed(self, _value: int) -> None:
        self.proxy.set_threshold(self.threshold())
        self._render_verdict()
        for r in range(self.model.rowCount()):
            row = self.model.item(r, COL_FILE).data(ROW_ROLE)
            self._style_row([self.model.item(r, c) for c in range(len(HEADERS))], row)

    def _on_row_activated(self, index: QModelIndex) -> None:
        row: BatchRow = self.proxy.index(index.row(), COL_FILE).data(ROW_ROLE)
        if row is not None and not self.runner.is_running():
            self._dispatch("single-path", row.path)

    # ================================================================= table access + export
    def rows(self, visible_only: bool = False) -> list[BatchRow]:
        """The batch rows in table order (sorted/filtered when `visible_only`)."""
        if visible_only:
            return [self.proxy.index(r, COL_FILE).data(ROW_ROLE) for r in range(self.proxy.rowCount())]
        return [self.model.item(r, COL_FILE).data(ROW_ROLE) for r in range(self.model.rowCount())]

    def export(self) -> None:
        """File ▸ Export… on this page: the table as CSV (the rows currently shown)."""
        if self.model.rowCount() == 0:
            self.show_banner("Nothing to export yet: classify a folder or several images first.")
            return
        start = str(Path(self._last_dir()) / "predictions.csv")
        target, _ = QFileDialog.getSaveFileName(self, "Export predictions as CSV", start, "CSV files (*.csv)")
        if target:
            self.export_csv(target)

    def export_csv(self, target: str | Path) -> bool:
        """Write the visible rows (in their current order) as CSV, atomically."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["file", "top_class", "confidence", "runner_up", "runner_up_confidence", "not_sure", "error",
                         *[f"p_{name}" for name in CLASS_NAMES]])
        threshold = self.threshold()
        for row in self.rows(visible_only=True):
            if row.error:
                writer.writerow([row.path, "", "", "", "", "", row.error, *[""] * len(CLASS_NAMES)])
            else:
                writer.writerow([row.path, row.label, f"{row.confidence:.4f}", row.runner_up or "",
                                 f"{row.runner_up_confidence:.4f}", "yes" if row.confidence < threshold else "no", "",
                                 *[f"{p:.4f}" for p in row.probabilities]])
        try:
            paths.atomic_write_text(target, out.getvalue())
        except FmnistError as exc:
            self.show_banner(str(exc))
            return False
        self.show_banner(f"Saved {self.proxy.rowCount()} rows to {target}.", error=False)
        return True

    # ================================================================= teaching (core.user_photos)
    def _user_photos_module(self):
        if not self.context.is_torch_ready():
            return None
        try:
            from fmnist_desktop.core import user_photos
        except ImportError:
            return None
        return user_photos

    def my_photos_count(self) -> int:
        store = self._user_photos_module()
        if store is None:
            return 0
        try:
            return len(store.list_examples())
        except (FmnistError, OSError):
            return 0

    @Slot()
    def confirm_current(self) -> None:
        if self._single is not None:
            self._store_example(self._single.prediction.index)

    def correct_current(self, class_index: int) -> None:
        self._store_example(class_index)

    def _store_example(self, class_index: int) -> None:
        store = self._user_photos_module()
        if store is None or self._single is None:
            return
        source = self._single.source
        try:
            store.add_example(source, class_index)
        except FmnistError as exc:
            self.show_banner(str(exc))
            return
        self.show_banner(f"Saved to My photos as “{CLASS_NAMES[class_index]}”.", error=False)
        self._update_enabled()
        self.myPhotosChanged.emit()

    @Slot()
    def show_my_photos(self) -> None:
        store = self._user_photos_module()
        if store is None:
            self.show_banner("My photos become available once the model engine has loaded.")
            return
        from fmnist_desktop.ui.my_photos_dialog import MyPhotosDialog

        dialog = MyPhotosDialog(self.context, store, self)
        dialog.changed.connect(self._update_enabled)
        dialog.changed.connect(self.myPhotosChanged.emit)
        dialog.open()


def _batch_row(prediction, path: str) -> BatchRow:
    """A table row from a Prediction (worker thread): thumbnail made here, heavy images dropped."""
    error = getattr(prediction, "error", None)
    thumbnail = None
    steps = getattr(prediction, "steps", None)
    source_image = getattr(steps, "original", None) if steps is not None else None
    if source_image is None:
        source_image = getattr(prediction, "model_input", None)
    if source_image is not None:
        try:
            thumbnail = thumbnail_qimage(source_image, 40)
        except (OSError, ValueError):
            thumbnail = None
    if error:
        return BatchRow(path, None, None, 0.0, None, 0.0, (), str(error), thumbnail)
    top_k = list(getattr(prediction, "top_k", []) or [])
    runner_up, runner_conf = (top_k[1] if len(top_k) > 1 else (None, 0.0))
    return BatchRow(
        path,
        prediction.label,
        prediction.index,
        float(prediction.confidence),
        runner_up,
        float(runner_conf),
        tuple(float(p) for p in prediction.probabilities),
        None,
        thumbnail,
    )


def _total_from_message(message: str) -> int | None:
    _done, sep, total = message.partition(" / ")
    return int(total) if sep and total.isdigit() else None
