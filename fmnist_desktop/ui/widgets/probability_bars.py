"""A horizontal bar chart of the ten class probabilities, painted with QPainter.

Painted rather than drawn with matplotlib so the Predict page needs no plotting library at
start-up and redraws instantly for every image.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from fmnist_desktop.core.base.labels import CLASS_NAMES
from fmnist_desktop.core.base.verdict import format_confidence


def _percent(p: float) -> str:
    """`format_confidence` (rounded down, so 0.4996 reads 49.9 % beside a 50 % threshold, not
    50.0 %), and a dash for a value that is not a number."""
    return format_confidence(p) if math.isfinite(p) else "—"


class ProbabilityBars(QWidget):
    ROW_HEIGHT = 22

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("probabilityBars")
        self.setAccessibleName("Class probabilities")
        self._names: tuple[str, ...] = CLASS_NAMES
        self._probs: tuple[float, ...] = tuple(0.0 for _ in CLASS_NAMES)
        self._top: int | None = None
        self._confident = True
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.setMinimumHeight(self.ROW_HEIGHT * len(self._names) + 8)

    def set_probabilities(self, probabilities, names=None, confident: bool = True) -> None:
        self._names = tuple(names) if names is not None else CLASS_NAMES
        self._probs = tuple(float(p) for p in probabilities)
        self._top = max(range(len(self._probs)), key=self._probs.__getitem__) if self._probs else None
        self._confident = confident
        self.setMinimumHeight(self.ROW_HEIGHT * len(self._names) + 8)
        self.setAccessibleDescription(
            ", ".join(f"{n} {_percent(p)}" for n, p in sorted(zip(self._names, self._probs), key=lambda t: -t[1])[:3])
        )
        self.update()

    def clear(self) -> None:
        self.set_probabilities([0.0] * len(CLASS_NAMES))
        self._top = None
        self.update()

    def probabilities(self) -> dict[str, float]:
        return dict(zip(self._names, self._probs))

    def sizeHint(self) -> QSize:
        return QSize(360, self.ROW_HEIGHT * len(self._names) + 8)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        # Measured in bold: the top class is drawn bold, and any class can be the top one (a
        # regular-weight width clipped "T-shirt/top" to "-shirt/top" when it won).
        bold = self.font()
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        label_w = max(metrics.horizontalAdvance(name) for name in self._names) + 10
        value_w = metrics.horizontalAdvance("100.0 %") + 8
        bar_x = label_w
        bar_w = max(10, self.width() - label_w - value_w)
        highlight = palette.color(QPalette.ColorRole.Highlight)
        unsure = QColor("#d08a2c")
        muted = palette.color(QPalette.ColorRole.Mid)
        text = palette.color(QPalette.ColorRole.WindowText)
        for row, (name, prob) in enumerate(zip(self._names, self._probs)):
            y = 4 + row * self.ROW_HEIGHT
            is_top = row == self._top
            font = self.font()
            font.setBold(is_top)
            painter.setFont(font)
            painter.setPen(text)
            painter.drawText(QRectF(0, y, label_w - 8, self.ROW_HEIGHT), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            track = QRectF(bar_x, y + 4, bar_w, self.ROW_HEIGHT - 8)
            painter.fillRect(track, palette.color(QPalette.ColorRole.AlternateBase))
            fill = QRectF(bar_x, y + 4, bar_w * max(0.0, min(1.0, prob)), self.ROW_HEIGHT - 8)
            colour = (highlight if self._confident else unsure) if is_top else muted
            painter.fillRect(fill, colour)
            painter.setPen(text)
            painter.drawText(QRectF(bar_x + bar_w + 4, y, value_w, self.ROW_HEIGHT), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, _percent(prob))
        painter.end()
