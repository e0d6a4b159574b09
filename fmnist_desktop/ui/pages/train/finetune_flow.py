"""Fine-tuning the active 28×28 network with the user's labelled photos (the Predict page's button):
whether there are enough photos (`user_photos.finetune_readiness`: one in five is kept out for
measuring), the question before it starts (what it does, roughly how long it takes here), and
preparing the photos in a task. The page then runs it like any other run.

While a fine-tune of either kind runs, the greyed form shows that run, not what the form held
(`show_running`; photo_kind.py uses it for the photo model's head), and the form comes back after
(`restore_form`). All of this lives here, not in page.py, because it is only about fine-tuning;
the page keeps `start_finetune` / `show_running` as one-line entry points.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ....core.base.formats import count_noun
from ...widgets.dialogs import ask_yes_no
from . import estimate
from .outcome import kept_out_plan


class FinetuneFlow(QObject):
    failed = Signal(str, object, str)  # message, advice (or None), title
    prepared = Signal(object, object, object)  # the entry, its core.learn TrainConfig, the photos (examples)

    def __init__(self, page, prepare_task):
        super().__init__(page)
        self.page = page  # the Train page, which runs the fine-tune once it is prepared
        self.context = page.context
        self._task = prepare_task  # the page's "prepare" task
        self._form_before_run = None  # the form (form.RunSettings) while it shows a running fine-tune
        self.failed.connect(self._on_failed)
        self.prepared.connect(self._on_prepared)

    def start(self) -> bool:
        """Fine-tune the active model with the user's labelled photos (the Predict page's button).

        First it checks there are enough photos to train on (`user_photos.finetune_readiness`:
        one in five is kept out for measuring) and asks, saying what it will do and roughly how
        long it takes on this computer. Preparing the photos (reading and augmenting them) is a
        task too; the run then goes through the same task, charts and log as any other, and ends
        with a before/after report.
        """
        page = self.page
        if not page._ready or page.is_training() or page.tasks.is_running("prepare"):
            return False
        photo = page.photo_kind.wants_photo_finetune()  # the photo model answers the user's photos
        if photo is not None:
            return page.photo_kind.start_finetune(*photo)
        entry = self.context.active_entry()
        readiness = self.readiness(entry)  # None: `failed` said why
        if readiness is None or not page._confirm_discard_unsaved():
            return False
        plan = self.plan(entry, readiness, page.images_per_epoch(), page.form.device())
        if not ask_yes_no(page, "Fine-tune with your photos?", plan):
            return False
        page._run_kind = "finetune"
        page.banner.hide()
        page.progress_label.setText("Preparing your photos…")
        self.prepare(entry, page.form.device(), page.data_panel.folder(), page.val_size_spin.value(),
                     on_cancelled=lambda: page._set_idle_state())
        return True

    def _on_failed(self, message: str, advice, title: str) -> None:
        self.page._show_failure(message, advice, title=title)
        self.page._set_idle_state()  # the status no longer says "Preparing your photos…"

    def _on_prepared(self, entry, config, examples) -> None:
        from ....core.store.user_photos import split_examples

        page = self.page
        page._run_kind = "finetune"
        page._finetune_parent = entry.name
        page.log(f"Fine-tuning “{entry.name}” with your labelled photos.")
        n_photos = len(split_examples(examples)[0])
        when = self.time_text(entry, n_photos, page.images_per_epoch(config.val_size), config.device)
        self.show_running(f"Running: fine-tuning “{entry.name}”, {count_noun(config.epochs, 'epoch')} with {n_photos} of your "
                          f"photo{'s' if n_photos != 1 else ''}; {when}.", config)
        page._start_run(config, examples)

    def show_running(self, text: str, config=None) -> None:
        """While a fine-tune runs the greyed form shows that run (its preset, epochs, learning rate),
        not what the form held, and the time line says what is running; the form comes back after.
        `config` None (the photo model's head): the 28×28 form is hidden meanwhile."""
        page = self.page
        if self._form_before_run is None:
            self._form_before_run = page.current_settings()
        if config is None:
            page.form.hide()
        else:
            resolved = config.resolved()
            widgets = (page.preset_combo, page.epochs_spin, page.batch_spin, page.lr_spin, page.augment_check,
                       page.val_size_spin)
            for widget in widgets:
                widget.blockSignals(True)
            try:
                page.form.select_preset(resolved.preset_obj().name)
                page.epochs_spin.setValue(resolved.epochs)
                page.batch_spin.setValue(resolved.batch_size)
                page.lr_spin.setValue(resolved.lr)
                page.augment_check.setChecked(resolved.augment != "none")
                page.val_size_spin.setValue(resolved.val_size)
            finally:
                for widget in widgets:
                    widget.blockSignals(False)
        page.estimate_label.setText(text)
        page.estimate_label.show()

    def restore_form(self) -> None:
        """After a fine-tune: the form as the user left it."""
        settings, self._form_before_run = self._form_before_run, None
        if settings is None:
            return
        page = self.page
        page._apply_settings(settings)
        page.photo_kind.show_kind()
        page.update_estimate()

    def readiness(self, entry):
        """The photos' readiness for fine-tuning `entry`; None (and `failed`) when it cannot run."""
        if entry is None:
            self.failed.emit("There is no active model to fine-tune.", "Choose one on the Models page.",
                             "Cannot fine-tune")
            return None
        from ....core.store import user_photos

        readiness = user_photos.finetune_readiness(user_photos.list_examples())
        if not readiness.can_run:
            more = f"{readiness.needed} more photo{'s' if readiness.needed != 1 else ''}"
            self.failed.emit(f"It needs {more}.", readiness.explanation(), "Cannot fine-tune yet")
            return None
        return readiness

    def plan(self, entry, readiness, images_per_epoch: int, device: str) -> str:
        """What a fine-tune will do and roughly how long it takes (the question before it starts)."""
        from ....core.jobs import finetune

        epochs = finetune.FINETUNE_EPOCHS
        when = self.time_text(entry, readiness.n_train, images_per_epoch, device)
        return (f"“{entry.name}” will be trained for {epochs} more epochs on Fashion-MNIST together with "
                f"{readiness.n_train} of your photos, then saved as a new model next to it and compared with "
                f"it on the Fashion-MNIST test set. The active model stays as it is.\n\n"
                f"{kept_out_plan(entry.name, readiness.n_kept_out)}\n\nTime: {when}.\n\nStart fine-tuning?")

    def time_text(self, entry, n_photos: int, images_per_epoch: int, device: str) -> str:
        """How long the fine-tune takes: its epochs over Fashion-MNIST and the photos' augmented
        copies, for its network on the device it will use."""
        from ....core.jobs import finetune

        arch = getattr(entry.meta, "arch", "bn_cnn")
        images = images_per_epoch + int(n_photos * finetune.FINETUNE_COPIES * finetune.FINETUNE_WEIGHT)
        return estimate.fmnist_job(self.context.settings, arch, estimate.device_kind(device), images,
                                   finetune.FINETUNE_EPOCHS).text()

    def prepare(self, entry, device: str, data_dir, val_size: int, on_cancelled) -> None:
        """Read and augment the photos in the task; `prepared` or `failed` follows."""
        inputs = (entry.path, device, data_dir, val_size)

        def prepare(state):
            from ....core.jobs import finetune

            return finetune.prepare_run(finetune.FinetuneInputs(*inputs), state)

        self._task.start(
            prepare,
            on_result=lambda value: self.prepared.emit(entry, *value),
            on_error=lambda message: self.failed.emit(message, None, "Cannot fine-tune"),
            on_cancelled=on_cancelled,
            description="Preparing the fine-tuning photos",
        )
