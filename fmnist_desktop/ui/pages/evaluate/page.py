"""The Evaluate page: test accuracy, per-class metrics, confusion matrix and mistake galleries.

Evaluation (loading the test split and the model, running 10,000 images) is a task of the page
("evaluate") with a progress bar and a Cancel button. The result is drawn here: a clickable
confusion matrix (matplotlib, counts or row percentages), a per-class precision/recall/F1 table,
and galleries (`ui.widgets.gallery`) — the images of a picked cell, and every misclassified image
— each worst first. File ▸ Export… (Ctrl+E) writes the evaluation report as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ....core.base.errors import FmnistError
from ....core.base.formats import count_noun
from ....core.base.labels import CLASS_NAMES
from ...settings_keys import DATA_FOLDER
from ...tasks import Progress, TaskCancelled, TaskGroup
from ...widgets.banner import Banner, make_button
from ...widgets.gallery import EnlargedImageDialog
from .report import write_report
from .results import ResultsPanel


@dataclass(frozen=True)
class EvaluationOutcome:
    """Handed from the worker to the page: the result, the test images and what was evaluated."""

    entry: Any  # core.store.library.ModelEntry
    result: Any  # core.learn.evaluation.EvaluationResult
    images: np.ndarray  # uint8 (N, 28, 28), the test split in result order
    source_description: str


class EvaluatePage(QWidget):
    """Evaluate the active model on the Fashion-MNIST test set and explore its mistakes."""

    evaluationFinished = Signal(object)  # EvaluationOutcome

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("evaluatePage")
        self.context = context
        self.tasks = TaskGroup(self, "evaluate", "charts")
        self._test_cache: tuple[str, Any] | None = None  # (folder key, (Split, DataSource))
        self.outcome: EvaluationOutcome | None = None
        self._previous_outcome: EvaluationOutcome | None = None  # put away while a new evaluation runs
        self.matrix = None  # ui.charts.ConfusionMatrixCanvas, built once matplotlib is loaded
        self._build()
        self._update_model_label(context.active_entry())
        context.activeModelChanged.connect(self._on_active_model_changed)
        context.torchReady.connect(self._on_torch_ready)
        self._set_idle()
        if context.is_torch_ready():
            self._on_torch_ready()

    # ================================================================= construction

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)

        top = QHBoxLayout()
        self.evaluate_button = make_button(self, "Evaluate on the test set", "evaluateButton", self.start_evaluation,
                                           accessible_name="Evaluate the active model on the test set")
        self.cancel_button = make_button(self, "Cancel", "cancelEvaluationButton", self.cancel_evaluation,
                                         accessible_name="Cancel the evaluation")
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("evaluateProgress")
        self.progress_bar.setAccessibleName("Evaluation progress")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        top.addWidget(self.evaluate_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress_bar, 1)
        layout.addLayout(top)

        summary = QHBoxLayout()
        self.model_label = QLabel(self)
        self.model_label.setObjectName("evaluatedModelLabel")
        self.model_label.setWordWrap(True)
        self.accuracy_label = QLabel("Test accuracy: –", self)
        self.accuracy_label.setObjectName("testAccuracyLabel")
        self.accuracy_label.setAccessibleName("Test accuracy")
        font = self.accuracy_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.accuracy_label.setFont(font)
        summary.addWidget(self.model_label, 1)
        summary.addWidget(self.accuracy_label)
        layout.addLayout(summary)

        self.banner = Banner("evaluateBanner", self)
        layout.addWidget(self.banner)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter, 1)

        matrix_box = QWidget(splitter)
        matrix_layout = QVBoxLayout(matrix_box)
        matrix_layout.setContentsMargins(0, 0, 0, 0)
        matrix_header = QHBoxLayout()
        title = QLabel("<b>Confusion matrix</b> — click a cell to see its images", matrix_box)
        title.setWordWrap(True)
        matrix_header.addWidget(title, 1)
        self.normalize_check = QCheckBox("Row %", matrix_box)
        self.normalize_check.setObjectName("normalizeCheck")
        self.normalize_check.setAccessibleName("Show each row as percentages of its true class")
        self.normalize_check.setToolTip("Show each row as percentages of its true class instead of counts")
        self.normalize_check.toggled.connect(self._on_normalize_toggled)
        matrix_header.addWidget(self.normalize_check)
        matrix_layout.addLayout(matrix_header)
        self.matrix_holder = QVBoxLayout()
        self._matrix_placeholder = QLabel("Press “Evaluate on the test set” to see how the active model does.",
                                          matrix_box)
        self._matrix_placeholder.setObjectName("matrixPlaceholder")
        self._matrix_placeholder.setWordWrap(True)
        self._matrix_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.matrix_holder.addWidget(self._matrix_placeholder)
        matrix_layout.addLayout(self.matrix_holder, 1)
        matrix_box.setMinimumWidth(340)

        self.results = ResultsPanel(splitter)  # the right side: per-class table, galleries, zoom
        results = self.results
        self.tabs, self.metrics_table, self.zoom_slider = results.tabs, results.metrics_table, results.zoom_slider
        self.cell_label, self.cell_gallery = results.cell_label, results.cell_gallery
        self.misclassified_label, self.misclassified_gallery = results.misclassified_label, results.misclassified_gallery
        self.enlarged: EnlargedImageDialog | None = None
        self.results.enlargeRequested.connect(self.enlarge)

        splitter.addWidget(matrix_box)
        splitter.addWidget(results)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([520, 420])

    # ================================================================= galleries

    @Slot(int)
    def set_thumb_size(self, size: int) -> None:
        self.results.set_thumb_size(size)

    @Slot(int)
    def enlarge(self, sample: int) -> None:
        """Open one test image large (the galleries' double-click)."""
        if self.outcome is None:
            return
        result = self.outcome.result
        pred, true = int(result.predictions[sample]), int(result.labels[sample])
        caption = (f"Test image #{sample}<br>True class: <b>{CLASS_NAMES[true]}</b><br>"
                   f"Predicted: <b>{CLASS_NAMES[pred]}</b> ({100 * float(result.confidences[sample]):.1f} %)"
                   f"{'' if pred == true else ' — wrong'}")
        if self.enlarged is not None:
            self.enlarged.close()
        self.enlarged = EnlargedImageDialog(self.outcome.images[sample], caption, self)
        self.enlarged.open()

    # ================================================================= state

    @Slot()
    def _on_torch_ready(self) -> None:
        self._set_idle()
        if self.matrix is None and not self.tasks["charts"].is_running():
            def import_charts(state):
                from ... import charts  # noqa: F401 - matplotlib is slow to import: not on the GUI thread

                return True

            self.tasks["charts"].start(import_charts, on_result=lambda _ok: self._build_matrix())

    def _build_matrix(self) -> None:
        if self.matrix is not None:
            return
        from ...charts import ConfusionMatrixCanvas

        self.matrix = ConfusionMatrixCanvas(self)
        self.matrix.set_normalized(self.normalize_check.isChecked())
        self.matrix.cellClicked.connect(self.show_cell)
        self.matrix_holder.addWidget(self.matrix, 1)
        if self.outcome is not None:
            self._matrix_placeholder.hide()
            self.matrix.set_confusion(self.outcome.result.confusion)
        else:
            self.matrix.hide()

    def is_stale(self) -> bool:
        """The shown result belongs to a model that is no longer the active one."""
        if self.outcome is None:
            return False
        return getattr(self.outcome.entry, "id", None) != getattr(self.context.active_entry(), "id", None)

    def _update_model_label(self, entry=None) -> None:
        """The header always names the model the figures below belong to; when that is not the
        active model any more, the figures are greyed and the header says so."""
        entry = self.context.active_entry() if entry is None else entry
        stale = self.is_stale()
        for widget in (self.accuracy_label, self.metrics_table):
            widget.setEnabled(not stale)
        if self.matrix is not None:
            self.matrix.setEnabled(not stale)
        if self.outcome is None:
            self.model_label.setText("No active model." if entry is None else
                                     f"Active model: <b>{entry.name}</b> — not evaluated yet")
            return
        shown = self.outcome.entry.name
        source = f"<span style='color:#555'>Test set: {self.outcome.source_description}</span>"
        if stale:
            active = "no model" if entry is None else f"“{entry.name}”"
            self.model_label.setText(
                f"Results of <b>{shown}</b> <span style='color:#b3261e'>(not the active model: {active} is "
                f"active — press “Evaluate on the test set” for it)</span><br>{source}")
            self.accuracy_label.setText(f"Test accuracy: {self.outcome.result.accuracy:.2f} % (not the active model)")
        else:
            self.model_label.setText(f"Results of <b>{shown}</b> (the active model)<br>{source}")
            self.accuracy_label.setText(f"Test accuracy: {self.outcome.result.accuracy:.2f} %")

    @Slot(object)
    def _on_active_model_changed(self, entry) -> None:
        self._update_model_label(entry)
        self._set_idle()

    def _set_idle(self) -> None:
        ready = self.context.is_torch_ready() and self.context.active_entry() is not None
        self.evaluate_button.setEnabled(ready and not self.tasks["evaluate"].is_running())
        self.cancel_button.setEnabled(self.tasks["evaluate"].is_running())
        if not self.context.is_torch_ready():
            self.evaluate_button.setToolTip("Waiting for the machine-learning engine to load…")
        elif self.context.active_entry() is None:
            self.evaluate_button.setToolTip("There is no active model; choose one on the Models page.")
        else:
            self.evaluate_button.setToolTip("Run the active model on the 10,000 test images.")

    def is_busy(self) -> bool:
        return self.tasks["evaluate"].is_running()

    def busy_description(self) -> str:
        return "The model is being evaluated." if self.is_busy() else ""

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        return self.tasks.shutdown(timeout_ms)

    # ================================================================= evaluation

    def start_evaluation(self) -> bool:
        entry = self.context.active_entry()
        if entry is None or not self.context.is_torch_ready():
            self._set_idle()
            return False
        folder = self.context.settings.value(DATA_FOLDER) or None
        folder_key = str(folder or "")
        cached = self._test_cache[1] if self._test_cache and self._test_cache[0] == folder_key else None

        def evaluate(state):
            from ....core.jobs import evaluate as evaluate_job

            # Every step moves the bar (the first evaluation reads the test files: seconds).
            done = evaluate_job.run(evaluate_job.EvaluateInputs(
                entry.path, Path(folder) if folder else None, test_split=cached), state)
            if done is None:
                raise TaskCancelled()
            outcome = EvaluationOutcome(entry, done.result, done.split.images.numpy(), done.source.description)
            return (folder_key, (done.split, done.source)), outcome

        self.banner.hide()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(f"Evaluating “{entry.name}”…")
        self._show_pending(entry)
        self.tasks["evaluate"].start(
            evaluate,
            on_result=self._on_result,
            on_error=self._on_error,
            on_progress=self._on_progress,
            on_cancelled=self._on_cancelled,
            on_finished=self._on_finished,
            description="Evaluating the active model",
        )
        self._set_idle()
        return True

    def cancel_evaluation(self) -> None:
        self.tasks["evaluate"].cancel()
        self.cancel_button.setEnabled(False)

    def _on_progress(self, progress: Progress) -> None:
        if progress.fraction is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(1000 * progress.fraction))
        self.progress_bar.setFormat(progress.message or "%p%")

    def _show_pending(self, entry) -> None:
        """While an evaluation runs, the old figures are put away (they come back if it is
        cancelled or fails): nothing on screen belongs to another model."""
        self._previous_outcome = self.outcome
        self.outcome = None
        self.accuracy_label.setText("Test accuracy: …")
        self.model_label.setText(f"Evaluating <b>{entry.name}</b> on the test set…")
        self.results.clear()
        if self.matrix is not None:
            self.matrix.hide()
        self._matrix_placeholder.setText(f"Evaluating “{entry.name}”…")
        self._matrix_placeholder.show()

    def _restore_previous(self) -> None:
        previous = getattr(self, "_previous_outcome", None)
        self._previous_outcome = None
        if previous is not None and self.outcome is None:
            self.show_outcome(previous, announce=False)
        elif self.outcome is None:
            self._matrix_placeholder.setText("Press “Evaluate on the test set” to see how the active model does.")
            self.accuracy_label.setText("Test accuracy: –")
            self._update_model_label()

    def _on_cancelled(self) -> None:
        self.banner.show_message("info", "Evaluation cancelled.")
        self._restore_previous()

    def _on_error(self, message: str) -> None:
        self.banner.show_message("error", f"<b>Evaluation failed:</b> {message}")
        self._restore_previous()

    def _on_finished(self) -> None:
        self.progress_bar.setRange(0, 1000)
        if self.outcome is None or self.progress_bar.value() < 1000:
            self.progress_bar.setFormat("%p%")
        self._set_idle()

    def _on_result(self, value) -> None:
        cache, outcome = value
        self._test_cache = cache
        self.show_outcome(outcome)
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat("Done")

    def show_outcome(self, outcome: EvaluationOutcome, announce: bool = True) -> None:
        """Show an evaluation: accuracy, table, matrix and the misclassified gallery."""
        self.outcome = outcome
        self._previous_outcome = None
        result = outcome.result
        if self.matrix is None:
            self._build_matrix()
        self._matrix_placeholder.hide()
        self.matrix.show()
        self.matrix.set_confusion(result.confusion)
        self.results.show_result(outcome.images, result)
        self._update_model_label()
        if announce:
            self.evaluationFinished.emit(outcome)

    @Slot(int, int)
    def show_cell(self, true_index: int, pred_index: int) -> None:
        """Show the test images of one confusion-matrix cell, worst first."""
        if self.outcome is None:
            return
        result = self.outcome.result
        indices = list(result.cell_indices(true_index, pred_index))
        self.cell_gallery.gallery_model.set_samples(
            self.outcome.images, indices, result.predictions, result.confidences, result.labels)
        if self.matrix is not None and self.matrix.selected != (true_index, pred_index):
            self.matrix.select_cell(true_index, pred_index)
        true_name, pred_name = CLASS_NAMES[true_index], CLASS_NAMES[pred_index]
        if not indices:
            text = f"No <b>{true_name}</b> test image was predicted as <b>{pred_name}</b>."
        elif true_index == pred_index:
            text = f"<b>{true_name}</b> classified correctly: {count_noun(len(indices), 'image')}, the most confident first."
        else:
            text = (f"<b>{true_name}</b> mistaken for <b>{pred_name}</b>: {count_noun(len(indices), 'image')}, "
                    "the most confident mistakes first.")
        self.cell_label.setText(text)
        self.tabs.setCurrentIndex(1)

    # ================================================================= export (File ▸ Export…, Ctrl+E)

    def export(self) -> None:
        """File ▸ Export… on this page: the evaluation report (accuracy, per-class metrics,
        confusion matrix, most confused pairs) as JSON."""
        if self.outcome is None:
            self.banner.show_message("info", "Nothing to export yet: press “Evaluate on the test set” first.")
            return
        suggested = str(Path.home() / "evaluation.json")
        target, _ = QFileDialog.getSaveFileName(self, "Export the evaluation report", suggested, "JSON files (*.json)")
        if target:
            self.export_report(target)

    def export_report(self, target: str | Path) -> bool:
        """Write the shown evaluation as JSON, atomically; True when it was written."""
        if self.outcome is None:
            return False
        try:
            write_report(self.outcome, target)
        except FmnistError as exc:
            self.banner.show_message("error", f"<b>Export failed:</b> {exc}")
            return False
        self.banner.show_message("success", f"Saved the evaluation report to {target}.")
        return True

    @Slot(bool)
    def _on_normalize_toggled(self, checked: bool) -> None:
        if self.matrix is not None:
            self.matrix.set_normalized(checked)
