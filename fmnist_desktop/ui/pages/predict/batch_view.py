"""The Predict page's table for many images: progress, Cancel, Clear list, "Classify again", a
class / "Not sure" / unreadable filter, sorting, each row's context menu, and the CSV export of
the rows shown. The rows themselves, and what each says, are `batch_rows.BatchRow`.

Each row shows the verdict its Prediction carries; when the user sets their own threshold on the
page (`set_threshold`), every row is judged again with it (`BatchRow.verdict`).

When the active models change (`set_current_models`), rows answered by the previous ones are *out
of date*: greyed, marked in the Note column, left out of the CSV, until the page has classified
them again (`replace_rows`). A row kept in My photos (Confirm, Correct… — also from the row's
context menu) is marked "✓ kept as …". Rows stay in the order they were added until the user
sorts by a column."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from PySide6.QtCore import QModelIndex, QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ....core.base.formats import PHOTO_FORMATS_TEXT, count_noun
from ....core.base.labels import CLASS_NAMES, label_name
from ....core.base.output_safety import csv_row
from ....core.base.verdict import format_confidence
from ....core.models.arch_info import KIND_NAMES
from ...widgets.model_answer import short_kind
# The notes and `batch_row` are imported here too: callers (and tests) know them from batch_view.
from .batch_rows import NOT_SURE_NOTE, OUT_OF_SCOPE_NOTE, STALE_NOTE, BatchRow, batch_row, kept_note  # noqa: F401
from .batch_rows import confirm_index
from .list_teach_bar import ListTeachBar
from .single_view import add_correct_actions

STALE_COLOUR = QColor(128, 128, 128)

# Table columns
COL_THUMB, COL_FILE, COL_CLASS, COL_CONF, COL_RUNNER, COL_MODEL, COL_PROBLEM = range(7)
HEADERS = ("", "File", "Top class", "Confidence", "Runner-up", "Model", "Note")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
CLASS_ROLE = Qt.ItemDataRole.UserRole + 2  # the row's top class, or "" for unreadable files
ROW_ROLE = Qt.ItemDataRole.UserRole + 3  # the BatchRow object, on the File column

FILTER_ALL = "All images"
FILTER_UNSURE = "Not sure"
FILTER_ERRORS = "Unreadable files"


class _ClassFilterProxy(QSortFilterProxyModel):
    """Sorts by SORT_ROLE; filters rows by exact top class, "not sure", or unreadable."""

    def __init__(self, threshold: float | None, parent=None):
        super().__init__(parent)
        self._mode = FILTER_ALL
        self._threshold = threshold
        self.setSortRole(SORT_ROLE)

    def set_mode(self, mode: str) -> None:
        self._refilter(lambda: setattr(self, "_mode", mode))

    def set_threshold(self, threshold: float | None) -> None:
        self._refilter(lambda: setattr(self, "_threshold", threshold))

    def _refilter(self, change) -> None:
        # Qt 6.10 replaced invalidateFilter() with begin/endFilterChange(); support both.
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange()
        else:
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        if self._mode == FILTER_ALL:
            return True
        row: BatchRow = self.sourceModel().index(source_row, COL_FILE, source_parent).data(ROW_ROLE)
        if row is None:
            return False
        if self._mode == FILTER_ERRORS:
            return row.error is not None
        if self._mode == FILTER_UNSURE:
            return row.not_sure(self._threshold)
        return row.error is None and row.label == self._mode


class BatchView(QWidget):
    """The table. `rowActivated(path)` when a row is double-clicked (or "Show how the model saw
    it" chosen in its context menu); `keepRequested(path, class)` when Confirm or Correct… is
    chosen in a row's context menu; `refreshRequested` by the "Classify again" button."""

    rowActivated = Signal(str)
    keepRequested = Signal(str, int)
    refreshRequested = Signal()

    def __init__(self, threshold: float | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("batchView")
        self._threshold = threshold
        self._current_key = ""  # the active models now (rows answered by others are out of date)
        self.row_menu: QMenu | None = None  # the last context menu shown (tests trigger its actions)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setObjectName("batchProgress")
        self.progress.setAccessibleName("Batch progress")
        self.progress.setFormat("%v / %m")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelBatchButton")
        self.cancel_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.clear_button = QPushButton("Clear list", self)
        self.clear_button.setObjectName("clearListButton")
        self.clear_button.setToolTip("Empty the list; photos dropped afterwards start a new one")
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.clear_button)
        layout.addLayout(row)

        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Show:", self))
        self.filter_combo = QComboBox(self)
        self.filter_combo.setObjectName("classFilter")
        self.filter_combo.setAccessibleName("Filter by class")
        self.filter_combo.addItems([FILTER_ALL, *CLASS_NAMES, FILTER_UNSURE, FILTER_ERRORS])
        self.filter_combo.currentTextChanged.connect(self._on_filter_changed)
        row2.addWidget(self.filter_combo)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("batchCount")
        row2.addWidget(self.count_label, 1)
        self.refresh_button = QPushButton("Classify again with the active models", self)
        self.refresh_button.setObjectName("reclassifyButton")
        self.refresh_button.setToolTip("The list shows answers of a model that is no longer active: ask the "
                                       "active models again")
        self.refresh_button.clicked.connect(self.refreshRequested.emit)
        self.refresh_button.hide()
        row2.addWidget(self.refresh_button)
        self.export_button = QPushButton("Export CSV…", self)
        self.export_button.setObjectName("exportCsvButton")
        row2.addWidget(self.export_button)
        layout.addLayout(row2)
        self.teach_bar = ListTeachBar(self.selected_rows, lambda row: confirm_index(row.verdict(self._threshold),
                                                                                  row.index), self)
        self.teach_bar.keepRequested.connect(self.keepRequested)
        layout.addWidget(self.teach_bar)

        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.proxy = _ClassFilterProxy(threshold, self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(self)
        self.table.setObjectName("resultsTable")
        self.table.setAccessibleName("Prediction results")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        # No column sorted until the user clicks one: rows stay in the order they were added.
        self.unsort()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(40, 40))
        self.table.verticalHeader().setDefaultSectionSize(44)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_PROBLEM, QHeaderView.ResizeMode.Stretch)
        for column in (COL_THUMB, COL_CLASS, COL_CONF, COL_RUNNER, COL_MODEL):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.doubleClicked.connect(self._on_row_activated)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._show_row_menu)
        self.table.setToolTip("Double-click a row to see how the model saw that image; right-click it to "
                              "confirm or correct its class")
        layout.addWidget(self.table, 1)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.teach_bar.update_selection())

    # ----------------------------------------------------------------- rows

    def selected_rows(self) -> list[BatchRow]:
        """The selected readable rows, in table order."""
        rows = [self.row_at(index.row()) for index in sorted(self.table.selectionModel().selectedRows(COL_FILE),
                                                              key=lambda i: i.row())]
        return [row for row in rows if row is not None and row.error is None]

    def clear(self) -> None:
        self.model.removeRows(0, self.model.rowCount())
        self.progress.reset()
        self.count_label.setText("")

    def paths(self) -> set[str]:
        """Every file in the list (photos dropped again are not added twice)."""
        return {self.model.item(r, COL_FILE).data(ROW_ROLE).path for r in range(self.model.rowCount())}

    def add_rows(self, rows: list[BatchRow]) -> None:
        for row in rows:
            self.model.appendRow(self._items_for(row))
        self.update_count()

    def append_rows(self, rows: list[BatchRow]) -> None:
        """Rows of photos dropped on (or opened into) the list: at its end, or where the column
        sort the user chose puts them (the sort holds); the last one is scrolled into view."""
        self.add_rows(rows)
        if not rows:
            return
        last = self.proxy.mapFromSource(self.model.index(self.model.rowCount() - 1, COL_FILE))
        if last.isValid():
            self.table.scrollTo(last)
        else:
            self.table.scrollToBottom()

    def unsort(self) -> None:
        """Back to the order the rows were added in (no column sorted)."""
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.proxy.sort(-1)

    def replace_rows(self, rows: list[BatchRow]) -> None:
        """Rows classified again (by the active models now): each replaces the row of its file in
        place, keeping the name shown and the My photos mark."""
        where = {self.model.item(r, COL_FILE).data(ROW_ROLE).path: r for r in range(self.model.rowCount())}
        for row in rows:
            r = where.get(row.path)
            if r is None:
                continue  # the list was cleared meanwhile
            old: BatchRow = self.model.item(r, COL_FILE).data(ROW_ROLE)
            row.display = old.display
            row.kept_as = old.kept_as
            for column, item in enumerate(self._items_for(row)):
                self.model.setItem(r, column, item)
        self.update_count()

    def set_current_models(self, key: str) -> None:
        """The active models now (predictors.models_key): rows answered by others are out of date."""
        self._current_key = key
        self._restyle()

    def is_stale(self, row: BatchRow) -> bool:
        """A readable row answered by models that are no longer the active ones."""
        return row.error is None and bool(row.models_key) and bool(self._current_key) \
            and row.models_key != self._current_key

    def stale_paths(self) -> list[str]:
        return [row.path for row in self.rows() if self.is_stale(row)]

    def thresholds(self) -> list[tuple[str, float]]:
        """[(model kind, threshold)] the readable rows were judged with, photo model first, each once."""
        found = {(row.model_kind, row.threshold) for row in self.rows()
                 if row.error is None and row.threshold is not None}
        return sorted(found, key=lambda kt: (kt[0] != "photo", kt[0], kt[1]))

    def mark_kept(self, path: str, label: int) -> bool:
        """Mark the row of `path` as kept in My photos as `label`; False when it is not listed."""
        for r in range(self.model.rowCount()):
            row: BatchRow = self.model.item(r, COL_FILE).data(ROW_ROLE)
            if row.path == path:
                row.kept_as = label
                self._style_row([self.model.item(r, c) for c in range(len(HEADERS))], row)
                return True
        return False

    def rows(self, visible_only: bool = False) -> list[BatchRow]:
        """The batch rows in table order (sorted/filtered when `visible_only`)."""
        if visible_only:
            return [self.proxy.index(r, COL_FILE).data(ROW_ROLE) for r in range(self.proxy.rowCount())]
        return [self.model.item(r, COL_FILE).data(ROW_ROLE) for r in range(self.model.rowCount())]

    def _items_for(self, row: BatchRow) -> list[QStandardItem]:
        thumb = QStandardItem()
        if row.thumbnail is not None and not row.thumbnail.isNull():
            thumb.setData(QPixmap.fromImage(row.thumbnail), Qt.ItemDataRole.DecorationRole)
        thumb.setData(0, SORT_ROLE)
        file_item = QStandardItem(row.display or Path(row.path).name)
        file_item.setToolTip(row.path)
        file_item.setData((row.display or Path(row.path).name).lower(), SORT_ROLE)
        file_item.setData(row, ROW_ROLE)
        if row.error:
            cls = QStandardItem("—")
            cls.setData("", SORT_ROLE)
            conf = QStandardItem("")
            conf.setData(-1.0, SORT_ROLE)
            runner = QStandardItem("")
            runner.setData("", SORT_ROLE)
            problem = QStandardItem(row.error)
            problem.setToolTip(row.error)
        else:
            cls = QStandardItem(row.label)
            cls.setData(row.label, SORT_ROLE)
            conf = QStandardItem(format_confidence(row.confidence))
            conf.setData(row.confidence, SORT_ROLE)
            conf.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            runner = QStandardItem(f"{row.runner_up} ({format_confidence(row.runner_up_confidence)})"
                                   if row.runner_up else "")
            runner.setData(row.runner_up or "", SORT_ROLE)
            problem = QStandardItem("")
        problem.setData(row.error or "", SORT_ROLE)
        model = QStandardItem(short_kind(row.model_kind) if row.model_kind else "")
        model.setData(row.model_kind, SORT_ROLE)
        model.setToolTip(row.model_name)
        items = [thumb, file_item, cls, conf, runner, model, problem]
        for item in items:
            item.setData(row.label or "", CLASS_ROLE)
        self._style_row(items, row)
        return items

    def cell_note(self, row: BatchRow) -> str:
        """The Note column: the My photos mark, "out of date", then the verdict's note."""
        parts = [kept_note(row), STALE_NOTE if self.is_stale(row) else "", row.note(self._threshold)]
        return " · ".join(part for part in parts if part)

    def _style_row(self, items, row: BatchRow) -> None:
        note = items[COL_PROBLEM]
        note.setText(self.cell_note(row))
        tips = [row.error or ""]
        if row.error is None and row.threshold is not None and self._threshold is None:
            tips.append(f"Not sure below {format_confidence(row.threshold)}: the own level of "
                        f"{row.model_name or short_kind(row.model_kind)}, which answered it.")
        if self.is_stale(row):
            tips.append("Answered by a model that is no longer active; it is being classified again.")
        note.setToolTip("\n".join(t for t in tips if t))
        font = QFont(note.font())
        font.setBold(row.kept_as is not None)  # a kept (corrected) row stands out
        note.setFont(font)
        stale = self.is_stale(row)
        for item in items:
            item.setData(QBrush(STALE_COLOUR) if stale else None, Qt.ItemDataRole.ForegroundRole)

    def _restyle(self) -> None:
        for r in range(self.model.rowCount()):
            row = self.model.item(r, COL_FILE).data(ROW_ROLE)
            self._style_row([self.model.item(r, c) for c in range(len(HEADERS))], row)

    def set_threshold(self, threshold: float | None) -> None:
        """The user's override, or None: each row with its own model's threshold."""
        self._threshold = threshold
        self.proxy.set_threshold(threshold)
        self._restyle()

    def update_count(self) -> None:
        total = self.model.rowCount()
        errors = sum(1 for r in self.rows() if r.error)
        shown = self.proxy.rowCount()
        text = count_noun(total, "image")
        if errors:
            text += f", {errors} unreadable"
        if shown != total:
            text += f" — showing {shown}"
        self.count_label.setText(text)

    def show_progress(self, progress, offset: int) -> None:
        """The classify job's progress (core.jobs Progress); `offset`: the rows listed before this
        batch (the bar counts the whole list)."""
        if progress.total is None:
            self.progress.setRange(0, 0)
            self.count_label.setText(progress.message)
            return
        self.progress.setRange(0, max(1, offset + progress.total))
        self.progress.setValue(offset + (progress.done or 0))

    def show_done(self, classified: int, offset: int) -> None:
        self.progress.setRange(0, max(1, offset + classified))
        self.progress.setValue(max(1, offset + classified))

    def _on_filter_changed(self, mode: str) -> None:
        self.proxy.set_mode(mode)
        self.update_count()

    def _on_row_activated(self, index: QModelIndex) -> None:
        row: BatchRow = self.proxy.index(index.row(), COL_FILE).data(ROW_ROLE)
        if row is not None:
            self.rowActivated.emit(row.path)

    def row_at(self, proxy_row: int) -> BatchRow | None:
        return self.proxy.index(proxy_row, COL_FILE).data(ROW_ROLE)

    def make_row_menu(self, row: BatchRow) -> QMenu:
        """A row's context menu: see how the model saw it, Confirm its class, Correct… (the ten
        classes and "None of the ten"): the last two keep the photo in My photos."""
        menu = QMenu(self)
        menu.setObjectName("rowMenu")
        show = menu.addAction("Show how the model saw it")
        show.triggered.connect(lambda _checked=False, p=row.path: self.rowActivated.emit(p))
        if row.error is None:
            index = confirm_index(row.verdict(self._threshold), row.index)
            if row.kept_as is not None:  # offering "Confirm <the old guess>" would undo a correction
                confirm = menu.addAction(f"Kept as “{label_name(row.kept_as)}”")
                confirm.setEnabled(False)
            else:
                confirm = menu.addAction(f"Confirm “{label_name(index)}”")
            confirm.setObjectName("confirmRowAction")
            confirm.triggered.connect(lambda _checked=False, p=row.path, i=index: self.keepRequested.emit(p, i))
            correct = menu.addMenu("Correct…")
            correct.setObjectName("correctRowMenu")
            add_correct_actions(correct, lambda index, p=row.path: self.keepRequested.emit(p, index))
        return menu

    def _show_row_menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return
        self.table.selectRow(index.row())
        self.row_menu = self.make_row_menu(row)
        self.row_menu.popup(self.table.viewport().mapToGlobal(pos))  # not exec(): never blocks the page

    # ----------------------------------------------------------------- CSV

    def csv_text(self) -> str:
        """The visible rows (in their current order) as CSV."""
        out = io.StringIO()
        # csv_row: a cell starting with = + - @ is not run by a spreadsheet, and a file name that
        # is not valid UTF-8 is written with \xNN escapes (it made the export crash).
        writer = csv.writer(out)
        # not_sure and not_one_of_the_ten: the two kinds of doubt, apart (the second is not "not
        # sure"); p_none: the photo model's "none of these" output, beside the ten; model: which
        # kind answered, as the Model column says it; model_name: the library name of the model
        # that answered; not_sure_below: the level the row was judged with; kept_as: My photos' class.
        writer.writerow(["file", "top_class", "confidence", "runner_up", "runner_up_confidence", "not_sure",
                         "not_one_of_the_ten", "verdict", "error", *[f"p_{name}" for name in CLASS_NAMES], "p_none",
                         "model", "model_name", "not_sure_below", "kept_as"])
        for row in self.rows(visible_only=True):
            if self.is_stale(row):
                continue  # never a previous model's answer (the page refuses to export before then)
            kept = "" if row.kept_as is None else label_name(row.kept_as)
            if row.error:
                writer.writerow(csv_row([row.path, "", "", "", "", "", "", "", row.error, *[""] * len(CLASS_NAMES), "",
                                         "", "", "", kept]))
                continue
            verdict = row.verdict(self._threshold)
            level = self._threshold if self._threshold is not None else row.threshold
            writer.writerow(csv_row([
                row.path, row.label, f"{row.confidence:.4f}", row.runner_up or "", f"{row.runner_up_confidence:.4f}",
                "yes" if verdict.not_sure and not verdict.out_of_scope else "no", "yes" if verdict.out_of_scope else "no",
                verdict.describe(), "", *[f"{p:.4f}" for p in row.probabilities],
                "" if row.none_probability is None else f"{row.none_probability:.4f}",
                KIND_NAMES.get(row.model_kind, row.model_kind), row.model_name,
                "" if level is None else f"{level:.4f}", kept]))
        return out.getvalue()


def added_message(total: int, skipped: int) -> tuple[str, bool] | None:
    """What a finished batch says (text, is it an error), when anything: `total` photos classified
    now, `skipped` already in the list."""
    if total == 0 and skipped:
        return f"{'That photo is' if skipped == 1 else f'All {skipped} photos are'} already in the list.", False
    if total == 0:
        return f"No images found there ({PHOTO_FORMATS_TEXT.replace(', TIFF', ' or TIFF')} files).", True
    if skipped:
        return (f"Added {total} {'photo' if total == 1 else 'photos'}; "
                f"{skipped} {'was' if skipped == 1 else 'were'} already in the list.", False)
    return None
