"""The Predict page's "Not sure below [spin] (this model's own) [Use the model's]" control.

It starts at the active model's own threshold (`set_model_threshold`); a change in the spin box
holds for the session (not saved) and is emitted as `changed(override)`: the views then re-apply
`core.base.verdict`'s rule to the probabilities they hold. None means "the model's own". A model's
threshold is shown as every percentage in the app is (`verdict.shown_percent`, never rounded up),
so the box and "not sure below …" read the same. When the list holds rows judged with different
thresholds (the photo model's and the 28×28 network's), the label beside the box names each.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QBoxLayout, QDoubleSpinBox, QLabel, QToolButton, QWidget

from ....core.base.verdict import DEFAULT_THRESHOLD, format_confidence, is_calibrated, shown_percent, threshold_source
from ...widgets.elided_label import ElidedLabel
from ...widgets.model_answer import short_kind

MODEL_THRESHOLD_TEXT = "(this model's own)"
OVERRIDDEN_TEXT = "(your setting)"
UNCALIBRATED_TEXT = "(the default: this model has no calibrated level)"
LOADING_TEXT = "(the model's own, once it has loaded)"


class ThresholdBox(QObject):
    """The control's widgets (children of `parent`, laid out by `add_to`) and its state."""

    changed = Signal(object)  # the user's threshold (0..1), or None: each model's own

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self._model_threshold = DEFAULT_THRESHOLD  # the active model's own (core.base.verdict.threshold_of)
        self._override: float | None = None  # the spin box, when the user changed it
        self._detail: str | None = None  # the label's words when the rows have several models' levels
        self._known = False  # no model's level is known before the engine has loaded
        self.label = label = QLabel("Not sure below", parent)
        self.spin = QDoubleSpinBox(parent)
        self.spin.setObjectName("thresholdSpin")
        self.spin.setAccessibleName("Confidence threshold")
        self.spin.setRange(0, 100)
        self.spin.setDecimals(1)
        self.spin.setSuffix(" %")
        self.spin.setSpecialValueText("…")  # shown (at the minimum) until a model's level is known
        self.spin.setValue(0)
        self.spin.setEnabled(False)
        self.spin.setToolTip("Below this confidence the page says it is not sure. It starts at the "
                             "active model's own level; a change holds until the app closes.")
        label.setBuddy(self.spin)
        self.spin.valueChanged.connect(self._on_spin_changed)
        # Cut with "…" (the whole text in its tooltip) where the window is too narrow for
        # "(inherited from “Photo model (shipped with the app)”)".
        self.source = ElidedLabel(LOADING_TEXT, parent, min_chars=12)
        self.source.setObjectName("thresholdSource")
        self.reset_button = QToolButton(parent)
        self.reset_button.setObjectName("thresholdResetButton")
        self.reset_button.setText("Use the model's")
        self.reset_button.setToolTip("Go back to the active model's own not-sure level")
        self.reset_button.clicked.connect(self.reset)
        self.reset_button.hide()

    def add_to(self, layout: QBoxLayout) -> None:
        for widget in (self.label, self.spin, self.source, self.reset_button):
            layout.addWidget(widget)

    def threshold(self) -> float:
        """The threshold in use: the user's for this session, else the active model's own."""
        return self._override if self._override is not None else self._model_threshold

    def model_threshold(self) -> float:
        return self._model_threshold

    def override(self) -> float | None:
        return self._override

    def set_model_threshold(self, value: float, detail: str | None = None) -> None:
        """The own threshold of the model(s) that judged what is shown (a user's override holds
        for the session). `detail`: the label's words instead of "(this model's own)", when the
        shown rows were judged with several models' levels."""
        self._model_threshold = value
        self._detail = detail
        if not self._known:
            self._known = True
            self.spin.setSpecialValueText("")
            self.spin.setEnabled(True)
        self._show()

    def set_list_levels(self, levels: list[tuple[str, float]]) -> None:
        """The level(s) the list's rows were judged with ([(model kind, level)], photo model first):
        the photo model's and the 28×28 network's differ, and the label says so."""
        detail = None
        if len({level for _kind, level in levels}) > 1:
            # Short enough for the 960-pixel window; the box's tooltip says each row is judged
            # with the level of the model that answered it.
            detail = "(own: " + ", ".join(
                f"{short_kind(kind)} {format_confidence(level)}" for kind, level in levels) + ")"
        self.set_model_threshold(levels[0][1], detail)

    def source_text(self) -> str:
        return OVERRIDDEN_TEXT if self._override is not None else self._detail or MODEL_THRESHOLD_TEXT

    @Slot()
    def reset(self) -> None:
        """Back to the active model's own threshold."""
        self._override = None
        if self._known:
            self._show()

    def _show(self) -> None:
        overridden = self._override is not None
        self.spin.blockSignals(True)
        # The user's own level as typed; a model's as "not sure below …" prints it.
        self.spin.setValue(self._override * 100 if overridden else shown_percent(self._model_threshold))
        self.spin.blockSignals(False)
        self.source.setText(self.source_text())
        self.source.setToolTip(
            f"The model's own level is {format_confidence(self._model_threshold)}" if overridden else
            "Measured on held-out photos when the model was trained (50 % for models without one)"
            + ("; each row of the list is judged with the own level of the model that answered it (the "
               "box shows the first)" if self._detail else ""))
        self.reset_button.setVisible(overridden)
        self.changed.emit(self._override)

    def _on_spin_changed(self, value: float) -> None:
        """The user changed the spin box: their level holds for this session."""
        self._override = value / 100
        self.source.setText(OVERRIDDEN_TEXT)
        self.reset_button.show()
        self.changed.emit(self._override)


def source_words(entries) -> str | None:
    """"(inherited from “X”)" / "(calibrated on your N kept-out photos)" for a fine-tuned model,
    UNCALIBRATED_TEXT for a model without a calibrated level (the 50 % default is no level of its
    own), None (the box says "this model's own") for any other."""
    meta = getattr(entries[0], "meta", None) if entries else None
    if entries and not is_calibrated(meta):
        return UNCALIBRATED_TEXT
    source = threshold_source(meta)
    return f"({source})" if source else None
