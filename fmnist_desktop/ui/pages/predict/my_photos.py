"""The "My photos" browser: the photos the user labelled on the Predict page.

Shows each stored example as a thumbnail with its class; the user can relabel or delete them.
Storage is `core.user_photos` (passed in as `store`, already imported after torchReady).
Thumbnails are small files read on the GUI thread only a few at a time; the list is short.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fmnist_desktop.core.errors import FmnistError
from fmnist_desktop.core.labels import CLASS_NAMES

EXAMPLE_ROLE = Qt.ItemDataRole.UserRole + 1


class MyPhotosDialog(QDialog):
    changed = Signal()

    def __init__(self, context, store, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("myPhotosDialog")
        self.setWindowTitle("My photos")
        self.context = context
        self.store = store
        self.resize(720, 480)
        layout = QVBoxLayout(self)
        self.summary = QLabel(self)
        self.summary.setObjectName("myPhotosSummary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)

        self.list = QListWidget(self)
        self.list.setObjectName("myPhotosList")
        self.list.setAccessibleName("My photos")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(96, 96))
        self.list.setGridSize(QSize(128, 140))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.list, 1)

        row = QHBoxLayout()
        row.addWidget(QLabel("Class:", self))
        self.class_combo = QComboBox(self)
        self.class_combo.setObjectName("relabelCombo")
        self.class_combo.setAccessibleName("New class")
        self.class_combo.addItems(list(CLASS_NAMES))
        row.addWidget(self.class_combo)
        self.relabel_button = QPushButton("Relabel", self)
        self.relabel_button.setObjectName("relabelButton")
        self.relabel_button.clicked.connect(self.relabel_selected)
        row.addWidget(self.relabel_button)
        row.addStretch(1)
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.setObjectName("deletePhotoButton")
        self.delete_button.clicked.connect(self.delete_selected)
        row.addWidget(self.delete_button)
        layout.addLayout(row)

        self.message = QLabel(self)
        self.message.setObjectName("myPhotosMessage")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.reload()

    def reload(self) -> None:
        self.list.clear()
        try:
            examples = list(self.store.list_examples())
        except (FmnistError, OSError) as exc:
            self.message.setText(str(exc))
            examples = []
        for example in examples:
            item = QListWidgetItem(f"{example.label_name}\n{Path(example.path).name}")
            pixmap = QPixmap(str(example.path))
            if not pixmap.isNull():
                item.setIcon(QIcon(pixmap.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation)))
            item.setToolTip(str(example.path))
            item.setData(EXAMPLE_ROLE, example)
            self.list.addItem(item)
        counts: dict[str, int] = {}
        for example in examples:
            counts[example.label_name] = counts.get(example.label_name, 0) + 1
        if examples:
            detail = ", ".join(f"{name}: {counts[name]}" for name in CLASS_NAMES if name in counts)
            self.summary.setText(f"{len(examples)} photos you labelled ({detail}).")
        else:
            self.summary.setText("No photos yet. On the Predict page, use Confirm or Correct… to keep a photo here.")
        self._update_buttons()

    def selected_examples(self) -> list:
        return [item.data(EXAMPLE_ROLE) for item in self.list.selectedItems()]

    def _update_buttons(self) -> None:
        has = bool(self.list.selectedItems())
        self.relabel_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def relabel_selected(self) -> None:
        label = self.class_combo.currentIndex()  # the combo lists CLASS_NAMES in label order
        try:
            for example in self.selected_examples():
                self.store.relabel(example, label)
        except FmnistError as exc:
            self.message.setText(str(exc))
        self.reload()
        self.changed.emit()

    def delete_selected(self) -> None:
        examples = self.selected_examples()
        if not examples:
            return
        answer = QMessageBox.question(
            self, "Delete photos?", f"Delete {len(examples)} photo(s) from My photos?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            for example in examples:
                self.store.delete(example)
        except FmnistError as exc:
            self.message.setText(str(exc))
        self.reload()
        self.changed.emit()
