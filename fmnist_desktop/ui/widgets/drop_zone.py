"""A drop target for image files, folders and images dragged from other apps."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


def paths_from_mime(mime: QMimeData) -> list[str]:
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


class DropZone(QFrame):
    """Emits `pathsDropped(list[str])` for files/folders and `imageDropped(QImage)` for raw images."""

    pathsDropped = Signal(list)
    imageDropped = Signal(QImage)

    IDLE_STYLE = "QFrame#dropZone { border: 2px dashed palette(mid); border-radius: 8px; }"
    HOVER_STYLE = "QFrame#dropZone { border: 2px dashed palette(highlight); border-radius: 8px; background: palette(alternate-base); }"

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAccessibleName("Drop images here")
        self.setAcceptDrops(True)
        self.setStyleSheet(self.IDLE_STYLE)
        layout = QVBoxLayout(self)
        self.label = QLabel(text, self)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        layout.addWidget(self.label)

    def setText(self, text: str) -> None:  # noqa: N802 — Qt naming, like QLabel.setText
        self.label.setText(text)

    @staticmethod
    def accepts(mime: QMimeData) -> bool:
        return bool(paths_from_mime(mime)) or mime.hasImage()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.accepts(event.mimeData()):
            event.acceptProposedAction()
            self.setStyleSheet(self.HOVER_STYLE)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if self.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self.setStyleSheet(self.IDLE_STYLE)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.setStyleSheet(self.IDLE_STYLE)
        if self.handle_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def handle_mime(self, mime: QMimeData) -> bool:
        """Emit the right signal for dropped or pasted data; False when there is nothing usable."""
        paths = paths_from_mime(mime)
        if paths:
            self.pathsDropped.emit(paths)
            return True
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.imageDropped.emit(image)
                return True
        return False
