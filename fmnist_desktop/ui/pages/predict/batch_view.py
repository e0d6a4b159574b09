"""The Predict page's table for many images: progress, Cancel, Clear list, a class / "Not sure" /
unreadable filter, sorting, and the CSV export of the rows shown.

Each row shows the verdict its Prediction carries (decided once, by the Predictor, with the
threshold of the model that classified it: the verdict `fmnist predict` prints). When the user
sets their own threshold on the page, the same rule (`core.base.verdict.decide`) is applied to
the row's stored probabilities."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QModelIndex, QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ....core.base.formats import PHOTO_FORMATS_TEXT
from ....core.base.labels import CLASS_NAMES
from ....core.base.output_safety import csv_row
from ....core.base.verdict import DEFAULT_THRESHOLD, Verdict, decide, format_confidence
from ...widgets.images import thumbnail_qimage
from ...widgets.model_answer import short_kind

NOT_SURE_NOTE = "not sure"  # the Note column of a row below the threshold
OUT_OF_SCOPE_NOTE = "may not be one of the ten classes"  # only when the model says so (out_of_scope)

# Table columns
COL_THUMB, COL_FILE, COL_CLASS, COL_CONF, COL_RUNNER, COL_MODEL, COL_PROBLEM = range(7)
HEADERS = ("", "File", "Top class", "Confidence", "Runner-up", "Model", "Note")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
CLASS_ROLE = Qt.ItemDataRole.UserRole + 2  # the row's top class, or "" for unreadable files
ROW_ROLE = Qt.ItemDataRole.UserRole + 3  # the BatchRow object, on the File column

FILTER_ALL = "All images"
FILTER_UNSURE = "Not sure"
FILTER_ERRORS = "Unreadable files"


@dataclass
class BatchRow:
    path: str
    label: str | None
    index: int | None
    confidence: float
    runner_up: str | None
    runner_up_confidence: float
    probabilities: tuple[float, ...]
    error: str | None
    thumbnail: QImage | None
    display: str = ""  # the name shown: relative to the dropped folder (keeps the sub-folder)
    out_of_scope_threshold: float | None = None  # the model's "may not be one of the ten" level
    decided: Verdict | None = None  # the verdict the Predictor decided (Prediction.verdict)
    model_kind: str = ""  # which model answered: "photo" or "fmnist" ("" for an unreadable file)
    model_name: str = ""
    none_probability: float | None = None  # the photo model's "none of these" output

    def verdict(self, threshold: float | None = None) -> Verdict | None:
        """The row's verdict (None for an unreadable file): the Predictor's, or with the user's
        own `threshold` the same rule (`core.base.verdict.decide`) on the stored probabilities."""
        if self.error is not None:
            return None
        if threshold is None and self.decided is not None:
            return self.decided
        return decide(self.probabilities, DEFAULT_THRESHOLD if threshold is None else threshold,
                      self.out_of_scope_threshold, self.none_probability)

    def not_sure(self, threshold: float | None = None) -> bool:
        """A readable image whose verdict is "not sure" (core.base.verdict, as the CLI decides)."""
        verdict = self.verdict(threshold)
        return verdict is not None and verdict.not_sure

    def note(self, threshold: float | None = None) -> str:
        """The Note column: the error, "not sure", "may not be one of the ten classes", or ""."""
        if self.error is not None:
            return self.error
        verdict = self.verdict(threshold)
        if verdict.out_of_scope:
            return OUT_OF_SCOPE_NOTE
        return NOT_SURE_NOTE if verdict.not_sure else ""


def batch_row(prediction, path: str, display: str = "", model_names: dict[str, str] | None = None) -> BatchRow:
    """A table row from a Prediction (worker thread): thumbnail made here, heavy images dropped."""
    error = getattr(prediction, "error", None)
    thumbnail = None
    steps = getattr(prediction, "steps", None)
    source_image = getattr(prediction, "thumbnail", None)
    if source_image is None and steps is not None:
        source_image = getattr(steps, "original", None)
    if source_image is None:
        source_image = getattr(prediction, "model_input", None)
    if source_image is not None:
        try:
            thumbnail = thumbnail_qimage(source_image, 40)
        except (OSError, ValueError):
            thumbnail = None
    display = display or Path(path).name
    if error:
        return BatchRow(path, None, None, 0.0, None, 0.0, (), str(error), thumbnail, display)
    top_k = list(getattr(prediction, "top_k", []) or [])
    runner_up, runner_conf = (top_k[1] if len(top_k) > 1 else (None, 0.0))
    return BatchRow(
        path,
        prediction.label,
        prediction.index,
        float(prediction.confidence),
        runner_up,
        float(runner_conf),
        tuple(float(p) for p in prediction.probabilities),
        None,
        thumbnail,
        display,
        prediction.out_of_scope_threshold,
        prediction.verdict,
        getattr(prediction, "model_kind", ""),
        (model_names or {}).get(getattr(prediction, "model_kind", "")) or getattr(prediction, "model_name", ""),
        getattr(prediction, "none_probability", None),
    )


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
    """The table. `rowActivated(path)` when a row is double-clicked."""

    rowActivated = Signal(str)

    def __init__(self, threshold: float | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("batchView")
        self._threshold = threshold
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
        self.export_button = QPushButton("Export CSV…", self)
        self.export_button.setObjectName("exportCsvButton")
        row2.addWidget(self.export_button)
        layout.addLayout(row2)

        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.proxy = _ClassFilterProxy(threshold, self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(self)
        self.table.setObjectName("resultsTable")
        self.table.setAccessibleName("Prediction results")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
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
        self.table.setToolTip("Double-click a row to see how the model saw that image")
        layout.addWidget(self.table, 1)

    # ----------------------------------------------------------------- rows

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

    def _style_row(self, items, row: BatchRow) -> None:
        items[COL_PROBLEM].setText(row.note(self._threshold))

    def set_threshold(self, threshold: float | None) -> None:
        """The user's override, or None: each row with its own model's threshold."""
        self._threshold = threshold
        self.proxy.set_threshold(threshold)
        for r in range(self.model.rowCount()):
            row = self.model.item(r, COL_FILE).data(ROW_ROLE)
            self._style_row([self.model.item(r, c) for c in range(len(HEADERS))], row)

    def update_count(self) -> None:
        total = self.model.rowCount()
        errors = sum(1 for r in self.rows() if r.error)
        shown = self.proxy.rowCount()
        text = f"{total} images"
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

    # ----------------------------------------------------------------- CSV

    def csv_text(self) -> str:
        """The visible rows (in their current order) as CSV."""
        out = io.StringIO()
        # csv_row: a cell starting with = + - @ is not run by a spreadsheet, and a file name that
        # is not valid UTF-8 is written with \xNN escapes (it made the export crash).
        writer = csv.writer(out)
        writer.writerow(["file", "top_class", "confidence", "runner_up", "runner_up_confidence", "not_sure",
                         "verdict", "error", *[f"p_{name}" for name in CLASS_NAMES], "model", "p_none"])
        for row in self.rows(visible_only=True):
            if row.error:
                writer.writerow(csv_row([row.path, "", "", "", "", "", "", row.error, *[""] * len(CLASS_NAMES), "", ""]))
            else:
                verdict = row.verdict(self._threshold)
                writer.writerow(csv_row([row.path, row.label, f"{row.confidence:.4f}", row.runner_up or "",
                                         f"{row.runner_up_confidence:.4f}", "yes" if verdict.not_sure else "no",
                                         verdict.describe(), "", *[f"{p:.4f}" for p in row.probabilities],
                                         row.model_kind,
                                         "" if row.none_probability is None else f"{row.none_probability:.4f}"]))
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
