"""Galleries of test images that scale to thousands: a `QListView` in icon mode over a list
model whose thumbnails are made lazily, only for the rows the view asks to paint, and cached."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView

from ...core.labels import CLASS_NAMES

THUMB_SIZE = 56


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
        self._cache: dict[int, QPixmap] = {}
        self.thumbnails_made = 0  # how many thumbnails were rendered (laziness is testable)

    def set_samples(self, images, indices: Sequence[int], predictions, confidences, labels) -> None:
        self.beginResetModel()
        self._images = images
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
        if role == Qt.ItemDataRole.ToolTipRole:
            verdict = "correct" if pred == true else "wrong"
            return (f"Test image #{sample}\nTrue class: {CLASS_NAMES[true]}\n"
                    f"Predicted: {CLASS_NAMES[pred]} ({100 * confidence:.1f} % confident, {verdict})")
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"Test image {sample}, true {CLASS_NAMES[true]}, predicted {CLASS_NAMES[pred]}"
        if role == Qt.ItemDataRole.ForegroundRole and pred != true:
            return QColor("#b3261e")
        if role == Qt.ItemDataRole.UserRole:
            return sample
        return None

    def _thumbnail(self, sample: int) -> QPixmap:
        pixmap = self._cache.get(sample)
        if pixmap is None:
            pixels = np.ascontiguousarray(self._images[sample], dtype=np.uint8)
            height, width = pixels.shape
            image = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
            pixmap = QPixmap.fromImage(image.scaled(THUMB_SIZE, THUMB_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.FastTransformation))
            self._cache[sample] = pixmap
            self.thumbnails_made += 1
        return pixmap


class SampleGallery(QListView):
    """An icon-mode list of test images; batched layout keeps 10,000 items responsive."""

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
        self.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        # Wide enough for "Ankle boot" / "T-shirt/top" on one line, tall enough for the captions.
        lines = 3 if show_true_class else 2
        width = THUMB_SIZE + (90 if show_true_class else 60)  # "true: T-shirt/top" needs more room
        self.setGridSize(QSize(width, THUMB_SIZE + 12 + 16 * lines))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # it reflows instead
        self.setSpacing(2)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.gallery_model = SampleGalleryModel(self, show_true_class)
        self.gallery_model.item_size = QSize(self.gridSize().width() - 4, self.gridSize().height() - 4)
        self.setModel(self.gallery_model)
