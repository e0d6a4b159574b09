"""The Train page: settings, Train/Stop/Retrain, live charts, progress and the epoch log."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class TrainPage(QWidget):
    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("trainPage")
        self.context = context
        self._worker = None
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Train a model on Fashion-MNIST."))

    def is_busy(self) -> bool:
        return self._worker is not None and self._worker.is_running()

    def busy_description(self) -> str:
        return "Training is running." if self.is_busy() else ""

    def start_finetune(self) -> None:
        """Fine-tune the active model with the user's labelled photos (wired in the full page)."""

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        if self._worker is None:
            return True
        return self._worker.shutdown(timeout_ms)
