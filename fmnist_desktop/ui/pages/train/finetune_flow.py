"""Fine-tuning the active 28×28 network with the user's labelled photos (the Predict page's button):
whether there are enough photos (`user_photos.finetune_readiness`: one in five is kept out for
measuring), the question before it starts (what it does, roughly how long it takes here), and
preparing the photos in a task. The page then runs it like any other run."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from . import estimate
from .outcome import kept_out_plan


class FinetuneFlow(QObject):
    failed = Signal(str, object, str)  # message, advice (or None), title
    prepared = Signal(object, object, object)  # the entry, its core.learn TrainConfig, the photos (examples)

    def __init__(self, context, prepare_task, parent: QObject | None = None):
        super().__init__(parent)
        self.context = context
        self._task = prepare_task  # the page's "prepare" task

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
        return estimate.estimate(self.context.settings, arch, estimate.device_kind(device), images,
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
