"""Galleries of test images (28×28 grey) or photos (colour thumbnails, with their file names) that scale to thousands: a `QListView` in icon mode over a list
model whose thumbnails are made lazily, only for the rows the view asks to paint, and cached.
Thumbnails scale (`set_thumb_size`), the cells fill the view's width, and a double-click asks for
the image large (`enlargeRequested`, `EnlargedImageDialog`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QDialog, QLabel, QListView, QPushButton, QVBoxLayout

from ...core.base.labels import CLASS_NAMES

THUMB_SIZE = 84  # the galleries' starting thumbnail size; a zoom control goes from MIN to MAX
MIN_THUMB_SIZE = 48
MAX_THUMB_SIZE = 224
ENLARGED_SIZE = 336  # a double-clicked test image, 12× its 28 pixels


class SampleGalleryModel(QAbstractListModel):
    """Test images by index into `images`, with predicted class and confidence; thumbnails lazily."""

    def __init__(self, parent=None, show_true_class: bool = False):
        super().__init__(parent)
        self.show_true_class = show_true_class  # a third caption line, for galleries mixing classes
        self.item_size: QSize | None = None  # every item's size (the view's grid), so no caption is elided
        self._images: np.ndarray | None = None
        self._indices: np.ndarray = np.zeros(0, dtype=np.int64)
        self._predictions: np.ndarray | None = None
        self._confidences: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._names: Sequence[str] | None = None  # photos' file names; None: Fashion-MNIST test images
        self._cache: dict[int, QPixmap] = {}
        self.thumbnails_made = 0  # how many thumbnails were rendered (laziness is testable)
        self.thumb_size = THUMB_SIZE

    def set_thumb_size(self, size: int) -> None:
        """Thumbnails at `size` pixels from now on (the cache is dropped; rows are repainted lazily)."""
        self.thumb_size = int(size)
        self._cache.clear()
        if len(self._indices):
            self.dataChanged.emit(self.index(0), self.index(len(self._indices) - 1))

    def image(self, sample: int) -> np.ndarray | None:
        return None if self._images is None else self._images[sample]

    def set_samples(self, images, indices: Sequence[int], predictions, confidences, labels,
                    names: Sequence[str] | None = None) -> None:
        """`images[i]`: (h, w) grey or (h, w, 3) colour uint8; `names[i]` a photo's file name."""
        self.beginResetModel()
        self._images = images
        self._names = names
        self._indices = np.asarray(indices, dtype=np.int64)
        self._predictions = np.asarray(predictions)
        self._confidences = np.asarray(confidences)
        self._labels = np.asarray(labels)
        self._cache.clear()
        self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self._indices = np.zeros(0, dtype=np.int64)
        self._cache.clear()
        self.endResetModel()

    def indices(self) -> list[int]:
        """The test-set indices shown, in display order."""
        return [int(i) for i in self._indices]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._indices)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._indices):
            return None
        sample = int(self._indices[index.row()])
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(sample)
        if role == Qt.ItemDataRole.SizeHintRole:
            return self.item_size
        pred = int(self._predictions[sample])
        true = int(self._labels[sample])
        confidence = float(self._confidences[sample])
        if role == Qt.ItemDataRole.DisplayRole:
            text = f"{CLASS_NAMES[pred]}\n{100 * confidence:.0f} %"
            return f"{text}\ntrue: {CLASS_NAMES[true]}" if self.show_true_class else text
        what = f"Test image #{sample}" if self._names is None else str(self._names[sample])
        if role == Qt.ItemDataRole.ToolTipRole:
            verdict = "correct" if pred == true else "wrong"
            return (f"{what}\nTrue class: {CLASS_NAMES[true]}\n"
                    f"Predicted: {CLASS_NAMES[pred]} ({100 * confidence:.1f} % confident, {verdict})")
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{what}, true {CLASS_NAMES[true]}, predicted {CLASS_NAMES[pred]}"
        if role == Qt.ItemDataRole.ForegroundRole and pred != true:
            return QColor("#b3261e")
        if role == Qt.ItemDataRole.UserRole:
            return sample
        return None

    def _thumbnail(self, sample: int) -> QPixmap:
        pixmap = self._cache.get(sample)
        if pixmap is None:
            image = as_qimage(self._images[sample])
            size = self.thumb_size
            pixmap = QPixmap.fromImage(image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, scaling(image)))
            self._cache[sample] = pixmap
            self.thumbnails_made += 1
        return pixmap


def as_qimage(pixels) -> QImage:
    """A (h, w) grey or (h, w, 3) RGB uint8 array as a QImage (a copy)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim == 3:
        height, width = pixels.shape[:2]
        return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    height, width = pixels.shape
    return QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()


def scaling(image: QImage) -> Qt.TransformationMode:
    """Pixelated for a 28×28 test image (as the model sees it); smooth for a photo."""
    return (Qt.TransformationMode.FastTransformation if image.format() == QImage.Format.Format_Grayscale8
            else Qt.TransformationMode.SmoothTransformation)


class SampleGallery(QListView):
    """An icon-mode list of test images; batched layout keeps 10,000 items responsive.

    Thumbnails have a size the page's zoom slider sets (`set_thumb_size`); the cells are widened
    so the columns fill the view's whole width (no empty strip beside them). Double-clicking an
    image emits `enlargeRequested(sample)`.
    """

    enlargeRequested = Signal(int)  # test-set index

    def __init__(self, object_name: str, accessible_name: str, parent=None, show_true_class: bool = False):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setAccessibleName(accessible_name)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # it reflows instead
        self.setSpacing(2)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.show_true_class = show_true_class
        self.gallery_model = SampleGalleryModel(self, show_true_class)
        self.setModel(self.gallery_model)
        self.doubleClicked.connect(self._on_double_clicked)
        self.set_thumb_size(THUMB_SIZE)

    def thumb_size(self) -> int:
        return self.gallery_model.thumb_size

    def set_thumb_size(self, size: int) -> None:
        self.gallery_model.set_thumb_size(size)
        self.setIconSize(QSize(size, size))
        self._fit_grid()

    def _min_cell_width(self) -> int:
        # Wide enough for "Ankle boot" / "T-shirt/top" on one line ("true: T-shirt/top" needs more).
        return max(self.thumb_size() + 8, 150 if self.show_true_class else 96)

    def _fit_grid(self) -> None:
        """Cells as wide as the view divided by the columns that fit: the thumbnails fill the width."""
        lines = 3 if self.show_true_class else 2
        height = self.thumb_size() + 12 + 16 * lines
        available = max(1, self.viewport().width() - 4)
        columns = max(1, available // self._min_cell_width())
        width = max(self._min_cell_width(), available // columns)
        grid = QSize(width, height)
        if grid != self.gridSize():
            self.setGridSize(grid)
            self.gallery_model.item_size = QSize(width - 4, height - 4)

    def columns(self) -> int:
        return max(1, (self.viewport().width() - 4) // max(1, self.gridSize().width()))

    def resizeEvent(self, event):  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_grid()

    def _on_double_clicked(self, index: QModelIndex) -> None:
        sample = index.data(Qt.ItemDataRole.UserRole)
        if sample is not None:
            self.enlargeRequested.emit(int(sample))


class EnlargedImageDialog(QDialog):
    """One test image, large (pixelated, as the model sees it), or a photo, with its true and predicted class."""

    def __init__(self, pixels: np.ndarray, caption: str, parent=None):
        super().__init__(parent)
        self.setObjectName("enlargedImageDialog")
        image = as_qimage(pixels)
        self.setWindowTitle("Test image" if image.format() == QImage.Format.Format_Grayscale8 else "Photo")
        layout = QVBoxLayout(self)
        self.picture = QLabel(self)
        self.picture.setObjectName("enlargedImage")
        self.picture.setPixmap(QPixmap.fromImage(image.scaled(
            ENLARGED_SIZE, ENLARGED_SIZE, Qt.AspectRatioMode.KeepAspectRatio, scaling(image))))
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.picture)
        self.caption = QLabel(caption, self)
        self.caption.setObjectName("enlargedCaption")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.caption)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
