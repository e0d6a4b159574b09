"""A one-line label that never pushes its neighbours aside nor runs into them: in less room than its
text needs it shows the text cut with "…" (at the end, or in the middle for paths and names whose
end matters) and the whole text as its tooltip. `text()` is always the whole text."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight, min_chars: int = 6):
        super().__init__(text, parent)
        self._mode = mode
        self._min_chars = min_chars
        self._tip = ""  # a tooltip set by the owner, shown under the whole text when elided
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)  # shrinks to minimumSizeHint
        self.setWordWrap(False)

    def setToolTip(self, tip: str) -> None:  # noqa: N802 — Qt's name
        self._tip = tip
        self._update_tip()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 — Qt's name
        hint = super().minimumSizeHint()
        return QSize(self.fontMetrics().horizontalAdvance("x" * self._min_chars), hint.height())

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def shown_text(self) -> str:
        """The text as drawn (cut with "…" when it does not fit)."""
        return self.fontMetrics().elidedText(self.text(), self._mode, max(0, self.contentsRect().width()))

    def resizeEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().resizeEvent(event)
        self._update_tip()

    def setText(self, text: str) -> None:  # noqa: N802 — Qt's name
        super().setText(text)
        self._update_tip()

    def _update_tip(self) -> None:
        elided = self.is_elided()
        parts = [self.text() if elided else "", self._tip if self._tip != self.text() else ""]
        super().setToolTip("\n".join(p for p in parts if p))

    def paintEvent(self, event) -> None:  # noqa: N802 — Qt's name
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), self.shown_text())
