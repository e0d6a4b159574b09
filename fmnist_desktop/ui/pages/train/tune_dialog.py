"""Train page ▸ Tune…: an Optuna study (core.jobs.tuning) with its trials table and plots.

The study runs as one background task (`ui.tasks.TaskRunner`): `core.jobs.tuning.iter_tuning`'s events
come back as partial results — a row per trial as it finishes, the budget bar — and after each
finished trial the worker renders Optuna's matplotlib plots (history, parameter importance,
per-epoch validation accuracy) to PNGs that the dialog shows. Stop ends the running trial
within one batch; the study stays in SQLite and Start continues it. "Make best active…" adds the
best trial's model to the library (measured on the test set) and makes it the active model, after
a question when it does worse than the active one (`make_active.ActiveModelGuard`, as the Train
page does); "Save as preset…" keeps its settings under a name of the user's. The dialog fits
inside the main window at its minimum size (960×620).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ....core.base.defaults import DEFAULT_VAL_SIZE
from ....core.base.formats import count_noun
from ....core.models.presets import TUNABLE_PRESETS
from ...settings_keys import DATA_FOLDER
from ...tasks import TaskGroup

DIALOG_SIZE = QSize(900, 560)  # inside the main window's minimum size (960×620), frame included
COLUMNS = ("Trial", "Result", "Val acc", "Epochs run", "Time", "Settings")
PLOT_TITLES = {"history": "History", "importance": "Parameter importance", "intermediate": "Per epoch"}


class _PlotLabel(QLabel):
    """A PNG plot scaled to the space it is given (never forcing the dialog's size)."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(text, parent)
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(200, 120)

    def set_png(self, png: bytes) -> None:
        pixmap = QPixmap()
        pixmap.loadFromData(png, "PNG")
        self._pixmap = pixmap
        self._rescale()

    def has_plot(self) -> bool:
        return self._pixmap is not None and not self._pixmap.isNull()

    def resizeEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is not None and not self._pixmap.isNull():
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))


class TuneDialog(QDialog):
    """Non-modal: the user may keep it open beside the Train page while the study runs."""

    bestUsed = Signal(object)  # the new ModelEntry, after "Make best active…"
    presetSaved = Signal(str)  # the name of the user's preset just saved

    def __init__(self, context, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tuneDialog")
        self.setWindowTitle("Tune training settings")
        self.context = context
        self.tasks = TaskGroup(self, "study", "best", "read", "compare")
        self._rows: dict[int, int] = {}
        self._budget_s: float | None = None
        self._n_trials = 0
        self._started = 0.0
        self._best_number: int | None = None
        self._has_best = False
        self.val_size = DEFAULT_VAL_SIZE  # training images held out for validation (tests use tiny data sets)
        from .make_active import ActiveModelGuard

        self.active_guard = ActiveModelGuard(context, self.tasks["compare"], self)
        self._build()
        self._set_idle()
        self.show_estimate()
        self.resize(DIALOG_SIZE)

    # ----------------------------------------------------------------- layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        intro = QLabel(
            "Optuna tries settings of a preset (learning rate, weight decay, epochs, batch size, width, "
            "augmentation, label smoothing) and stops poor trials after an epoch. The study is kept: "
            "Start again continues it.", self)
        intro.setWordWrap(True)
        outer.addWidget(intro)

        form = QFormLayout()
        self.preset_combo = QComboBox(self)
        self.preset_combo.setObjectName("tunePresetCombo")
        self.preset_combo.addItems(TUNABLE_PRESETS)
        self.trials_spin = QSpinBox(self)
        self.trials_spin.setObjectName("tuneTrialsSpin")
        self.trials_spin.setRange(1, 500)
        self.trials_spin.setValue(20)
        self.budget_spin = QSpinBox(self)
        self.budget_spin.setObjectName("tuneBudgetSpin")
        self.budget_spin.setRange(0, 24 * 60)
        self.budget_spin.setValue(30)
        self.budget_spin.setSuffix(" min")
        self.budget_spin.setSpecialValueText("no limit")
        self.study_edit = QLineEdit("fmnist", self)
        self.study_edit.setObjectName("tuneStudyEdit")
        self.study_edit.editingFinished.connect(self.show_study)
        row = QHBoxLayout()
        for label, widget in (("Tune preset", self.preset_combo), ("Trials", self.trials_spin),
                              ("Time budget", self.budget_spin), ("Study", self.study_edit)):
            row.addWidget(QLabel(label, self))
            row.addWidget(widget)
        row.addStretch(1)
        form.addRow(row)
        # A study shared by several computers (fmnist tune --storage URL --study NAME on each).
        self.storage_edit = QLineEdit(self)
        self.storage_edit.setObjectName("tuneStorageEdit")
        self.storage_edit.setPlaceholderText("this computer (leave empty), or a shared database: "
                                             "postgresql://user:password@host/db")
        self.storage_edit.setToolTip("Where the study is kept. Workers on other computers running "
                                     "fmnist tune --storage URL --study NAME work on the same study.")
        self.storage_edit.editingFinished.connect(self.show_study)
        form.addRow("Study storage", self.storage_edit)
        self.estimate_label = QLabel("", self)  # how long the study takes here (estimate.tune_text)
        self.estimate_label.setObjectName("tuneEstimateLabel")
        self.estimate_label.setWordWrap(True)
        form.addRow(self.estimate_label)
        outer.addLayout(form)
        for signal in (self.preset_combo.currentIndexChanged, self.trials_spin.valueChanged,
                       self.budget_spin.valueChanged):
            signal.connect(lambda _value: self.show_estimate())

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start", self)
        self.start_button.setObjectName("tuneStartButton")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("tuneStopButton")
        self.stop_button.clicked.connect(self.stop)
        self.use_best_button = QPushButton("Make best active…", self)
        self.use_best_button.setObjectName("tuneUseBestButton")
        self.use_best_button.setToolTip("Add the best trial's model to your models (with its test accuracy) and make it "
                                        "the active model in place of the current one; asks first when it does worse")
        self.use_best_button.clicked.connect(self.use_best)
        self.preset_button = QPushButton("Save as preset…", self)
        self.preset_button.setObjectName("tuneSavePresetButton")
        self.preset_button.clicked.connect(self.save_best_as_preset)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.close)
        for b in (self.start_button, self.stop_button, self.use_best_button, self.preset_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        outer.addLayout(buttons)

        self.progress = QProgressBar(self)
        self.progress.setObjectName("tuneProgress")
        self.status = QLabel("", self)
        self.status.setObjectName("tuneStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.progress)
        outer.addWidget(self.status)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.table = QTableWidget(0, len(COLUMNS), splitter)
        self.table.setObjectName("tuneTrialsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.plots = QTabWidget(splitter)
        self.plots.setObjectName("tunePlots")
        self.plot_labels: dict[str, _PlotLabel] = {}
        for key, title in PLOT_TITLES.items():
            label = _PlotLabel("Plots appear after the first finished trials.", self.plots)
            label.setObjectName(f"tunePlot_{key}")
            self.plot_labels[key] = label
            self.plots.addTab(label, title)
        splitter.addWidget(self.table)
        splitter.addWidget(self.plots)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 440])
        outer.addWidget(splitter, 1)

    # ----------------------------------------------------------------- state
    def is_running(self) -> bool:
        return self.tasks.is_running("study", "best", "compare")

    def _inputs(self) -> list[QWidget]:
        return [self.preset_combo, self.trials_spin, self.budget_spin, self.study_edit, self.storage_edit]

    def storage(self) -> str | None:
        """The study storage's URL typed in, or None for this computer's SQLite file."""
        return self.storage_edit.text().strip() or None

    def _set_running(self) -> None:
        for w in self._inputs():
            w.setEnabled(False)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.use_best_button.setEnabled(False)
        self.preset_button.setEnabled(False)

    def show_estimate(self) -> None:
        from .estimate import tune_text

        self.estimate_label.setText(tune_text(self.context.settings, self.preset_combo.currentText(),
                                              self.trials_spin.value(), self.budget_spin.value(), self.val_size))

    def _set_idle(self) -> None:
        for w in self._inputs():
            w.setEnabled(True)
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.use_best_button.setEnabled(self._has_best)
        self.preset_button.setEnabled(self._has_best)

    # ----------------------------------------------------------------- the study
    def start(self) -> None:
        if self.is_running():
            return
        from ....core.jobs import tuning

        study = self.study_edit.text().strip() or tuning.DEFAULT_STUDY
        budget_min = self.budget_spin.value()
        config = tuning.TuneConfig(
            base_preset=self.preset_combo.currentText(), n_trials=self.trials_spin.value(),
            budget_s=budget_min * 60.0 if budget_min else None, study=study,
            storage=self.storage(), retry_stopped=self.storage() is not None,
        )
        folder = self.context.settings.value(DATA_FOLDER) or None
        val_size = self.val_size
        self._budget_s, self._n_trials, self._started = config.budget_s, config.n_trials or 0, time.monotonic()
        self.table.setRowCount(0)
        self._rows.clear()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status.setText(f"Loading Fashion-MNIST and opening the study “{study}”…")

        def task(state):
            from ....core.jobs import tune

            return tune.run(tune.TuneInputs(config, folder, val_size), state)

        self.tasks["study"].start(
            task, on_partial=self._on_event, on_progress=self._on_progress, on_result=self._on_result,
            on_error=self._on_error, on_cancelled=lambda: self.status.setText("Stopped."),
            on_finished=self._set_idle, description=f"Tuning ({study})", needs_torch=True,
        )
        self._set_running()

    def show_study(self) -> None:
        """Show the study's trials and plots so far, without running anything (a study that does
        not exist yet shows an empty table)."""
        if self.is_running():
            return
        study = self.study_edit.text().strip() or "fmnist"
        storage = self.storage()

        def task(state):
            from ....core.jobs import tune

            return tune.read_study(study, state, storage=storage)

        def shown(value) -> None:
            from ....core.jobs import tuning as t

            name, base, records, plots = value.study, value.base_preset, value.records, value.plots
            self.table.setRowCount(0)
            self._rows.clear()
            for record in records:
                self._put_row(record)
            best = t.best_record(records)
            self._mark_best(best)
            self._show_plots(plots)
            if base in TUNABLE_PRESETS:
                self.preset_combo.setCurrentText(base)
            if not self.is_running():
                self._set_idle()  # Make best active / Save as preset follow the study just read
            if not records:
                self.status.setText(f"The study “{name}” has no trials yet; Start runs it.")
            else:
                pruned = sum(r.state == "PRUNED" for r in records)
                text = f"The study “{name}” (tuning {base}) has {count_noun(len(records), 'trial')}, {pruned} pruned."
                if best is not None:
                    text += f" Best: trial {best.number}, {best.value:.2f}% validation accuracy. Start continues it."
                self.status.setText(text)

        # A newer read supersedes an older one (typing another study name while one is read).
        self.tasks["read"].start(task, on_result=shown, on_error=lambda m: self.status.setText(m),
                                 description="Reading the study")

    def showEvent(self, event) -> None:  # noqa: N802 — Qt's name
        super().showEvent(event)
        if not self.is_running():
            self.show_study()

    def stop(self) -> None:
        if self.tasks["study"].is_running():
            self.status.setText("Stopping the current trial (within one batch); the study is kept…")
            self.tasks["study"].cancel()

    def _on_progress(self, progress) -> None:
        if progress.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(progress.fraction * 1000))
        if progress.message:
            self.status.setText(progress.message)

    def _on_event(self, event) -> None:
        from ....core.jobs import tuning as t

        if isinstance(event, tuple) and event and event[0] == "plots":
            self._show_plots(event[1])
        elif isinstance(event, t.TuneStarted):
            for record in event.previous:
                self._put_row(record)
            self._mark_best(t.best_record(event.previous))
            limit = count_noun(event.n_trials, "new trial") + (f", at most {event.budget_s / 60:.0f} min" if event.budget_s else "")
            again = f"; continuing {count_noun(len(event.previous), 'earlier trial')}" if event.previous else ""
            self.status.setText(f"Study “{event.study}” (tuning {event.base_preset}): {limit}{again}.")
            if not self._budget_s:
                self.progress.setRange(0, 0)  # busy indicator without a time budget
        elif isinstance(event, t.TrialStarted):
            self.status.setText(f"Trial {event.number}: {t.format_params(event.params)}")
        elif isinstance(event, t.TrialDone):
            self._put_row(event.record)
            self._mark_best(event.best)
        elif isinstance(event, t.TuneFailed):
            self._on_error(f"{event.message} {event.advice}")

    def _on_result(self, last) -> None:
        from ....core.jobs import tuning as t

        if isinstance(last, t.TuneFinished):
            pruned = sum(r.state == "PRUNED" for r in last.records)
            why = {"trials": "all trials run", "budget": "time budget spent", "stopped": "stopped"}[last.reason]
            best = (f" Best: trial {last.best.number}, {last.best.value:.2f}% validation accuracy."
                    if last.best else "")
            self.status.setText(f"Done ({why}): {count_noun(last.n_new, 'new trial')}, {len(last.records)} in the study, "
                                f"{pruned} pruned.{best}")
            self.progress.setRange(0, 1000)
            self.progress.setValue(1000)

    def _on_error(self, message: str) -> None:
        self.status.setText(f"Tuning failed: {message}")
        self.context.show_error("Tuning failed", message)

    def _put_row(self, record) -> None:
        from ....core.jobs import tuning as t
        from ....core.base.formats import format_span

        row = self._rows.get(record.number)
        if row is None:
            row = self.table.rowCount()
            self.table.insertRow(row)
            self._rows[record.number] = row
        result = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": record.note or "failed"}.get(record.state, record.state.lower())
        values = (str(record.number), result, f"{record.value:.2f} %" if record.value is not None else "—",
                  str(record.epochs_run), format_span(record.duration_s), t.format_params(record.params))
        for col, text in enumerate(values):
            item = QTableWidgetItem(text)
            if col in (0, 2, 3, 4):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, col, item)
        self.table.scrollToItem(self.table.item(row, 0))

    def _mark_best(self, best) -> None:
        self._has_best = best is not None
        self._best_number = best.number if best else None
        for number, row in self._rows.items():
            for col in range(len(COLUMNS)):
                item = self.table.item(row, col)
                if item is not None:
                    font = item.font()
                    font.setBold(number == self._best_number)
                    item.setFont(font)

    def _show_plots(self, plots: dict) -> None:
        for key, label in self.plot_labels.items():
            png = plots.get(key)
            if png:
                label.set_png(png)

    # ----------------------------------------------------------------- the best trial
    def use_best(self) -> None:
        study = self.study_edit.text().strip() or "fmnist"
        storage = self.storage()
        folder = self.context.settings.value(DATA_FOLDER) or None

        def task(state):
            from ....core.jobs import tune

            return tune.save_best(study, folder, state, storage=storage)

        def saved(entry) -> None:
            self.context.refresh_models()
            acc = f", test accuracy {entry.test_accuracy:.2f} %" if entry.test_accuracy is not None else ""

            def done(made: bool, comparison) -> None:
                if made:
                    self.status.setText(f"Added “{entry.name}” to your models and made it active{acc}.")
                else:
                    active = self.context.active_entry()
                    why = f" ({'; '.join(comparison.reasons)})" if comparison is not None and comparison.reasons else ""
                    kept = f"; “{active.name}” stays the active model" if active is not None else ""
                    self.status.setText(f"Added “{entry.name}” to your models{acc}{kept}: it does worse{why}. "
                                        "The Models page's Make active still makes it active.")
                self._set_idle()
                self.bestUsed.emit(entry)

            self._set_running()
            self.stop_button.setEnabled(False)
            self.active_guard.make_active(entry, done, on_status=self.status.setText)

        self.tasks["best"].start(task, on_result=saved, on_error=self._on_error, on_progress=self._on_progress,
                                 on_finished=lambda: None if self.active_guard.is_running() else self._set_idle(),
                                 description="Saving the best tuned model", needs_torch=True)
        self._set_running()
        self.stop_button.setEnabled(False)

    def save_best_as_preset(self) -> None:
        from ....core.jobs import tuning
        from ....core.base.errors import FmnistError
        from ....core.store.user_presets import save_user_preset

        study = self.study_edit.text().strip() or "fmnist"
        dialog = self.preset_name_dialog(f"{self.preset_combo.currentText()}-tuned")
        if not dialog.exec():  # Cancel
            return
        name = dialog.textValue()
        if not name.strip():
            return
        try:
            preset = save_user_preset(tuning.best_as_preset(study, name=name.strip(), storage=self.storage()))
        except FmnistError as exc:
            self._on_error(str(exc))
            return
        self.status.setText(f"Saved the best settings as your preset “{preset.name}”: it is in the Train page's "
                            f"Preset list (and fmnist train --preset {preset.name}).")
        self.presetSaved.emit(preset.name)

    def preset_name_dialog(self, suggested: str) -> QInputDialog:
        """The question for the preset's name, wide enough that its title is never clipped (a
        window manager shortens a title that is wider than the dialog)."""
        dialog = QInputDialog(self)
        dialog.setObjectName("savePresetDialog")
        dialog.setWindowTitle("Save as preset")
        dialog.setLabelText("Name of your preset (listed in the Train page's Preset list):")
        dialog.setTextValue(suggested)
        title_width = dialog.fontMetrics().horizontalAdvance(dialog.windowTitle())
        # A resize, not a minimum: QInputDialog's layout sets its own minimum when it is shown.
        dialog.resize(max(460, title_width + 200), dialog.sizeHint().height())  # + the title bar's icon and buttons
        return dialog

    # ----------------------------------------------------------------- closing
    def shutdown(self, timeout_ms: int = 5000) -> bool:
        return self.tasks.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 — Qt's name
        if self.is_running():
            self.stop()
        super().closeEvent(event)
