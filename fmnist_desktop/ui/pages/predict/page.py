"""Predict page: classify one photo (showing every preparation step) or many (a sortable table).

Input: drag and drop (files, folders, raw images), Open images… (Ctrl+O), Open folder…, paste
(Ctrl+V), "Try a sample". While the list is on screen, new files are *added* to it; otherwise one
file opens the detailed view and several start a new list. A message belongs to the action that
caused it: every new action clears it.

Each result shows the verdict its Prediction carries (decided once by the Predictor with the
answering model's own threshold, which the spin box shows: for the list, the level(s) its rows
were judged with); changing the spin box overrides it for this session (not saved): the views
re-apply `core.base.verdict`'s rule to the stored probabilities.

When the active model of either kind changes, the shown photo is classified again, and so is the
list (`list_tasks`: at once up to AUTO_RECLASSIFY_MAX rows, a longer one by "Classify again"). The
list's teaching bar and a row's context menu keep photos in My photos (Confirm, Correct…).

The page routes input to its two views (`SingleView`, `BatchView`); all model work is a task of
`self.tasks` ("classify": one photo, the list's in `ListTasks`; "photos": counting My photos;
"explain": the heat map), the Predictor is loaded once per active model, in the worker; torch-based
core modules are imported lazily, inside the task functions.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ....core.base import paths
from ....core.base.errors import FmnistError
from ....core.base.formats import PHOTO_FORMATS_TEXT, count_noun
from ....core.base.labels import CLASS_NAMES
from ....core.base.verdict import threshold_of
from ...context import AppContext
from ...tasks import TaskGroup
from ...widgets.banner import MessageLabel
from ...widgets.drop_zone import DropZone
from .batch_view import BatchView
from .heat_map import HeatMap
from .list_tasks import ListTasks
from .predictors import PredictorCache, single_task
from .single_view import SingleResult, SingleView
from .teaching import MyPhotosLink
from .threshold_box import ThresholdBox, source_words
from .toolbar import InputBar

CLASSES_TEXT = "It knows ten kinds of clothing: " + ", ".join(CLASS_NAMES) + "."
DROP_TEXT = (f"Drop clothing photos or folders here\n\n{CLASSES_TEXT}\n\n"
             f"({PHOTO_FORMATS_TEXT} — or use Open, Paste, Try a sample)")
DROP_MORE_TEXT = "Drop more photos or folders here to add them to the list"
DROP_ANOTHER_TEXT = "Drop another photo, or several photos or a folder to start a list"
VIEW_EMPTY, VIEW_SINGLE, VIEW_BATCH = range(3)
AUTO_RECLASSIFY_MAX = 500  # a longer list waits for "Classify again" after the active model changed


class PredictPage(QWidget):
    finetuneRequested = Signal()
    predictionShown = Signal(object)  # SingleResult, when a single image's result is on screen
    batchFinished = Signal(int)  # number of rows in the table
    myPhotosChanged = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("predictPage")
        self.context = context
        self.tasks = TaskGroup(self, "classify", "photos", "explain")
        self.runner = self.tasks["classify"]
        self.predictors = PredictorCache()
        self._pending: tuple[str, object] | None = None  # input that arrived before torch was ready
        self._redo_single = False  # the active model changed while a single photo was classified
        self._single: SingleResult | None = None
        self._single_from_list = False  # the detailed view shows a row of the list
        self._kept_as: int | None = None  # the class the shown photo was kept in My photos as
        self._last_single_input: tuple[str, object] | None = None
        self.teaching = MyPhotosLink(context, self.tasks["photos"], self)  # My photos: count, keep, dialog
        self.teaching.counted.connect(self._update_enabled)
        self.teaching.changed.connect(self.myPhotosChanged.emit)
        self.teaching.message.connect(self.show_banner)
        self.setAcceptDrops(True)
        self._build()
        self.heat_map = HeatMap(self.single, self.tasks["explain"], lambda: [e.path for e in context.active_entries()], self)
        self.list_tasks = ListTasks(context, self.runner, self.batch, self.predictors, self)  # the list's tasks
        self.list_tasks.message.connect(self.show_banner)
        self.list_tasks.started.connect(self._update_enabled)
        self.list_tasks.showList.connect(self._on_show_list)
        self.list_tasks.settled.connect(self._on_list_settled)
        self.batch.refreshRequested.connect(self.list_tasks.reclassify_stale)
        context.torchReady.connect(self._on_torch_ready)
        context.activeModelChanged.connect(self._on_active_model_changed)
        self.myPhotosChanged.connect(self.teaching.recount)  # counted again, in a worker
        self._update_enabled()

    # ================================================================= layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 8)
        outer.setSpacing(8)

        bar = QHBoxLayout()
        self.input_bar = InputBar(self, self.context.settings)
        self.input_bar.pathsChosen.connect(self.predict_paths)
        self.input_bar.pasteRequested.connect(self.paste_from_clipboard)
        self.input_bar.sampleRequested.connect(self.try_sample)
        for name in ("open_files_button", "open_folder_button", "paste_button", "sample_button", "open_images_action",
                     "paste_action"):
            setattr(self, name, getattr(self.input_bar, name))
        self.input_bar.add_to(bar)
        bar.addStretch(1)
        self.threshold_box = ThresholdBox(self)
        self.threshold_box.changed.connect(self._apply_threshold)
        # The box's parts, as tests and the accessibility tree know them.
        self.threshold_spin = self.threshold_box.spin
        self.threshold_source = self.threshold_box.source
        self.threshold_reset = self.threshold_box.reset_button
        self.threshold_box.add_to(bar)
        outer.addLayout(bar)

        # One reserved line: a message (e.g. "Saved to My photos") never moves the buttons under the pointer.
        self.banner = MessageLabel("predictBanner", self, reserve_lines=1)
        outer.addWidget(self.banner)

        self.drop_zone = DropZone(DROP_TEXT, self)
        self.drop_zone.pathsDropped.connect(self.predict_paths)
        self.drop_zone.imageDropped.connect(self.predict_qimage)
        outer.addWidget(self.drop_zone)

        self.single = SingleView(self)
        self.single.backRequested.connect(self.back_to_list)
        self.single.confirmRequested.connect(self.confirm_current)
        self.single.correctRequested.connect(self.correct_current)
        self.single.myPhotosRequested.connect(self.show_my_photos)
        self.single.finetuneRequested.connect(self.finetuneRequested.emit)
        self.batch = BatchView(None, self)  # rows use their own model's threshold unless overridden
        self.batch.cancel_button.clicked.connect(self.cancel)
        self.batch.clear_button.clicked.connect(self.clear_list)
        self.batch.export_button.clicked.connect(self.export)
        self.batch.rowActivated.connect(self._on_row_activated)
        self.batch.keepRequested.connect(self.keep_row)
        self.batch.teach_bar.myPhotosRequested.connect(self.show_my_photos)
        self.batch.teach_bar.finetuneRequested.connect(self.finetuneRequested.emit)
        # The page's widgets, as scripts and tests know them.
        for name in ("panels", "bars", "file_label", "verdict_label", "guess_label", "notes_label", "back_button",
                     "confirm_button", "correct_button", "my_photos_label", "my_photos_button", "finetune_button"):
            setattr(self, name, getattr(self.single, name))
        for name in ("progress", "cancel_button", "clear_button", "filter_combo", "count_label", "export_button", "model", "proxy",
                     "table", "refresh_button"):
            setattr(self, name, getattr(self.batch, name))

        self.stack = QStackedWidget(self)
        self.stack.addWidget(QWidget(self))  # VIEW_EMPTY: nothing yet — the drop zone fills the page
        self.stack.addWidget(self.single)
        self.stack.addWidget(self.batch)
        outer.addWidget(self.stack, 1)
        self._show_view(VIEW_EMPTY)

    # ================================================================= the not-sure threshold
    def threshold(self) -> float:
        """The threshold in use: the user's for this session, else the active model's own."""
        return self.threshold_box.threshold()

    def model_threshold(self) -> float:
        return self.threshold_box.model_threshold()

    def is_threshold_overridden(self) -> bool:
        return self.threshold_box.override() is not None

    def reset_threshold(self) -> None:
        self.threshold_box.reset()

    def _load_model_threshold(self) -> None:
        """The own threshold of the model that answered the shown photo (Prediction.threshold);
        for the list, the level(s) its rows were judged with (each row's model's own: the photo
        model's and the 28×28 network's differ, and the box says so); with nothing shown, the
        primary active model's (the photo model when there is one)."""
        prediction = getattr(self._single, "prediction", None)
        view = self.stack.currentIndex()
        levels = self.batch.thresholds() if view == VIEW_BATCH else []
        entries = self.context.active_entries() or [self.context.active_entry()]
        if prediction is not None and not getattr(prediction, "error", None) and view == VIEW_SINGLE:
            answered = [e for e in entries if getattr(e, "kind", None) == getattr(prediction, "model_kind", None)]
            self.threshold_box.set_model_threshold(prediction.threshold, source_words(answered or entries))
        elif levels:
            self.threshold_box.set_list_levels(levels)
        else:
            self.threshold_box.set_model_threshold(threshold_of(getattr(entries[0], "meta", None)), source_words(entries))

    # ================================================================= state helpers
    def _show_view(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        empty = index == VIEW_EMPTY
        # Big drop target while nothing is shown; a slim strip (still a drop target) otherwise.
        self.drop_zone.setMinimumHeight(260 if empty else 0)
        self.drop_zone.setMaximumHeight(16777215 if empty else 44)
        self.drop_zone.setText(DROP_TEXT if empty else DROP_MORE_TEXT if self.in_list_mode() else DROP_ANOTHER_TEXT)
        self.stack.setVisible(not empty)
        # While empty the drop target takes the page (the toolbar stays at the top).
        self.layout().setStretchFactor(self.drop_zone, 1 if empty else 0)
        self.back_button.setVisible(index == VIEW_SINGLE and self._single_from_list and self.model.rowCount() > 0)

    def in_list_mode(self) -> bool:
        """True while the list, or one of its rows, is on screen: new files are added to the list."""
        index = self.stack.currentIndex()
        return index == VIEW_BATCH or (index == VIEW_SINGLE and self._single_from_list and self.model.rowCount() > 0)

    @Slot()
    def back_to_list(self) -> None:
        self.show_banner("")
        self._show_view(VIEW_BATCH)
        self._load_model_threshold()  # the levels the rows were judged with

    @Slot()
    def clear_list(self) -> None:
        """Empty the list (cancelling its classification); the next photos start a new one."""
        self.list_tasks.queue.clear()
        self.runner.cancel()
        self.batch.clear()
        self.show_banner("")
        self._single_from_list = False
        self._show_view(VIEW_EMPTY)
        self._update_enabled()

    def show_banner(self, text: str, error: bool = True) -> None:
        self.banner.show_message(text, error)

    def _update_enabled(self) -> None:
        """Enable what can be used now. Cheap: no folder is walked here (the samples are listed
        once, My photos are counted by a task when they change)."""
        ready = self.context.is_torch_ready() and bool(self.context.active_entries())
        busy = self.runner.is_running()
        self.cancel_button.setEnabled(busy)
        # "Classify again": rows are out of date and nothing is classifying them now.
        self.refresh_button.setVisible(ready and not self.list_tasks.reclassifying_now()
                                       and bool(self.batch.stale_paths()))
        self.input_bar.update_sample_button()
        self.clear_button.setEnabled(self.model.rowCount() > 0)
        photos = dict(ready=ready, busy=busy, photo_count=self.teaching.count, readiness=self.teaching.readiness)
        self.single.update_actions(store_ready=self.context.is_torch_ready(), result=self._single,
                                   kept_as=self._kept_as, **photos)
        self.batch.teach_bar.update_state(**photos)  # the list's Confirm, Correct…, Fine-tune (N kept)

    def my_photos_count(self) -> int:  # as last counted (0 until the first count is in)
        return self.teaching.count or 0

    @Slot()
    def _on_torch_ready(self) -> None:
        self.list_tasks.follow_active_models()
        self._load_model_threshold()
        self.teaching.recount()
        self._update_enabled()
        if self._pending is not None:
            kind, payload = self._pending
            self._pending = None
            self._dispatch(kind, payload)

    @Slot(object)
    def _on_active_model_changed(self, _entry) -> None:
        self.list_tasks.active_models_changed()  # the list's rows answered by the previous ones are out of date
        self._load_model_threshold()  # a user's override holds for the session
        self._update_enabled()
        # Show the shown photo through the new model's eyes: now, or as soon as the task that
        # is still winding down has finished (its result may be shown already). The list
        # follows when that is done (`_after_task`).
        if self._last_single_input is not None and self.stack.currentIndex() == VIEW_SINGLE:
            if not self.runner.is_running():
                self._dispatch(*self._last_single_input)
            else:
                self._redo_single = True
        elif not self.runner.is_running():
            self._after_task()

    # ================================================================= busy protocol
    def is_busy(self) -> bool:
        return self.runner.is_running()

    def busy_description(self) -> str:
        return self.runner.description() or "Classifying images"

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        return self.tasks.shutdown(timeout_ms)

    @Slot()
    def cancel(self) -> None:
        self.list_tasks.user_cancels()
        self.runner.cancel()

    # ================================================================= inputs
    @Slot()
    def open_files_dialog(self) -> None:
        self.input_bar.open_files_dialog()

    @Slot()
    def open_folder_dialog(self) -> None:
        self.input_bar.open_folder_dialog()

    @Slot()
    def paste_from_clipboard(self) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime is None or not self.drop_zone.handle_mime(mime):
            self.show_banner("The clipboard holds no image or image file to classify.")

    def sample_paths(self) -> list[Path]:
        """The example photos shipped with the app (listed once)."""
        return self.input_bar.sample_paths()

    @Slot()
    def try_sample(self) -> None:
        sample = self.input_bar.next_sample()
        if sample is None:
            self.show_banner("No sample images are installed with this copy of the app.")
            return
        self._dispatch("single-path", str(sample))  # a sample is shown, never added to the user's list

    def dragEnterEvent(self, event) -> None:  # the whole page is a drop target
        if DropZone.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        if self.drop_zone.handle_mime(event.mimeData()):
            event.acceptProposedAction()

    @Slot(list)
    def predict_paths(self, items: list) -> None:
        """Classify files and folders: added to the list while it is on screen; otherwise one file
        → the detailed view, several → a new list."""
        items = [str(p) for p in items if str(p)]
        if not items:
            return
        if self.in_list_mode():
            self._dispatch("batch-add", items)
        elif len(items) == 1 and not Path(items[0]).is_dir():
            self._dispatch("single-path", items[0])
        else:
            self._dispatch("batch", items)

    @Slot(QImage)
    def predict_qimage(self, image: QImage) -> None:
        """Classify an image that came as pixels (clipboard, dragged from a browser)."""
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        self._dispatch("single-bytes", bytes(buffer.data()))

    def _dispatch(self, kind: str, payload) -> None:
        if not self.context.is_torch_ready():
            if self.context.import_error():
                self.show_banner(f"Cannot classify: {self.context.import_error()}")
                return
            self._pending = (kind, payload)
            self.show_banner("Loading the model engine… your images will be classified as soon as it is ready.",
                             error=False)
            return
        entry = self.context.active_entries()  # both kinds: each image meets the model it suits
        if not entry:
            self.show_banner("No model is active. Train one or open one on the Models page.")
            return
        self.show_banner("")  # a message belongs to the action that caused it
        if kind in ("batch", "batch-add"):
            self.list_tasks.start(entry, payload, add=kind == "batch-add")
        else:
            self._single_from_list = kind == "list-row"
            self._last_single_input = (kind, payload)  # shown again through a new active model's eyes
            self._start_single(entry, "single-path" if kind == "list-row" else kind, payload)

    def _on_single_finished(self) -> None:
        self._update_enabled()
        if self._redo_single and self._last_single_input is not None:
            self._redo_single = False  # the active model changed while this photo was classified
            if self.stack.currentIndex() == VIEW_SINGLE:
                self._dispatch(*self._last_single_input)
                return
        self._after_task()

    def _after_task(self) -> None:
        """Nothing is running: the list's out-of-date rows are classified again unasked when it is
        short enough (otherwise "Classify again" is shown by `_update_enabled`)."""
        self.list_tasks.after_task(AUTO_RECLASSIFY_MAX)

    def _on_show_list(self, starting: bool) -> None:
        if starting:
            self._single_from_list = False
        self._show_view(VIEW_BATCH)

    # ================================================================= starting the tasks (predictors.py)
    def _start_single(self, entry, kind: str, payload) -> None:
        self.list_tasks.stop()  # starting this task cancels a list being classified (or classified again)
        name = Path(payload).name if kind == "single-path" else "pasted image"
        self.runner.start(
            single_task(self.predictors, entry, kind, payload),
            on_result=self._show_single,
            on_error=lambda message: self.show_banner(message),
            on_finished=self._on_single_finished,
            description=f"Classifying {name}",
        )
        self._update_enabled()

    # ================================================================= results (GUI thread)
    def _show_single(self, result: SingleResult) -> None:
        self._single, self._kept_as = result, None
        self._show_view(VIEW_SINGLE)
        self._load_model_threshold()  # the spin box shows the level of the model that answered
        # An unreadable file's reason is shown once, in the view (not again in the banner).
        self.single.show_result(result, self.threshold_box.override())
        self.heat_map.show_for(result)
        self._update_enabled()
        self.predictionShown.emit(result)

    def verdict_text(self) -> str:
        return self.verdict_label.text()

    def _on_list_settled(self) -> None:  # a list task finished, nothing queued
        self.batch.update_count()
        if self.model.rowCount() == 0 and self.stack.currentIndex() == VIEW_BATCH:
            self._show_view(VIEW_EMPTY)  # nothing to list: the big drop target again
        self._load_model_threshold()  # the levels the rows were judged with
        self._update_enabled()
        self.table.resizeColumnToContents(2)
        self._after_task()  # rows answered by a model that stopped being active meanwhile
        if not self.runner.is_running():
            self.batchFinished.emit(self.model.rowCount())

    def _apply_threshold(self, override: float | None) -> None:
        # Each result keeps the verdict its Prediction carries, unless the user set a threshold.
        self.batch.set_threshold(override)
        if self._single is not None and not getattr(self._single.prediction, "error", None):
            self.single.render_verdict(self._single, override)

    def _on_row_activated(self, path: str) -> None:
        if not self.runner.is_running():
            self._dispatch("list-row", path)

    # ================================================================= table access + export
    def rows(self, visible_only: bool = False) -> list:
        """The batch rows in table order (sorted/filtered when `visible_only`)."""
        return self.batch.rows(visible_only)

    def export(self) -> None:
        """File ▸ Export… on this page: the table as CSV (the rows currently shown)."""
        if self.model.rowCount() == 0:
            self.show_banner("Nothing to export yet: classify a folder or several images first.")
            return
        start = str(Path(self.input_bar.last_dir()) / "predictions.csv")
        target, _ = QFileDialog.getSaveFileName(self, "Export predictions as CSV", start, "CSV files (*.csv)")
        if target:
            self.export_csv(target)

    def export_csv(self, target: str | Path) -> bool:
        """Write the visible rows (in their current order) as CSV, atomically; refused while any
        of them is still a previous model's answer."""
        refusal = self.list_tasks.export_refusal({row.path for row in self.rows(visible_only=True)})
        if refusal:
            self.show_banner(refusal)
            return False
        try:
            paths.atomic_write_text(target, self.batch.csv_text())
        except FmnistError as exc:
            self.show_banner(str(exc))
            return False
        self.show_banner(f"Saved {count_noun(self.proxy.rowCount(), 'row')} to {target}.", error=False)
        return True

    # ================================================================= teaching (core.store.user_photos)
    @Slot()
    def confirm_current(self) -> None:
        if self._single is not None:
            self._store_example(self.single.confirm_index(self._single))

    def correct_current(self, class_index: int) -> None:
        self._store_example(class_index)

    def _store_example(self, class_index: int) -> None:
        if not self.context.is_torch_ready() or self._single is None:
            return
        if not self.teaching.keep_and_say(self._single.source, class_index):
            return
        self._kept_as = class_index
        if isinstance(self._single.source, str):
            self.batch.mark_kept(self._single.source, class_index)  # its row in the list, if listed
        self._update_enabled()
        self.myPhotosChanged.emit()

    @Slot(str, int)
    def keep_row(self, path: str, class_index: int) -> None:
        """A row's context menu: keep its photo in My photos as `class_index` and mark the row."""
        if self.context.is_torch_ready() and self.teaching.keep_and_say(path, class_index, Path(path).name):
            self.batch.mark_kept(path, class_index)
            self.myPhotosChanged.emit()

    @Slot()
    def show_my_photos(self) -> None:
        self.teaching.open_dialog(self)  # or, while the engine loads, says it is not ready yet
