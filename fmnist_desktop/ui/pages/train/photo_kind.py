"""The Train page's "Model kind" choice and everything it takes to train or fine-tune the photo model.

"28×28 network" is the page as it always was (presets, the settings form). "Photo model" swaps the
form for a short one (epochs, Fashion-MNIST images per class); the labelled photos come from the
page's photo panel (a labels file or a labelled folder), Fashion-MNIST from its data panel. Train
then runs `core.jobs.photo_train.run`: `Preparing` fills the progress bar
("Preparing training images 1,234 / 8,181"), the training events drive the same progress, ETA and
live charts as a 28×28 run, Stop keeps the best finished epoch, and the finished run is saved and
made the active photo model.

"Fine-tune with my photos" fine-tunes the active photo model's head (`core.jobs.photo_train.finetune`) when
the photo model is what answers most of the user's stored photos; otherwise the page's 28×28
fine-tune runs as before (`wants_photo_finetune`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QVBoxLayout, QWidget

from ....core.jobs.train import RunOutcome
from ...tasks import TaskCancelled
from ...widgets.dialogs import ask_yes_no
from .outcome import describe_report, describe_threshold, kept_out_plan, take_saved
from .photos_panel import describe_calibration

KIND_SETTING = "train/modelKind"
FMNIST_KIND, PHOTO_KIND = "fmnist", "photo"
KIND_TITLES = ((FMNIST_KIND, "28×28 network"), (PHOTO_KIND, "Photo model"))
PHOTOS_TITLE = {FMNIST_KIND: "Real photos (optional)", PHOTO_KIND: "Labelled photos"}
NO_PHOTOS_FOR_PHOTO_MODEL = "None chosen yet: a photo model trains on labelled photos (and Fashion-MNIST)."


class PhotoKind:
    """Owns the kind choice and the photo model's runs on `page` (a TrainPage)."""

    def __init__(self, page, left_layout: QVBoxLayout):
        from ....core.learn.photo_config import PhotoTrainConfig  # torch-free: the window opens first

        self.page = page
        self.base_config = PhotoTrainConfig()  # the shipped recipe; the form sets epochs and the sample
        parent = page.form.parentWidget()
        self.kind_box = QGroupBox("Model kind", parent)
        self.kind_box.setObjectName("modelKindBox")
        kind_layout = QVBoxLayout(self.kind_box)
        self.kind_combo = QComboBox(self.kind_box)
        self.kind_combo.setObjectName("modelKindCombo")
        self.kind_combo.setAccessibleName("Model kind")
        for key, title in KIND_TITLES:
            self.kind_combo.addItem(title, key)
        self.kind_combo.setToolTip("28×28 network: answers Fashion-MNIST-style images (small, grey, light on dark). "
                                   "Photo model: an ImageNet-pretrained network that answers real photos.")
        kind_layout.addWidget(self.kind_combo)
        left_layout.insertWidget(0, self.kind_box)

        self.settings_box = QGroupBox("Photo model settings", parent)
        self.settings_box.setObjectName("photoSettingsBox")
        form = QFormLayout(self.settings_box)
        self.epochs_spin = QSpinBox(self.settings_box)
        self.epochs_spin.setObjectName("photoEpochsSpin")
        self.epochs_spin.setAccessibleName("Photo model epochs")
        self.epochs_spin.setRange(1, 100)
        self.epochs_spin.setValue(self.base_config.epochs)
        form.addRow("Epochs:", self.epochs_spin)
        self.per_class_spin = QSpinBox(self.settings_box)
        self.per_class_spin.setObjectName("photoFashionMnistSpin")
        self.per_class_spin.setAccessibleName("Fashion-MNIST images per class")
        self.per_class_spin.setRange(0, 6000)
        self.per_class_spin.setSingleStep(100)
        self.per_class_spin.setValue(self.base_config.fashion_mnist_per_class)
        self.per_class_spin.setToolTip("Fashion-MNIST images of each class trained on with the photos (as they are "
                                       "and inverted): bags and ankle boots, which photo sets often lack.")
        form.addRow("Fashion-MNIST per class:", self.per_class_spin)
        note = QLabel("The ImageNet backbone's last three blocks and the head train on cached views of each image; "
                      "the first run on a photo set prepares them (minutes), later runs reuse them. "
                      "The “not sure” threshold is calibrated on the photos of held-out senders.", self.settings_box)
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")
        form.addRow(note)
        left_layout.insertWidget(left_layout.indexOf(page.form) + 1, self.settings_box)

        # While the photo model's head is fine-tuned, this box replaces the kind and the forms.
        self.finetune_box = QGroupBox("Fine-tuning the photo model", parent)
        self.finetune_box.setObjectName("photoFinetuneBox")
        finetune_layout = QVBoxLayout(self.finetune_box)
        self.finetune_details = QLabel(self.finetune_box)
        self.finetune_details.setObjectName("photoFinetuneDetails")
        self.finetune_details.setWordWrap(True)
        finetune_layout.addWidget(self.finetune_details)
        left_layout.insertWidget(0, self.finetune_box)
        self.finetune_box.hide()

        self._photo_counts: dict[str, int | None] = {}
        self.prepared_s = 0.0  # how long the running photo run prepared its images
        self._preparing: dict[str, tuple[float, int]] = {}  # what → (first report, units)
        self._photos_path = ""
        for spin in (self.epochs_spin, self.per_class_spin):
            spin.valueChanged.connect(lambda _value: page.update_estimate())
        saved = str(page.context.settings.value(KIND_SETTING) or FMNIST_KIND)
        self.kind_combo.setCurrentIndex(max(0, self.kind_combo.findData(saved)))
        self.kind_combo.currentIndexChanged.connect(lambda _i: self.show_kind())
        page.photo_panel.changed.connect(lambda _path: self.show_kind())
        self.show_kind()

    # ----------------------------------------------------------------- the choice

    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def is_photo(self) -> bool:
        return self.kind() == PHOTO_KIND

    def set_kind(self, kind: str) -> None:
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))

    def inputs(self) -> list[QWidget]:
        return [self.kind_combo, self.epochs_spin, self.per_class_spin]

    def show_kind(self) -> None:
        photo = self.is_photo()
        for widget in (self.kind_box, self.page.photo_panel, self.page.data_panel):
            widget.show()
        self.finetune_box.hide()
        self.page.context.settings.setValue(KIND_SETTING, self.kind())
        self.page.form.setVisible(not photo)
        self.page.estimate_label.setVisible(True)
        self.page.tune_button.setVisible(not photo)
        self.settings_box.setVisible(photo)
        panel = self.page.photo_panel
        panel.setTitle(PHOTOS_TITLE[self.kind()])
        if panel.path() is None:  # "None: Fashion-MNIST only." is the 28×28 network's case
            from .photos_panel import NO_PHOTOS_TEXT

            panel.path_label.setText(NO_PHOTOS_FOR_PHOTO_MODEL if photo else NO_PHOTOS_TEXT)
        self.page.update_estimate()

    def count_photos(self, path: str) -> int | None:
        """The labelled photos of a set (listed, not opened), remembered per set; None if unreadable."""
        if path not in self._photo_counts:
            from pathlib import Path

            from ....core.base.errors import FmnistError
            from ....core.data.labelled_photos import read_labels, read_photo_folder

            try:
                photos = read_photo_folder(path) if Path(path).is_dir() else read_labels(path, check_files=False)
                self._photo_counts[path] = len(photos)
            except (FmnistError, OSError, ValueError):
                self._photo_counts[path] = None
        return self._photo_counts[path]

    def show_estimate(self) -> None:
        """"Time: …" for a photo model run: its epochs over the photos and the Fashion-MNIST sample,
        at this computer's measured speed for photo runs (or a guess, said so), and the one-off
        preparation of a photo set's images."""
        from . import estimate

        label = self.page.estimate_label
        path = self.page.photo_panel.path()
        n_photos = self.count_photos(path) if path else None
        if n_photos is None:
            label.setText("Time: known once the labelled photos are chosen.")
            return
        items = n_photos + 10 * self.per_class_spin.value()
        config = self.config()
        settings = self.page.context.settings
        prepared = estimate.measured_seconds(settings, self.prepared_key(path)) is not None
        job = estimate.photo_job(settings, items, config.epochs, config.views, prepared,
                                 compare=self.photo_model_entry() is not None)
        label.setText(f"Time: {job.text()}." + ("" if prepared else " Its images are prepared once and kept "
                                                                     "for later runs on this photo set."))

    def prepared_key(self, path: str) -> str:
        """What a photo set's prepared images depend on (their cache is kept for later runs)."""
        config = self.config()
        return f"prepared:{path}|{config.fashion_mnist_per_class}|{config.views}|{config.from_block}"

    def config(self):
        return dataclasses.replace(self.base_config, epochs=self.epochs_spin.value(),
                                   fashion_mnist_per_class=self.per_class_spin.value())

    # ----------------------------------------------------------------- training a photo model

    def start(self) -> bool:
        """Train a photo model with the photo panel's labelled photos (Train, in "Photo model" kind)."""
        from ....core.jobs import photo_train

        page = self.page
        photos = page.photo_panel.path()
        if not photos:
            page._show_failure("Choose the labelled photos to train on.",
                               "Labels file… or Folder… in the Labelled photos box (0_T-shirt_top … 9_Ankle_boot "
                               "subfolders, and none/ for things that are none of the ten).",
                               title="Cannot train a photo model")
            return False
        config = self.config()
        # Its train split is only sampled: no validation images are set aside (the 28×28 form's
        # validation size, hidden in this kind, must not decide whether the run can start).
        data_dir = page.data_panel.folder()
        folder_key = f"{data_dir or ''}|0|0"  # as the 28×28 run keys its data: folder, val_size, seed
        data = page._data_cache[1] if page._data_cache and page._data_cache[0] == folder_key else None
        page.banner.hide()
        page.make_active_button.hide()
        page.run_panel.offer_evaluation(None)
        page._last_outcome = None
        page._run_finished = False
        page._stop_requested = False
        page._run_kind = "train"
        page._job = "photo"
        self.prepared_s, self._preparing = 0.0, {}
        self._photos_path = photos
        page.run_view.reset(config.epochs)
        page.last_config = config
        page._run_active = True
        page._run_started_at = time.monotonic()
        page._set_running_state()
        page.log(f"Training a photo model on {photos}.")
        library = page.context.library()
        page.tasks["training"].start(
            lambda state: photo_train.run(photo_train.PhotoTrainInputs(config, photos, library, data, data_dir,
                                                                       make_active=False), state),
            on_partial=lambda event: self._on_event(event, folder_key),
            on_progress=page._on_status,
            on_error=lambda message: page._show_failure(message, None),
            on_finished=page._on_run_done,
            description="Training a photo model",
            needs_torch=True,
        )
        page.runStateChanged.emit(True)
        return True

    def _on_event(self, event, folder_key: str) -> None:
        from ....core.jobs.photo_model import Preparing
        from ....core.jobs.photo_train import PhotoKept
        from ....core.jobs.train import AfterTraining
        from ....core.learn import training

        page = self.page
        if isinstance(event, Preparing):
            self._time_preparation(event)
            page.progress_bar.setRange(0, max(1, event.total))
            page.progress_bar.setValue(event.done)
            page.progress_bar.setFormat("%p % prepared")
            eta = page.run_view.clock.text(f"Preparing {event.what}", event.done, event.total)
            page.progress_label.setText(f"Preparing {event.what} {event.done:,} / {event.total:,} "
                                        f"(kept for later runs){eta}…")
        elif isinstance(event, training.Cancelled):
            page.run_view.flush_charts()
            page.log(f"Stopped at epoch {event.epoch}, batch {event.batch}.")
            if event.best is None:
                page.banner.show_message("info", "Training stopped before the first epoch finished. Nothing was saved.")
            page.trainingEvent.emit(event)
        elif isinstance(event, PhotoKept):
            self._hold_stopped(event.run)
        elif isinstance(event, AfterTraining):
            self._on_saved(event.value, "trained")
        else:
            page._on_training_event(event, folder_key)

    def _time_preparation(self, event) -> None:
        """Each preparation phase is timed from its first report; once the training images are
        prepared, this computer's speed at it (and that this set is prepared) is remembered."""
        from . import estimate

        now = time.monotonic()
        started, _units = self._preparing.get(event.what, (now, 0))
        self._preparing[event.what] = (started, event.total)
        if event.done < event.total or event.what != "training images":
            return
        seconds = sum(now - start for start, _n in self._preparing.values())
        units = sum(n for _start, n in self._preparing.values())
        self.prepared_s = seconds
        settings = self.page.context.settings
        if seconds >= estimate.MIN_EPOCH_S:  # a cached set is "prepared" in a blink: no speed in that
            estimate.record_speed(settings, "prepare:photo", "cpu", units, seconds)
        estimate.record_seconds(settings, self.prepared_key(self._photos_path), seconds)

    def _hold_stopped(self, run) -> None:
        page = self.page
        best = run.meta.history[-1] if run.meta.history else {}
        page.log(f"The best finished epoch ({best.get('epoch', '?')}, accuracy on held-out photos "
                 f"{best.get('val_acc', float('nan')):.2f} %) is kept until it is saved or discarded.")
        page.unsaved.hold(RunOutcome(entry=None, test_accuracy=None, model=run.model, meta=run.meta,
                                     kept_after_stop=True))

    def _on_saved(self, outcome: RunOutcome, how: str, elapsed_s: float | None = None) -> None:
        """A photo model was saved: say so, then make it the active photo model unless it does worse
        than the active one and the user says No (the page's ActiveModelGuard)."""
        page = self.page
        entry = take_saved(page, outcome)
        if entry is None:
            return
        took = f" in {elapsed_s:.1f} s" if elapsed_s is not None else ""
        text = f"<b>Saved “{entry.name}”</b>, {how}{took}."
        page.log(f"Saved “{entry.name}” ({how}{took}).")
        metrics = getattr(entry.meta, "metrics", {}) or {}
        calibration = describe_threshold(metrics) or describe_calibration(metrics)
        if calibration:
            text += f"<br>{calibration}"
            page.log(calibration)
        if outcome.finetune_report is not None:
            text += f"<br>{describe_report(outcome.finetune_report)}"
            page.log(describe_report(outcome.finetune_report))
        page.banner.show_message("success", text)
        page.make_active_button.hide()
        page.run_panel.offer_evaluation(None)
        page.context.refresh_models()
        page.context.statusMessage.emit(f"Saved the new photo model “{entry.name}”.")
        page.runFinished.emit(entry)
        # A fine-tune was measured against its parent already: that comparison decides, no second pass.
        comparison = getattr(outcome.finetune_report, "comparison", None)
        page.make_active_model(entry, saved_text=text, comparison=comparison)  # tells the pages when it changed

    # ----------------------------------------------------------------- fine-tuning the photo model

    def photo_model_entry(self):
        """The active photo model, or None when there is none."""
        from ....core.base.errors import FmnistError

        try:
            return self.page.context.library().active(PHOTO_KIND)
        except (FmnistError, RuntimeError):
            return None

    def wants_photo_finetune(self) -> tuple[Any, list] | None:
        """(active photo model, the stored photos it answers) when the photo model is what answers
        most of the user's photos: then Fine-tune retrains its head. None: the 28×28 path."""
        entry = self.photo_model_entry()
        if entry is None:
            return None
        from ....core.jobs.photo_finetune import photos_the_photo_model_answers
        from ....core.store import user_photos

        examples = user_photos.list_examples()
        photos = photos_the_photo_model_answers(examples)
        if not examples or 2 * len(photos) < len(examples):
            return None
        return entry, photos

    def finetune_views(self, readiness) -> int:
        from ....core.jobs.photo_finetune import AUGMENTED_VIEWS, MIN_KEPT_OUT_TO_MEASURE
        from .estimate import photo_finetune_views

        return photo_finetune_views(readiness.n_train, readiness.n_kept_out, AUGMENTED_VIEWS, MIN_KEPT_OUT_TO_MEASURE)

    def finetune_time(self, readiness) -> str:
        """How long a head fine-tune takes in all: its photo views through the backbone, the head and
        its measurement against its parent, at this computer's recorded speed (or a guess, said so).
        No comparison follows: the one the job made decides (make_active.ActiveModelGuard)."""
        from .estimate import photo_finetune_job

        return photo_finetune_job(self.page.context.settings, self.finetune_views(readiness), compare=False).text()

    def show_finetune(self, entry, readiness) -> None:
        """The settings column shows the running fine-tune, not the kind and form it holds."""
        from ....core.jobs.photo_finetune import AUGMENTED_VIEWS, RECIPE

        for widget in (self.kind_box, self.settings_box, self.page.form, self.page.photo_panel, self.page.data_panel):
            widget.hide()  # none of them is what runs: the head learns from the photos kept on the Predict page
        noun = "photo" if readiness.n_train == 1 else "photos"
        self.finetune_details.setText(
            f"<b>{entry.name}</b> (the active photo model): its head is retrained on {readiness.n_train} of "
            f"your {noun} ({1 + AUGMENTED_VIEWS} views of each), at most {RECIPE.max_steps} steps (fewer once "
            "they are learned), then measured against it on the real photos; the ImageNet backbone stays as "
            f"it is. Photos kept out for measuring: {readiness.n_kept_out}.")
        self.finetune_box.show()

    def _on_head_step(self, event) -> None:
        """A head fine-tune's step: the live curve (one "epoch" of `steps`)."""
        charts = self.page.charts
        if charts is not None:
            charts.add_batch(1, event.step, event.steps, event.loss, event.accuracy)

    def start_finetune(self, entry, photos) -> bool:
        from ....core.jobs import photo_train
        from ....core.jobs.photo_finetune import default_replay_path
        from ....core.store import user_photos

        page = self.page
        readiness = user_photos.finetune_readiness(photos)
        if not readiness.can_run:
            more = f"{readiness.needed} more photo{'s' if readiness.needed != 1 else ''}"
            page._show_failure(f"It needs {more}.", readiness.explanation(), title="Cannot fine-tune yet")
            page._set_idle_state()
            return False
        if not page._confirm_discard_unsaved():
            return False
        from ....core.jobs.photo_finetune import MIN_KEPT_OUT_TO_MEASURE

        plan = (f"The head of “{entry.name}” (the active photo model, which answers your photos) will be retrained "
                f"on {readiness.n_train} of your photos; its ImageNet backbone stays as it is. The result is "
                "saved as a new model and measured against this one on the real photos the Models page "
                "measures: it becomes the active photo model if it names as many of them right; if it "
                "names fewer, you are asked, and this one stays unless you say Yes.\n\n"
                f"{kept_out_plan(entry.name, readiness.n_kept_out, MIN_KEPT_OUT_TO_MEASURE)}\n\n"
                f"Time: {self.finetune_time(readiness)}.\n\nStart fine-tuning?")
        if not ask_yes_no(page, "Fine-tune the photo model with your photos?", plan):
            return False
        page.banner.hide()
        page.make_active_button.hide()
        page.run_panel.offer_evaluation(None)
        page._run_kind = "finetune"
        page._job = "photo-finetune"
        page._last_outcome = None
        page._run_finished = False
        page._stop_requested = False
        page._run_active = True
        page._run_started_at = time.monotonic()
        page._set_running_state()
        page.progress_bar.setRange(0, 1000)
        page.progress_bar.setValue(0)
        page.progress_bar.setFormat("%p %")
        page.progress_label.setText("Reading your photos…")
        page.log(f"Fine-tuning the head of “{entry.name}” with your labelled photos.")
        page.show_running(f"Running: fine-tuning the head of “{entry.name}” (the photo model) on "
                          f"{readiness.n_train} of your photos; {self.finetune_time(readiness)}.")
        self.show_finetune(entry, readiness)
        page.run_view.reset(1, "share of the steps")  # the steps make one "epoch" of the curve
        page.progress_bar.setRange(0, 1000)
        page.progress_bar.setFormat("%p %")
        page.progress_label.setText("Step 1: reading your photos…")

        def progress(p) -> None:
            page.run_view.show_phase(p)

        views = self.finetune_views(readiness)

        def done(outcome: RunOutcome) -> None:
            from .estimate import record_photo_finetune

            page.progress_bar.setValue(1000)
            report = outcome.finetune_report
            if getattr(report, "elapsed_s", None):
                record_photo_finetune(page.context.settings, views, report.elapsed_s)
            self._on_saved(outcome, "fine-tuned", getattr(report, "elapsed_s", None))

        inputs = photo_train.PhotoFinetuneInputs(entry.path, photos, page.context.library(), default_replay_path(),
                                                 base_name=entry.name, make_active=False)

        def finetune(state):
            outcome = photo_train.finetune(inputs, state)
            if outcome is None:
                raise TaskCancelled()
            return outcome

        page.tasks["training"].start(
            finetune,
            on_result=done,
            on_partial=self._on_head_step,
            on_progress=progress,
            on_error=lambda message: page._show_failure(message, None, title="Cannot fine-tune"),
            on_cancelled=lambda: page.banner.show_message("info", "Fine-tuning stopped. Nothing was saved."),
            on_finished=page._on_run_done,
            description="Fine-tuning the photo model",
            needs_torch=True,
        )
        page.runStateChanged.emit(True)
        return True
