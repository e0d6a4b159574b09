"""The Models page's lower half: the selected model's loss/accuracy history (`charts.TrainingCharts`,
added by `attach_chart` once matplotlib may be imported) under a line that says whose it is."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...widgets import model_facts

NO_SELECTION_TEXT = "Select a model to see its training history."


class HistoryPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.chart = None  # TrainingCharts, created after torchReady (matplotlib is slow to import)
        self._charted: tuple | None = None  # what the chart shows now (entry id, history), to skip redraws
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.history_label = QLabel(NO_SELECTION_TEXT, self)
        self.history_label.setObjectName("historyLabel")
        self.history_label.setWordWrap(True)
        layout.addWidget(self.history_label)

    def attach_chart(self) -> bool:
        """Add the chart; False (and the reason on the label) when it cannot be made."""
        try:
            from ...charts import TrainingCharts

            self.chart = TrainingCharts(self)
            self.chart.setMinimumHeight(160)  # at 960×620 the table above keeps four rows in sight
            legend_below(self.chart)
            self.layout().addWidget(self.chart, 1)
        except Exception as exc:  # noqa: BLE001 — the table works without the chart
            self.history_label.setText(f"Charts unavailable: {exc}")
            return False
        return True

    def show_entry(self, entry) -> None:
        """The training history of `entry` (None: nothing selected)."""
        if entry is None:
            self.history_label.setText(NO_SELECTION_TEXT)
            if self.chart is not None and self._charted != (None, ()):
                self.chart.set_history([])
                self._charted = (None, ())
            return
        history = list(getattr(entry.meta, "history", None) or [])
        if history:
            self.history_label.setText(f"Training history of “{entry.name}”: loss and accuracy per epoch."
                                       + stages_sentence(getattr(entry.meta, "training", None) or {}))
        else:
            self.history_label.setText(model_facts.finetune_sentence(entry) or
                                       f"“{entry.name}” has no recorded training history (e.g. imported notebook weights).")
        if self.chart is not None:
            self.chart.setVisible(bool(history))  # empty axes would only look broken
            charted = (entry.id, repr(history))
            if charted == self._charted:
                return  # the same curves (Make active, Rename): no redraw, no blank moment
            try:
                self.chart.set_history(history)
                self._charted = charted
            except (KeyError, TypeError, ValueError, AttributeError):
                self.chart.set_history([])
                self._charted = None
                self.history_label.setText(f"The training history of “{entry.name}” cannot be shown.")


def stages_sentence(training: dict) -> str:
    """For a model made in stages (weights/interpolate.py): which epochs came from which run.

    Without it the chart of the shipped model looks broken: its training figures jump at the
    fine-tune, which trains on harder, photo-style augmented images.
    """
    stages = training.get("stages")
    if not isinstance(stages, list) or len(stages) < 2 or not all(isinstance(s, dict) for s in stages):
        return ""
    parts, first = [], 1
    for stage in stages:
        try:
            epochs = int(stage.get("epochs"))
        except (TypeError, ValueError):
            return ""
        last = first + epochs - 1
        parts.append(f"epochs {first}–{last}: “{stage.get('preset', '?')}” preset, augmentation {stage.get('augment', '?')}")
        first = last + 1
    text = " Made in stages (" + "; then ".join(parts) + ")"
    mix = training.get("interpolated")
    if isinstance(mix, dict) and isinstance(mix.get("alpha"), (int, float)):
        text += f", its weights the average of the two runs' ends (α = {mix['alpha']:g})"
    return text + "."


def legend_below(chart) -> None:
    """The charts' one legend, moved below them for a finished run, without the "this epoch"
    entry (a finished run has no in-epoch line); never over a curve, even at 900×600."""
    handles, labels = chart.loss_ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if lab != "this epoch"]
    shared = getattr(chart, "legend", None)
    if shared is not None:
        shared.remove()
    for ax in (chart.loss_ax, chart.acc_ax):
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
    chart.legend = chart.figure.legend([h for h, _ in keep], [lab for _, lab in keep], loc="outside lower center",
                                       ncols=len(keep), fontsize=8, frameon=False)
