"""The Train page of the lite edition (core.base.edition: no torch): one line that says training
and tuning need the full edition, and "Fine-tune with my photos" (the Predict page's button), which
works without torch.

Training a model from scratch and tuning run on torch. The photo model's head fine-tune does not
(core.jobs.photo_finetune): it reads the kept photos' embeddings through the model's ONNX twin,
trains the head in numpy and writes the new model and its twin (derived from the parent's) without
torch. Here it is given `store.twins.existing_twin`, which never makes a twin: the built-ins' twins
ship beside them and a fine-tuned model's is made from its parent's, so a model without one is said
in one line instead. The new model becomes the active photo model unless it names fewer of the
measuring photos right than its parent (`core.jobs.photo_train.finetune`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ....core.base.edition import NeedsFullEdition, full_edition_line
from ....core.base.errors import FmnistError
from ...tasks import TaskCancelled, TaskGroup

TRAIN_LINE = full_edition_line("Training a model from scratch and tuning (Tune…)")
FINETUNE_28_LINE = full_edition_line("Fine-tuning the 28×28 network with your photos")
NO_PHOTO_MODEL = "There is no active photo model to fine-tune; activate one on the Models page."


def run_lite_finetune(entry, library, state):
    """The task: the active photo model's head fine-tuned on the kept photos it answers, saved (and
    made active unless it does worse); a `core.jobs.train.RunOutcome`. Raises FmnistError with the
    one line to show when it cannot run (too few photos, no twin, only 28×28-style photos)."""
    from ....core.jobs import photo_train
    from ....core.jobs.photo_finetune import default_replay_path, photos_the_photo_model_answers
    from ....core.store import user_photos
    from ....core.store.twins import existing_twin

    examples = user_photos.list_examples()
    photos = photos_the_photo_model_answers(examples)
    if examples and not photos:
        raise NeedsFullEdition(FINETUNE_28_LINE)
    readiness = user_photos.finetune_readiness(photos)
    if not readiness.can_run:
        raise FmnistError(f"Cannot fine-tune yet: {readiness.explanation()}")
    inputs = photo_train.PhotoFinetuneInputs(entry.path, photos, library, default_replay_path(),
                                             base_name=entry.name, make_active=True, find_twin=existing_twin)
    outcome = photo_train.finetune(inputs, state)
    if outcome is None:
        raise TaskCancelled()
    return outcome


def describe_outcome(outcome, parent_name: str) -> str:
    """The saved model in one line: its name, its time, and whether it is now the active one."""
    if outcome.entry is None:
        return f"The fine-tuned model could not be saved: {outcome.save_error}"
    report = outcome.finetune_report
    took = f" in {report.elapsed_s:.1f} s" if getattr(report, "elapsed_s", None) else ""
    if getattr(report, "worse", False):
        return (f"Saved “{outcome.entry.name}”, fine-tuned{took}; it names fewer of the measuring photos right than "
                f"“{parent_name}”, which stays the active photo model.")
    return f"Saved “{outcome.entry.name}”, fine-tuned{took}; it is now the active photo model."


class LiteTrainPage(QWidget):
    """Says in one line that training and tuning need the full edition; `start_finetune` (the
    Predict page's "Fine-tune with my photos") fine-tunes the photo model's head without torch."""

    runFinished = Signal(object)
    runStateChanged = Signal(bool)
    evaluateRequested = Signal(object)

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPage")
        self.context = context
        self.tasks = TaskGroup(self, "finetune")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        self.notice = QLabel(TRAIN_LINE, self)
        self.notice.setObjectName("fullEditionNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setStyleSheet("font-size: 12pt;")
        self.finetune_status = QLabel("", self)
        self.finetune_status.setObjectName("liteFinetuneStatus")
        self.finetune_status.setWordWrap(True)
        self.finetune_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.finetune_status.hide()
        layout.addWidget(self.notice)
        layout.addWidget(self.finetune_status)
        layout.addStretch(1)

    def _say(self, text: str) -> None:
        self.finetune_status.setText(text)
        self.finetune_status.show()
        self.context.statusMessage.emit(text)

    def start_finetune(self) -> bool:
        """Fine-tune the active photo model's head with the kept photos, in a task (no torch)."""
        if self.is_busy() or not self.context.is_torch_ready():
            return False
        entry = self.context.active_entry_of("photo")
        if entry is None:
            self._say(NO_PHOTO_MODEL)
            return False
        library = self.context.library()
        self._say(f"Fine-tuning the head of “{entry.name}” with your photos…")
        self.runStateChanged.emit(True)
        self.tasks["finetune"].start(
            lambda state: run_lite_finetune(entry, library, state),
            on_result=lambda outcome: self._on_saved(outcome, entry.name),
            on_progress=self._on_progress,
            on_error=self._say,
            on_cancelled=lambda: self._say("Fine-tuning stopped. Nothing was saved."),
            on_finished=lambda: self.runStateChanged.emit(False),
            description="Fine-tuning the photo model",
        )
        return True

    def _on_progress(self, progress) -> None:
        if progress.message:
            self._say(progress.message)

    def _on_saved(self, outcome, parent_name: str) -> None:
        self._say(describe_outcome(outcome, parent_name))
        if outcome.entry is not None:
            self.context.refresh_models()  # the new model, active unless worse: every page follows
            self.runFinished.emit(outcome.entry)

    def is_busy(self) -> bool:
        return self.tasks.is_running()

    def busy_description(self) -> str:
        return "Fine-tuning the photo model" if self.is_busy() else ""

    def shutdown(self, timeout_ms: int = 0) -> bool:
        return self.tasks.shutdown(timeout_ms)
