"""Models page: the shipped default model and every run the user trained.

A table of `ModelLibrary.entries()` (date, preset, epochs, test accuracy, real photos right,
training time, device),
the selected run's loss/accuracy history (`charts.TrainingCharts`, created lazily because
matplotlib is slow to import), and Make active / Rename / Delete / Export as .pt / Open model.
The File menu's Open model…, Import origin-notebook .pth… and Save model as… call the same methods.
Reading and validating model files runs in a worker; a foreign or damaged file shows the core's
one-line message.

"Real photos" is each model measured on the same real photos (`core.predict.photo_score`: the user's
kept-out photos when there are enough, else the samples shipped with the app), in a task; making a
model active that does worse there than the previous one says so. Messages take a reserved line
(a late one never moves the table under the pointer), and the table is updated in place, so the
selection and the chart stay put through Make active and Rename.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...core.base import paths
from ...core.base.errors import FmnistError
from ...core.base.formats import format_span
from ..context import AppContext
from ..settings_keys import MODELS_LAST_DIR as SETTINGS_LAST_DIR
from ..tasks import TaskGroup
from ..widgets.banner import MessageLabel, make_button
from ..widgets.dialogs import ask_yes_no
from ..widgets import model_facts
HEADERS = ("Name", "Kind", "Created", "Preset", "Epochs", "Test accuracy", "Real photos", "Training time", "Size",
           "Device")
(COL_NAME, COL_KIND, COL_DATE, COL_PRESET, COL_EPOCHS, COL_ACC, COL_PHOTOS, COL_TIME, COL_SIZE,
 COL_DEVICE) = range(len(HEADERS))
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
MODEL_FILTER = "Model files (*.pt *.pth);;All files (*)"
# Export… file types → core.jobs.export formats ("checkpoint": the app's own file).
EXPORT_FILTERS = {
    "App model file (*.pt)": "checkpoint",
    "ONNX, for onnxruntime (*.onnx)": "onnx",
    "TorchScript, for torch.jit.load (*.ts.pt)": "torchscript",
}
EXPORT_SUFFIXES = {"checkpoint": ".pt", "onnx": ".onnx", "torchscript": ".ts.pt"}


class ModelsPage(QWidget):
    modelImported = Signal(object)  # the new ModelEntry
    modelExported = Signal(str)  # the written path

    def __init__(self, context: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("modelsPage")
        self.context = context
        self.tasks = TaskGroup(self, "files", "serve", "photo-scores")
        self.runner = self.tasks["files"]
        self.chart = None  # TrainingCharts, created after torchReady (matplotlib is slow to import)
        self._charted: tuple | None = None  # what the chart shows now (entry id, history), to skip redraws
        self._photo_set = None  # core.predict.photo_score.PhotoSet the models are measured on
        self._photo_scores: dict[tuple, object] = {}  # (model file key, photo set key) -> PhotoScore
        self._comparison: tuple | None = None  # (previous entry, new entry) of the last Make active
        self.photo_scores_measured = 0  # scores that arrived from the task (tests wait for them)
        self._build()
        context.torchReady.connect(self._on_torch_ready)
        context.modelsChanged.connect(self.refresh)
        context.activeModelChanged.connect(lambda _entry: self.refresh())
        self._update_buttons()

    # ----------------------------------------------------------------- layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 8)
        title = QLabel("Your models: those shipped with the app and every run you trained. One of each kind is "
                       "active: the photo model answers photos, the 28×28 network Fashion-MNIST-style images.", self)
        title.setWordWrap(True)
        outer.addWidget(title)

        buttons = QHBoxLayout()
        self.activate_button = self._button("Make active", "makeActiveButton", self.make_selected_active)
        self.rename_button = self._button("Rename…", "renameButton", self.rename_selected)
        self.delete_button = self._button("Delete…", "deleteButton", self.delete_selected)
        self.export_button = self._button("Export…", "exportModelButton", self.export_selected_dialog)
        self.export_button.setToolTip("Save the model as an app model file (.pt), ONNX (.onnx, for onnxruntime) "
                                      "or TorchScript (.ts.pt); ONNX and TorchScript files are verified against the model")
        self.open_button = self._button("Open model…", "openModelButton", self.open_model_dialog)
        for button in (self.activate_button, self.rename_button, self.delete_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        outer.addLayout(buttons)

        self.banner = MessageLabel("modelsBanner", self, reserve_lines=2)
        outer.addWidget(self.banner)

        from .serve_panel import ServePanel

        self.serve_panel = ServePanel(self.context, self.tasks["serve"], self)
        outer.addWidget(self.serve_panel)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.table = QTableView(self.splitter)
        self.table.setObjectName("modelsTable")
        self.table.setAccessibleName("Models")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)  # dates and durations stay on one line
        self.model.horizontalHeaderItem(COL_ACC).setToolTip(
            "28×28 networks: accuracy on the Fashion-MNIST test set; photo models: share of held-out photos right")
        self.model.horizontalHeaderItem(COL_KIND).setToolTip(
            "Photo models answer photos; 28×28 networks answer small grey Fashion-MNIST-style images. "
            "One of each kind is active")
        self.model.horizontalHeaderItem(COL_PHOTOS).setToolTip(
            "How many real photos each model names right: your kept-out photos once you have enough, "
            "else the sample photos shipped with the app")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_selection_changed())
        self.table.doubleClicked.connect(lambda _index: self.make_selected_active())

        self.chart_holder = QWidget(self.splitter)
        chart_layout = QVBoxLayout(self.chart_holder)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        self.history_label = QLabel("Select a model to see its training history.", self.chart_holder)
        self.history_label.setObjectName("historyLabel")
        self.history_label.setWordWrap(True)
        chart_layout.addWidget(self.history_label)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.chart_holder)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        outer.addWidget(self.splitter, 1)

    def _button(self, text, name, slot) -> QPushButton:
        return make_button(self, text, name, slot)

    def show_banner(self, text: str, error: bool = True) -> None:
        """A message for the latest action (it replaces the one before; its line is reserved)."""
        self._comparison = None  # a newer message: "the new model is weaker" would be about an old action
        self.banner.show_message(text, error)

    # ----------------------------------------------------------------- data
    @Slot()
    def _on_torch_ready(self) -> None:
        try:
            from ..charts import TrainingCharts

            self.chart = TrainingCharts(self.chart_holder)
            self.chart.setMinimumHeight(220)
            _legend_below(self.chart)
            self.chart_holder.layout().addWidget(self.chart, 1)
            # A few rows of models above, most of the height for the curves.
            self.splitter.setSizes([200, max(300, self.splitter.height() - 200)])
        except Exception as exc:  # noqa: BLE001 — the table works without the chart
            self.history_label.setText(f"Charts unavailable: {exc}")
        self.refresh()

    def entries(self) -> list:
        if not self.context.is_torch_ready():
            return []
        return list(self.context.library().entries())

    @Slot()
    def refresh(self) -> None:
        """Re-read the library. When the same models are listed (Make active, Rename), the rows are
        updated in place: the selection and the chart do not blink."""
        selected = self.selected_entry()
        selected_id = getattr(selected, "id", None)
        active = self.context.active_entry()
        active_id = getattr(active, "id", None)
        active_ids = {e.id for e in self.context.active_entries()} or {active_id}  # one per kind
        try:
            entries = self.entries()
        except FmnistError as exc:
            self.show_banner(str(exc))
            entries = []
        listed = [self.model.item(r, COL_NAME).data(ENTRY_ROLE).id for r in range(self.model.rowCount())]
        if listed == [e.id for e in entries] and entries:
            for row, entry in enumerate(entries):
                for column, item in enumerate(self._row_items(entry, entry.id in active_ids)):
                    self._copy_item(self.model.item(row, column), item)
        else:
            selection = self.table.selectionModel()
            selection.blockSignals(True)  # no "nothing selected" moment while the rows are refilled
            try:
                self.model.removeRows(0, self.model.rowCount())
                for entry in entries:
                    self.model.appendRow(self._row_items(entry, entry.id in active_ids))
                row_to_select = next((r for r, e in enumerate(entries) if e.id == selected_id), None)
                if row_to_select is None:
                    row_to_select = next((r for r, e in enumerate(entries) if e.id == active_id), 0 if entries else None)
                if row_to_select is not None:
                    self.table.selectRow(row_to_select)
            finally:
                selection.blockSignals(False)
            self.table.viewport().update()
        # Fit the short columns to their text (Name takes the rest), after every refill.
        for column in range(1, len(HEADERS)):
            self.table.resizeColumnToContents(column)
        self._on_selection_changed()
        self.measure_photos()

    @staticmethod
    def _copy_item(target: QStandardItem, source: QStandardItem) -> None:
        for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.FontRole, ENTRY_ROLE):
            value = source.data(role)
            if target.data(role) != value:
                target.setData(value, role)

    def _row_items(self, entry, is_active: bool) -> list[QStandardItem]:
        meta = entry.meta
        training = dict(getattr(meta, "training", None) or {})
        name = entry.name
        if entry.builtin and "default" not in name.lower():
            name += "  (default)"
        name_item = QStandardItem(("● " if is_active else "") + name)
        name_item.setData(entry, ENTRY_ROLE)
        name_item.setToolTip(f"{entry.path}" + (f"\nThis is {model_facts.active_phrase(entry)}." if is_active else ""))
        if is_active:
            font = name_item.font()
            font.setBold(True)
            name_item.setFont(font)
        figure, figure_tip = model_facts.figure_text(entry)
        figure_item = QStandardItem(figure)
        figure_item.setToolTip(figure_tip)
        epochs = training.get("epochs") or len(getattr(meta, "history", None) or []) or None
        elapsed = training.get("elapsed_s", training.get("training_time_s"))
        values = [
            name_item,
            QStandardItem(model_facts.kind_text(entry)),
            QStandardItem(format_created(getattr(meta, "created", ""))),
            QStandardItem(str(getattr(meta, "preset", "") or "—")),
            QStandardItem(str(epochs) if epochs else "—"),
            figure_item,
            self._photo_item(entry),
            QStandardItem(format_span(elapsed)),
            QStandardItem(model_facts.size_text(entry)),
            QStandardItem(str(training.get("device_name") or training.get("device") or "—")),
        ]
        return values

    def selected_entry(self):
        rows = self.table.selectionModel().selectedRows(COL_NAME) if self.table.selectionModel() else []
        if not rows:
            return None
        return rows[0].data(ENTRY_ROLE)

    def select_entry(self, entry_id: str) -> bool:
        for row in range(self.model.rowCount()):
            if self.model.item(row, COL_NAME).data(ENTRY_ROLE).id == entry_id:
                self.table.selectRow(row)
                return True
        return False

    def _on_selection_changed(self) -> None:
        self._update_buttons()
        entry = self.selected_entry()
        if entry is None:
            self.history_label.setText("Select a model to see its training history.")
            if self.chart is not None and self._charted != (None, ()):
                self.chart.set_history([])
                self._charted = (None, ())
            return
        history = list(getattr(entry.meta, "history", None) or [])
        if history:
            self.history_label.setText(f"Training history of “{entry.name}”: loss and accuracy per epoch."
                                       + _stages_sentence(getattr(entry.meta, "training", None) or {}))
        else:
            self.history_label.setText(f"“{entry.name}” has no recorded training history (e.g. imported notebook weights).")
        if self.chart is not None:
            self.chart.setVisible(bool(history))  # empty axes would only look broken
            charted = (entry.id, repr(history))
            if charted == self._charted:
                return  # the same curves (Make active, Rename): no redraw, no blank moment
            try:
                self.chart.set_history(history)
                self._charted = charted
            except (KeyError, TypeError, ValueError, AttributeError):
                self.chart.set_history([])
                self._charted = None
                self.history_label.setText(f"The training history of “{entry.name}” cannot be shown.")

    def _update_buttons(self) -> None:
        ready = self.context.is_torch_ready()
        entry = self.selected_entry()
        busy = self.runner.is_running()
        active = self.context.active_entry_of(model_facts.kind_of(entry)) if entry is not None else None
        is_active = entry is not None and active is not None and entry.id == active.id
        self.activate_button.setEnabled(ready and entry is not None and not is_active and not busy)
        self.rename_button.setEnabled(ready and entry is not None and not entry.builtin and not busy)
        self.delete_button.setEnabled(ready and entry is not None and not entry.builtin and not busy)
        self.delete_button.setToolTip("The default model shipped with the app cannot be deleted"
                                      if entry is not None and entry.builtin else "Delete this model from the library")
        self.export_button.setEnabled(ready and entry is not None and not busy)
        self.open_button.setEnabled(ready and not busy)

    # ----------------------------------------------------------------- busy protocol
    def is_busy(self) -> bool:
        return self.runner.is_running()

    def busy_description(self) -> str:
        return self.runner.description() or "Working on a model file"

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        self.serve_panel.shutdown(timeout_ms / 1000)
        return self.tasks.shutdown(timeout_ms)

    # ----------------------------------------------------------------- actions
    # ----------------------------------------------------------------- real photos
    @staticmethod
    def _file_key(entry) -> tuple:
        # Its file and creation time: Rename rewrites the file but not the weights, so no re-measure.
        return str(entry.path), str(getattr(entry.meta, "created", ""))

    def photo_score(self, entry):
        """The entry's `core.predict.photo_score.PhotoScore` on the current photos, or None (not yet)."""
        if self._photo_set is None:
            return None
        return self._photo_scores.get((self._file_key(entry), self._photo_set.key))

    def _photo_item(self, entry) -> QStandardItem:
        score = self.photo_score(entry)
        if self._photo_set is not None and len(self._photo_set) == 0:
            item = QStandardItem("—")
            item.setToolTip("No real photos to measure on")
        elif score is None:
            item = QStandardItem("measuring…")
            item.setToolTip("Classifying the real photos with this model")
        else:
            from ...core.predict.photo_score import class_list

            item = QStandardItem(score.short())
            item.setToolTip(f"Gets {score.right} of {score.description} right ({class_list(self._photo_set)})")
        return item

    def measure_photos(self) -> None:
        """Score every listed model on the measuring photos, in a task (cached per model file).
        Only while the page is shown (and when it is shown): no background work for a table
        nobody looks at, e.g. while a training run saves its model."""
        if not self.context.is_torch_ready() or self.model.rowCount() == 0 or not self.isVisible():
            return
        entries = [self.model.item(r, COL_NAME).data(ENTRY_ROLE) for r in range(self.model.rowCount())]
        wanted = [(self._file_key(e), e.path, model_facts.kind_of(e)) for e in entries]
        photo_set = self._photo_set
        done = set(self._photo_scores)

        def task(state):
            from ...core.jobs import photo_scores

            return photo_scores.run(photo_scores.ScoreInputs(wanted, photo_set, frozenset(done)), state)

        self.tasks["photo-scores"].start(task, on_partial=self._on_photo_measure, description="Measuring models on photos")

    def showEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().showEvent(event)
        self.measure_photos()

    def _on_photo_measure(self, value) -> None:
        if value[0] == "set":
            self._photo_set = value[1]
        else:
            _kind, key, score = value
            self._photo_scores[key] = score
            self.photo_scores_measured += 1
        for row in range(self.model.rowCount()):
            entry = self.model.item(row, COL_NAME).data(ENTRY_ROLE)
            self._copy_item(self.model.item(row, COL_PHOTOS), self._photo_item(entry))
        self.table.resizeColumnToContents(COL_PHOTOS)
        self._say_if_weaker()

    def _say_if_weaker(self) -> None:
        """After Make active: say so when the new model names fewer real photos right than the
        previous one (once both are measured, and only while that message is still the latest)."""
        if self._comparison is None:
            return
        previous, new = self._comparison
        old_score, new_score = self.photo_score(previous), self.photo_score(new)
        if old_score is None or new_score is None:
            return  # said when the scores arrive
        self._comparison = None
        if new_score.total and new_score.right < old_score.right:
            self.show_banner(
                f"“{new.name}” is now {model_facts.active_phrase(new)}, but it gets {new_score.right} of "
                f"{new_score.description} right (“{previous.name}” got {old_score.right}): "
                "it may do worse on your photos.", error=True)

    # ----------------------------------------------------------------- actions
    @Slot()
    def make_selected_active(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        previous = self.context.active_entry_of(model_facts.kind_of(entry))  # Make active changes its kind's
        if self.context.set_active(entry.id):
            self.show_banner(f"“{entry.name}” is now {model_facts.active_phrase(entry)}.", error=False)
            self._comparison = (previous, entry) if previous is not None and previous.id != entry.id else None
            self._say_if_weaker()

    @Slot()
    def rename_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None or entry.builtin:
            return
        name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=entry.name)
        name = name.strip()
        if not ok or not name or name == entry.name:
            return
        try:
            self.context.library().rename(entry.id, name)
        except FmnistError as exc:
            self.show_banner(str(exc))
            return
        self.context.refresh_models()
        self.select_entry(entry.id)
        self.show_banner(f"Renamed to “{name}”.", error=False)

    @Slot()
    def delete_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None or entry.builtin:
            return
        if not ask_yes_no(self, "Delete model?",
                          f"Delete “{entry.name}” and its file from your library? This cannot be undone."):
            return
        try:
            self.context.library().delete(entry.id)
        except FmnistError as exc:
            self.show_banner(str(exc))
            return
        self.context.refresh_models()
        self.show_banner(f"Deleted “{entry.name}”.", error=False)

    def _last_dir(self) -> str:
        return str(self.context.settings.value(SETTINGS_LAST_DIR, str(Path.home())))

    def open_model_dialog(self, notebook: bool = False) -> None:
        if not self.context.is_torch_ready():
            self.context.show_error("Please wait", "The model engine is still loading.")
            return
        title = "Import origin-notebook weights (.pth)" if notebook else "Open a model file"
        path, _ = QFileDialog.getOpenFileName(self, title, self._last_dir(), MODEL_FILTER)
        if path:
            self.context.settings.setValue(SETTINGS_LAST_DIR, str(Path(path).parent))
            self.import_model(path)

    def import_model(self, path: str | Path) -> None:
        """Validate and add a model file to the library (in a worker), then select it."""
        library = self.context.library()
        source = Path(path)

        def task(state):
            state.set_progress(None, f"Checking {source.name}…")
            return library.import_file(source)

        def on_result(entry) -> None:
            self.context.refresh_models()
            self.select_entry(entry.id)
            self.show_banner(f"Added “{entry.name}” to your models. Use Make active to predict with it.", error=False)
            self.modelImported.emit(entry)

        def on_error(message: str) -> None:
            self.show_banner(message)
            self.context.show_error("Cannot open this model", message)

        self.show_banner(f"Checking {source.name}…", error=False)
        self.runner.start(task, on_result=on_result, on_error=on_error, on_finished=self._update_buttons,
                          description=f"Opening {source.name}")
        self._update_buttons()

    def export_selected_dialog(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self._export_dialog(entry)

    def export_active_dialog(self) -> None:
        """File ▸ Save model as…: the active model."""
        entry = self.context.active_entry()
        if entry is None:
            self.context.show_error("No model", "There is no active model to save.")
            return
        self._export_dialog(entry)

    def _export_dialog(self, entry) -> None:
        suggested = Path(self._last_dir()) / f"{_safe_file_name(entry.name)}.pt"
        target, chosen = QFileDialog.getSaveFileName(self, "Export model", str(suggested), ";;".join(EXPORT_FILTERS))
        if target:
            fmt = EXPORT_FILTERS.get(chosen, "checkpoint")
            if fmt == "checkpoint":
                if not target.lower().endswith((".pt", ".pth")):
                    target += ".pt"
            elif not target.lower().endswith(EXPORT_SUFFIXES[fmt]):
                target = (target[:-3] if target.lower().endswith(".pt") else target) + EXPORT_SUFFIXES[fmt]
            self.context.settings.setValue(SETTINGS_LAST_DIR, str(Path(target).parent))
            self.export_entry(entry, target, fmt)

    def export_entry(self, entry, target: str | Path, fmt: str = "checkpoint") -> None:
        """Write the entry to `target` in a worker: "checkpoint" copies its file (weights +
        metadata) atomically; "onnx" / "torchscript" export it with core.jobs.export (verified against
        the model, the contract written beside it as `<target>.json`)."""
        source, destination = Path(entry.path), Path(target)

        if fmt != "checkpoint":
            def export_task(state):
                from ...core.jobs.export import export_model

                state.set_progress(None, f"Exporting {destination.name} ({fmt}) and verifying it…")
                return export_model(source, destination, fmt)

            def exported(result) -> None:
                self.show_banner(f"Exported “{entry.name}” to {result.path} ({result.size_bytes / 1e6:.1f} MB, "
                                 f"contract in {result.contract_path.name}); {result.verification.line()}.", error=False)
                self.modelExported.emit(str(result.path))

            self.runner.start(export_task, on_result=exported, on_error=self.show_banner, on_finished=self._update_buttons,
                              description=f"Exporting {destination.name}", needs_torch=True)
            self._update_buttons()
            return

        def task(state):
            state.set_progress(None, f"Writing {destination.name}…")
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise FmnistError(f"Cannot read the model file {source}: {exc.strerror or exc}.") from exc
            paths.atomic_write_bytes(destination, data)
            return str(destination)

        def on_result(written: str) -> None:
            self.show_banner(f"Saved “{entry.name}” to {written}.", error=False)
            self.modelExported.emit(written)

        self.runner.start(task, on_result=on_result, on_error=self.show_banner, on_finished=self._update_buttons,
                          description=f"Saving {destination.name}")
        self._update_buttons()


def format_created(created: str) -> str:
    if not created:
        return "—"
    try:
        return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return created


def _safe_file_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("._")
    return cleaned or "model"


def _stages_sentence(training: dict) -> str:
    """For a model made in stages (weights/interpolate.py): which epochs came from which run.

    Without it the chart of the shipped model looks broken: its training figures jump at the
    fine-tune, which trains on harder, photo-style augmented images.
    """
    stages = training.get("stages")
    if not isinstance(stages, list) or len(stages) < 2 or not all(isinstance(s, dict) for s in stages):
        return ""
    parts, first = [], 1
    for stage in stages:
        try:
            epochs = int(stage.get("epochs"))
        except (TypeError, ValueError):
            return ""
        last = first + epochs - 1
        parts.append(f"epochs {first}–{last}: “{stage.get('preset', '?')}” preset, augmentation {stage.get('augment', '?')}")
        first = last + 1
    text = " Made in stages (" + "; then ".join(parts) + ")"
    mix = training.get("interpolated")
    if isinstance(mix, dict) and isinstance(mix.get("alpha"), (int, float)):
        text += f", its weights the average of the two runs' ends (α = {mix['alpha']:g})"
    return text + "."


def _legend_below(chart) -> None:
    """The charts' one legend, moved below them for a finished run, without the "this epoch"
    entry (a finished run has no in-epoch line); never over a curve, even at 900×600."""
    handles, labels = chart.loss_ax.get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels) if lab != "this epoch"]
    shared = getattr(chart, "legend", None)
    if shared is not None:
        shared.remove()
    for ax in (chart.loss_ax, chart.acc_ax):
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
    chart.legend = chart.figure.legend([h for h, _ in keep], [lab for _, lab in keep], loc="outside lower center",
                                       ncols=len(keep), fontsize=8, frameon=False)
