"""The Evaluate page: test accuracy, per-class metrics, confusion matrix and mistake galleries."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .workers import TaskRunner


class EvaluatePage(QWidget):
    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("evaluatePage")
        self.context = context
        self._runner = TaskRunner(self)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Evaluate the active model on the test set."))

    def is_busy(self) -> bool:
        return self._runner.is_running()

    def busy_description(self) -> str:
        return "Evaluation is running." if self.is_busy() else ""

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        return self._runner.shutdown(timeout_ms)
