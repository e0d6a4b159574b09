"""The right half of the Train page: progress bar and line, the live charts and the epoch log.

It draws a run's events (`show_started`, `show_batch`, `show_epoch`, `show_finished`); the page
decides what happens. The charts need matplotlib, imported off the GUI thread (`load_charts`).
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from ....core.base.formats import count_noun, format_clock
from ...tasks import TaskRunner
from ...widgets.phase_clock import PhaseClock, phase_of

ETA_SETTLE_S = 10.0  # the first seconds of a run are start-up: its ETA is not shown before then


class RunView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.charts = None  # ui.charts.TrainingCharts, built once matplotlib is loaded
        self.clock = PhaseClock()  # the ETA of the phase shown by `show_phase`
        self.history: tuple = ()  # the run's EpochEnd events so far (the charts are rebuilt from it)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("trainProgress")
        self.progress_bar.setAccessibleName("Training progress")
        self.progress_bar.setTextVisible(True)
        layout.addWidget(self.progress_bar)
        self.progress_label = QLabel("Idle.", self)
        self.progress_label.setObjectName("trainProgressLabel")
        self.progress_label.setWordWrap(True)
        layout.addWidget(self.progress_label)

        self.chart_holder = QWidget(self)
        self.chart_holder.setObjectName("chartHolder")
        self.chart_holder_layout = QVBoxLayout(self.chart_holder)
        self.chart_holder_layout.setContentsMargins(0, 0, 0, 0)
        self._chart_placeholder = QLabel("The loss and accuracy charts appear here.", self.chart_holder)
        self._chart_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_holder_layout.addWidget(self._chart_placeholder)
        self.chart_holder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.chart_holder.setMinimumHeight(200)

        self.log_view = QPlainTextEdit(self)
        self.log_view.setObjectName("trainLog")
        self.log_view.setAccessibleName("Training log")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setPlaceholderText("Per-epoch results appear here.")
        font = self.log_view.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.log_view.setFont(font)
        # The log follows new lines unless the user scrolled up to read (then it stays put until
        # they scroll back to the end). Qt's own "follow when at the end" is lost when lines
        # arrive while the log is hidden or being laid out, so the page keeps its own flag.
        self._follow_log = True
        bar = self.log_view.verticalScrollBar()
        bar.valueChanged.connect(self._on_log_scrolled)
        bar.rangeChanged.connect(lambda _low, high: bar.setValue(high) if self._follow_log else None)

        vertical = QSplitter(Qt.Orientation.Vertical, self)
        vertical.setChildrenCollapsible(False)
        vertical.addWidget(self.chart_holder)
        vertical.addWidget(self.log_view)
        vertical.setStretchFactor(0, 3)
        vertical.setStretchFactor(1, 1)
        vertical.setSizes([430, 130])  # the charts get most of the height; the log can be dragged taller
        self.log_view.setMinimumHeight(70)
        layout.addWidget(vertical, 1)

    def log(self, line: str) -> None:
        follow = self._follow_log
        self.log_view.appendPlainText(line)
        if follow:
            bar = self.log_view.verticalScrollBar()
            bar.setValue(bar.maximum())

    def _on_log_scrolled(self, value: int) -> None:
        self._follow_log = value >= self.log_view.verticalScrollBar().maximum()

    def show_phase(self, progress) -> None:
        """A phase of a job that is not an epoch (preparing images, fine-tuning a head, comparing
        with the active model): the bar at its fraction, the line with its own ETA."""
        if progress.fraction is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(1000 * progress.fraction))
            self.progress_bar.setFormat("%p %")
        if progress.message:
            phase = phase_of(progress.message)
            self.progress_label.setText(progress.message + self.clock.text(phase, progress.done, progress.total))

    def show_idle(self, ready: bool, last_run_s: float | None) -> None:
        """Between runs: what the page is waiting for (`last_run_s`: how long the last run took)."""
        if not ready:
            self.progress_label.setText("Loading the machine-learning engine…")
        elif last_run_s is None:
            self.progress_label.setText("Ready. Choose settings and press Train.")
        else:
            self.progress_bar.setRange(0, max(1, self.progress_bar.maximum()))
            self.progress_label.setText(f"Idle. The last run took {format_clock(last_run_s)}.")

    # ----------------------------------------------------------------- charts

    def load_charts(self, runner: TaskRunner) -> None:
        """Import matplotlib off the GUI thread (≈0.5–1.5 s), then build the canvas here."""
        if self.charts is not None:
            return

        def import_charts(state):
            from ... import charts  # noqa: F401 - imported for its side effect on sys.modules

            return True

        runner.start(import_charts, on_result=lambda _ok: self._build_charts(),
                     on_error=lambda msg: self._chart_placeholder.setText(f"Charts unavailable: {msg}"))

    def _build_charts(self) -> None:
        if self.charts is not None:
            return
        from ...charts import TrainingCharts

        self.charts = TrainingCharts(self.chart_holder)
        self._chart_placeholder.hide()
        self.chart_holder_layout.addWidget(self.charts)
        if self.history:
            self.charts.set_history(self.history)

    # ----------------------------------------------------------------- a run's events

    def reset(self, epochs: int, x_label: str = "epoch") -> None:
        """A run starts: empty charts, a busy bar until `Started` says how many batches there are."""
        if self.charts is not None:
            self.charts.reset(epochs, x_label)
        self.history = ()
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat("%p % of the run")  # the bar is the whole run; the label names the epoch
        self.progress_label.setText("Starting…")

    def show_started(self, event) -> None:
        batches = max(1, event.batches_per_epoch)
        self.progress_bar.setRange(0, event.epochs * batches)
        self.progress_bar.setValue(0)
        if self.charts is not None and self.charts.total_epochs != event.epochs:
            self.charts.reset(event.epochs)  # normally done (and drawn) before the run started
        cfg = event.config
        self.log(
            f"Training “{event.preset}” on {event.device_name}: {event.n_train:,} training and "
            f"{event.n_val:,} validation images, {count_noun(event.epochs, 'epoch')}, batch {cfg.batch_size}, "
            f"learning rate {cfg.lr:g}, augmentation {cfg.augment}."
        )

    def show_batch(self, event) -> None:
        self.progress_bar.setValue((event.epoch - 1) * event.batches + event.batch)
        self.progress_bar.setFormat("%p % of the run")
        loss = f"loss {event.loss:.3f} · " if math.isfinite(event.loss) else ""
        if event.elapsed_s < ETA_SETTLE_S and event.epoch == 1:
            speed = "measuring the speed…"  # the first seconds are start-up: an ETA now would mislead
        else:
            speed = f"{event.samples_per_s:,.0f} images/s · about {format_clock(event.eta_s)} left"
        self.progress_label.setText(
            f"Epoch {event.epoch} of {event.epochs}, batch {event.batch}/{event.batches} · {loss}{speed}"
        )
        if self.charts is not None:
            self.charts.add_batch(event.epoch, event.batch, event.batches, event.loss, event.acc)

    def show_epoch(self, event) -> None:
        from ....core.learn.training import format_epoch_line

        self.history = (*self.history, event)
        self.log(f"{format_epoch_line(event)} ({event.epoch_time_s:.1f} s)")
        if self.charts is not None:
            self.charts.add_epoch(event.epoch, event.train_loss, event.val_loss, event.train_acc, event.val_acc)

    def show_finished(self, event) -> None:
        self.progress_bar.setValue(self.progress_bar.maximum())
        self.log(f"Finished in {format_clock(event.elapsed_s)} on {event.device}.")
        self.flush_charts()

    def flush_charts(self) -> None:
        if self.charts is not None:
            self.charts.flush()
