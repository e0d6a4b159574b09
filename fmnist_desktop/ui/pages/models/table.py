"""The Models page's table: one row per library entry (name, kind, date, preset, epochs run, its
Fashion-MNIST test accuracy, held-out photos right, real photos right, training time, size,
device; one column per measure), updated in place when the same models
are listed again, so the selection and the chart stay put through Make active and Rename."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from ....core.base.formats import format_span
from ...widgets import model_facts

# One column per measure, each header saying what it measured.
HEADERS = ("Name", "Kind", "Created", "Preset", "Epochs", "Fashion-MNIST test", "Held-out photos", "Real photos",
           "Training time", "Size", "Device")
(COL_NAME, COL_KIND, COL_DATE, COL_PRESET, COL_EPOCHS, COL_ACC, COL_HELD_OUT, COL_PHOTOS, COL_TIME, COL_SIZE,
 COL_DEVICE) = range(len(HEADERS))
NAME_MIN_WIDTH = 200  # px: enough for "● Default model (shipped…"
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2

PhotoItem = Callable[[object], QStandardItem]  # entry -> its "Real photos" cell


class ModelsTable(QTableView):
    """The table view and its item model (`items`); the selected row's entry is `selected_entry()`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.items = QStandardItemModel(0, len(HEADERS), self)
        self.items.setHorizontalHeaderLabels(list(HEADERS))
        self.setObjectName("modelsTable")
        self.setAccessibleName("Models")
        self.setModel(self.items)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.setWordWrap(False)  # dates and durations stay on one line
        self.items.horizontalHeaderItem(COL_ACC).setToolTip(
            "Accuracy on the 10,000 Fashion-MNIST test images (28×28 networks; photo models are not measured on it)")
        self.items.horizontalHeaderItem(COL_HELD_OUT).setToolTip(
            "Share of held-out real photos (from senders it never trained on) the model named right when it was "
            "trained")
        self.items.horizontalHeaderItem(COL_KIND).setToolTip(
            "Photo models answer photos; 28×28 networks answer small grey Fashion-MNIST-style images. "
            "One of each kind is active")
        self.items.horizontalHeaderItem(COL_PHOTOS).setToolTip(
            "How many real photos each model names right, and of how many: your kept-out photos once you have "
            "enough, else the 80 real photos shipped with the app. Photo models see the photos themselves, "
            "28×28 networks the photos as the app prepares them")
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)

    def entries(self) -> list:
        """The listed entries, in row order."""
        return [self.items.item(r, COL_NAME).data(ENTRY_ROLE) for r in range(self.items.rowCount())]

    def show_entries(self, entries: list, active_ids: set, selected_id, active_id, photo_item: PhotoItem) -> None:
        """List `entries`. When the same models are listed (Make active, Rename), the rows are
        updated in place: the selection and the chart do not blink."""
        if [e.id for e in self.entries()] == [e.id for e in entries] and entries:
            for row, entry in enumerate(entries):
                for column, item in enumerate(row_items(entry, entry.id in active_ids, photo_item)):
                    copy_item(self.items.item(row, column), item)
        else:
            selection = self.selectionModel()
            selection.blockSignals(True)  # no "nothing selected" moment while the rows are refilled
            try:
                self.items.removeRows(0, self.items.rowCount())
                for entry in entries:
                    self.items.appendRow(row_items(entry, entry.id in active_ids, photo_item))
                row_to_select = next((r for r, e in enumerate(entries) if e.id == selected_id), None)
                if row_to_select is None:
                    row_to_select = next((r for r, e in enumerate(entries) if e.id == active_id), 0 if entries else None)
                if row_to_select is not None:
                    self.selectRow(row_to_select)
            finally:
                selection.blockSignals(False)
            self.viewport().update()
        # Fit the short columns to their text (Name takes the rest), after every refill.
        for column in range(1, len(HEADERS)):
            self.resizeColumnToContents(column)
        self._fit_name_column()

    def update_photo_column(self, photo_item: PhotoItem) -> None:
        for row, entry in enumerate(self.entries()):
            copy_item(self.items.item(row, COL_PHOTOS), photo_item(entry))
        self.resizeColumnToContents(COL_PHOTOS)
        self._fit_name_column()

    def _fit_name_column(self) -> None:
        """Name takes the room the other columns leave, but never less than NAME_MIN_WIDTH: in a
        narrow window the table scrolls sideways instead of showing every name as "● …"."""
        header = self.horizontalHeader()
        others = sum(header.sectionSize(c) for c in range(1, len(HEADERS)))
        if self.viewport().width() - others >= NAME_MIN_WIDTH:
            header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        else:
            header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(COL_NAME, NAME_MIN_WIDTH)

    def resizeEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().resizeEvent(event)
        self._fit_name_column()

    def selected_entry(self):
        rows = self.selectionModel().selectedRows(COL_NAME) if self.selectionModel() else []
        if not rows:
            return None
        return rows[0].data(ENTRY_ROLE)

    def select_entry(self, entry_id: str) -> bool:
        for row, entry in enumerate(self.entries()):
            if entry.id == entry_id:
                self.selectRow(row)
                return True
        return False


def copy_item(target: QStandardItem, source: QStandardItem) -> None:
    for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole, ENTRY_ROLE):
        value = source.data(role)
        if target.data(role) != value:
            target.setData(value, role)


def row_items(entry, is_active: bool, photo_item: PhotoItem) -> list[QStandardItem]:
    meta = entry.meta
    training = dict(getattr(meta, "training", None) or {})
    name = entry.name
    if entry.builtin and "default" not in name.lower() and "shipped with the app" not in name:
        name += "  (default)"
    name_item = QStandardItem(("● " if is_active else "") + name)
    name_item.setData(entry, ENTRY_ROLE)
    name_item.setToolTip(f"{entry.path}" + (f"\nThis is {model_facts.active_phrase(entry)}." if is_active else ""))
    if is_active:
        font = name_item.font()
        font.setBold(True)
        name_item.setFont(font)
    elapsed = training.get("elapsed_s", training.get("training_time_s"))
    return [
        name_item,
        QStandardItem(model_facts.kind_text(entry)),
        QStandardItem(format_created(getattr(meta, "created", ""))),
        QStandardItem(str(getattr(meta, "preset", "") or "—")),
        _item(*model_facts.epochs_text(entry)),
        _item(*model_facts.fashion_test_text(entry)),
        _item(*model_facts.held_out_text(entry)),
        photo_item(entry),
        QStandardItem(format_span(elapsed)),
        QStandardItem(model_facts.size_text(entry)),
        QStandardItem(str(training.get("device_name") or training.get("device") or "—")),
    ]


def _item(text: str, tip: str) -> QStandardItem:
    item = QStandardItem(text)
    item.setToolTip(tip)
    return item


def format_created(created: str) -> str:
    if not created:
        return "—"
    try:
        return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return created
