"""Image helpers and a titled image panel.

PIL images arrive from workers; QImage is thread-safe, so workers may call `pil_to_qimage`, while
QPixmaps are made only on the GUI thread (in `ImagePanel.set_image`).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget


def pil_to_qimage(image) -> QImage:
    """A deep-copied QImage of a PIL image (any mode). Safe to call from a worker thread."""
    if image.mode == "L":
        data = image.tobytes()
        qimage = QImage(data, image.width, image.height, image.width, QImage.Format.Format_Grayscale8)
        return qimage.copy()
    rgba = image.convert("RGBA")
    data = rgba.tobytes()
    qimage = QImage(data, rgba.width, rgba.height, rgba.width * 4, QImage.Format.Format_RGBA8888)
    return qimage.copy()  # the copy owns its pixels; `data` may be freed


def thumbnail_qimage(image, size: int = 56) -> QImage:
    """A small thumbnail of a PIL image, as a QImage (worker-thread safe)."""
    thumb = image.copy()
    thumb.thumbnail((size, size))
    return pil_to_qimage(thumb)


class ImagePanel(QFrame):
    """A caption above an image that scales to the panel, optionally pixelated (nearest-neighbour)."""

    def __init__(self, title: str, pixelated: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._pixelated = pixelated
        self._image: QImage | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.caption = QLabel(title, self)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.picture = QLabel(self)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(QSize(96, 96))
        # Ignored: the scaled pixmap must not become the label's size hint, or the panel would
        # grow with every rescale and push the page into scrolling.
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setAccessibleName(title)
        self.note = QLabel(self)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(mid);")
        self.note.hide()
        layout.addWidget(self.caption)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.note)

    def set_image(self, image: QImage | None, note: str = "") -> None:
        self._image = image
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self._rescale()

    def image(self) -> QImage | None:
        return self._image

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is None or self._image.isNull():
            self.picture.clear()
            return
        target = self.picture.size()
        mode = Qt.TransformationMode.FastTransformation if self._pixelated else Qt.TransformationMode.SmoothTransformation
        pixmap = QPixmap.fromImage(self._image)
        if self._pixelated:
            # Whole-number scale keeps every model pixel the same size on screen.
            factor = max(1, min(target.width() // max(1, pixmap.width()), target.height() // max(1, pixmap.height())))
            scaled = pixmap.scaled(pixmap.width() * factor, pixmap.height() * factor,
                                   Qt.AspectRatioMode.KeepAspectRatio, mode)
        else:
            scaled = pixmap.scaled(target, Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.picture.setPixmap(scaled)
