"""The Train page: settings, Train / Stop / Retrain, live charts, progress and the epoch log.

Everything slow runs in a `TrainingWorker` thread: loading the data set, training, evaluating the
new model on the test set and saving it to the model library. The page only turns the worker's
events into widgets. Torch and the torch-dependent core modules are imported lazily (after the
context's `torchReady`), never at module import time, so the window opens fast.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import FmnistError
from .workers import CancelFlag, TaskRunner, TrainingWorker, readable_error

log = logging.getLogger(__name__)

SETTINGS_LAST_RUN = "train/lastRun"  # JSON of the last started run's settings (Retrain uses it)
SETTINGS_FORM = "train/form"  # JSON of the form as the user left it
SETTINGS_DATA_FOLDER = "train/dataFolder"
STOP_TOOLTIP = "Stop after the current batch (Esc or Ctrl+.)"
EVAL_BATCH_SIZE = 250  # test-set evaluation after a run: small batches so Stop answers within ~0.3 s

DEVICE_CHOICES = (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA (NVIDIA GPU)"), ("mps", "MPS (Apple GPU)"))
BANNER_STYLES = {
    "info": "background:#e8f1fb; border:1px solid #9cc3ea; border-radius:4px;",
    "success": "background:#e9f7ec; border:1px solid #8fcf9c; border-radius:4px;",
    "error": "background:#fdecea; border:1px solid #f1a39b; border-radius:4px;",
}


@dataclass(frozen=True)
class RunSettings:
    """What the form says; JSON-friendly so it survives restarts (Retrain)."""

    preset: str
    epochs: int
    batch_size: int
    lr: float
    augment: bool
    device: str
    data_dir: str | None = None
    val_size: int = 5000

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: Any) -> "RunSettings | None":
        if not text:
            return None
        try:
            raw = json.loads(str(text))
            return cls(
                preset=str(raw["preset"]),
                epochs=int(raw["epochs"]),
                batch_size=int(raw["batch_size"]),
                lr=float(raw["lr"]),
                augment=bool(raw["augment"]),
                device=str(raw.get("device", "auto")),
                data_dir=raw.get("data_dir") or None,
                val_size=int(raw.get("val_size", 5000)),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class RunOutcome:
    """What the worker hands back after a finished run was evaluated and saved.

    When the save failed (disk full, folder gone) `entry` is None and the trained model travels
    here instead (`model`, `meta`, `save_error`): the page keeps it and offers to save it elsewhere.
    """

    entry: Any  # core.library.ModelEntry, or None when the save failed
    test_accuracy: float | None  # percent; None when Stop or closing the window skipped the evaluation
    finetune_report: Any = None  # core.user_photos' before/after report, for fine-tune runs
    model: Any = None  # the trained nn.Module, only when the save failed
    meta: Any = None  # its core.checkpoint.CheckpointMeta, only when the save failed
    save_error: str | None = None
    evaluation_error: str | None = None  # why test_accuracy is None when the evaluation failed


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Banner(QFrame):
    """An inline, non-modal message with optional action buttons (tests click them directly)."""

    def __init__(self, object_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(object_name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(self)
        self.label.setObjectName(f"{object_name}Text")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.label, 1)
        self.buttons_box = QHBoxLayout()
        layout.addLayout(self.buttons_box)
        self.close_button = QPushButton("Dismiss", self)
        self.close_button.setObjectName(f"{object_name}Dismiss")
        self.close_button.clicked.connect(self.hide)
        layout.addWidget(self.close_button)
        self.hide()

    def show_message(self, kind: str, text: str) -> None:
        self.setStyleSheet(f"QFrame#{self.objectName()} {{ {BANNER_STYLES[kind]} }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class TrainPage(QWidget):
    """Train a model; see the module docstring. `runFinished(entry)` fires when a run was saved."""

    runFinished = Signal(object)  # core.library.ModelEntry of the new model
    runStateChanged = Signal(bool)  # busy or not

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPage")
        self.context = context
        self._worker: TrainingWorker | None = None
        self._data_cache: tuple[str, Any] | None = None  # (folder key, core.data.FashionMNIST)
        self._presets: dict[str, Any] = {}
        self._devices: dict[str, str] = {}
        self._ready = False
        self._run_started_at = 0.0
        self._run_kind = "train"  # or "finetune"
        self._finetune_before: Any = None
        self._last_outcome: RunOutcome | None = None
        self._unsaved: RunOutcome | None = None  # a trained model whose save failed, held until saved
        self._run_finished = False  # training done; evaluating and saving now
        self._has_local_data = False
        self._run_active = False
        self.charts = None  # ui.charts.TrainingCharts, built once matplotlib is loaded
        self._scan_runner = TaskRunner(self)  # looks for the data set (cheap, but touches the disk)
        self._chart_runner = TaskRunner(self)  # imports matplotlib off the GUI thread
        self._prepare_runner = TaskRunner(self)  # reads the user's photos for fine-tuning
        self._finetune_examples: list = []
        self._download_runner = TaskRunner(self)
        self._build()
        self._set_idle_state()
        context.torchReady.connect(self._on_torch_ready)
        if context.is_torch_ready():
            self._on_torch_ready()

    # ================================================================= construction

    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter)

        # --- left: settings in a scroll area so nothing is clipped in a small window ---
        scroll = QScrollArea(splitter)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(260)
        left = QWidget(scroll)
        scroll.setWidget(left)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 6, 0)

        settings_box = QGroupBox("Settings", left)
        form = QFormLayout(settings_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.preset_combo = QComboBox(settings_box)
        self.preset_combo.setObjectName("presetCombo")
        self.preset_combo.setAccessibleName("Preset")
        # Sized to its longest title; the form puts it under its label when the column is narrow.
        self.preset_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_changed)
        form.addRow("Preset:", self.preset_combo)
        self.preset_description = QLabel(settings_box)
        self.preset_description.setObjectName("presetDescription")
        self.preset_description.setWordWrap(True)
        self.preset_description.setStyleSheet("color: #555;")
        form.addRow(self.preset_description)

        self.epochs_spin = QSpinBox(settings_box)
        self.epochs_spin.setObjectName("epochsSpin")
        self.epochs_spin.setAccessibleName("Epochs")
        self.epochs_spin.setRange(1, 500)
        form.addRow("Epochs:", self.epochs_spin)
        self.batch_spin = QSpinBox(settings_box)
        self.batch_spin.setObjectName("batchSizeSpin")
        self.batch_spin.setAccessibleName("Batch size")
        self.batch_spin.setRange(1, 8192)
        form.addRow("Batch size:", self.batch_spin)
        self.lr_spin = QDoubleSpinBox(settings_box)
        self.lr_spin.setObjectName("learningRateSpin")
        self.lr_spin.setAccessibleName("Learning rate")
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 10.0)
        self.lr_spin.setSingleStep(0.0005)
        form.addRow("Learning rate:", self.lr_spin)
        self.input_size_spin = QSpinBox(settings_box)
        self.input_size_spin.setObjectName("inputSizeSpin")
        self.input_size_spin.setAccessibleName("Input size")
        self.input_size_spin.setRange(8, 224)
        self.input_size_spin.setSuffix(" px")
        self.input_size_spin.setEnabled(False)
        self.input_size_spin.setToolTip("Fixed by the preset: its network is built for this image size.")
        form.addRow("Input size:", self.input_size_spin)
        self.augment_check = QCheckBox("Augmentation", settings_box)
        self.augment_check.setObjectName("augmentCheck")
        self.augment_check.setAccessibleName("Augmentation")
        form.addRow("", self.augment_check)
        self.val_size_spin = QSpinBox(settings_box)
        self.val_size_spin.setObjectName("valSizeSpin")
        self.val_size_spin.setAccessibleName("Validation images")
        self.val_size_spin.setRange(0, 30000)
        self.val_size_spin.setSingleStep(500)
        self.val_size_spin.setValue(5000)
        self.val_size_spin.setToolTip("Training images set aside to measure validation loss and accuracy "
                                      "after each epoch (the same ones every run).")
        form.addRow("Validation:", self.val_size_spin)
        self.device_combo = QComboBox(settings_box)
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setAccessibleName("Device")
        form.addRow("Device:", self.device_combo)
        left_layout.addWidget(settings_box)

        data_box = QGroupBox("Data set", left)
        data_layout = QVBoxLayout(data_box)
        self.data_label = QLabel("Looking for Fashion-MNIST…", data_box)
        self.data_label.setObjectName("dataSourceLabel")
        self.data_label.setAccessibleName("Data source")
        self.data_label.setWordWrap(True)
        self.data_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        data_layout.addWidget(self.data_label)
        data_buttons = QHBoxLayout()
        self.choose_folder_button = QPushButton("Choose folder…", data_box)
        self.choose_folder_button.setObjectName("chooseDataFolderButton")
        self.choose_folder_button.setAccessibleName("Choose the Fashion-MNIST folder")
        self.choose_folder_button.clicked.connect(self._choose_data_folder)
        self.download_button = QPushButton("Download", data_box)
        self.download_button.setObjectName("downloadButton")
        self.download_button.setAccessibleName("Download Fashion-MNIST")
        self.download_button.setToolTip("Download Fashion-MNIST (about 30 MB) into the app's data folder.")
        self.download_button.clicked.connect(self._on_download_clicked)
        data_buttons.addWidget(self.choose_folder_button)
        data_buttons.addWidget(self.download_button)
        data_layout.addLayout(data_buttons)
        self.download_progress = QProgressBar(data_box)
        self.download_progress.setObjectName("downloadProgress")
        self.download_progress.hide()
        data_layout.addWidget(self.download_progress)
        left_layout.addWidget(data_box)

        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train", left)
        self.train_button.setObjectName("trainButton")
        self.train_button.setAccessibleName("Train")
        self.train_button.setToolTip("Train a new model with these settings (Ctrl+T)")
        self.train_button.setShortcut(QKeySequence("Ctrl+T"))
        self.train_button.clicked.connect(self.start_training)
        self.stop_button = QPushButton("Stop", left)
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setAccessibleName("Stop training")
        self.stop_button.setToolTip(STOP_TOOLTIP)
        self.stop_button.clicked.connect(self.stop_training)
        self.retrain_button = QPushButton("Retrain", left)
        self.retrain_button.setObjectName("retrainButton")
        self.retrain_button.setAccessibleName("Retrain with the last run's settings")
        self.retrain_button.clicked.connect(self.retrain)
        for button in (self.train_button, self.stop_button, self.retrain_button):
            buttons.addWidget(button)
        left_layout.addLayout(buttons)
        for keys in ("Esc", "Ctrl+."):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)  # only while this page is shown
            shortcut.activated.connect(self.stop_training)
        left_layout.addStretch(1)

        # --- right: banner, progress, charts, log ---
        right = QWidget(splitter)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        self.banner = Banner("trainBanner", right)
        self.make_active_button = QPushButton("Make it the active model", self.banner)
        self.make_active_button.setObjectName("makeActiveButton")
        self.make_active_button.clicked.connect(self._make_last_model_active)
        self.make_active_button.hide()
        self.banner.buttons_box.addWidget(self.make_active_button)
        self.save_as_button = QPushButton("Save model as…", self.banner)
        self.save_as_button.setObjectName("saveUnsavedAsButton")
        self.save_as_button.setToolTip("Save the trained model to a file elsewhere (another disk, a USB stick).")
        self.save_as_button.clicked.connect(lambda: self.save_unsaved_model_as())  # not clicked(checked)
        self.retry_save_button = QPushButton("Try again", self.banner)
        self.retry_save_button.setObjectName("retrySaveButton")
        self.retry_save_button.setToolTip("Save the trained model into the model library again (after freeing space).")
        self.retry_save_button.clicked.connect(lambda: self.retry_saving_unsaved_model())
        for button in (self.save_as_button, self.retry_save_button):
            button.hide()
            self.banner.buttons_box.addWidget(button)
        right_layout.addWidget(self.banner)

        progress_row = QHBoxLayout()
        self.progress_bar = QProgressBar(right)
        self.progress_bar.setObjectName("trainProgress")
        self.progress_bar.setAccessibleName("Training progress")
        self.progress_bar.setTextVisible(True)
        progress_row.addWidget(self.progress_bar, 1)
        right_layout.addLayout(progress_row)
        self.progress_label = QLabel("Idle.", right)
        self.progress_label.setObjectName("trainProgressLabel")
        self.progress_label.setWordWrap(True)
        right_layout.addWidget(self.progress_label)

        self.chart_holder = QWidget(right)
        self.chart_holder.setObjectName("chartHolder")
        self.chart_holder_layout = QVBoxLayout(self.chart_holder)
        self.chart_holder_layout.setContentsMargins(0, 0, 0, 0)
        self._chart_placeholder = QLabel("The loss and accuracy charts appear here.", self.chart_holder)
        self._chart_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_holder_layout.addWidget(self._chart_placeholder)
        self.chart_holder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.chart_holder.setMinimumHeight(200)

        self.log_view = QPlainTextEdit(right)
        self.log_view.setObjectName("trainLog")
        self.log_view.setAccessibleName("Training log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("Per-epoch results appear here.")
        font = self.log_view.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.log_view.setFont(font)

        vertical = QSplitter(Qt.Orientation.Vertical, right)
        vertical.setChildrenCollapsible(False)
        vertical.addWidget(self.chart_holder)
        vertical.addWidget(self.log_view)
        vertical.setStretchFactor(0, 3)
        vertical.setStretchFactor(1, 1)
        vertical.setSizes([430, 130])  # the charts get most of the height; the log can be dragged taller
        self.log_view.setMinimumHeight(70)
        right_layout.addWidget(vertical, 1)

        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([290, 700])

    # ================================================================= torch-dependent set-up

    @Slot()
    def _on_torch_ready(self) -> None:
        if self._ready:
            return
        from ..core import models, training

        self._presets = dict(models.PRESETS)
        self._devices = training.available_devices()
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        for name, preset in self._presets.items():
            self.preset_combo.addItem(preset.title, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.blockSignals(False)
        self._fill_devices()
        self._ready = True
        form = RunSettings.from_json(self.context.settings.value(SETTINGS_FORM))
        if form is not None and form.preset in self._presets:
            self._apply_settings(form)
        else:
            default = models.DEFAULT_PRESET if models.DEFAULT_PRESET in self._presets else next(iter(self._presets))
            self._select_preset(default)
        self.refresh_data_sources()
        self._load_charts()
        self._set_idle_state()

    def _fill_devices(self) -> None:
        self.device_combo.clear()
        model = self.device_combo.model()
        for key, title in DEVICE_CHOICES:
            if key == "mps" and sys.platform != "darwin":
                continue  # Apple GPUs exist only on Macs
            self.device_combo.addItem(title, key)
            index = self.device_combo.count() - 1
            if key == "auto":
                best = "cuda" if "cuda" in self._devices else "mps" if "mps" in self._devices else "cpu"
                tip = f"Uses the fastest device here: {self._devices.get(best, 'CPU')}."
            elif key in self._devices:
                tip = self._devices[key]
            elif key == "cuda":
                tip = "No CUDA GPU is available: this computer has no NVIDIA GPU or its driver is missing."
            else:
                tip = "The Apple GPU (Metal) is not available on this Mac."
            self.device_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
            if key not in self._devices and key != "auto" and isinstance(model, QStandardItemModel):
                model.item(index).setEnabled(False)

    def _load_charts(self) -> None:
        """Import matplotlib off the GUI thread (≈0.5–1.5 s), then build the canvas here."""
        if self.charts is not None:
            return

        def import_charts(report_progress, is_cancelled):
            from . import charts  # noqa: F401 - imported for its side effect on sys.modules

            return True

        self._chart_runner.start(import_charts, on_result=lambda _ok: self._build_charts(),
                                 on_error=lambda msg: self._chart_placeholder.setText(f"Charts unavailable: {msg}"))

    def _build_charts(self) -> None:
        if self.charts is not None:
            return
        from .charts import TrainingCharts

        self.charts = TrainingCharts(self.chart_holder)
        self._chart_placeholder.hide()
        self.chart_holder_layout.addWidget(self.charts)
        if self._last_history:
            self.charts.set_history(self._last_history)

    _last_history: tuple = ()

    def ensure_charts(self) -> None:
        """Build the charts now (blocking import); for scripts and tests that need them at once."""
        self._build_charts()

    # ================================================================= form <-> settings

    def _select_preset(self, name: str) -> None:
        index = self.preset_combo.findData(name)
        if index >= 0:
            self.preset_combo.setCurrentIndex(index)
            self._on_preset_changed(index)

    @Slot(int)
    def _on_preset_changed(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        preset = self._presets.get(name)
        if preset is None:
            return
        self.preset_description.setText(preset.description)
        self.epochs_spin.setValue(preset.epochs)
        self.batch_spin.setValue(preset.batch_size)
        self.lr_spin.setValue(preset.lr)
        self.input_size_spin.setValue(preset.input_size)
        self.augment_check.setChecked(preset.augment != "none")
        kind = self._augment_kind(preset, True)
        self.augment_check.setToolTip(f"Random '{kind}' augmentation of the training images on every batch.")

    @staticmethod
    def _augment_kind(preset, on: bool) -> str:
        if not on:
            return "none"
        return preset.augment if preset.augment != "none" else "flip"

    def current_settings(self) -> RunSettings:
        folder = self.context.settings.value(SETTINGS_DATA_FOLDER) or None
        return RunSettings(
            preset=str(self.preset_combo.currentData()),
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=self.lr_spin.value(),
            augment=self.augment_check.isChecked(),
            device=str(self.device_combo.currentData() or "auto"),
            data_dir=str(folder) if folder else None,
            val_size=self.val_size_spin.value(),
        )

    def _apply_settings(self, settings: RunSettings) -> None:
        self._select_preset(settings.preset)
        self.epochs_spin.setValue(settings.epochs)
        self.batch_spin.setValue(settings.batch_size)
        self.lr_spin.setValue(settings.lr)
        self.augment_check.setChecked(settings.augment)
        self.val_size_spin.setValue(settings.val_size)
        index = self.device_combo.findData(settings.device)
        usable = index >= 0 and (settings.device == "auto" or settings.device in self._devices)
        self.device_combo.setCurrentIndex(index if usable else max(0, self.device_combo.findData("auto")))
        if settings.data_dir:
            self.context.settings.setValue(SETTINGS_DATA_FOLDER, settings.data_dir)

    def _config_for(self, settings: RunSettings, **extra):
        from ..core.training import TrainConfig

        preset = self._presets[settings.preset]
        return TrainConfig(
            preset=settings.preset,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            augment=self._augment_kind(preset, settings.augment),
            device=settings.device,
            data_dir=settings.data_dir,
            val_size=settings.val_size,
            **extra,
        )

    # ================================================================= data sources

    def refresh_data_sources(self) -> None:
        """Show which Fashion-MNIST source training will use (or how to get one)."""
        folder = self.context.settings.value(SETTINGS_DATA_FOLDER) or None

        def scan(report_progress, is_cancelled):
            from ..core import data

            return data.candidate_sources(Path(folder) if folder else None)

        self._scan_runner.start(scan, on_result=self._show_sources,
                                 on_error=lambda msg: self.data_label.setText(f"Could not look for the data set: {msg}"))

    def _show_sources(self, sources) -> None:
        found = [source for source, complete in sources if complete and source.kind != "download"]
        folder = self.context.settings.value(SETTINGS_DATA_FOLDER) or None
        self._has_local_data = bool(found)
        if found:
            source = found[0]
            text = f"<b>Found:</b> {source.description}"
            if source.path is not None and str(source.path) not in source.description:
                text += f"<br><span style='color:#555'>{source.path}</span>"
            if folder and source.kind != "folder":
                text += f"<br>The chosen folder {folder} does not hold a complete set; using this instead."
            self.data_label.setText(text)
            self.download_button.hide()
        else:
            tried = "".join(f"<li>{s.description}</li>" for s, _ in sources if s.kind != "download")
            self.data_label.setText(
                "<b>Fashion-MNIST is not on this computer yet.</b> Training needs it. You can:"
                "<ul style='margin-left:-20px'>"
                "<li><b>Download</b> it (about 30 MB) into the app's own data folder,</li>"
                "<li>install the Debian/Ubuntu package: <code>sudo apt-get install dataset-fashion-mnist</code>,</li>"
                "<li>or <b>choose a folder</b> that holds the four <code>*-ubyte.gz</code> files.</li></ul>"
                f"Looked in:<ul style='margin-left:-20px'>{tried}</ul>"
            )
            self.download_button.show()
        self.data_label.setProperty("datasetFound", bool(found))

    def _choose_data_folder(self) -> None:
        start = str(self.context.settings.value(SETTINGS_DATA_FOLDER) or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Folder with Fashion-MNIST", start)
        if folder:
            self.set_data_folder(folder)

    def set_data_folder(self, folder: str | None) -> None:
        if folder:
            self.context.settings.setValue(SETTINGS_DATA_FOLDER, str(folder))
        else:
            self.context.settings.remove(SETTINGS_DATA_FOLDER)
        self._data_cache = None
        self.refresh_data_sources()

    def _on_download_clicked(self) -> None:
        """The Download button starts a download; while one runs it reads "Cancel download"."""
        if self._download_runner.is_running():
            self.download_button.setEnabled(False)  # until the download has stopped (within one 64 kB read)
            self._download_runner.cancel()
        else:
            self._start_download()

    def _start_download(self) -> None:
        """Download into the app folder, only on the user's click, with a progress bar and Cancel."""
        self.download_button.setText("Cancel download")
        self.download_button.setToolTip("Stop the download; nothing half-downloaded is kept.")
        self.download_progress.setRange(0, 0)
        self.download_progress.show()

        def download(report_progress, is_cancelled):
            from ..core import data

            def progress(done: int, total: int) -> None:
                report_progress(done / total if total else None, f"{done / 1e6:.1f} of {total / 1e6:.1f} MB")

            return data.find_dataset(download=True, progress=progress, stop=CancelFlag(is_cancelled))

        def on_progress(fraction: float, message: str) -> None:
            if fraction >= 0:
                self.download_progress.setRange(0, 1000)
                self.download_progress.setValue(int(fraction * 1000))
            self.download_progress.setFormat(message or "%p%")

        def finished() -> None:
            self.download_button.setText("Download")
            self.download_button.setToolTip("Download Fashion-MNIST (about 30 MB) into the app's data folder.")
            self.download_button.setEnabled(True)
            self.download_progress.hide()
            self.refresh_data_sources()
            if not self.is_training():
                self._set_idle_state()

        self._download_runner.start(
            download,
            on_progress=on_progress,
            on_cancelled=lambda: self.banner.show_message("info", "Download cancelled. Nothing was kept."),
            on_error=lambda msg: self._show_failure(msg, None, title="Download failed"),
            on_finished=finished,
            description="Downloading Fashion-MNIST",
        )
        if not self.is_training():
            self._set_idle_state()  # Train and Retrain wait for the download

    # ================================================================= running

    def is_busy(self) -> bool:
        """Work is running, or a trained model could not be saved and exists only in memory."""
        return (self.is_training() or self._download_runner.is_running() or self._prepare_runner.is_running()
                or self._unsaved is not None)

    def busy_description(self) -> str:
        if self.is_training() and self._run_finished:
            return "The new model is being evaluated and saved; closing skips the evaluation and still saves it."
        if self.is_training():
            return "A model is being trained; closing stops it and the run is not saved."
        if self._download_runner.is_running():
            return "Fashion-MNIST is being downloaded."
        if self._unsaved is not None:
            return ("The last trained model could not be saved and exists only in memory; quitting discards it "
                    "(use “Save model as…” on the Train page to keep it)")
        return ""

    def _confirm_discard_unsaved(self) -> bool:
        """Before a new run: the model whose save failed is dropped only if the user agrees."""
        if self._unsaved is None:
            return True
        answer = QMessageBox.question(
            self,
            "Discard the unsaved model?",
            "The last trained model could not be saved and exists only in memory.\n\n"
            "Discard it and start a new run?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self._set_unsaved(None)
        return True

    def start_training(self) -> bool:
        """Start a run with the form's settings; remembers them for Retrain. False if it could not."""
        if not self._ready or self.is_training() or not self._confirm_discard_unsaved():
            return False
        settings = self.current_settings()
        self.context.settings.setValue(SETTINGS_LAST_RUN, settings.to_json())
        self.context.settings.setValue(SETTINGS_FORM, settings.to_json())
        self.retrain_button.setEnabled(True)
        self._run_kind = "train"
        return self._start_worker(self._config_for(settings), settings)

    def retrain(self) -> bool:
        """One click: repeat the last run's settings (kept in QSettings, so it survives a restart)."""
        settings = RunSettings.from_json(self.context.settings.value(SETTINGS_LAST_RUN))
        if settings is None or settings.preset not in self._presets:
            self._show_failure("There is no previous run to repeat yet.", "Press Train first.")
            return False
        self._apply_settings(settings)
        return self.start_training()

    def start_finetune(self) -> bool:
        """Fine-tune the active model with the user's labelled photos (the Predict page's button).

        Preparing the photos (reading and augmenting them) runs in the background too; the run
        then goes through the same worker, charts and log as any other, and ends with a
        before/after accuracy report.
        """
        if not self._ready or self.is_training() or self._prepare_runner.is_running():
            return False
        if not self._confirm_discard_unsaved():
            return False
        entry = self.context.active_entry()
        if entry is None:
            self._show_failure("There is no active model to fine-tune.", "Choose one on the Models page.",
                               title="Cannot fine-tune")
            return False
        device = str(self.device_combo.currentData() or "auto")
        data_dir = self.current_settings().data_dir
        val_size = self.val_size_spin.value()

        def prepare(report_progress, is_cancelled):
            from ..core import user_photos

            examples = user_photos.list_examples()
            config = user_photos.finetune_config(
                entry.path, examples, device=device, data_dir=data_dir,
                progress=lambda done, total: report_progress(done / total if total else None, "Preparing your photos…"),
            )
            # The form's validation size applies to fine-tuning too (same split as a normal run).
            return dataclasses.replace(config, val_size=val_size), examples

        def prepared(value) -> None:
            config, examples = value
            self._run_kind = "finetune"
            self._finetune_examples = examples
            self.log(f"Fine-tuning “{entry.name}” with your labelled photos.")
            self._start_worker(config, None)

        self.banner.hide()
        self.progress_label.setText("Preparing your photos…")
        self._prepare_runner.start(
            prepare,
            on_result=prepared,
            on_error=lambda message: self._show_failure(message, None, title="Cannot fine-tune"),
            description="Preparing the fine-tuning photos",
        )
        return True

    def is_training(self) -> bool:
        """From the click until the page has handled the run's last signal (`done`)."""
        return self._run_active

    def _start_worker(self, config, settings: RunSettings | None) -> bool:
        self.banner.hide()
        self.make_active_button.hide()
        self._last_outcome = None
        self._run_finished = False
        self.stop_button.setToolTip(STOP_TOOLTIP)
        if self.charts is not None:
            self.charts.reset(config.epochs)
        self._last_history = ()
        folder_key = f"{config.data_dir or ''}|{config.val_size}|{config.seed}"  # the split depends on all three
        data = self._data_cache[1] if self._data_cache and self._data_cache[0] == folder_key else None
        library = self.context.library()
        run_kind = self._run_kind
        after = _make_after_training(library, run_kind, self._finetune_examples if run_kind == "finetune" else ())
        worker = TrainingWorker(config, data, after_training=after)
        worker.status.connect(self._on_status)
        worker.downloadProgress.connect(self._on_download_progress)
        worker.dataLoaded.connect(lambda d, key=folder_key: self._cache_data(key, d))
        worker.started.connect(self._on_started)
        worker.batchEnd.connect(self._on_batch_end)
        worker.epochEnd.connect(self._on_epoch_end)
        worker.finished.connect(self._on_finished)
        worker.cancelled.connect(self._on_cancelled)
        worker.failed.connect(self._on_failed)
        worker.afterTraining.connect(self._on_saved)
        worker.done.connect(self._on_done)
        self._worker = worker
        self._run_active = True
        self._run_started_at = time.monotonic()
        self.progress_bar.setRange(0, 0)  # busy until Started says how many batches there are
        self.progress_label.setText("Starting…")
        self._set_running_state()
        worker.start()
        self.runStateChanged.emit(True)
        return True

    def _cache_data(self, key: str, data) -> None:
        self._data_cache = (key, data)

    def stop_training(self) -> None:
        if self._worker is not None and self._worker.is_running() and not self._worker.is_stopping():
            self._worker.stop()
            self.stop_button.setEnabled(False)
            if self._run_finished:  # the model is trained: it is kept, only the test set is skipped
                self.progress_label.setText("Skipping the rest of the test-set evaluation; saving the model…")
            else:
                self.progress_label.setText("Stopping after this batch…")

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop any run and wait for its thread (window closing). Nothing half-written stays behind:
        a stopped run is not saved, and a save in progress finishes atomically first."""
        ok = True
        if self._worker is not None:
            ok = self._worker.shutdown(timeout_ms)
            if ok:
                self._run_active = False  # the page is going away: `done` may never be handled
        ok = self._download_runner.shutdown(timeout_ms) and ok
        ok = self._scan_runner.shutdown(timeout_ms) and ok
        ok = self._chart_runner.shutdown(timeout_ms) and ok
        ok = self._prepare_runner.shutdown(timeout_ms) and ok
        return ok

    # ================================================================= worker events (GUI thread)

    @Slot(str)
    def _on_status(self, text: str) -> None:
        self.progress_label.setText(text)

    @Slot(int, int)
    def _on_download_progress(self, done: int, total: int) -> None:
        if total:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(1000 * done / total))
        self.progress_label.setText(f"Downloading Fashion-MNIST: {done / 1e6:.1f} MB")

    @Slot(object)
    def _on_started(self, event) -> None:
        self._batches = max(1, event.batches_per_epoch)
        self.progress_bar.setRange(0, event.epochs * self._batches)
        self.progress_bar.setValue(0)
        if self.charts is not None and self.charts.total_epochs != event.epochs:
            self.charts.reset(event.epochs)  # normally done (and drawn) before the run started
        cfg = event.config
        self.log(
            f"Training “{event.preset}” on {event.device_name}: {event.n_train:,} training and "
            f"{event.n_val:,} validation images, {event.epochs} epochs, batch {cfg.batch_size}, "
            f"learning rate {cfg.lr:g}, augmentation {cfg.augment}."
        )

    @Slot(object)
    def _on_batch_end(self, event) -> None:
        self.progress_bar.setValue((event.epoch - 1) * event.batches + event.batch)
        self.progress_bar.setFormat(f"Epoch {event.epoch}/{event.epochs} · %p%")
        loss = f"loss {event.loss:.3f} · " if math.isfinite(event.loss) else ""
        self.progress_label.setText(
            f"Epoch {event.epoch}/{event.epochs}, batch {event.batch}/{event.batches} · {loss}"
            f"{event.samples_per_s:,.0f} images/s · ETA {format_duration(event.eta_s)}"
        )
        if self.charts is not None:
            self.charts.add_batch(event.epoch, event.batch, event.batches, event.loss, event.acc)

    @Slot(object)
    def _on_epoch_end(self, event) -> None:
        from ..core.training import format_epoch_line

        self._last_history = (*self._last_history, event)
        self.log(f"{format_epoch_line(event)} ({event.epoch_time_s:.1f} s)")
        if self.charts is not None:
            self.charts.add_epoch(event.epoch, event.train_loss, event.val_loss, event.train_acc, event.val_acc)

    @Slot(object)
    def _on_finished(self, event) -> None:
        self.progress_bar.setValue(self.progress_bar.maximum())
        self.log(f"Finished in {format_duration(event.elapsed_s)} on {event.device}.")
        # Evaluating and saving now. Stop (or closing the window) still answers at once: it skips
        # the rest of the test-set evaluation, and the trained model is saved all the same.
        self._run_finished = True
        self.stop_button.setToolTip("Skip the test-set evaluation; the model is still saved")
        if self.charts is not None:
            self.charts.flush()

    @Slot(object)
    def _on_cancelled(self, event) -> None:
        self.log(f"Stopped at epoch {event.epoch}, batch {event.batch}. Nothing was saved.")
        self.banner.show_message("info", "Training stopped. Nothing was saved.")
        if self.charts is not None:
            self.charts.flush()

    @Slot(object)
    def _on_failed(self, event) -> None:
        self._show_failure(event.message, getattr(event, "advice", None))

    @Slot(object)
    def _on_saved(self, outcome: RunOutcome) -> None:
        if outcome.entry is None:
            self._set_unsaved(outcome)
            return
        self._set_unsaved(None)
        self._last_outcome = outcome
        entry = outcome.entry
        if outcome.test_accuracy is None:
            why = (f"the evaluation failed: {outcome.evaluation_error.rstrip('.')}" if outcome.evaluation_error
                   else "the evaluation was stopped")
            accuracy = f"test accuracy not measured ({why})"
        else:
            accuracy = f"test accuracy {outcome.test_accuracy:.2f} %"
        self.log(f"{accuracy[0].upper()}{accuracy[1:]}. Saved as “{entry.name}”.")
        text = f"<b>Saved “{entry.name}”</b> — {accuracy}."
        report = outcome.finetune_report
        if report is not None:
            text += f"<br>{_describe_report(report)}"
            self.log(_describe_report(report))
        self.banner.show_message("success", text)
        active = self.context.active_entry()
        self.make_active_button.setVisible(active is None or getattr(active, "id", None) != entry.id)
        self.context.refresh_models()
        self.context.statusMessage.emit(f"Saved the new model “{entry.name}”.")
        self.runFinished.emit(entry)

    @Slot()
    def _on_done(self) -> None:
        worker = self._worker
        if worker is not None:
            worker.wait(2000)  # the thread quits right after `done` (directly, not via this thread)
        self._run_active = False
        self._set_idle_state()
        self.runStateChanged.emit(False)

    def _set_unsaved(self, outcome: RunOutcome | None) -> None:
        """Hold (or let go of) a trained model whose save failed, and say so where the user looks."""
        self._unsaved = outcome
        for button in (self.save_as_button, self.retry_save_button):
            button.setVisible(outcome is not None)
        if outcome is None:
            return
        self.make_active_button.hide()
        self.banner.show_message(
            "error",
            f"<b>The trained model could not be saved:</b> {outcome.save_error}<br>It is kept in memory: "
            "free some space and press “Try again”, or save it elsewhere with “Save model as…”.",
        )
        self.log(f"Saving failed: {outcome.save_error} The model is kept in memory until it is saved.")

    def save_unsaved_model_as(self, path: str | None = None) -> bool:
        """Save the held model to a file the user picks (or `path`); True when it was written."""
        outcome = self._unsaved
        if outcome is None:
            return False
        if path is None:
            suggested = Path.home() / f"fmnist-model-{datetime.now():%Y%m%d-%H%M%S}.pt"
            path, _ = QFileDialog.getSaveFileName(self, "Save the trained model", str(suggested), "Model files (*.pt)")
            if not path:
                return False
        from ..core.checkpoint import save_checkpoint

        try:
            target = save_checkpoint(path, outcome.model, outcome.meta)  # a few MB: quick enough here
        except FmnistError as exc:
            self._set_unsaved(dataclasses.replace(outcome, save_error=str(exc)))
            return False
        self._set_unsaved(None)
        self.banner.show_message("success", f"<b>Saved the trained model to {target}</b>. "
                                            "File → Open model… adds it to the model library.")
        self.log(f"Saved the trained model to {target}.")
        return True

    def retry_saving_unsaved_model(self) -> bool:
        """Save the held model into the library again (e.g. after the user freed some space)."""
        outcome = self._unsaved
        if outcome is None:
            return False
        try:
            entry = self.context.library().add(outcome.model, outcome.meta)
        except FmnistError as exc:
            self._set_unsaved(dataclasses.replace(outcome, save_error=str(exc)))
            return False
        self._on_saved(RunOutcome(entry=entry, test_accuracy=outcome.test_accuracy,
                                  finetune_report=outcome.finetune_report,
                                  evaluation_error=outcome.evaluation_error))
        return True

    def _make_last_model_active(self) -> None:
        if self._last_outcome is not None and self.context.set_active(self._last_outcome.entry.id):
            self.make_active_button.hide()
            self.banner.show_message("success", f"“{self._last_outcome.entry.name}” is now the active model.")

    # ================================================================= helpers

    def log(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    def _show_failure(self, message: str, advice: str | None, title: str = "Training failed") -> None:
        text = f"<b>{title}:</b> {message}"
        if advice:
            text += f"<br>{advice}"
        self.banner.show_message("error", text)
        self.make_active_button.hide()
        self.log(f"{title}: {message}" + (f" {advice}" if advice else ""))

    def _set_running_state(self) -> None:
        for widget in self._form_widgets():
            widget.setEnabled(False)
        self.train_button.setEnabled(False)
        self.retrain_button.setEnabled(False)
        self.stop_button.setEnabled(True)

    def _set_idle_state(self) -> None:
        ready = self._ready
        for widget in self._form_widgets():
            widget.setEnabled(ready)
        self.input_size_spin.setEnabled(False)
        # While Fashion-MNIST downloads, Train would only fail with "not found": it waits (the
        # Download button, now "Cancel download", stays usable).
        can_train = ready and not self._download_runner.is_running()
        self.train_button.setEnabled(can_train)
        self.stop_button.setEnabled(False)
        has_last = RunSettings.from_json(self.context.settings.value(SETTINGS_LAST_RUN)) is not None
        self.retrain_button.setEnabled(can_train and has_last)
        if not ready:
            self.progress_label.setText("Loading the machine-learning engine…")
        elif self._worker is None:
            self.progress_label.setText("Ready. Choose settings and press Train.")
        else:
            self.progress_bar.setRange(0, max(1, self.progress_bar.maximum()))
            elapsed = time.monotonic() - self._run_started_at
            self.progress_label.setText(f"Idle. The last run took {format_duration(elapsed)}.")

    def _form_widgets(self) -> list[QWidget]:
        return [self.preset_combo, self.epochs_spin, self.batch_spin, self.lr_spin, self.augment_check, self.val_size_spin,
                self.device_combo, self.choose_folder_button, self.download_button]


def _describe_report(report) -> str:
    """core.user_photos.FinetuneReport as one line: before → after accuracies."""
    lines = getattr(report, "lines", None)
    return "; ".join(lines()) if callable(lines) else str(report)


def _make_after_training(library, run_kind: str, examples=()):
    """The step that runs in the worker after a finished run: test-set evaluation, then the save."""

    def after_training(finished, data, report_status, is_stopped) -> RunOutcome:
        from ..core import evaluation
        from ..core.checkpoint import CheckpointMeta
        from ..core.errors import SaveError
        from ..core.models import get_preset

        config = finished.config
        preset = get_preset(config.preset)
        stop = CancelFlag(is_stopped)
        report_status("Evaluating the new model on the test set…")
        # Stop or closing the window ends the evaluation between batches (10,000 images take
        # seconds on a CPU); the trained model is saved all the same, without a test accuracy.
        evaluation_error = None
        try:
            result = evaluation.evaluate(
                finished.model, data.test, preset.input_size, preset.mean, preset.std, device="cpu",
                batch_size=EVAL_BATCH_SIZE, stop=stop,
            )
        except Exception as exc:  # noqa: BLE001 — e.g. out of memory: the trained model is still saved
            log.error("Test-set evaluation after training failed:\n%s", traceback.format_exc())
            result, evaluation_error = None, readable_error(exc)
        test_accuracy = float(result.accuracy) if result is not None else None
        report_status("Saving the model…")
        stamp = datetime.now()
        title = "Fine-tuned" if run_kind == "finetune" else preset.title
        name = f"{title}, {len(finished.history)} epochs, {stamp:%Y-%m-%d %H:%M}"
        last = finished.history[-1] if finished.history else None
        meta = CheckpointMeta.for_preset(
            preset.name,
            name,
            metrics={**({"test_accuracy": test_accuracy} if test_accuracy is not None else {}),
                     **({"val_accuracy": float(last.val_acc)} if last is not None else {})},
            training={**config.summary(), "elapsed_s": finished.elapsed_s, "device": finished.device,
                      "kind": run_kind},
            history=[e.to_dict() for e in finished.history],
        )
        report = None
        if run_kind == "finetune" and not is_stopped():
            from ..core import user_photos

            report_status("Comparing with the model before fine-tuning…")
            # Stop or closing the window ends the comparison between batches (report None); the
            # fine-tuned model is saved all the same, without the before/after figures.
            report = user_photos.before_after_report(config.init_checkpoint, (finished.model, meta), examples,
                                                     test_split=data.test, stop=stop)
            if report is not None:
                meta.metrics["finetune"] = {"before_test": report.before_fashion_mnist,
                                            "after_test": report.after_fashion_mnist,
                                            "before_photos": report.before_user, "after_photos": report.after_user}
        try:
            entry = library.add(finished.model, meta)
        except SaveError as exc:  # disk full, folder gone: the page keeps the model and offers to save it
            return RunOutcome(entry=None, test_accuracy=test_accuracy, finetune_report=report,
                              model=finished.model, meta=meta, save_error=str(exc),
                              evaluation_error=evaluation_error)
        return RunOutcome(entry=entry, test_accuracy=test_accuracy, finetune_report=report,
                          evaluation_error=evaluation_error)

    return after_training


