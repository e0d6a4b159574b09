"""Models page: the shipped default model and every run the user trained.

A table of `ModelLibrary.entries()` (date, preset, epochs, test accuracy, real photos right,
training time, device),
the selected run's loss/accuracy history (`charts.TrainingCharts`, created lazily because
matplotlib is slow to import), and Make active / Rename / Delete / Export as .pt / Open model.
The File menu's Open model…, Import origin-notebook .pth… and Save model as… call the same methods.
Reading and validating model files runs in a worker; a foreign or damaged file shows the core's
one-line message.

"Real photos" is each model measured on the same real photos (`core.predict.photo_score`: the user's
kept-out photos when there are enough, else the 80 CC0 photos shipped in resources/real-photos), in a
task with its progress on the line under the table (photo_column.py; the page starts it when shown);
Make active compares the model with the active one first (`widgets.active_guard`) and asks, No the
default, when it does worse there or on the test set. The
"X is now active" message follows the active models when they change elsewhere (Train page,
Tune…). Messages take a reserved line (a late one never moves the table under the pointer), and
the table is updated in place, so the selection and the chart stay put through Make active and
Rename.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ....core.base import edition
from ....core.base.errors import FmnistError
from ....core.store.twins import export_twin
from ...context import AppContext
from ...settings_keys import MODELS_LAST_DIR as SETTINGS_LAST_DIR
from ...tasks import TaskGroup
from ...widgets.active_guard import ActiveModelGuard
from ...widgets.banner import MessageLabel, make_button
from ...widgets.dialogs import ask_yes_no
from ...widgets import model_facts
from .files import EXPORT_FILTERS, MODEL_FILTER, copy_model_file, export_target, safe_file_name
from .history import HistoryPanel
from .photo_column import RealPhotoScores
from .table import ModelsTable


class ModelsPage(QWidget):
    modelImported = Signal(object)  # the new ModelEntry
    modelExported = Signal(str)  # the written path

    def __init__(self, context: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("modelsPage")
        self.context = context
        self.tasks = TaskGroup(self, "files", "serve", "photo-scores", "compare")
        self.runner = self.tasks["files"]
        # Make active: never a worse model without asking (as the Train page and Tune… do).
        self.active_guard = ActiveModelGuard(context, self.tasks["compare"], self)
        self.tasks["compare"].busyChanged.connect(lambda _busy: self._update_buttons())
        self._banner_active_id: str | None = None  # the model the banner says is now active, if it says so
        self._build()
        context.torchReady.connect(self._on_torch_ready)
        context.modelsChanged.connect(self.refresh)
        context.activeModelChanged.connect(lambda _entry: self._on_active_changed())
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
        # Busy while a model file is read or written (an ONNX export takes seconds): the buttons
        # are greyed, so say why. Its room is kept when hidden: nothing moves when it appears.
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setObjectName("modelsBusyBar")
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setFixedWidth(120)
        policy = self.busy_bar.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.busy_bar.setSizePolicy(policy)
        self.busy_bar.hide()
        buttons.addWidget(self.busy_bar)
        buttons.addWidget(self.open_button)
        outer.addLayout(buttons)

        self.banner = MessageLabel("modelsBanner", self, reserve_lines=2)
        outer.addWidget(self.banner)

        from ..serve_panel import ServePanel

        self.serve_panel = ServePanel(self.context, self.tasks["serve"], self)
        outer.addWidget(self.serve_panel)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        # The table and, under it, which photos its "Real photos" column counts and the measuring's
        # progress (one kept line: it takes its room from the table's empty rows, not the chart's).
        table_pane = QWidget(self.splitter)
        table_layout = QVBoxLayout(table_pane)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(2)
        self.table = ModelsTable(table_pane)
        self.photo_set_label = MessageLabel("photoSetLabel", table_pane, reserve_lines=1)
        table_layout.addWidget(self.table, 1)
        table_layout.addWidget(self.photo_set_label)
        self.model = self.table.items
        # The "Real photos" column's scores, and the line under the table that says which photos.
        self.photo_scores = RealPhotoScores(self.tasks["photo-scores"], self.table, self.photo_set_label,
                                            on_measured=lambda: None)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_selection_changed())
        self.table.doubleClicked.connect(lambda _index: self.make_selected_active())

        self.chart_holder = HistoryPanel(self.splitter)  # the selected model's training history
        self.history_label = self.chart_holder.history_label
        self.splitter.addWidget(table_pane)
        self.splitter.addWidget(self.chart_holder)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        outer.addWidget(self.splitter, 1)

    def _button(self, text, name, slot) -> QPushButton:
        return make_button(self, text, name, slot)

    def show_banner(self, text: str, error: bool = True, active_id: str | None = None) -> None:
        """A message for the latest action (it replaces the one before; its line is reserved).
        `active_id`: the message says that model is now active (so it changes when that stops being true)."""
        self._banner_active_id = active_id
        self.banner.show_message(text, error)

    def _on_active_changed(self) -> None:
        """Another page (or the CLI's library) changed an active model: a message saying some
        model "is now active" must not stay up once it is not."""
        if self._banner_active_id is not None:
            active = {e.id: e for e in self.context.active_entries()}
            if self._banner_active_id not in active:
                said = next((e for e in self.table.entries() if e.id == self._banner_active_id), None)
                kind = model_facts.kind_of(said) if said is not None else None
                now = self.context.active_entry_of(kind) if kind is not None else None
                if now is not None:
                    self.show_banner(f"“{now.name}” is now {model_facts.active_phrase(now)}.", error=False,
                                     active_id=now.id)
                else:
                    self.show_banner("")
        self.refresh()

    @property
    def chart(self):
        """The training-history chart (charts.TrainingCharts), None until the engine has loaded."""
        return self.chart_holder.chart

    # ----------------------------------------------------------------- data
    @Slot()
    def _on_torch_ready(self) -> None:
        self.chart_holder.attach_chart()
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
        self.table.show_entries(entries, active_ids, selected_id, active_id, self.photo_scores.item)
        self._on_selection_changed()
        self.measure_photos()

    def selected_entry(self):
        return self.table.selected_entry()

    def select_entry(self, entry_id: str) -> bool:
        return self.table.select_entry(entry_id)

    def _on_selection_changed(self) -> None:
        self._update_buttons()
        self.chart_holder.show_entry(self.selected_entry())
        self._fit_table_height()

    def _fit_table_height(self) -> None:
        """The table as tall as its rows (no blank under them, no rows hidden while there is room),
        the chart the rest; with no curves to show, the table takes the height. Sized again only
        when the height, the rows or the chart change: a divider the user dragged stays put."""
        total = self.splitter.height()
        if total <= 0:
            return
        chart_shown = self.chart is not None and self.chart.isVisibleTo(self.chart_holder)
        table = self.table
        rows_height = table.horizontalHeader().height() + 2 * table.frameWidth() + sum(
            table.rowHeight(r) for r in range(self.model.rowCount()))
        if table.horizontalScrollBar().isVisible() or table.horizontalHeader().length() > table.viewport().width():
            rows_height += table.horizontalScrollBar().sizeHint().height()
        wanted = rows_height + self.photo_set_label.sizeHint().height() + 4
        if chart_shown:  # rows first, up to half the height when the chart would be squeezed
            least_chart = self.chart.minimumHeight() + self.history_label.sizeHint().height()
            pane = max(120, min(wanted, max(total - least_chart, total // 2)))
        else:
            pane = max(120, total - self.history_label.sizeHint().height() - 8)
        key = (total, pane, chart_shown)
        if key != getattr(self, "_fitted", None):
            self._fitted = key
            self.splitter.setSizes([pane, max(0, total - pane)])

    def resizeEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().resizeEvent(event)
        self._fit_table_height()

    def _update_buttons(self) -> None:
        ready = self.context.is_torch_ready()
        entry = self.selected_entry()
        busy = self.runner.is_running()
        active = self.context.active_entry_of(model_facts.kind_of(entry)) if entry is not None else None
        is_active = entry is not None and active is not None and entry.id == active.id
        comparing = self.active_guard.is_running()
        self.activate_button.setEnabled(ready and entry is not None and not is_active and not busy and not comparing)
        self.rename_button.setEnabled(ready and entry is not None and not entry.builtin and not busy)
        self.delete_button.setEnabled(ready and entry is not None and not entry.builtin and not busy)
        self.delete_button.setToolTip("The default model shipped with the app cannot be deleted"
                                      if entry is not None and entry.builtin else "Delete this model from the library")
        self.export_button.setEnabled(ready and entry is not None and not busy)
        self.open_button.setEnabled(ready and not busy)
        self.busy_bar.setVisible(busy)
        self.busy_bar.setToolTip(self.runner.description() if busy else "")

    # ----------------------------------------------------------------- busy protocol
    def is_busy(self) -> bool:
        return self.runner.is_running()

    def busy_description(self) -> str:
        return self.runner.description() or "Working on a model file"

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        self.serve_panel.shutdown(timeout_ms / 1000)
        return self.tasks.shutdown(timeout_ms)

    # ----------------------------------------------------------------- real photos (photo_column.py)
    def photo_score(self, entry):
        """The entry's `core.predict.photo_score.PhotoScore` on the current photos, or None (not yet)."""
        return self.photo_scores.score(entry)

    @property
    def photo_scores_measured(self) -> int:
        """Scores that arrived from the task (tests wait for them)."""
        return self.photo_scores.measured

    def measure_photos(self) -> None:
        """Score every listed model on the measuring photos, in a task (cached per model file).
        Only while the page is shown (and when it is shown): no background work for a table
        nobody looks at, e.g. while a training run saves its model."""
        if not self.context.is_torch_ready() or self.model.rowCount() == 0 or not self.isVisible():
            return
        self.photo_scores.measure()

    def showEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().showEvent(event)
        self.measure_photos()

    # ----------------------------------------------------------------- actions
    @Slot()
    def make_selected_active(self) -> None:
        """Make the selected model the active one of its kind: after comparing it with the active
        one (`ActiveModelGuard`), and a question (No the default) when it does worse."""
        entry = self.selected_entry()
        if entry is None or self.active_guard.is_running():
            return

        def done(made: bool, comparison) -> None:
            self._update_buttons()
            worse = comparison is not None and comparison.worse
            active = self.context.active_entry_of(model_facts.kind_of(entry))
            if made and worse:
                self.show_banner(f"“{entry.name}” is now {model_facts.active_phrase(entry)}, though it does worse: "
                                 f"{'; '.join(comparison.reasons)}.", error=True, active_id=entry.id)
            elif made:
                self.show_banner(f"“{entry.name}” is now {model_facts.active_phrase(entry)}.", error=False,
                                 active_id=entry.id)
            elif worse and active is not None:
                self.show_banner(f"“{active.name}” stays {model_facts.active_phrase(active)}: “{entry.name}” does "
                                 f"worse ({'; '.join(comparison.reasons)}).", error=False)

        self.active_guard.make_active(entry, done, on_status=lambda text: self.show_banner(text, error=False))
        self._update_buttons()

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
        kind = model_facts.kind_of(entry)
        active = self.context.active_entry_of(kind)
        was_active = active is not None and active.id == entry.id
        question = f"Delete “{entry.name}” and its file from your library? This cannot be undone."
        if was_active:  # the library then falls back to the first model of its kind (the shipped one)
            successor = next((e for e in self.table.entries() if model_facts.kind_of(e) == kind and e.id != entry.id),
                             None)
            question += (f" It is {model_facts.active_phrase(entry)}: “{successor.name}” takes its place."
                         if successor is not None else f" It is the only {model_facts.kind_text(entry).lower()}.")
        if not ask_yes_no(self, "Delete model?", question):
            return
        try:
            self.context.library().delete(entry.id)
        except FmnistError as exc:
            self.show_banner(str(exc))
            return
        self.context.refresh_models()
        now = self.context.active_entry_of(kind) if was_active else None
        if now is not None:
            self.show_banner(f"Deleted “{entry.name}”. “{now.name}” is now {model_facts.active_phrase(now)}.",
                             error=False, active_id=now.id)
        elif was_active:
            self.show_banner(f"Deleted “{entry.name}”. There is no {model_facts.kind_text(entry).lower()} left to "
                             "make active.", error=False)
        else:
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

        source_name = ""

        def task(state):
            nonlocal source_name
            state.set_progress(None, f"Checking {source.name}…")
            try:
                from ....core.store.checkpoint import read_meta  # torch: the lite edition's import_file says so

                source_name = read_meta(source).name
            except Exception:  # noqa: BLE001 — a bare state_dict has no name; import_file says what is wrong
                source_name = ""
            return library.import_file(source)

        def on_result(entry) -> None:
            self.context.refresh_models()
            self.select_entry(entry.id)
            renamed = f" (“{source_name}” was taken)" if source_name and source_name != entry.name else ""
            self.show_banner(f"Added “{entry.name}”{renamed} to your models. Use Make active to predict with it.",
                             error=False)
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
        suggested = Path(self._last_dir()) / f"{safe_file_name(entry.name)}.pt"
        target, chosen = QFileDialog.getSaveFileName(self, "Export model", str(suggested), ";;".join(EXPORT_FILTERS))
        if target:
            target, fmt = export_target(target, chosen)
            self.context.settings.setValue(SETTINGS_LAST_DIR, str(Path(target).parent))
            self.export_entry(entry, target, fmt)

    def _export_twin(self, entry, source: Path, destination: Path, fmt: str) -> None:
        """The lite edition: ONNX is the model's verified twin, copied; TorchScript needs torch."""
        if fmt != "onnx":
            self.show_banner(edition.full_edition_line("Exporting to TorchScript"))
            return

        def exported(written: str) -> None:
            self.show_banner(f"Exported “{entry.name}” to {written} (its verified ONNX twin; contract beside it).",
                             error=False)
            self.modelExported.emit(written)

        self.runner.start(lambda _state: str(export_twin(source, destination)), on_result=exported,
                          on_error=self.show_banner, on_finished=self._update_buttons,
                          description=f"Exporting {destination.name}")
        self._update_buttons()

    def export_entry(self, entry, target: str | Path, fmt: str = "checkpoint") -> None:
        """Write the entry to `target` in a worker: "checkpoint" copies its file (weights +
        metadata) atomically; "onnx" / "torchscript" export it with core.jobs.export (verified against
        the model, the contract written beside it as `<target>.json`)."""
        source, destination = Path(entry.path), Path(target)

        what = {"onnx": "ONNX", "torchscript": "TorchScript"}.get(fmt, "an app model file")
        if fmt != "checkpoint" and not edition.has_torch():
            self._export_twin(entry, source, destination, fmt)
            return
        if fmt != "checkpoint":
            def export_task(state):
                from ....core.jobs.export import export_model

                state.set_progress(None, f"Exporting {destination.name} ({fmt}) and verifying it…")
                return export_model(source, destination, fmt)

            def exported(result) -> None:
                self.show_banner(f"Exported “{entry.name}” to {result.path} ({result.size_bytes / 1e6:.1f} MB, "
                                 f"contract in {result.contract_path.name}); {result.verification.line()}.", error=False)
                self.modelExported.emit(str(result.path))

            self.runner.start(export_task, on_result=exported, on_error=self.show_banner, on_finished=self._update_buttons,
                              description=f"Exporting {destination.name}", needs_torch=True)
            self.show_banner(f"Exporting “{entry.name}” as {what} to {destination.name} and checking that it answers "
                             "like the model (this takes a few seconds)…", error=False)
            self._update_buttons()
            return

        def task(state):
            state.set_progress(None, f"Writing {destination.name}…")
            return copy_model_file(source, destination)

        def on_result(written: str) -> None:
            self.show_banner(f"Saved “{entry.name}” to {written}.", error=False)
            self.modelExported.emit(written)

        self.runner.start(task, on_result=on_result, on_error=self.show_banner, on_finished=self._update_buttons,
                          description=f"Saving {destination.name}")
        self.show_banner(f"Saving “{entry.name}” to {destination.name}…", error=False)
        self._update_buttons()

