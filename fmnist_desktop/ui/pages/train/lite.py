"""The Train page of the lite edition (core.base.edition: no torch): one line that says what the
full edition does here, instead of a form whose every button would need torch.

Training a model from scratch, tuning and fine-tuning with the user's photos all run on torch;
the lite edition answers, evaluates and manages models through onnxruntime (docs/PACKAGING.md).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ....core.base.edition import full_edition_line

TRAIN_LINE = full_edition_line("Training a model from scratch and tuning (Tune…)")
FINETUNE_LINE = full_edition_line("Fine-tune with my photos")


class LiteTrainPage(QWidget):
    """Says in one line that training and tuning need the full edition; `start_finetune` (the
    Predict page's "Fine-tune with my photos") says the same for fine-tuning."""

    runFinished = Signal(object)
    runStateChanged = Signal(bool)
    evaluateRequested = Signal(object)

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPage")
        self.context = context
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        self.notice = QLabel(TRAIN_LINE, self)
        self.notice.setObjectName("fullEditionNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.setStyleSheet("font-size: 12pt;")
        layout.addWidget(self.notice)
        layout.addStretch(1)

    def start_finetune(self) -> None:
        self.notice.setText(FINETUNE_LINE)
        self.context.statusMessage.emit(FINETUNE_LINE)

    def is_busy(self) -> bool:
        return False

    def busy_description(self) -> str:
        return ""

    def shutdown(self, timeout_ms: int = 0) -> bool:
        return True
