"""The Train page's right side: the banner (its "Make it the active model" button, and the held
model's buttons that `outcome.UnsavedModel` adds) above the run view (progress, charts, log)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from ...widgets.banner import Banner
from .run_view import RunView


class RunPanel(QWidget):
    makeActiveRequested = Signal()
    evaluateRequested = Signal(object)  # a saved model's library entry, for the Evaluate page

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        self.banner = Banner("trainBanner", self)
        self.make_active_button = QPushButton("Make it the active model", self.banner)
        self.make_active_button.setObjectName("makeActiveButton")
        self.make_active_button.clicked.connect(lambda _checked=False: self.makeActiveRequested.emit())
        self.make_active_button.hide()
        self.banner.buttons_box.addWidget(self.make_active_button)
        # A stopped run's saved model has no test figure: the Evaluate page measures it.
        self.evaluate_button = QPushButton("Evaluate it", self.banner)
        self.evaluate_button.setObjectName("evaluateSavedButton")
        self.evaluate_button.setToolTip("Open the Evaluate page with this model chosen")
        self.evaluate_button.clicked.connect(lambda _checked=False: self.evaluateRequested.emit(self._to_evaluate))
        self.evaluate_button.hide()
        self._to_evaluate = None
        self.banner.buttons_box.addWidget(self.evaluate_button)
        layout.addWidget(self.banner)
        self.run_view = RunView(self)
        layout.addWidget(self.run_view, 1)

    def offer_evaluation(self, entry) -> None:
        """Show "Evaluate it" for `entry` in the banner (None: hide it)."""
        self._to_evaluate = entry
        self.evaluate_button.setVisible(entry is not None)

    def show_failure(self, title: str, message: str, advice: str | None) -> None:
        text = f"<b>{title}:</b> {message}"
        if advice:
            text += f"<br>{advice}"
        self.banner.show_message("error", text)
        self.make_active_button.hide()
        self.offer_evaluation(None)
        self.run_view.log(f"{title}: {message}" + (f" {advice}" if advice else ""))


def busy_text(*, training: bool, saving: bool, preparing: bool, run_kind: str, downloading: bool, unsaved,
              saved_name: str | None = None, tuning: bool = False, comparing: bool = False) -> str:
    """What the Train page is busy with, for the window's close question ("" when nothing);
    `unsaved`: the RunOutcome held in memory, or None; `saved_name`: the run's model, once it is
    saved (the run is ending: nothing of it is lost by closing)."""
    parts = []
    if training and saved_name:
        parts.append(f"The new model “{saved_name}” is saved; the run is finishing and closing loses nothing of it.")
    elif training and saving:
        parts.append("The new model is being evaluated and saved; closing skips the evaluation and still saves it.")
    elif training and run_kind == "finetune":
        parts.append("A model is being fine-tuned with your photos; closing stops it and the fine-tuned model "
                     "is not saved.")
    elif training:
        parts.append("A model is being trained; closing stops it and the run is not saved.")
    elif preparing and run_kind == "train":
        parts.append("The labelled photos are being prepared for training; closing cancels the run.")
    elif preparing:
        parts.append("Your photos are being prepared for fine-tuning; closing cancels the fine-tuning.")
    elif downloading:
        parts.append("Fashion-MNIST is being downloaded.")
    elif unsaved is not None and unsaved.kept_after_stop:
        parts.append("The best epoch of the stopped run is kept in memory, not saved; quitting discards it "
                     "(use “Save to the library” on the Train page to keep it)")
    elif unsaved is not None:
        parts.append("The last trained model could not be saved and exists only in memory; quitting discards it "
                     "(use “Save model as…” on the Train page to keep it)")
    if comparing and not parts:
        parts.append("The new model is being compared with the active one before it is made active; closing "
                     "keeps the active model as it is (the new one stays in your models).")
    if tuning:
        parts.append("Tune… is running a study; closing stops its current trial (the study is kept).")
    return " ".join(parts)
