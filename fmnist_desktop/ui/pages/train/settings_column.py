"""The Train page's left column: the settings form, the time estimate, the photo set and the data
set, in a scroll area so nothing is clipped in a small window, with Train / Stop / Retrain and Tune…
below it, always in sight. A press is a signal the page acts on; Tune… opens the Optuna dialog here,
and a preset saved there is listed in the form."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ...settings_keys import DATA_FOLDER
from ...widgets.banner import make_button
from . import estimate
from .data_panel import DataPanel
from .form import RunSettings, SettingsForm
from .photos_panel import PhotoSetPanel

STOP_TOOLTIP = "Stop after the current batch (Esc or Ctrl+.); the best finished epoch is kept for you to save"
RETRAIN_TOOLTIP = ("Train again with the settings of the last run (kept across restarts), whatever the form "
                   "shows now; Train uses the form's current settings.")


class SettingsColumn(QWidget):
    trainRequested = Signal()
    stopRequested = Signal()
    retrainRequested = Signal()
    estimateChanged = Signal()  # a setting the time estimate depends on changed
    presetListed = Signal(str)  # a preset saved in the Tune dialog is now in the Preset list

    def __init__(self, context, scan_task, download_task, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        settings = context.settings
        self.tune_dialog = None  # TuneDialog, made on first use
        column_layout = QVBoxLayout(self)
        column_layout.setContentsMargins(0, 0, 0, 0)
        self.scroll = scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(260)
        column_layout.addWidget(scroll, 1)
        left = QWidget(scroll)
        scroll.setWidget(left)
        self.settings_layout = left_layout = QVBoxLayout(left)  # PhotoKind adds its row here
        left_layout.setContentsMargins(0, 0, 6, 0)

        self.form = SettingsForm(left)
        left_layout.addWidget(self.form)
        self.estimate_label = QLabel(left)
        self.estimate_label.setObjectName("trainEstimate")
        self.estimate_label.setAccessibleName("How long a run takes")
        self.estimate_label.setWordWrap(True)
        left_layout.addWidget(self.estimate_label)
        for signal in (self.form.preset_combo.currentIndexChanged, self.form.epochs_spin.valueChanged,
                       self.form.val_size_spin.valueChanged, self.form.device_combo.currentIndexChanged):
            signal.connect(lambda *_args: self.estimateChanged.emit())
        self.photo_panel = PhotoSetPanel(settings, left)
        self.photo_panel.changed.connect(lambda _path: self.estimateChanged.emit())
        left_layout.addWidget(self.photo_panel)
        self.data_panel = DataPanel(settings, scan_task, download_task, left)
        left_layout.addWidget(self.data_panel)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 4, 6, 0)
        self.train_button = make_button(left, "Train", "trainButton", self.trainRequested.emit,
                                        tooltip="Train a new model with these settings (Ctrl+T)")
        self.train_button.setShortcut(QKeySequence("Ctrl+T"))
        self.stop_button = make_button(left, "Stop", "stopButton", self.stopRequested.emit,
                                       accessible_name="Stop training", tooltip=STOP_TOOLTIP)
        self.retrain_button = make_button(left, "Retrain", "retrainButton", self.retrainRequested.emit,
                                          accessible_name="Retrain with the last run's settings",
                                          tooltip=RETRAIN_TOOLTIP)
        self.tune_button = make_button(self, "Tune…", "tuneButton", self.open_tune_dialog,
                                       accessible_name="Tune training settings",
                                       tooltip="Search for better settings with Optuna: trials table, plots, Stop, Make best active")
        for button in (self.train_button, self.stop_button, self.retrain_button):
            buttons.addWidget(button)
        column_layout.addLayout(buttons)
        column_layout.addWidget(self.tune_button)  # its own row: the settings column is narrow
        left_layout.addStretch(1)

    def fit_to_presets(self) -> None:
        """The column is at least as wide as the longest preset title (never clipped)."""
        margins = self.form.contentsMargins()
        needed = self.form.preset_combo.sizeHint().width() + margins.left() + margins.right() + 40  # frame, scroll bar
        self.scroll.setMinimumWidth(max(260, needed))

    def set_running(self) -> None:
        self.train_button.setEnabled(False)
        self.retrain_button.setEnabled(False)
        self.stop_button.setEnabled(True)

    def set_idle(self, can_train: bool, has_last_run: bool) -> None:
        self.train_button.setEnabled(can_train)
        self.stop_button.setEnabled(False)
        self.retrain_button.setEnabled(can_train and has_last_run)

    def settings(self) -> RunSettings:
        """The run the column describes: the form, the data folder and the photo set."""
        return dataclasses.replace(self.form.settings(self.data_panel.folder()), photos=self.photo_panel.path())

    def apply(self, settings: RunSettings) -> None:
        self.form.apply(settings)
        if settings.photos != self.photo_panel.path():
            self.photo_panel.set_path(settings.photos)
        if settings.data_dir:
            self.context.settings.setValue(DATA_FOLDER, settings.data_dir)

    def inputs(self) -> list[QWidget]:
        return [*self.form.inputs(), *self.photo_panel.inputs(), *self.data_panel.inputs()]

    def open_tune_dialog(self):
        """Train ▸ Tune…: the Optuna study dialog (one per page, kept while the page lives)."""
        if self.tune_dialog is None:
            from .tune_dialog import TuneDialog

            self.tune_dialog = TuneDialog(self.context, self)  # a window of its own, over this one
            self.tune_dialog.presetSaved.connect(self._on_preset_saved)
        self.tune_dialog.show()
        self.tune_dialog.raise_()
        return self.tune_dialog

    def _on_preset_saved(self, name: str) -> None:
        """A preset of the user's was saved: list it, keeping the current choice."""
        from ....core.learn import training
        from ....core.store import user_presets

        current = self.form.preset_combo.currentData()
        self.form.set_choices(user_presets.all_presets(), training.available_devices())
        index = self.form.preset_combo.findData(current)
        if index >= 0:
            self.form.preset_combo.setCurrentIndex(index)
        self.presetListed.emit(name)

    def load_presets(self, saved_form) -> list[str]:
        """Once the engine is loaded: the built-in presets, then the user's own (Tune… ▸ Save as
        preset…), and the devices; the form as it was left (`saved_form`, RunSettings JSON) or the
        default preset. Returns the notices about presets set aside (entries of presets.json)."""
        from ....core import models
        from ....core.learn import training
        from ....core.store import user_presets

        self.form.set_choices(user_presets.all_presets(), training.available_devices())
        notices = user_presets.preset_notices()  # entries of presets.json set aside (issue 17)
        self.fit_to_presets()
        form = RunSettings.from_json(saved_form)
        if form is not None and form.preset in self.form.presets:
            self.apply(form)
        else:
            presets = self.form.presets
            self.form.select_preset(models.DEFAULT_PRESET if models.DEFAULT_PRESET in presets else next(iter(presets)))
        return notices

    def show_estimate(self, preset, images_per_epoch: int, prepare_photos: int = 0) -> None:
        """"Time: about … in all" for the form's run (`preset`: None while the engine loads): its
        epochs, loading and testing, and preparing `prepare_photos` labelled photos first, from
        this computer's measured speed (or a guess, said so)."""
        if preset is None:
            self.estimate_label.setText("")
            return
        job = estimate.fmnist_job(self.context.settings, preset.arch, estimate.device_kind(self.form.device()),
                                  images_per_epoch, self.form.epochs_spin.value(), prepare_photos)
        self.estimate_label.setText(f"Time: {job.text()}.")
