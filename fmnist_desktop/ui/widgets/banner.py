"""Inline, non-modal messages: the framed `Banner` (with action buttons) and the one-line `MessageLabel`."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

BANNER_STYLES = {
    "info": "background:#e8f1fb; border:1px solid #9cc3ea; border-radius:4px;",
    "success": "background:#e9f7ec; border:1px solid #8fcf9c; border-radius:4px;",
    "error": "background:#fdecea; border:1px solid #f1a39b; border-radius:4px;",
}
ERROR_COLOUR = "#b3261e"


class Banner(QFrame):
    """An inline, non-modal message with optional action buttons (tests click them directly)."""

    def __init__(self, object_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(object_name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(self)
        self.label.setObjectName(f"{object_name}Text")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.label, 1)
        self.buttons_box = QHBoxLayout()
        layout.addLayout(self.buttons_box)
        self.close_button = QPushButton("Dismiss", self)
        self.close_button.setObjectName(f"{object_name}Dismiss")
        self.close_button.clicked.connect(self.hide)
        layout.addWidget(self.close_button)
        self.hide()

    def show_message(self, kind: str, text: str) -> None:
        self.setStyleSheet(f"QFrame#{self.objectName()} {{ {BANNER_STYLES[kind]} }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class MessageLabel(QLabel):
    """A one-line message above a page's content: red for errors, plain otherwise; hidden when empty."""

    def __init__(self, object_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_message(self, text: str, error: bool = True) -> None:
        colour = ERROR_COLOUR if error else "palette(window-text)"
        self.setStyleSheet(f"QLabel#{self.objectName()} {{ color: {colour}; padding: 4px; }}")
        self.setText(text)
        self.setVisible(bool(text))


def make_button(parent: QWidget, text: str, object_name: str, slot, *, accessible_name: str | None = None,
                tooltip: str | None = None) -> QPushButton:
    """A push button with its object name, an accessible name (its text unless given), an
    optional tooltip, and its slot (called without the `checked` argument)."""
    button = QPushButton(text, parent)
    button.setObjectName(object_name)
    button.setAccessibleName(accessible_name or text.rstrip("…"))
    if tooltip:
        button.setToolTip(tooltip)
    button.clicked.connect(lambda _checked=False: slot())
    return button
