"""The Train page: the settings form, the data-set box, Train / Stop / Retrain, live charts,
progress and the epoch log; fine-tuning with the user's photos runs here too.

Everything slow is a task of the page's `TaskGroup` (`self.tasks`): looking for the data set,
downloading it, importing matplotlib, preparing fine-tuning photos and the run itself (a
`core.jobs.train`: load the data, train, then `core.jobs.runs` evaluates and saves the model). The
page turns the run's events into widgets; what a run ends as is outcome.py (`show_saved`, and
`UnsavedModel`, which holds a model whose save failed or a stopped run's best epoch).
Its parts: `SettingsColumn` (left), `RunPanel` (right), `PhotoSetPrep` (a labelled photo set for a
run), `FinetuneFlow` (fine-tuning with the user's photos, and the form showing the running
fine-tune), `ActiveClaim` (Make it the active model, and its banner following the active models),
`PhotoKind` (the photo model).
Torch-dependent modules are imported after the context's `torchReady`, so the window opens fast.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QWidget

from ....core.jobs import train as train_job
from ....core.jobs.train import AfterTraining, DataLoaded, RunOutcome, TrainInputs
from ...settings_keys import TRAIN_FORM, TRAIN_LAST_RUN
from ...tasks import Progress, TaskGroup
from . import estimate
from .finetune_flow import FinetuneFlow
from .form import RunSettings, config_for
from .make_active import ActiveClaim
from .outcome import UnsavedModel, show_saved
from .photo_kind import PhotoKind
from .photo_prep import PhotoSetPrep
from .photos_panel import describe_counts
from .run_panel import RunPanel, busy_text
from .settings_column import STOP_TOOLTIP, SettingsColumn


class TrainPage(QWidget):
    """Train a model; see the module docstring. `runFinished(entry)` fires when a run was saved."""

    runFinished = Signal(object)  # core.store.library.ModelEntry of the new model
    runStateChanged = Signal(bool)  # busy or not
    trainingEvent = Signal(object)  # every core.learn.training event of the run, as the page handles it
    evaluateRequested = Signal(object)  # the banner's "Evaluate it": a saved model's library entry

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPage")
        self.context = context
        self.tasks = TaskGroup(self, "scan", "download", "charts", "prepare", "training", "compare")
        self._data_cache: tuple[str, Any] | None = None  # (folder key, core.data.fashion_mnist.FashionMNIST)
        self.photo_prep = PhotoSetPrep(self.tasks["prepare"], self)  # a labelled photo set, prepared and cached
        self.photo_prep.progress.connect(lambda progress: self._on_prepare_progress(progress))
        self.photo_prep.ready.connect(self._start_photo_run)
        self.photo_prep.failed.connect(self._on_photos_failed)
        self.photo_prep.cancelled.connect(self._on_photos_cancelled)
        self._ready = False
        self._run_started_at = 0.0
        self._run_kind = "train"  # or "finetune"
        self._job = "fmnist"  # what runs: "fmnist", "photo" (a photo model's run) or "photo-finetune"
        self._prepare_started: float | None = None  # a labelled photo set's preparation, for its speed
        self._finetune_parent: str | None = None  # the name of the model a fine-tune starts from
        self._last_outcome: RunOutcome | None = None
        self._run_finished = False  # training done; evaluating and saving now
        self._run_active = False
        self._stop_requested = False
        self.last_config = None  # the core.learn.training.TrainConfig of the latest run
        self._build()
        self.unsaved = UnsavedModel(self)
        self.finetune_flow = FinetuneFlow(self, self.tasks["prepare"])  # with the user's photos (Predict page)
        # Making a model active from this page, never a worse one without asking, and the banner that says so.
        self.active_claim = ActiveClaim(self, self.tasks["compare"])
        self.active_guard = self.active_claim.guard
        self.run_panel.makeActiveRequested.connect(self.active_claim.make_last_model_active)
        self.run_panel.evaluateRequested.connect(self.evaluateRequested)
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

        # --- left: the settings column (scrolls), Train, Stop, Retrain and Tune… below it ---
        self.settings_column = column = SettingsColumn(self.context, self.tasks["scan"], self.tasks["download"],
                                                       splitter)
        column.trainRequested.connect(self.start_training)
        column.stopRequested.connect(self.stop_training)
        column.retrainRequested.connect(self.retrain)
        column.presetListed.connect(lambda name: self.log(f"Your preset “{name}” is in the Preset list."))
        column.estimateChanged.connect(self.update_estimate)
        self._settings_scroll = column.scroll
        # The page's widgets, as scripts and tests know them.
        for name in ("form", "estimate_label", "photo_panel", "data_panel", "train_button", "stop_button",
                     "retrain_button", "tune_button"):
            setattr(self, name, getattr(column, name))
        for name in ("preset_combo", "preset_description", "epochs_spin", "batch_spin", "lr_spin", "input_size_spin",
                     "augment_check", "val_size_spin", "device_combo"):
            setattr(self, name, getattr(self.form, name))
        self.data_panel.message.connect(self._on_panel_message)
        self.data_panel.downloadStateChanged.connect(lambda _downloading: self._refresh_idle_state())
        for name in ("data_label", "choose_folder_button", "download_button", "download_progress"):
            setattr(self, name, getattr(self.data_panel, name))
        for keys in ("Esc", "Ctrl+."):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)  # only while this page is shown
            shortcut.activated.connect(self.stop_training)

        # --- right: banner, progress, charts, log ---
        self.run_panel = right = RunPanel(splitter)
        self.banner, self.make_active_button, self.run_view = right.banner, right.make_active_button, right.run_view
        for name in ("progress_bar", "progress_label", "log_view", "chart_holder"):
            setattr(self, name, getattr(self.run_view, name))

        splitter.addWidget(column)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([290, 700])
        self.photo_kind = PhotoKind(self, column.settings_layout)  # "Model kind": the 28×28 network or the photo model

    # ================================================================= torch-dependent set-up

    @Slot()
    def _on_torch_ready(self) -> None:
        if self._ready:
            return
        notices = self.settings_column.load_presets(self.context.settings.value(TRAIN_FORM))
        self._ready = True
        if notices:
            self.context.show_error("Some of your presets were set aside", " ".join(notices))
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
        photo_kind = getattr(self, "photo_kind", None)
        if photo_kind is not None and photo_kind.is_photo():
            photo_kind.show_estimate()
            return
        preset = self.form.presets.get(self.preset_combo.currentData()) if self._ready else None
        images = self.images_per_epoch() if preset is not None else 0
        path = self.photo_panel.path() if preset else None
        photos = self.photo_prep.cached(path) if path else None
        to_prepare = 0
        if photos is not None:
            from ....core.learn.training import TrainConfig

            images += photos.counts()["train"] * max(1, round(TrainConfig.photo_weight))
        elif path and photo_kind is not None:
            to_prepare = photo_kind.count_photos(path) or 0
        self.settings_column.show_estimate(preset, images, to_prepare)

    @property
    def charts(self):
        """The live charts (`ui.charts.TrainingCharts`), None until matplotlib has loaded."""
        return self.run_view.charts

    # ================================================================= settings and data

    def current_settings(self) -> RunSettings:
        return self.settings_column.settings()

    def _apply_settings(self, settings: RunSettings) -> None:
        self.settings_column.apply(settings)

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
        return (self.is_training() or self.tasks.is_running("download", "prepare", "compare") or self.unsaved.held()
                or (self.tune_dialog is not None and self.tune_dialog.is_running()))

    def busy_description(self) -> str:
        saved = self._last_outcome.entry if self._last_outcome is not None else None
        return busy_text(training=self.is_training(), saving=self._run_finished,
                         preparing=self.tasks.is_running("prepare"), run_kind=self._run_kind,
                         downloading=self.tasks.is_running("download"),
                         unsaved=self.unsaved.outcome if self.unsaved.held() else None,
                         saved_name=getattr(saved, "name", None),
                         tuning=self.tune_dialog is not None and self.tune_dialog.is_running(),
                         comparing=self.tasks.is_running("compare"))

    def _confirm_discard_unsaved(self) -> bool:
        return self.unsaved.confirm_discard()

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

    def _prepare_photos_then_run(self, config, path: str) -> bool:
        """Prepare the labelled photo set in the background (a progress bar; the results are cached
        on disk, so only the first run on a set takes minutes), show its counts, then train."""
        photos = self.photo_prep.cached(path)
        if photos is not None:
            return self._start_photo_run(config, photos)
        self.banner.hide()
        self.make_active_button.hide()
        self._set_running_state()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p % of the photos")
        self.progress_label.setText("Preparing the photos…")
        self.run_view.clock.reset()
        self._prepare_started = time.monotonic()
        self.photo_prep.start(config, path)
        return True

    def _on_photos_failed(self, message: str) -> None:
        self._show_failure(message, None, title="Cannot use the photos")
        self._set_idle_state()

    def _on_photos_cancelled(self) -> None:
        self.banner.show_message("info", "Stopped while preparing the photos. Nothing was trained.")
        self._set_idle_state()

    def _on_prepare_progress(self, progress: Progress) -> None:
        self.run_view.show_phase(progress)

    def _start_photo_run(self, config, photos) -> bool:
        counts = photos.counts()
        if self._prepare_started is not None:  # this computer's speed at preparing photos, for estimates
            estimate.record_speed(self.context.settings, "prepare:grabcut", "cpu", sum(counts.values()),
                                  time.monotonic() - self._prepare_started)
            self._prepare_started = None
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
        """Fine-tune the active model with the user's labelled photos (the Predict page's button);
        the checks, the question and preparing the photos are `finetune_flow.FinetuneFlow.start`."""
        return self.finetune_flow.start()

    def show_running(self, text: str, config=None) -> None:
        """The greyed form shows the running fine-tune (`FinetuneFlow.show_running`)."""
        self.finetune_flow.show_running(text, config)

    def is_training(self) -> bool:
        """From the click until the page has handled the run's end."""
        return self._run_active

    def _start_run(self, config, examples=()) -> bool:
        self.banner.hide()
        self.run_panel.offer_evaluation(None)
        self.make_active_button.hide()
        self._last_outcome = None
        self._run_finished = False
        self._stop_requested = False
        self.stop_button.setToolTip(STOP_TOOLTIP)
        self.run_view.reset(config.epochs)
        folder_key = f"{config.data_dir or ''}|{config.val_size}|{config.seed}"  # the split depends on all three
        data = self._data_cache[1] if self._data_cache and self._data_cache[0] == folder_key else None
        from ....core.jobs.runs import after_training

        parent = self._finetune_parent if self._run_kind == "finetune" else None
        self._job = "fmnist"
        after = after_training(self.context.library(), self._run_kind, examples, parent_name=parent)
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

    @property
    def tune_dialog(self):
        """Train ▸ Tune…'s dialog (`tune_dialog.TuneDialog`), None until it is first opened."""
        return self.settings_column.tune_dialog

    def open_tune_dialog(self):
        return self.settings_column.open_tune_dialog()

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
            show_saved(self, event.value)
            return
        handler = {
            training.Started: self._on_started,
            training.BatchEnd: self._on_batch_end,
            training.EpochEnd: self._on_epoch_end,
            training.Finished: self._on_finished,
            training.Cancelled: self.unsaved.hold_stopped_run,  # its best finished epoch is kept
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
            estimate.record_epoch(self.context.settings, self.form.presets, started, event.epoch_time_s)

    def _on_finished(self, event) -> None:
        self.run_view.show_finished(event)
        # Evaluating and saving now. Stop (or closing the window) still answers at once: it skips
        # the rest of the test-set evaluation, and the trained model is saved all the same.
        self._run_finished = True
        self.stop_button.setToolTip("Skip the test-set evaluation; the model is still saved")

    def _on_failed(self, event) -> None:
        self._show_failure(event.message, getattr(event, "advice", None))

    def _record_job_time(self) -> None:
        """What a finished run took besides its epochs (loading, testing, calibrating, saving; not
        preparing images, timed on their own), for the next estimate of the whole job."""
        history = self.run_view.history
        if self._stop_requested or not self._run_finished or not history or self._job == "photo-finetune":
            return
        wall = time.monotonic() - self._run_started_at
        rest = wall - sum(e.epoch_time_s for e in history) - (self.photo_kind.prepared_s if self._job == "photo" else 0.0)
        started = getattr(self, "_started", None)
        device = str(getattr(started, "device", "cpu")).split(":")[0]
        key = "overhead:photo" if self._job == "photo" else f"overhead:fmnist|{device}"
        estimate.record_seconds(self.context.settings, key, max(1.0, rest))

    def _on_run_done(self) -> None:
        self._record_job_time()
        self._run_active = False
        self.finetune_flow.restore_form()
        self._set_idle_state()
        self.update_estimate()  # now from the speed this run measured
        self.runStateChanged.emit(False)

    # The held model's buttons and methods (hardening tests and the banner's buttons use these).
    def save_unsaved_model_as(self, path: str | None = None) -> bool:
        return self.unsaved.save_as(path)

    def retry_saving_unsaved_model(self) -> bool:
        return self.unsaved.retry()

    def make_active_model(self, entry, saved_text: str | None = None, comparison=None) -> None:
        """Make `entry` active, never a worse one without asking, and say so (`make_active.ActiveClaim`)."""
        self.active_claim.make_active_model(entry, saved_text, comparison)

    # ================================================================= helpers

    def log(self, line: str) -> None:
        self.run_view.log(line)

    def _show_failure(self, message: str, advice: str | None, title: str = "Training failed") -> None:
        self.run_panel.show_failure(title, message, advice)

    def _inputs(self) -> list[QWidget]:
        return [*self.settings_column.inputs(), *self.photo_kind.inputs()]

    def _set_running_state(self) -> None:
        for widget in self._inputs():
            widget.setEnabled(False)
        self.settings_column.set_running()

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
        has_last = RunSettings.from_json(self.context.settings.value(TRAIN_LAST_RUN)) is not None
        self.settings_column.set_idle(can_train, has_last)
        last_run_s = None if self.last_config is None else time.monotonic() - self._run_started_at
        self.run_view.show_idle(ready, last_run_s)
