"""The Train page: the settings form, the data-set box, Train / Stop / Retrain, live charts,
progress and the epoch log; fine-tuning with the user's photos runs here too.

Everything slow is a task of the page's `TaskGroup` (`self.tasks`): looking for the data set,
downloading it, importing matplotlib, preparing fine-tuning photos and the run itself (a
`core.jobs.train`: load the data, train, then `core.jobs.runs` evaluates and saves the model). The
page turns the run's events into widgets; a model whose save failed is held by `UnsavedModel`.
Torch-dependent modules are imported after the context's `torchReady`, so the window opens fast.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ....core.base.formats import format_clock
from ....core.jobs import train as train_job
from ....core.jobs.train import AfterTraining, DataLoaded, RunOutcome, TrainInputs
from ...settings_keys import DATA_FOLDER, TRAIN_FORM, TRAIN_LAST_RUN
from ...tasks import Progress, TaskCancelled, TaskGroup
from ...widgets.banner import Banner, make_button
from ...widgets.dialogs import ask_yes_no
from . import estimate
from .data_panel import DataPanel
from .form import RunSettings, SettingsForm, config_for
from .outcome import UnsavedModel, describe_report
from .photo_kind import PhotoKind
from .photos_panel import PhotoSetPanel, describe_calibration, describe_counts
from .run_view import RunView

STOP_TOOLTIP = "Stop after the current batch (Esc or Ctrl+.); the best finished epoch is kept for you to save"
RETRAIN_TOOLTIP = ("Train again with the settings of the last run (kept across restarts), whatever the form "
                   "shows now; Train uses the form's current settings.")


class TrainPage(QWidget):
    """Train a model; see the module docstring. `runFinished(entry)` fires when a run was saved."""

    runFinished = Signal(object)  # core.store.library.ModelEntry of the new model
    runStateChanged = Signal(bool)  # busy or not
    trainingEvent = Signal(object)  # every core.learn.training event of the run, as the page handles it

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPage")
        self.context = context
        self.tasks = TaskGroup(self, "scan", "download", "charts", "prepare", "training")
        self._data_cache: tuple[str, Any] | None = None  # (folder key, core.data.fashion_mnist.FashionMNIST)
        self._photo_cache: tuple[str, Any] | None = None  # (photo set key, core.data.labelled_photos.PhotoTrainingSet)
        self._ready = False
        self._run_started_at = 0.0
        self._run_kind = "train"  # or "finetune"
        self._last_outcome: RunOutcome | None = None
        self._run_finished = False  # training done; evaluating and saving now
        self._run_active = False
        self._stop_requested = False
        self.last_config = None  # the core.learn.training.TrainConfig of the latest run
        self._build()
        self.unsaved = UnsavedModel(self)
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

        # --- left: settings in a scroll area so nothing is clipped in a small window; Train,
        # Stop and Retrain below it, always in sight ---
        left_column = QWidget(splitter)
        column_layout = QVBoxLayout(left_column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(left_column)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(260)
        column_layout.addWidget(scroll, 1)
        self._settings_scroll = scroll
        left = QWidget(scroll)
        scroll.setWidget(left)
        left_layout = QVBoxLayout(left)
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
            signal.connect(lambda *_args: self.update_estimate())
        for name in ("preset_combo", "preset_description", "epochs_spin", "batch_spin", "lr_spin", "input_size_spin",
                     "augment_check", "val_size_spin", "device_combo"):
            setattr(self, name, getattr(self.form, name))  # the page's widgets, as scripts and tests know them
        self.photo_panel = PhotoSetPanel(self.context.settings, left)
        self.photo_panel.changed.connect(lambda _path: self.update_estimate())
        left_layout.addWidget(self.photo_panel)
        self.data_panel = DataPanel(self.context.settings, self.tasks["scan"], self.tasks["download"], left)
        self.data_panel.message.connect(self._on_panel_message)
        self.data_panel.downloadStateChanged.connect(lambda _downloading: self._refresh_idle_state())
        left_layout.addWidget(self.data_panel)
        for name in ("data_label", "choose_folder_button", "download_button", "download_progress"):
            setattr(self, name, getattr(self.data_panel, name))

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 4, 6, 0)
        self.train_button = make_button(left, "Train", "trainButton", self.start_training,
                                        tooltip="Train a new model with these settings (Ctrl+T)")
        self.train_button.setShortcut(QKeySequence("Ctrl+T"))
        self.stop_button = make_button(left, "Stop", "stopButton", self.stop_training,
                                       accessible_name="Stop training", tooltip=STOP_TOOLTIP)
        self.retrain_button = make_button(left, "Retrain", "retrainButton", self.retrain,
                                          accessible_name="Retrain with the last run's settings",
                                          tooltip=RETRAIN_TOOLTIP)
        self.tune_button = make_button(left_column, "Tune…", "tuneButton", self.open_tune_dialog,
                                       accessible_name="Tune training settings",
                                       tooltip="Search for better settings with Optuna: trials table, plots, Stop, Use best")
        self.tune_dialog = None  # TuneDialog, made on first use
        for button in (self.train_button, self.stop_button, self.retrain_button):
            buttons.addWidget(button)
        column_layout.addLayout(buttons)
        column_layout.addWidget(self.tune_button)  # its own row: the settings column is narrow
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
        right_layout.addWidget(self.banner)

        self.run_view = RunView(right)
        right_layout.addWidget(self.run_view, 1)
        for name in ("progress_bar", "progress_label", "log_view", "chart_holder"):
            setattr(self, name, getattr(self.run_view, name))

        splitter.addWidget(left_column)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([290, 700])
        self.photo_kind = PhotoKind(self, left_layout)  # "Model kind": the 28×28 network or the photo model

    # ================================================================= torch-dependent set-up

    @Slot()
    def _on_torch_ready(self) -> None:
        if self._ready:
            return
        from ....core import models
        from ....core.learn import training
        from ....core.store import user_presets

        # Built-in presets, then the user's own (Tune… ▸ Save as preset…).
        self.form.set_choices(user_presets.all_presets(), training.available_devices())
        notices = user_presets.preset_notices()  # entries of presets.json set aside (issue 17)
        if notices:
            self.context.show_error("Some of your presets were set aside", " ".join(notices))
        self._fit_settings_column()
        self._ready = True
        form = RunSettings.from_json(self.context.settings.value(TRAIN_FORM))
        if form is not None and form.preset in self.form.presets:
            self._apply_settings(form)
        else:
            presets = self.form.presets
            self.form.select_preset(models.DEFAULT_PRESET if models.DEFAULT_PRESET in presets else next(iter(presets)))
        self.refresh_data_sources()
        self.run_view.load_charts(self.tasks["charts"])
        self._set_idle_state()
        self.update_estimate()

    def images_per_epoch(self, val_size: int | None = None) -> int:
        """Training images in one epoch of the form's run (the loaded data set's size when known)."""
        val_size = self.val_size_spin.value() if val_size is None else val_size
        if self._data_cache is not None:
            data = self._data_cache[1]
            return len(data.train) + len(data.val) - val_size
        return 60_000 - val_size

    def update_estimate(self) -> None:
        """"Time: about …" for the form's run, from this computer's measured speed (or a guess, said so)."""
        preset = self.form.presets.get(self.preset_combo.currentData()) if self._ready else None
        if preset is None:
            self.estimate_label.setText("")
            return
        images = self.images_per_epoch()
        if self.photo_panel.path() and self._photo_cache is not None \
                and self._photo_cache[0] == self._photo_key(self.photo_panel.path()):
            from ....core.learn.training import TrainConfig

            images += self._photo_cache[1].counts()["train"] * max(1, round(TrainConfig.photo_weight))
        text = estimate.describe_for(self.context.settings, preset, self.form.device(), images,
                                     self.epochs_spin.value())
        self.estimate_label.setText(f"Time: {text}.")

    def _fit_settings_column(self) -> None:
        """The settings column is at least as wide as the longest preset title (never clipped)."""
        margins = self.form.contentsMargins()
        needed = self.preset_combo.sizeHint().width() + margins.left() + margins.right() + 40  # frame, scroll bar
        self._settings_scroll.setMinimumWidth(max(260, needed))

    @property
    def charts(self):
        """The live charts (`ui.charts.TrainingCharts`), None until matplotlib has loaded."""
        return self.run_view.charts

    # ================================================================= settings and data

    def current_settings(self) -> RunSettings:
        return dataclasses.replace(self.form.settings(self.data_panel.folder()), photos=self.photo_panel.path())

    def _apply_settings(self, settings: RunSettings) -> None:
        self.form.apply(settings)
        if settings.photos != self.photo_panel.path():
            self.photo_panel.set_path(settings.photos)
        if settings.data_dir:
            self.context.settings.setValue(DATA_FOLDER, settings.data_dir)

    def refresh_data_sources(self) -> None:
        self.data_panel.refresh()

    def set_data_folder(self, folder: str | None) -> None:
        self._data_cache = None
        self.data_panel.set_folder(folder)

    def _on_panel_message(self, kind: str, text: str) -> None:
        self.banner.show_message(kind, text)
        if kind == "error":
            self.make_active_button.hide()

    # ================================================================= running

    def is_busy(self) -> bool:
        """Work is running, or a trained model could not be saved and exists only in memory."""
        return (self.is_training() or self.tasks.is_running("download", "prepare") or self.unsaved.held()
                or (self.tune_dialog is not None and self.tune_dialog.is_running()))

    def busy_description(self) -> str:
        if self.is_training() and self._run_finished:
            return "The new model is being evaluated and saved; closing skips the evaluation and still saves it."
        if self.is_training():
            return "A model is being trained; closing stops it and the run is not saved."
        if self.tasks.is_running("prepare") and self._run_kind == "train":
            return "The labelled photos are being prepared for training; closing cancels the run."
        if self.tasks.is_running("prepare"):
            return "Your photos are being prepared for fine-tuning; closing cancels the fine-tuning."
        if self.tasks.is_running("download"):
            return "Fashion-MNIST is being downloaded."
        if self.unsaved.held() and self.unsaved.outcome.kept_after_stop:
            return ("The best epoch of the stopped run is kept in memory, not saved; quitting discards it "
                    "(use “Save to the library” on the Train page to keep it)")
        if self.unsaved.held():
            return ("The last trained model could not be saved and exists only in memory; quitting discards it "
                    "(use “Save model as…” on the Train page to keep it)")
        return ""

    def _confirm_discard_unsaved(self) -> bool:
        """Before a new run: the model whose save failed is dropped only if the user agrees."""
        if not self.unsaved.held():
            return True
        if not ask_yes_no(self, "Discard the unsaved model?",
                          "The last trained model is not saved: it exists only in memory.\n\n"
                          "Discard it and start a new run?"):
            return False
        self.unsaved.hold(None)
        return True

    def start_training(self) -> bool:
        """Start a run with the form's settings; remembers them for Retrain. False if it could not."""
        if not self._ready or self.is_training() or not self._confirm_discard_unsaved():
            return False
        if self.photo_kind.is_photo():
            return self.photo_kind.start()
        settings = self.current_settings()
        self.context.settings.setValue(TRAIN_LAST_RUN, settings.to_json())
        self.context.settings.setValue(TRAIN_FORM, settings.to_json())
        self.retrain_button.setEnabled(True)
        self._run_kind = "train"
        config = config_for(settings, self.form.presets)
        if settings.photos:
            return self._prepare_photos_then_run(config, settings.photos)
        return self._start_run(config)

    def _photo_key(self, path: str) -> str:
        try:
            stamp = Path(path).stat().st_mtime_ns
        except OSError:
            stamp = 0
        return f"{path}|{stamp}"

    def _prepare_photos_then_run(self, config, path: str) -> bool:
        """Prepare the labelled photo set in the background (a progress bar; the results are cached
        on disk, so only the first run on a set takes minutes), show its counts, then train."""
        key = self._photo_key(path)
        if self._photo_cache is not None and self._photo_cache[0] == key:
            return self._start_photo_run(config, self._photo_cache[1])

        def prepare(state):
            photos = train_job.prepare_photos(path, state)
            if photos is None:
                raise TaskCancelled()
            return photos

        def prepared(photos) -> None:
            self._photo_cache = (key, photos)
            self._start_photo_run(config, photos)

        def failed(message: str) -> None:
            self._show_failure(message, None, title="Cannot use the photos")
            self._set_idle_state()

        def cancelled() -> None:
            self.banner.show_message("info", "Stopped while preparing the photos. Nothing was trained.")
            self._set_idle_state()

        self.banner.hide()
        self.make_active_button.hide()
        self._set_running_state()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p % of the photos")
        self.progress_label.setText("Preparing the photos…")
        self.tasks["prepare"].start(prepare, on_result=prepared, on_error=failed, on_cancelled=cancelled,
                                    on_progress=self._on_prepare_progress, description="Preparing the photos",
                                    needs_torch=True)
        return True

    def _on_prepare_progress(self, progress: Progress) -> None:
        if progress.fraction is not None:
            self.progress_bar.setValue(int(1000 * progress.fraction))
        if progress.message:
            self.progress_label.setText(progress.message)

    def _start_photo_run(self, config, photos) -> bool:
        counts = photos.counts()
        self.photo_panel.show_counts(counts)
        self.log(f"Photos: {photos.source}: {describe_counts(counts)}")
        return self._start_run(dataclasses.replace(config, photos=photos))

    def retrain(self) -> bool:
        """One click: repeat the last run's settings (kept in QSettings, so it survives a restart)."""
        settings = RunSettings.from_json(self.context.settings.value(TRAIN_LAST_RUN))
        if settings is None or settings.preset not in self.form.presets:
            self._show_failure("There is no previous run to repeat yet.", "Press Train first.")
            return False
        self._apply_settings(settings)
        return self.start_training()

    def start_finetune(self) -> bool:
        """Fine-tune the active model with the user's labelled photos (the Predict page's button).

        First it checks there are enough photos to train on (`user_photos.finetune_readiness`:
        one in five is kept out for measuring) and asks, saying what it will do and roughly how
        long it takes on this computer. Preparing the photos (reading and augmenting them) is a
        task too; the run then goes through the same task, charts and log as any other, and ends
        with a before/after report.
        """
        if not self._ready or self.is_training() or self.tasks.is_running("prepare"):
            return False
        photo = self.photo_kind.wants_photo_finetune()  # the photo model answers the user's photos
        if photo is not None:
            return self.photo_kind.start_finetune(*photo)
        entry = self.context.active_entry()
        if entry is None:
            self._show_failure("There is no active model to fine-tune.", "Choose one on the Models page.",
                               title="Cannot fine-tune")
            return False
        from ....core.store import user_photos

        readiness = user_photos.finetune_readiness(user_photos.list_examples())
        if not readiness.can_run:
            more = f"{readiness.needed} more photo{'s' if readiness.needed != 1 else ''}"
            self._show_failure(f"It needs {more}.", readiness.explanation(), title="Cannot fine-tune yet")
            self._set_idle_state()
            return False
        if not self._confirm_discard_unsaved():
            return False
        if not ask_yes_no(self, "Fine-tune with your photos?", self.finetune_plan(entry, readiness)):
            return False
        inputs = (entry.path, self.form.device(), self.data_panel.folder(), self.val_size_spin.value())

        def prepare(state):
            from ....core.jobs import finetune

            return finetune.prepare_run(finetune.FinetuneInputs(*inputs), state)

        def prepared(value) -> None:
            config, examples = value
            self._run_kind = "finetune"
            self.log(f"Fine-tuning “{entry.name}” with your labelled photos.")
            self._start_run(config, examples)

        def failed(message: str) -> None:
            self._show_failure(message, None, title="Cannot fine-tune")
            self._set_idle_state()  # the status no longer says "Preparing your photos…"

        self._run_kind = "finetune"
        self.banner.hide()
        self.progress_label.setText("Preparing your photos…")
        self.tasks["prepare"].start(
            prepare,
            on_result=prepared,
            on_error=failed,
            on_cancelled=lambda: self._set_idle_state(),
            description="Preparing the fine-tuning photos",
        )
        return True

    def finetune_plan(self, entry, readiness) -> str:
        """What a fine-tune will do and roughly how long it takes (the question before it starts)."""
        from ....core.jobs import finetune

        arch = getattr(entry.meta, "arch", "bn_cnn")
        epochs, weight, copies = finetune.FINETUNE_EPOCHS, finetune.FINETUNE_WEIGHT, finetune.FINETUNE_COPIES
        images = self.images_per_epoch() + int(readiness.n_train * copies * weight)
        when = estimate.estimate(self.context.settings, arch, estimate.device_kind(self.form.device()),
                                 images, epochs).text()
        return (f"“{entry.name}” will be trained for {epochs} more epochs on Fashion-MNIST together with "
                f"{readiness.n_train} of your photos ({readiness.n_kept_out} kept out to measure the result), "
                f"then saved as a new model next to it, with a before/after comparison. The active model "
                f"stays as it is.\n\nTime: {when}.\n\nStart fine-tuning?")

    def is_training(self) -> bool:
        """From the click until the page has handled the run's end."""
        return self._run_active

    def _start_run(self, config, examples=()) -> bool:
        self.banner.hide()
        self.make_active_button.hide()
        self._last_outcome = None
        self._run_finished = False
        self._stop_requested = False
        self.stop_button.setToolTip(STOP_TOOLTIP)
        self.run_view.reset(config.epochs)
        folder_key = f"{config.data_dir or ''}|{config.val_size}|{config.seed}"  # the split depends on all three
        data = self._data_cache[1] if self._data_cache and self._data_cache[0] == folder_key else None
        from ....core.jobs.runs import after_training

        after = after_training(self.context.library(), self._run_kind, examples)
        self.last_config = config
        self._run_active = True
        self._run_started_at = time.monotonic()
        self._set_running_state()
        self.tasks["training"].start(
            lambda state: train_job.run(TrainInputs(config, data, after=after), state),
            on_partial=lambda event, key=folder_key: self._on_training_event(event, key),
            on_progress=self._on_status,
            on_error=lambda message: self._show_failure(message, None),
            on_finished=self._on_run_done,
            description="Training",
            needs_torch=True,
        )
        self.runStateChanged.emit(True)
        return True

    def stop_training(self) -> None:
        if not self.is_training() and self.tasks.is_running("prepare") and self._run_kind == "train":
            self.tasks["prepare"].cancel()  # preparing a photo set: nothing is trained
            self.stop_button.setEnabled(False)
            self.progress_label.setText("Stopping…")
            return
        runner = self.tasks["training"]
        if self.is_training() and runner.is_running() and not self._stop_requested:
            self._stop_requested = True
            runner.cancel()
            self.stop_button.setEnabled(False)
            if self._run_finished:  # the model is trained: it is kept, only the test set is skipped
                self.progress_label.setText("Skipping the rest of the test-set evaluation; saving the model…")
            else:
                self.progress_label.setText("Stopping after this batch…")

    def open_tune_dialog(self):
        """Train ▸ Tune…: the Optuna study dialog (one per page, kept while the page lives)."""
        if self.tune_dialog is None:
            from .tune_dialog import TuneDialog

            self.tune_dialog = TuneDialog(self.context, self)
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
        self.log(f"Your preset “{name}” is in the Preset list.")

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop every task and wait for its thread (window closing). Nothing half-written stays
        behind: a stopped run is not saved, and a save in progress finishes atomically first."""
        if self.tune_dialog is not None and not self.tune_dialog.shutdown(timeout_ms):
            return False
        ok = self.tasks.shutdown(timeout_ms)
        if ok:
            self._run_active = False  # the page is going away: the run's end may never be handled
        return ok

    # ================================================================= run events (GUI thread)

    def _on_status(self, progress: Progress) -> None:
        if progress.message:
            self.progress_label.setText(progress.message)

    def _on_training_event(self, event, folder_key: str) -> None:
        from ....core.learn import training

        if isinstance(event, DataLoaded):
            self._data_cache = (folder_key, event.data)
            return
        if isinstance(event, AfterTraining):
            self._on_saved(event.value)
            return
        handler = {
            training.Started: self._on_started,
            training.BatchEnd: self._on_batch_end,
            training.EpochEnd: self._on_epoch_end,
            training.Finished: self._on_finished,
            training.Cancelled: self._on_cancelled,
            training.Failed: self._on_failed,
        }.get(type(event))
        if handler is not None:
            handler(event)
        self.trainingEvent.emit(event)

    def _on_started(self, event) -> None:
        self._started = event  # its size, network and device: each epoch's speed is recorded for estimates
        self.run_view.show_started(event)

    def _on_batch_end(self, event) -> None:
        self.run_view.show_batch(event)

    def _on_epoch_end(self, event) -> None:
        self.run_view.show_epoch(event)
        started = getattr(self, "_started", None)
        if started is not None:  # this computer's speed, for the next estimate
            arch = self.form.presets[started.preset].arch if started.preset in self.form.presets else started.preset
            estimate.record_speed(self.context.settings, arch, started.device.split(":")[0],
                                  started.n_train, event.epoch_time_s)

    def _on_finished(self, event) -> None:
        self.run_view.show_finished(event)
        # Evaluating and saving now. Stop (or closing the window) still answers at once: it skips
        # the rest of the test-set evaluation, and the trained model is saved all the same.
        self._run_finished = True
        self.stop_button.setToolTip("Skip the test-set evaluation; the model is still saved")

    def _on_cancelled(self, event) -> None:
        self.run_view.flush_charts()
        data = self._data_cache[1] if self._data_cache is not None else None
        from ....core.jobs import runs

        kept = runs.stopped_run(event, data, kind=self._run_kind)
        if kept is None:
            self.log(f"Stopped at epoch {event.epoch}, batch {event.batch}. No epoch had finished: nothing was saved.")
            self.banner.show_message("info", "Training stopped before the first epoch finished. Nothing was saved.")
            return
        epoch = event.best.history[-1]
        self.log(f"Stopped at epoch {event.epoch}, batch {event.batch}. The best finished epoch ({epoch.epoch}, "
                 f"validation accuracy {epoch.val_acc:.2f} %) is kept until it is saved or discarded.")
        self.unsaved.hold(RunOutcome(entry=None, test_accuracy=None, model=kept.model, meta=kept.meta,
                                     kept_after_stop=True))

    def _on_failed(self, event) -> None:
        self._show_failure(event.message, getattr(event, "advice", None))

    def _on_saved(self, outcome: RunOutcome) -> None:
        if outcome.entry is None:
            self.unsaved.hold(outcome)
            return
        self.unsaved.hold(None)
        self._last_outcome = outcome
        entry = outcome.entry
        if outcome.test_accuracy is None:
            why = (f"the evaluation failed: {outcome.evaluation_error.rstrip('.')}" if outcome.evaluation_error
                   else "training was stopped; the Evaluate page measures it" if outcome.kept_after_stop
                   else "the evaluation was stopped")
            accuracy = f"test accuracy not measured ({why})"
        else:
            accuracy = f"test accuracy {outcome.test_accuracy:.2f} %"
        self.log(f"{accuracy[0].upper()}{accuracy[1:]}. Saved as “{entry.name}”.")
        text = f"<b>Saved “{entry.name}”</b> — {accuracy}."
        calibration = describe_calibration(getattr(entry.meta, "metrics", {}) or {})
        if calibration:  # trained with photos: its own "not sure" threshold and held-out figures
            text += f"<br>{calibration}"
            self.log(calibration)
        report = outcome.finetune_report
        if report is not None:
            text += f"<br>{describe_report(report)}"
            self.log(describe_report(report))
        self.banner.show_message("success", text)
        active = self.context.active_entry()
        self.make_active_button.setVisible(active is None or getattr(active, "id", None) != entry.id)
        self.context.refresh_models()
        self.context.statusMessage.emit(f"Saved the new model “{entry.name}”.")
        self.runFinished.emit(entry)

    def _on_run_done(self) -> None:
        self._run_active = False
        self._set_idle_state()
        self.update_estimate()  # now from the speed this run measured
        self.runStateChanged.emit(False)

    # The held model's buttons and methods (hardening tests and the banner's buttons use these).
    def save_unsaved_model_as(self, path: str | None = None) -> bool:
        return self.unsaved.save_as(path)

    def retry_saving_unsaved_model(self) -> bool:
        return self.unsaved.retry()

    def _make_last_model_active(self) -> None:
        if self._last_outcome is not None and self.context.set_active(self._last_outcome.entry.id):
            self.make_active_button.hide()
            self.banner.show_message("success", f"“{self._last_outcome.entry.name}” is now the active model.")

    # ================================================================= helpers

    def log(self, line: str) -> None:
        self.run_view.log(line)

    def _show_failure(self, message: str, advice: str | None, title: str = "Training failed") -> None:
        text = f"<b>{title}:</b> {message}"
        if advice:
            text += f"<br>{advice}"
        self.banner.show_message("error", text)
        self.make_active_button.hide()
        self.log(f"{title}: {message}" + (f" {advice}" if advice else ""))

    def _inputs(self) -> list[QWidget]:
        return [*self.form.inputs(), *self.photo_panel.inputs(), *self.data_panel.inputs(), *self.photo_kind.inputs()]

    def _set_running_state(self) -> None:
        for widget in self._inputs():
            widget.setEnabled(False)
        self.train_button.setEnabled(False)
        self.retrain_button.setEnabled(False)
        self.stop_button.setEnabled(True)

    def _refresh_idle_state(self) -> None:
        if not self.is_training():
            self._set_idle_state()  # Train and Retrain wait for a download

    def _set_idle_state(self) -> None:
        ready = self._ready
        for widget in self._inputs():
            widget.setEnabled(ready)
        self.input_size_spin.setEnabled(False)
        # While Fashion-MNIST downloads, Train would only fail with "not found": it waits (the
        # Download button, now "Cancel download", stays usable).
        can_train = ready and not self.data_panel.is_downloading()
        self.train_button.setEnabled(can_train)
        self.stop_button.setEnabled(False)
        has_last = RunSettings.from_json(self.context.settings.value(TRAIN_LAST_RUN)) is not None
        self.retrain_button.setEnabled(can_train and has_last)
        if not ready:
            self.progress_label.setText("Loading the machine-learning engine…")
        elif self.last_config is None:
            self.progress_label.setText("Ready. Choose settings and press Train.")
        else:
            self.progress_bar.setRange(0, max(1, self.progress_bar.maximum()))
            elapsed = time.monotonic() - self._run_started_at
            self.progress_label.setText(f"Idle. The last run took {format_clock(elapsed)}.")
