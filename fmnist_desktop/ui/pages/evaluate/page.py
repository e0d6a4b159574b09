"""The Evaluate page: accuracy, per-class metrics, confusion matrix and mistake galleries, for
either kind of model (`choice.py`): a 28×28 network on the Fashion-MNIST test set, a photo model on
the real photos shipped with the app or a labelled folder (with its not-sure and confidently-wrong
rates, and the photos behind each cell).

Evaluation (loading the data and the model, running every image) is a task of the page
("evaluate") with a progress bar and a Cancel button. The result is drawn here: a clickable
confusion matrix (matplotlib, counts or row percentages), a per-class precision/recall/F1 table,
and galleries (`ui.widgets.gallery`) — the images of a picked cell, and every misclassified image
— each worst first. File ▸ Export… (Ctrl+E) writes the evaluation report as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from ...widgets.phase_clock import PhaseClock, phase_of
from .choice import EvaluateChoice
from .outcome import EvaluationOutcome, photo_evaluation
from .photo_text import photo_accuracy_text, photo_rates_text
from .report import write_report
from .results import ResultsPanel


PLACEHOLDER = "Choose a model and what to measure it on above, then press the Evaluate button."


class EvaluatePage(QWidget):
    """Evaluate a model (either kind) and explore its mistakes."""

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
        self.clock = PhaseClock()  # each step's ETA on the progress bar
        self._build()
        self._update_model_label()
        context.activeModelChanged.connect(self._on_active_model_changed)
        context.modelsChanged.connect(self._on_models_changed)
        context.torchReady.connect(self._on_torch_ready)
        self._set_idle()
        if context.is_torch_ready():
            self._on_torch_ready()

    # ================================================================= construction

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)

        self.choice = EvaluateChoice(self.context, self)
        self.choice.changed.connect(self._on_choice_changed)
        layout.addWidget(self.choice)

        top = QHBoxLayout()
        self.evaluate_button = make_button(self, "Evaluate on the test set", "evaluateButton", self.start_evaluation,
                                           accessible_name="Evaluate the chosen model")
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
        self.rates_label = QLabel(self)  # a photo model's not-sure and confidently-wrong rates
        self.rates_label.setObjectName("photoRatesLabel")
        self.rates_label.setWordWrap(True)
        self.rates_label.hide()
        layout.addWidget(self.rates_label)

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
        self._matrix_placeholder = QLabel(PLACEHOLDER,
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
        """Open one test image or photo large (the galleries' double-click)."""
        if self.outcome is None:
            return
        result = self.outcome.result
        pred, true = int(result.predictions[sample]), int(result.labels[sample])
        what = f"Test image #{sample}" if self.outcome.names is None else self.outcome.names[sample]
        caption = (f"{what}<br>True class: <b>{CLASS_NAMES[true]}</b><br>"
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
            self.matrix.set_confusion(self.outcome.result.confusion, self._unit())
        else:
            self.matrix.hide()

    def is_stale(self) -> bool:
        """The shown result belongs to another model than the one chosen (the active one, by default)."""
        if self.outcome is None:
            return False
        return getattr(self.outcome.entry, "id", None) != getattr(self.choice.entry(), "id", None)

    def button_text(self) -> str:
        return "Evaluate on the photos" if self.choice.kind() == "photo" else "Evaluate on the test set"

    def _update_model_label(self, _entry=None) -> None:
        """The header always names the model the figures below belong to; when that is not the
        chosen model any more, the figures are greyed and the header says so."""
        entry = self.choice.entry()
        stale = self.is_stale()
        for widget in (self.accuracy_label, self.metrics_table, self.rates_label):
            widget.setEnabled(not stale)
        if self.matrix is not None:
            self.matrix.setEnabled(not stale)
        self.evaluate_button.setText(self.button_text())
        if self.outcome is None:
            self.rates_label.hide()
            self.model_label.setText("No active model." if entry is None else
                                     f"{self._role(entry).capitalize()}: <b>{entry.name}</b> — not evaluated yet")
            return
        shown, photo = self.outcome.entry.name, self.outcome.photo
        source = (f"<span style='color:#555'>{'Photos' if photo else 'Test set'}: "
                  f"{self.outcome.source_description}</span>")
        accuracy = (photo_accuracy_text(photo) if photo is not None
                    else f"Test accuracy: {self.outcome.result.accuracy:.2f} %")
        self.rates_label.setVisible(photo is not None)
        if photo is not None:
            self.rates_label.setText(photo_rates_text(photo))
        if stale:
            chosen = "no model" if entry is None else f"“{entry.name}”"
            self.model_label.setText(
                f"Results of <b>{shown}</b> <span style='color:#b3261e'>(not the active model: {chosen} is "
                f"{'active' if self.choice.follows_active() else 'chosen'} — press “{self.button_text()}” for "
                f"it)</span><br>{source}")
            self.accuracy_label.setText(f"{accuracy} (not the active model)")
        else:
            self.model_label.setText(f"Results of <b>{shown}</b> ({self._role(self.outcome.entry)})<br>{source}")
            self.accuracy_label.setText(accuracy)

    def _role(self, entry) -> str:
        """"the active model" / "the active photo model" / "not the active model" for the header."""
        active = self.context.active_entry_of(getattr(entry, "kind", "fmnist"))
        if getattr(active, "id", None) != getattr(entry, "id", None):
            return "not an active model"
        return "the active photo model" if entry.kind == "photo" else "the active model"

    @Slot(object)
    def _on_active_model_changed(self, _entry) -> None:
        self.choice.refresh()
        self._update_model_label()
        self._set_idle()

    @Slot()
    def _on_models_changed(self) -> None:
        self.choice.refresh()
        self._update_model_label()
        self._set_idle()

    @Slot()
    def _on_choice_changed(self) -> None:
        self._update_model_label()
        self._set_idle()

    def select_model(self, entry_id: str) -> bool:
        """Choose a library model to evaluate (the Train page's banner sends a stopped run's model here)."""
        found = self.choice.select_model(entry_id)
        self._update_model_label()
        self._set_idle()
        return found

    def _set_idle(self) -> None:
        ready = self.context.is_torch_ready() and self.choice.entry() is not None
        self.evaluate_button.setEnabled(ready and not self.tasks["evaluate"].is_running())
        self.cancel_button.setEnabled(self.tasks["evaluate"].is_running())
        if not self.context.is_torch_ready():
            self.evaluate_button.setToolTip("Waiting for the machine-learning engine to load…")
        elif self.choice.entry() is None:
            self.evaluate_button.setToolTip("There is no model to evaluate; choose one on the Models page.")
        else:
            self.evaluate_button.setToolTip(f"Run the chosen model on {self.choice.data_description()}.")

    def is_busy(self) -> bool:
        return self.tasks["evaluate"].is_running()

    def busy_description(self) -> str:
        return "The model is being evaluated." if self.is_busy() else ""

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        return self.tasks.shutdown(timeout_ms)

    # ================================================================= evaluation

    def start_evaluation(self) -> bool:
        entry = self.choice.entry()
        if entry is None or not self.context.is_torch_ready():
            self._set_idle()
            return False
        if entry.kind == "photo":
            return self._start(entry, photo_evaluation(entry, self.choice.photo_folder()))
        folder = self.context.settings.value(DATA_FOLDER) or None
        folder_key = str(folder or "")
        cached = self._test_cache[1] if self._test_cache and self._test_cache[0] == folder_key else None

        def evaluate(state):
            import numpy as np

            from ....core.jobs import evaluate as evaluate_job

            # Every step moves the bar (the first evaluation reads the test files: seconds).
            done = evaluate_job.run(evaluate_job.EvaluateInputs(  # answered by the model's ONNX twin
                entry.path, Path(folder) if folder else None, test_split=cached, use_twin=True), state)
            if done is None:
                raise TaskCancelled()
            outcome = EvaluationOutcome(entry, done.result, np.asarray(done.split.images), done.source.description)
            return (folder_key, (done.split, done.source)), outcome

        return self._start(entry, evaluate)


    def _start(self, entry, evaluate) -> bool:
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
            description="Evaluating a model",
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
        message = progress.message or "%p%"
        self.progress_bar.setFormat(message + self.clock.text(phase_of(message), progress.done, progress.total))

    def _show_pending(self, entry) -> None:
        """While an evaluation runs, the old figures are put away (they come back if it is
        cancelled or fails): nothing on screen belongs to another model."""
        self._previous_outcome = self.outcome
        self.outcome = None
        self.accuracy_label.setText("Test accuracy: …")
        self.model_label.setText(f"Evaluating <b>{entry.name}</b> on {self.choice.data_description()}…")
        self.rates_label.hide()
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
            self._matrix_placeholder.setText(PLACEHOLDER)
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
        if cache is not None:
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
        self.matrix.set_confusion(result.confusion, self._unit())
        self.results.show_result(outcome.images, result, outcome.names)
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
            self.outcome.images, indices, result.predictions, result.confidences, result.labels, self.outcome.names)
        if self.matrix is not None and self.matrix.selected != (true_index, pred_index):
            self.matrix.select_cell(true_index, pred_index)
        true_name, pred_name = CLASS_NAMES[true_index], CLASS_NAMES[pred_index]
        one, many = ("test image", "images") if self.outcome.names is None else ("photo", "photos")
        many = one if len(indices) == 1 else many
        if not indices:
            text = f"No <b>{true_name}</b> {one} was predicted as <b>{pred_name}</b>."
        elif true_index == pred_index:
            text = f"<b>{true_name}</b> classified correctly: {len(indices):,} {many}, the most confident first."
        else:
            text = (f"<b>{true_name}</b> mistaken for <b>{pred_name}</b>: {len(indices):,} {many}, "
                    "the most confident mistakes first.")
        self.cell_label.setText(text)
        self.tabs.setCurrentIndex(1)

    # ================================================================= export (File ▸ Export…, Ctrl+E)

    def export(self) -> None:
        """File ▸ Export… on this page: the evaluation report (accuracy, per-class metrics,
        confusion matrix, most confused pairs; a photo model's rates and photos) as JSON."""
        if self.outcome is None:
            self.banner.show_message("info", f"Nothing to export yet: press “{self.button_text()}” first.")
            return
        target, _ = QFileDialog.getSaveFileName(self, "Export the evaluation report", str(Path.home() / "evaluation.json"),
                                                "JSON files (*.json)")
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

    def _unit(self) -> str:
        return "test images" if self.outcome is None or self.outcome.photo is None else "photos"

    @Slot(bool)
    def _on_normalize_toggled(self, checked: bool) -> None:
        if self.matrix is not None:
            self.matrix.set_normalized(checked)
