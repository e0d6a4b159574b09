"""The Predict page's view of one image: the four preparation steps (with a plain-words caption),
the verdict (`core.base.verdict`'s wording, as `fmnist predict` prints it), the ten probability bars,
and the "Teach the model" box. A file that cannot be read shows one message and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ....core.base.labels import CLASS_NAMES, NONE_INDEX, label_name
from ...widgets.images import ImagePanel, pil_to_qimage
from ...widgets import model_answer
from ...widgets.probability_bars import ProbabilityBars
from .batch_rows import confirm_index
from ....core.base.verdict import format_confidence

# What core.photo's step notes mean, in plain words (the raw notes stay in the caption's tooltip).
# Matched by prefix, in order; None hides a note that says nothing a user needs.
PLAIN_NOTES: tuple[tuple[str, str | None], ...] = (
    ("already 28x28", "Already a small Fashion-MNIST-style picture: used as it is."),
    ("transparent image", "Transparent background: the object is what is not see-through."),
    ("background from the border", "Background colour taken from the photo's edges."),
    ("busy background: GrabCut agrees", "Busy background: the object's outline was double-checked."),
    ("busy background: GrabCut refined", "Busy background: the object's outline was refined."),
    ("busy background", "Busy background: the object was looked for in the middle of the photo."),
    ("no object found", "No object found: the photo looks blank."),
    ("object fills the whole frame", "The object fills the whole photo (no background around it)."),
    ("inverted", "Colours reversed: the model learnt from light clothes on black."),
    ("not inverted", None),
    ("contrast raised", "Brightened to match the pictures the model learnt from."),
)


def plain_caption(notes) -> str:
    """The preparation notes of core.photo in words a user understands, one short sentence each."""
    out: list[str] = []
    for note in notes:
        note = str(note).strip()
        if not note:
            continue
        plain = note
        for prefix, text in PLAIN_NOTES:
            if note.startswith(prefix):
                plain = text
                break
        if plain and plain not in out:
            out.append(plain)
    return " ".join(out)


@dataclass
class SingleResult:
    prediction: object  # core.predict.predictor.Prediction
    source: object  # the path (str) or the PIL image that was classified
    images: dict[str, QImage] = field(default_factory=dict)  # original/mask/crop/final
    notes: tuple[str, ...] = ()
    model_names: dict[str, str] = field(default_factory=dict)  # kind -> library name (model_answer.entry_names)
    size: tuple[int, int] | None = None  # the image's own (width, height), when known
    passthrough: bool = False  # a Fashion-MNIST-style 28×28 image, used as it is (no object was looked for)

    def size_note(self) -> str:
        """A word when the image is tiny: the model then has little to go on (a Fashion-MNIST
        image used as it is is meant to be small)."""
        if self.size is None or self.passthrough or min(self.size) >= TINY_SIDE:
            return ""
        return (f"A tiny image ({self.size[0]}×{self.size[1]} pixels): the model has little to go on, "
                "so its answer may mean little. A larger photo gives a better answer.")


TINY_SIDE = 48  # px: below this on either side an image is called tiny


def _image_size(source, steps) -> tuple[int, int] | None:
    """The classified image's (width, height): from its preparation steps, the pasted image, or
    the file's header (worker thread)."""
    original = getattr(steps, "original", None)
    if original is not None:
        return tuple(original.size)
    if hasattr(source, "size") and not isinstance(source, str):
        return tuple(source.size)
    try:
        from ....core.base.formats import open_listed_image

        with open_listed_image(source) as image:
            return tuple(image.size)
    except Exception:  # noqa: BLE001 — the size is only for a word about tiny images
        return None


def single_result(prediction, steps, source) -> SingleResult:
    """What `core.jobs.classify.classify_one` returned, with the preparation steps as QImages
    (made in the worker thread, so the GUI thread only shows them)."""
    result = SingleResult(prediction, source)
    if getattr(prediction, "error", None):
        return result
    result.size = _image_size(source, steps)
    result.passthrough = bool(getattr(steps, "passthrough", False))
    if model_answer.is_photo_answer(prediction):
        # The photo model saw one 224×224 image, no 28×28 pipeline (and no GrabCut) ran for it.
        result.images["model_input"] = pil_to_qimage(prediction.model_input)
        return result
    if steps is None:
        return result
    for name in ("original", "mask", "crop", "final"):
        if name == "mask" and result.passthrough:
            continue  # no object was looked for: a mask would show something that did not happen
        pil = getattr(steps, name, None)
        if pil is not None:
            result.images[name] = pil_to_qimage(pil)
    result.notes = tuple(getattr(steps, "notes", ()) or ())
    return result


NONE_ACTION_TEXT = "None of the ten (e.g. a hat, a skirt)"
NONE_ACTION_TIP = ("Keep this photo as none of the ten kinds of clothing: fine-tuning teaches the photo model "
                   "its “none of these” answer, and the 28×28 network to be unsure of such things.")


def add_correct_actions(menu: QMenu, choose) -> None:
    """The Correct… menu's entries (the detailed view's button and the list's context menu): the
    ten classes, then "None of the ten"; `choose(index)` with NONE_INDEX for the last."""
    for index, name in enumerate(CLASS_NAMES):
        action = menu.addAction(name)
        action.triggered.connect(lambda _checked=False, i=index: choose(i))
    menu.addSeparator()
    action = menu.addAction(NONE_ACTION_TEXT)
    action.setObjectName("noneOfTheTenAction")
    action.setToolTip(NONE_ACTION_TIP)
    action.setStatusTip(NONE_ACTION_TIP)
    action.triggered.connect(lambda _checked=False: choose(NONE_INDEX))
    menu.setToolTipsVisible(True)


class SingleView(QScrollArea):
    """One image's result. Signals: `backRequested`, `confirmRequested`, `correctRequested(class)`,
    `myPhotosRequested`, `finetuneRequested` (the page decides what they do)."""

    backRequested = Signal()
    confirmRequested = Signal()
    correctRequested = Signal(int)
    myPhotosRequested = Signal()
    finetuneRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("singleScroll")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        view = QWidget(self)
        view.setObjectName("singleView")
        layout = QVBoxLayout(view)
        layout.setContentsMargins(0, 0, 0, 0)

        top = QHBoxLayout()
        self.back_button = QPushButton("◀ Back to the list", view)
        self.back_button.setObjectName("backToListButton")
        self.back_button.clicked.connect(self.backRequested.emit)
        self.back_button.hide()
        top.addWidget(self.back_button)
        self.file_label = QLabel(view)
        self.file_label.setObjectName("singleFileLabel")
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.file_label, 1)
        layout.addLayout(top)

        # Left: the four preparation steps in a 2×2 grid; right: the verdict, the bars, teaching.
        # Side by side, both fit a 1024×640 window without scrolling.
        body = self._body = QHBoxLayout()
        self.steps_box = QWidget(view)
        self.steps_box.setObjectName("stepsBox")
        steps = QGridLayout(self.steps_box)
        steps.setContentsMargins(0, 0, 0, 0)
        steps.setSpacing(6)
        self.panels = {
            "original": ImagePanel("Your photo", parent=self.steps_box),
            "mask": ImagePanel("Object found", parent=self.steps_box),
            "crop": ImagePanel("Cropped", parent=self.steps_box),
            "final": ImagePanel("What the model saw (28×28)", pixelated=True, parent=self.steps_box),
        }
        for position, (key, panel) in enumerate(self.panels.items()):
            panel.setObjectName(f"{key}Panel")
            steps.addWidget(panel, position // 2, position % 2)
        left = self._left = QVBoxLayout()
        left.addWidget(self.steps_box, 1)
        self.photo_input_panel = model_answer.make_photo_input_panel(view)
        left.addWidget(self.photo_input_panel, 1)
        self.notes_label = QLabel(view)
        self.notes_label.setObjectName("stepNotes")
        self.notes_label.setWordWrap(True)
        left.addWidget(self.notes_label)
        body.addLayout(left, 1)

        result_box = QVBoxLayout()
        self.verdict_label = QLabel(view)
        self.verdict_label.setObjectName("verdictLabel")
        self.verdict_label.setAccessibleName("Prediction")
        self.verdict_label.setWordWrap(True)
        font = self.verdict_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.verdict_label.setFont(font)
        # A line under the verdict: why it is "not sure", or why a file cannot be read.
        self.guess_label = QLabel(view)
        self.guess_label.setObjectName("bestGuessLabel")
        self.guess_label.setWordWrap(True)
        self.guess_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.guess_label.hide()
        self.bars = ProbabilityBars(view)
        self.answered_label = model_answer.make_answer_label(view)
        self.none_label = model_answer.make_none_label(view)
        result_box.addWidget(self.verdict_label)
        result_box.addWidget(self.guess_label)
        result_box.addWidget(self.answered_label)
        result_box.addWidget(self.bars)
        result_box.addWidget(self.none_label)
        self.teach_box = self._build_teach_box(view)
        result_box.addWidget(self.teach_box)
        result_box.addStretch(1)
        body.addLayout(result_box, 1)
        layout.addLayout(body, 1)
        view.setMinimumHeight(470)  # below this the page scrolls instead of squashing the chart
        self.setWidget(view)

    def _build_teach_box(self, parent: QWidget) -> QWidget:
        box = QGroupBox("Teach the model", parent)
        box.setObjectName("teachBox")
        layout = QVBoxLayout(box)
        explain = QLabel("Keep this photo with its right class, then fine-tune the model on your photos.", box)
        explain.setWordWrap(True)
        layout.addWidget(explain)
        row = QHBoxLayout()
        self.confirm_button = QPushButton("Confirm", box)
        self.confirm_button.setObjectName("confirmButton")
        self.confirm_button.setAccessibleName("Confirm prediction")
        self.confirm_button.clicked.connect(self.confirmRequested.emit)
        self.correct_button = QToolButton(box)
        self.correct_button.setObjectName("correctButton")
        self.correct_button.setText("Correct…")
        self.correct_button.setAccessibleName("Correct the class")
        self.correct_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.correct_button)
        menu.setObjectName("correctMenu")
        add_correct_actions(menu, self.correctRequested.emit)
        self.correct_button.setMenu(menu)
        row.addWidget(self.confirm_button)
        row.addWidget(self.correct_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.my_photos_label = QLabel(box)
        self.my_photos_label.setObjectName("myPhotosCount")
        layout.addWidget(self.my_photos_label)
        row2 = QHBoxLayout()
        self.my_photos_button = QPushButton("My photos…", box)
        self.my_photos_button.setObjectName("myPhotosButton")
        self.my_photos_button.clicked.connect(self.myPhotosRequested.emit)
        self.finetune_button = QPushButton("Fine-tune with my photos", box)
        self.finetune_button.setObjectName("finetuneButton")
        self.finetune_button.clicked.connect(self.finetuneRequested.emit)
        row2.addWidget(self.my_photos_button)
        row2.addWidget(self.finetune_button)
        row2.addStretch(1)
        layout.addLayout(row2)
        layout.addStretch(1)
        return box

    def add_under_pictures(self, widget: QWidget) -> None:
        """A row under the pictures (the heat map's toggle)."""
        self._left.insertWidget(self._left.indexOf(self.notes_label), widget)

    def update_actions(self, *, ready: bool, busy: bool, store_ready: bool, result: SingleResult | None,
                       kept_as: int | None, photo_count: int | None, readiness) -> None:
        """Enable the teach box's buttons for the shown result: Confirm / Correct… keep it in My
        photos (`kept_as`: the class it was kept as), Fine-tune only when `readiness` says it can run."""
        has_single = result is not None and getattr(result.prediction, "error", None) is None
        kept = has_single and kept_as is not None
        self.confirm_button.setEnabled(ready and has_single and store_ready and not kept)
        self.correct_button.setEnabled(ready and has_single and store_ready)
        if not store_ready:
            self.my_photos_label.setText("My photos are not available.")
        else:
            self.my_photos_label.setText(f"My photos: {photo_count}" if photo_count is not None
                                         else "My photos: counting…")
        self.my_photos_button.setEnabled(store_ready)
        # Enabled only when a fine-tune can run; otherwise it says what it needs (issue 12.1).
        can_run = readiness is not None and readiness.can_run
        self.finetune_button.setEnabled(ready and can_run and not busy)
        self.finetune_button.setText(readiness.button_text() if readiness is not None else "Fine-tune with my photos")
        self.finetune_button.setToolTip(readiness.explanation() if readiness is not None else "")
        if kept:
            # After Confirm or Correct…: the photo is kept; offering "Confirm <the old guess>"
            # would undo a correction. Correct… still changes the class.
            self.confirm_button.setText(f"Kept as “{label_name(kept_as)}”")
        elif has_single:
            self.confirm_button.setText(f"Confirm “{label_name(self.confirm_index(result))}”")
        else:
            self.confirm_button.setText("Confirm")

    @staticmethod
    def confirm_index(result: SingleResult) -> int:
        """The class Confirm keeps the shown photo as: "None of the ten" for "may not be one of the ten"."""
        return confirm_index(getattr(result.prediction, "verdict", None), result.prediction.index)

    # ----------------------------------------------------------------- showing a result

    def show_result(self, result: SingleResult, threshold: float | None = None) -> str | None:
        """Show `result`; returns the prediction's error (None when it was classified). An
        unreadable file shows one message: no empty picture boxes, no bars of zeros."""
        source = result.source
        self.file_label.setText(str(source) if isinstance(source, str) else "Pasted image")
        error = getattr(result.prediction, "error", None)
        for widget in (self.steps_box, self.notes_label, self.bars, self.teach_box, self.answered_label):
            widget.setVisible(not error)
        self._body.setStretch(0, 0 if error else 1)  # the message alone takes the width
        photo = not error and model_answer.is_photo_answer(result.prediction)
        self.steps_box.setVisible(not error and not photo)  # no empty 28×28 step boxes for a photo
        self.photo_input_panel.setVisible(photo)
        self.none_label.hide()
        if error:
            for panel in self.panels.values():
                panel.set_image(None)
            self.verdict_label.setText("Cannot classify this file")
            self.guess_label.setText(str(error))
            self.guess_label.show()
            self.notes_label.setText("")
            self.bars.clear()
            return error
        for name, panel in self.panels.items():
            image = result.images.get(name)
            missing = "not needed: used as it is" if name == "mask" and result.passthrough else "not available"
            panel.set_image(image, "" if image is not None else missing)
        self.photo_input_panel.set_image(result.images.get("model_input") if photo else None)
        caption = model_answer.PHOTO_INPUT_NOTE if photo else plain_caption(result.notes)
        self.notes_label.setText(" ".join(t for t in (result.size_note(), caption) if t))
        self.notes_label.setToolTip("How the photo was prepared: " + "; ".join(result.notes) if result.notes else "")
        model_answer.show_answer(result.prediction, self.answered_label, self.none_label, result.model_names)
        self.render_verdict(result, threshold)
        return None

    def render_verdict(self, result: SingleResult, threshold: float | None = None) -> None:
        """The prediction's verdict (the words `fmnist predict` prints), or with the user's own
        `threshold` the same rule re-applied to its probabilities (`Prediction.verdict_at`)."""
        prediction = result.prediction
        verdict = prediction.verdict_at(threshold)
        threshold = prediction.threshold if threshold is None else threshold
        text = verdict.describe()
        self.verdict_label.setText(text[:1].upper() + text[1:])
        none_p = getattr(prediction, "none_probability", None)
        if verdict.out_of_scope and none_p is not None and none_p >= verdict.confidence:
            self.guess_label.setText("The photo model says “none of these” more strongly than any class: this "
                                     "may be something other than the ten kinds of clothing it knows.")
            self.guess_label.show()
        elif verdict.out_of_scope:
            self.guess_label.setText("The model gives no class a clear lead: this may be something other "
                                     "than the ten kinds of clothing it knows.")
            self.guess_label.show()
        elif verdict.not_sure:
            self.guess_label.setText(f"The model is not sure below {format_confidence(threshold)}.")
            self.guess_label.show()
        else:
            self.guess_label.hide()
        names = CLASS_NAMES if len(prediction.probabilities) == len(CLASS_NAMES) else None
        self.bars.set_probabilities(prediction.probabilities, names=names, confident=not verdict.not_sure)
