"""The Evaluate page's right side: the per-class table and the two galleries (the images of a
picked confusion-matrix cell, every misclassified image), in tabs, with one zoom slider under them."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...widgets.gallery import MAX_THUMB_SIZE, MIN_THUMB_SIZE, THUMB_SIZE, SampleGallery

CELL_HINT = "Click a cell of the confusion matrix."


class ResultsPanel(QWidget):
    """Tabs "Per class", "Selected cell" and "Misclassified", and the galleries' zoom."""

    enlargeRequested = Signal(int)  # a test-image index, double-clicked in either gallery

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget(self)
        layout.addWidget(self.tabs, 1)
        self.tabs.setObjectName("evaluateTabs")
        self.metrics_table = QTableWidget(0, 5, self.tabs)
        self.metrics_table.setObjectName("perClassTable")
        self.metrics_table.setAccessibleName("Per-class precision, recall and F1")
        self.metrics_table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Images"])
        self.metrics_table.verticalHeader().setVisible(False)
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.metrics_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, 5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tabs.addTab(self.metrics_table, "Per class")

        self.cell_label, self.cell_gallery = self._gallery_tab(
            "Selected cell", CELL_HINT, "cellGalleryLabel",
            SampleGallery("cellGallery", "Test images of the selected cell"))
        self.misclassified_label, self.misclassified_gallery = self._gallery_tab(
            "Misclassified", "", "misclassifiedLabel",
            SampleGallery("misclassifiedGallery", "Misclassified test images", show_true_class=True))
        self.tabs.setMinimumWidth(300)

        # One zoom for both galleries, under them; double-click opens an image large.
        zoom_box = QWidget(self)
        zoom_layout = QHBoxLayout(zoom_box)
        zoom_layout.setContentsMargins(4, 0, 4, 0)
        zoom_layout.addWidget(QLabel("Thumbnail size", zoom_box))
        self.zoom_slider = QSlider(Qt.Orientation.Horizontal, zoom_box)
        self.zoom_slider.setObjectName("galleryZoom")
        self.zoom_slider.setAccessibleName("Thumbnail size")
        self.zoom_slider.setToolTip("Thumbnail size of the galleries (double-click an image to see it large)")
        self.zoom_slider.setRange(MIN_THUMB_SIZE, MAX_THUMB_SIZE)
        self.zoom_slider.setSingleStep(8)
        self.zoom_slider.setPageStep(28)
        self.zoom_slider.setValue(THUMB_SIZE)
        self.zoom_slider.valueChanged.connect(self.set_thumb_size)
        zoom_layout.addWidget(self.zoom_slider, 1)
        zoom_layout.addWidget(QLabel("double-click to enlarge", zoom_box))
        layout.addWidget(zoom_box)
        for gallery in (self.cell_gallery, self.misclassified_gallery):
            gallery.enlargeRequested.connect(self.enlargeRequested)

    def _gallery_tab(self, title: str, text: str, label_name: str, gallery: SampleGallery):
        """A tab: a caption above a gallery. Returns (caption, gallery)."""
        tab = QWidget(self.tabs)
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(4, 4, 4, 4)
        label = QLabel(text, tab)
        label.setObjectName(label_name)
        label.setWordWrap(True)
        gallery.setParent(tab)
        layout.addWidget(label)
        layout.addWidget(gallery, 1)
        self.tabs.addTab(tab, title)
        return label, gallery

    @Slot(int)
    def set_thumb_size(self, size: int) -> None:
        for gallery in (self.cell_gallery, self.misclassified_gallery):
            gallery.set_thumb_size(size)
        if self.zoom_slider.value() != size:
            self.zoom_slider.setValue(size)

    def clear(self) -> None:
        """Nothing shown: an evaluation is running (its figures are not in yet)."""
        self.metrics_table.setRowCount(0)
        self.cell_gallery.gallery_model.clear()
        self.misclassified_gallery.gallery_model.clear()
        self.cell_label.setText(CELL_HINT)
        self.misclassified_label.setText("")

    def show_result(self, images, result, names=None) -> None:
        """The per-class table and the misclassified gallery of an evaluation; no cell picked.
        `names`: the photos' file names (a photo model's evaluation), None for test images."""
        noun = "test images" if names is None else "photos"
        self.fill_table(result.per_class)
        self.cell_gallery.gallery_model.clear()
        self.cell_label.setText(f"Click a cell of the confusion matrix to see its {noun}.")
        wrong = list(result.misclassified())
        self.misclassified_gallery.gallery_model.set_samples(
            images, wrong, result.predictions, result.confidences, result.labels, names)
        self.misclassified_label.setText(
            f"{len(wrong):,} of {len(result.labels):,} {noun} are misclassified; "
            "the most confident mistakes come first.")

    def fill_table(self, per_class: Sequence[dict]) -> None:
        self.metrics_table.setRowCount(len(per_class))
        for row, metrics in enumerate(per_class):
            cells = [
                metrics["name"],
                f"{metrics['precision']:.1f} %",
                f"{metrics['recall']:.1f} %",
                f"{metrics['f1']:.1f} %",
                f"{int(metrics['support']):,}",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.metrics_table.setItem(row, column, item)
