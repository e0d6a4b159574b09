"""The "My photos" browser: the photos the user labelled on the Predict page.

Shows each stored example as a thumbnail with its class and when it was added (never the file's
hash name); the class box follows the selected photo. The user can relabel or delete them. A
message belongs to the action that caused it: the next action clears it.
Storage is `core.store.user_photos` (passed in as `store`, already imported after torchReady). The
photos are kept at full size, so their thumbnails are decoded in a task (downscaled while
decoding) and arrive one by one; the GUI thread only lists the files.
"""

from __future__ import annotations

from datetime import datetime
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
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ....core.base.errors import FmnistError
from ....core.base.labels import CLASS_NAMES, NONE_OF_THE_TEN, label_name
from ...tasks import TaskGroup
from ...widgets.dialogs import ask_yes_no
from ...widgets.images import thumbnail_qimage

EXAMPLE_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB_SIZE = 96


class MyPhotosDialog(QDialog):
    changed = Signal()

    def __init__(self, context, store, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("myPhotosDialog")
        self.setWindowTitle("My photos")
        self.context = context
        self.store = store
        self.tasks = TaskGroup(self, "thumbnails")
        self.thumbnails_shown = 0  # how many thumbnails arrived from the task (tests wait for them)
        self.finished.connect(lambda _result: self.tasks.shutdown(2000))
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
        self.class_combo.addItems([*CLASS_NAMES, NONE_OF_THE_TEN])  # index = label (10: none of the ten)
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
            item = QListWidgetItem(f"{example.label_name}\n{_added(example.path)}")
            kept_out = getattr(example, "kept_out", False)
            item.setToolTip(f"{example.label_name}, added {_added(example.path)}"
                            + ("\nKept out of fine-tuning: used to measure the model on your photos." if kept_out else "")
                            + f"\nStored as {example.path}")
            item.setData(EXAMPLE_ROLE, example)
            self.list.addItem(item)
        if examples:
            counts = self.store.counts_by_class(examples)
            detail = ", ".join(f"{name}: {count}" for name, count in counts.items() if count)
            noun = "photo" if len(examples) == 1 else "photos"
            self.summary.setText(f"{len(examples)} {noun} you labelled ({detail}).")
        else:
            self.summary.setText("No photos yet. On the Predict page, use Confirm or Correct… to keep a photo here.")
        self._update_buttons()
        self._load_thumbnails([example.path for example in examples])

    def _load_thumbnails(self, files: list) -> None:
        """Decode the photos off the GUI thread, downscaled while decoding; icons arrive one by one."""

        def make(state):
            from ....core.photo import load_image

            for row, path in enumerate(files):
                if state.is_interruption_requested():
                    return
                try:
                    image = thumbnail_qimage(load_image(path, max_side=2 * THUMB_SIZE), THUMB_SIZE)
                except (FmnistError, OSError, ValueError):
                    continue  # the list still shows its name; the file is reported when trained on
                state.set_partial_result((row, str(path), image))

        self.tasks["thumbnails"].start(make, on_partial=self._show_thumbnail)

    def _show_thumbnail(self, value) -> None:
        row, path, image = value
        item = self.list.item(row)
        if item is None or str(item.data(EXAMPLE_ROLE).path) != path:
            return  # the list was reloaded meanwhile
        item.setIcon(QIcon(QPixmap.fromImage(image)))
        self.thumbnails_shown += 1

    def selected_examples(self) -> list:
        return [item.data(EXAMPLE_ROLE) for item in self.list.selectedItems()]

    def _update_buttons(self) -> None:
        selected = self.selected_examples()
        self.relabel_button.setEnabled(bool(selected))
        self.delete_button.setEnabled(bool(selected))
        self.class_combo.setEnabled(bool(selected))  # no class is offered for no photo
        labels = {example.label for example in selected}
        if len(labels) == 1:  # the box shows the selected photo's class, ready to be changed
            self.class_combo.setCurrentIndex(labels.pop())

    def relabel_selected(self) -> None:
        label = self.class_combo.currentIndex()  # the combo lists the classes in label order, then "none"
        self.message.setText("")
        try:
            for example in self.selected_examples():
                self.store.relabel(example, label)
        except FmnistError as exc:
            self.message.setText(str(exc))
        else:
            self.message.setText(f"Now labelled “{label_name(label)}”.")
        self.reload()
        self.changed.emit()

    def delete_selected(self) -> None:
        examples = self.selected_examples()
        if not examples:
            return
        noun = "this photo" if len(examples) == 1 else f"these {len(examples)} photos"
        if not ask_yes_no(self, "Delete photos?", f"Delete {noun} from My photos?"):
            return
        self.message.setText("")
        try:
            for example in examples:
                self.store.delete(example)
        except FmnistError as exc:
            self.message.setText(str(exc))
        self.reload()
        self.changed.emit()


def _added(path) -> str:
    """When a photo was kept ("29 Nov, 05:30": fits under its thumbnail), from its file; "" when unknown."""
    try:
        return datetime.fromtimestamp(Path(path).stat().st_mtime).strftime("%d %b, %H:%M")
    except (OSError, ValueError, OverflowError):
        return ""
