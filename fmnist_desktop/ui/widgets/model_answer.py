"""Which model answered, in the Predict page's words (issue 20: one app, two kinds of model).

A dropped photo meets the photo model, a Fashion-MNIST-style image the 28×28 network
(core.predict.predictor routes each); these helpers say which one answered, show the 224×224
image the photo model saw in place of the 28×28 pipeline's steps, and its "none of these" output.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from ...core.base.verdict import format_confidence
from ...core.models.arch_info import FMNIST_KIND, KIND_NAMES, PHOTO_KIND
from .images import ImagePanel

# The Models page and the Predict list name the kinds the same way.
SHORT_KIND_NAMES = {PHOTO_KIND: "Photo", FMNIST_KIND: "28×28"}
PHOTO_INPUT_NOTE = "The photo model looks at the whole photo, fitted into a 224×224 square (nothing is cut out)."
NONE_TOOLTIP = ("The photo model's own output for things that are none of the ten kinds of clothing. "
                "When it outweighs the best class, the verdict is “may not be one of the ten classes”.")


def is_photo_answer(prediction) -> bool:
    """True for a prediction the photo model made (its model input is a 224×224 colour image)."""
    return getattr(prediction, "model_kind", FMNIST_KIND) == PHOTO_KIND


def entry_names(entries) -> dict[str, str]:
    """{kind: library name} of the active models (a list of library entries, or one entry): the
    name the Models page shows (the shipped photo model's file may carry its training title)."""
    entries = entries if isinstance(entries, (list, tuple)) else [entries]
    return {getattr(e, "kind", FMNIST_KIND): e.name for e in entries if e is not None}


def answered_by_text(prediction, names: dict[str, str] | None = None) -> str:
    """"Answered by the photo model – Photo model (shipped with the app)". `names`: the library
    names by kind (`entry_names`); without one, the name in the model file."""
    kind = getattr(prediction, "model_kind", FMNIST_KIND)
    what = KIND_NAMES.get(kind, str(kind))
    what = what[:1].lower() + what[1:]
    name = (names or {}).get(kind) or getattr(prediction, "model_name", "")
    return f"Answered by the {what} – {name}" if name else f"Answered by the {what}"


def none_of_these_text(probability: float) -> str:
    return f"None of these: {format_confidence(probability)}"


def short_kind(kind: str) -> str:
    """"Photo" / "28×28": the Predict list's Model column."""
    return SHORT_KIND_NAMES.get(kind, str(kind))


def make_answer_label(parent: QWidget) -> QLabel:
    """The line under the verdict that names the model which answered."""
    label = QLabel(parent)
    label.setObjectName("answeredByLabel")
    label.setAccessibleName("Model that answered")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def make_none_label(parent: QWidget) -> QLabel:
    """The "None of these" line under the probability bars (photo model only)."""
    label = QLabel(parent)
    label.setObjectName("noneOfTheseLabel")
    label.setAccessibleName("None of these")
    label.setToolTip(NONE_TOOLTIP)
    label.hide()
    return label


def make_photo_input_panel(parent: QWidget) -> ImagePanel:
    """The 224×224 image the photo model saw (shown instead of the 28×28 pipeline's four steps)."""
    panel = ImagePanel("What the photo model saw (224×224)", parent=parent)
    panel.setObjectName("photoInputPanel")
    panel.hide()
    return panel


def show_answer(prediction, answer: QLabel, none_label: QLabel, names: dict[str, str] | None = None) -> None:
    """Fill the two lines for a classified image (`prediction` ok). A model whose ONNX twin could
    not be made says so on its own line ("… is answered by torch: <why>")."""
    note = getattr(prediction, "engine_note", "")
    answer.setText(answered_by_text(prediction, names) + (f"\n{note}" if note else ""))
    answer.setToolTip(getattr(prediction, "answered_by", ""))
    answer.show()
    none_p = getattr(prediction, "none_probability", None)
    none_label.setText(none_of_these_text(none_p) if none_p is not None else "")
    none_label.setVisible(none_p is not None)
