"""The Predict page's view of one image: the four preparation steps, the verdict (or "Not sure"
with the best guess), the ten probability bars, and the "Teach the model" box."""

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

from ....core.labels import CLASS_NAMES
from ...widgets.images import ImagePanel, pil_to_qimage
from ...widgets.probability_bars import ProbabilityBars
from .batch_view import NOT_SURE_TEXT


@dataclass
class SingleResult:
    prediction: object  # core.predict.Prediction
    source: object  # the path (str) or the PIL image that was classified
    images: dict[str, QImage] = field(default_factory=dict)  # original/mask/crop/final
    notes: tuple[str, ...] = ()


def classify_one(predictor, kind: str, payload) -> SingleResult:
    """Classify one image (worker thread): `kind` "single-path" (a file) or "single-bytes" (pasted
    pixels). The preparation steps become QImages here, so the GUI thread only shows them."""
    from ....core import photo
    from ....core.errors import FmnistError

    if kind == "single-path":
        prediction = predictor.predict_paths([payload], keep_steps=True)[0]
        source = payload
    else:
        try:
            image = photo.load_image(payload)
        except FmnistError as exc:
            raise FmnistError(f"The pasted image cannot be read: {exc}") from exc
        prediction = predictor.predict_images([image], names=["Pasted image"])[0]
        source = image
    result = SingleResult(prediction, source)
    if getattr(prediction, "error", None):
        return result
    steps = getattr(prediction, "steps", None)
    if steps is None:
        image = photo.load_image(payload) if kind == "single-path" else source
        steps = photo.prepare_photo(image)
    for name in ("original", "mask", "crop", "final"):
        pil = getattr(steps, name, None)
        if pil is not None:
            result.images[name] = pil_to_qimage(pil)
    result.notes = tuple(getattr(steps, "notes", ()) or ())
    return result


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
        body = QHBoxLayout()
        steps = QGridLayout()
        steps.setSpacing(6)
        self.panels = {
            "original": ImagePanel("Your photo", parent=view),
            "mask": ImagePanel("Object found", parent=view),
            "crop": ImagePanel("Cropped", parent=view),
            "final": ImagePanel("What the model saw (28×28)", pixelated=True, parent=view),
        }
        for position, (key, panel) in enumerate(self.panels.items()):
            panel.setObjectName(f"{key}Panel")
            steps.addWidget(panel, position // 2, position % 2)
        left = QVBoxLayout()
        left.addLayout(steps, 1)
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
        self.guess_label = QLabel(view)  # the best guess, when the verdict is "not sure"
        self.guess_label.setObjectName("bestGuessLabel")
        self.guess_label.hide()
        self.bars = ProbabilityBars(view)
        result_box.addWidget(self.verdict_label)
        result_box.addWidget(self.guess_label)
        result_box.addWidget(self.bars)
        result_box.addWidget(self._build_teach_box(view))
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
        for index, name in enumerate(CLASS_NAMES):
            action = menu.addAction(name)
            action.triggered.connect(lambda _checked=False, i=index: self.correctRequested.emit(i))
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

    # ----------------------------------------------------------------- showing a result

    def show_result(self, result: SingleResult, threshold: float) -> str | None:
        """Show `result`; returns the prediction's error (None when it was classified)."""
        source = result.source
        self.file_label.setText(str(source) if isinstance(source, str) else "Pasted image")
        error = getattr(result.prediction, "error", None)
        if error:
            for panel in self.panels.values():
                panel.set_image(None)
            self.verdict_label.setText("Cannot classify this file")
            self.guess_label.hide()
            self.notes_label.setText(error)
            self.bars.clear()
            return error
        for name, panel in self.panels.items():
            image = result.images.get(name)
            panel.set_image(image, "" if image is not None else "not available")
        self.notes_label.setText(" · ".join(note for note in result.notes if note.strip()))
        self.render_verdict(result, threshold)
        return None

    def render_verdict(self, result: SingleResult, threshold: float) -> None:
        from ....core.predict import is_not_sure  # a result exists only once torch is loaded

        prediction = result.prediction
        confident = not is_not_sure(prediction.confidence, threshold)
        if confident:
            self.verdict_label.setText(f"{prediction.label} — {prediction.confidence * 100:.1f}%")
            self.guess_label.hide()
        else:
            self.verdict_label.setText(NOT_SURE_TEXT)
            self.guess_label.setText(f"Best guess: {prediction.label} ({prediction.confidence * 100:.1f}%)")
            self.guess_label.show()
        names = CLASS_NAMES if len(prediction.probabilities) == len(CLASS_NAMES) else None
        self.bars.set_probabilities(prediction.probabilities, names=names, confident=confident)
