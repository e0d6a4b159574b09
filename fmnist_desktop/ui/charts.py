"""Embedded matplotlib charts: live training curves and the clickable confusion matrix.

Both are `FigureCanvasQTAgg` widgets. They keep their data in plain lists/arrays (exposed for
tests and for screenshots) and redraw at a bounded rate with `draw_idle()`, so a training run that
sends twenty batch events a second never spends its time drawing.

This module imports matplotlib (about half a second); pages import it lazily, after the window
is on screen, never at start-up.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Sequence

import matplotlib

matplotlib.use("QtAgg")  # the Qt binding is whichever is already imported: PySide6

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QSizePolicy

from ..core.base.labels import CLASS_NAMES

# A canvas that is hidden or not laid out yet has no size; matplotlib then warns on every draw.
# The next resize lays it out properly, so the warning says nothing useful here.
warnings.filterwarnings("ignore", message="constrained_layout not applied")

TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#d62728"
BATCH_COLOUR = "#7fb3e0"


def _font_size() -> float:
    return 8.5


class _ThrottledCanvas(FigureCanvasQTAgg):
    """A canvas that coalesces redraw requests to at most one per `min_interval_ms`."""

    def __init__(self, figure: Figure, min_interval_ms: int = 200):
        super().__init__(figure)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._min_interval_s = min_interval_ms / 1000
        self._last_draw = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._redraw_now)
        self.redraw_count = 0  # how many times the data were pushed to matplotlib (tests, bench)

    def request_redraw(self) -> None:
        if self._timer.isActive():
            return
        wait_s = self._min_interval_s - (time.monotonic() - self._last_draw)
        self._timer.start(max(0, int(wait_s * 1000)))

    def flush(self) -> None:
        """Redraw now (end of a run, tests)."""
        self._timer.stop()
        self._redraw_now()

    def _redraw_now(self) -> None:
        self._last_draw = time.monotonic()
        self.redraw_count += 1
        self.update_artists()
        self.draw_idle()

    def update_artists(self) -> None:  # overridden
        pass


class TrainingCharts(_ThrottledCanvas):
    """Loss and accuracy (train and validation) against epochs, growing live.

    Inside the current epoch a lighter line shows the smoothed per-batch training figures at
    fractional epochs (epoch - 1 + batch / batches), so the user sees progress before the first
    epoch ends. Accuracies are in percent, as the trainer reports them.
    """

    def __init__(self, parent=None, min_interval_ms: int = 200):
        # Constrained layout keeps titles and tick labels inside the canvas at any window size.
        figure = Figure(figsize=(7, 3), dpi=100, layout="constrained")
        super().__init__(figure, min_interval_ms)
        if parent is not None:
            self.setParent(parent)
        self.setObjectName("trainingCharts")
        self.setAccessibleName("Training curves: loss and accuracy per epoch")
        self.setMinimumHeight(200)
        self.loss_ax = figure.add_subplot(1, 2, 1)
        self.acc_ax = figure.add_subplot(1, 2, 2)
        fs = _font_size()
        for ax, title, ylabel in ((self.loss_ax, "Loss", "cross-entropy"), (self.acc_ax, "Accuracy", "%")):
            ax.set_title(title, fontsize=fs + 1)
            ax.set_xlabel("epoch", fontsize=fs)
            ax.set_ylabel(ylabel, fontsize=fs)
            ax.tick_params(labelsize=fs)
            ax.grid(True, alpha=0.3)
        (self._train_loss_line,) = self.loss_ax.plot([], [], "o-", color=TRAIN_COLOUR, ms=3, label="train")
        (self._val_loss_line,) = self.loss_ax.plot([], [], "s-", color=VAL_COLOUR, ms=3, label="validation")
        # The in-epoch lines are "animated": drawn over a cached background (blitting), so a new
        # batch point costs a few milliseconds instead of a full figure draw (≈40 ms on a quiet
        # laptop core, 200–400 ms on a busy one, all of it holding the GIL the trainer needs).
        (self._batch_loss_line,) = self.loss_ax.plot([], [], "-", color=BATCH_COLOUR, lw=1, label="this epoch",
                                                     animated=True)
        (self._train_acc_line,) = self.acc_ax.plot([], [], "o-", color=TRAIN_COLOUR, ms=3, label="train")
        (self._val_acc_line,) = self.acc_ax.plot([], [], "s-", color=VAL_COLOUR, ms=3, label="validation")
        (self._batch_acc_line,) = self.acc_ax.plot([], [], "-", color=BATCH_COLOUR, lw=1, label="this epoch",
                                                   animated=True)
        # One legend for both charts, above them (never over a curve, however small the window).
        self.legend = figure.legend(handles=[self._train_loss_line, self._val_loss_line, self._batch_loss_line],
                                    loc="outside upper center", ncols=3, fontsize=fs - 1, frameon=False)
        for ax in (self.loss_ax, self.acc_ax):
            ax.margins(x=0.02, y=0.12)  # head-room, so in-epoch points rarely force a full redraw
        self._background = None  # the figure without the animated lines, for blitting
        self._needs_full_draw = True
        self.full_draw_count = 0
        self.blit_count = 0
        self.mpl_connect("draw_event", self._on_draw_event)
        self.reset()

    # --- data --------------------------------------------------------------------------------

    def reset(self, epochs: int | None = None, x_label: str = "epoch") -> None:
        """Empty charts for a run of `epochs`; `x_label` names the x axis (a head fine-tune's steps
        are one "epoch" of the curve)."""
        self.total_epochs = epochs
        for ax in (self.loss_ax, self.acc_ax):
            ax.set_xlabel(x_label, fontsize=_font_size())
        self.epochs: list[int] = []
        self.train_loss: list[float] = []
        self.val_loss: list[float] = []
        self.train_acc: list[float] = []
        self.val_acc: list[float] = []
        self.batch_x: list[float] = []  # fractional epochs, current epoch only
        self.batch_loss: list[float] = []  # smoothed
        self.batch_acc: list[float] = []
        self._ema_loss = self._ema_acc = None
        # Drawn now, synchronously: a run resets the charts before its worker starts, so this
        # full draw (the slowest one, and the first one is slower still) never overlaps training.
        self._timer.stop()
        self._needs_full_draw = False
        self.full_draw_count += 1
        self.update_artists()
        self.draw()

    def add_batch(self, epoch: int, batch: int, batches: int, loss: float, acc: float, smoothing: float = 0.3) -> None:
        """Add one (throttled) per-batch point; an exponential moving average smooths the noise."""
        if not (math.isfinite(loss) and math.isfinite(acc)):
            return  # the trainer has not synced figures yet this epoch (GPU)
        if self.batch_x and self.batch_x[-1] >= epoch - 1 + batch / batches:
            return
        if not self.batch_x or self.batch_x[-1] < epoch - 1:  # a new epoch starts a new line
            self.batch_x, self.batch_loss, self.batch_acc = [], [], []
            self._ema_loss = self._ema_acc = None
        self._ema_loss = loss if self._ema_loss is None else smoothing * loss + (1 - smoothing) * self._ema_loss
        self._ema_acc = acc if self._ema_acc is None else smoothing * acc + (1 - smoothing) * self._ema_acc
        if not self.batch_x and self.epochs:
            # Join the new epoch's line to the last epoch point, so the curve reads continuously.
            self.batch_x.append(float(self.epochs[-1]))
            self.batch_loss.append(self.train_loss[-1])
            self.batch_acc.append(self.train_acc[-1])
        self.batch_x.append(epoch - 1 + batch / batches)
        self.batch_loss.append(self._ema_loss)
        self.batch_acc.append(self._ema_acc)
        self.request_redraw()

    def add_epoch(self, epoch: int, train_loss: float, val_loss: float, train_acc: float, val_acc: float) -> None:
        self.epochs.append(epoch)
        self.train_loss.append(train_loss)
        self.val_loss.append(val_loss)
        self.train_acc.append(train_acc)
        self.val_acc.append(val_acc)
        self.batch_x, self.batch_loss, self.batch_acc = [], [], []
        self._ema_loss = self._ema_acc = None
        self._needs_full_draw = True
        self.request_redraw()

    def set_history(self, history: Sequence) -> None:
        """Show a finished run's history (objects or dicts with EpochEnd's fields)."""
        self.reset(len(history) or None)
        for e in history:
            get = e.get if isinstance(e, dict) else lambda k, e=e: getattr(e, k)
            self.add_epoch(int(get("epoch")), float(get("train_loss")), float(get("val_loss")),
                           float(get("train_acc")), float(get("val_acc")))
        self.flush()

    # --- drawing -----------------------------------------------------------------------------

    def _redraw_now(self) -> None:
        self._last_draw = time.monotonic()
        self.redraw_count += 1
        self._batch_loss_line.set_data(self.batch_x, self.batch_loss)
        self._batch_acc_line.set_data(self.batch_x, self.batch_acc)
        if self._background is not None and not self._needs_full_draw and self._batch_fits():
            self.restore_region(self._background)
            self._draw_animated()
            self.blit(self.figure.bbox)
            self.blit_count += 1
            return
        self._needs_full_draw = False
        self.full_draw_count += 1
        self.update_artists()
        # New limits may mean wider tick labels ("1.75" after "2.5"): lay the figure out again, or
        # the axis labels are pushed off the canvas ("ross-entropy"). Blits keep the layout.
        self.figure.set_layout_engine("constrained")
        self.draw_idle()

    def _batch_fits(self) -> bool:
        """Whether the in-epoch points lie inside the axes' current limits (then blitting is enough)."""
        if not self.batch_x:
            return True
        x0, x1 = self.loss_ax.get_xlim()
        if min(self.batch_x) < x0 or max(self.batch_x) > x1:
            return False
        for ax, ys in ((self.loss_ax, self.batch_loss), (self.acc_ax, self.batch_acc)):
            y0, y1 = sorted(ax.get_ylim())
            if min(ys) < y0 or max(ys) > y1:
                return False
        return True

    def _on_draw_event(self, _event) -> None:
        self._background = self.copy_from_bbox(self.figure.bbox)
        self._draw_animated()
        if self.width() > 50 and self.height() > 50:
            # The layout was just solved for this size: keep it (a constrained-layout pass costs
            # about 40 % of a draw); resizing switches it back on for one draw.
            self.figure.set_layout_engine("none")

    def _draw_animated(self) -> None:
        self.figure.draw_artist(self._batch_loss_line)
        self.figure.draw_artist(self._batch_acc_line)

    def resizeEvent(self, event):  # noqa: N802 - Qt's name
        self._background = None  # the cached background no longer matches; the next draw renews it
        self.figure.set_layout_engine("constrained")
        super().resizeEvent(event)

    def update_artists(self) -> None:
        self._train_loss_line.set_data(self.epochs, self.train_loss)
        self._val_loss_line.set_data(self.epochs, self.val_loss)
        self._batch_loss_line.set_data(self.batch_x, self.batch_loss)
        self._train_acc_line.set_data(self.epochs, self.train_acc)
        self._val_acc_line.set_data(self.epochs, self.val_acc)
        self._batch_acc_line.set_data(self.batch_x, self.batch_acc)
        last_x = max([*self.epochs, *self.batch_x, 1])
        right = max(self.total_epochs or 1, math.ceil(last_x))
        # Loss is ≥ 0 and accuracy ≤ 100 %, so those ends are pinned: the running in-epoch
        # curves (loss falling, accuracy rising) then stay inside the limits and are blitted.
        losses = [v for v in (*self.train_loss, *self.val_loss, *self.batch_loss) if math.isfinite(v)]
        accs = [v for v in (*self.train_acc, *self.val_acc, *self.batch_acc) if math.isfinite(v)]
        top = 1.12 * max(losses) if losses else 0.0
        if not self.epochs:
            top = max(top, 2.6)  # room for a 10-class start (ln 10 ≈ 2.3) without re-scaling
        self.loss_ax.set_ylim(0, top)
        low = min(accs) if accs else 0.0
        self.acc_ax.set_ylim(max(0.0, low - 0.12 * (100.5 - low)), 100.5)
        for ax in (self.loss_ax, self.acc_ax):
            ax.set_xlim(0, right + 0.05 * right)
            ax.xaxis.get_major_locator().set_params(integer=True)


class ConfusionMatrixCanvas(_ThrottledCanvas):
    """A 10×10 confusion matrix (rows = true class) with a colour bar; click a cell to pick it.

    `cellClicked(true_index, predicted_index)` fires on a click inside the matrix; the picked cell
    is outlined. `set_normalized(True)` shows each row as percentages of that class.
    """

    cellClicked = Signal(int, int)

    def __init__(self, parent=None):
        figure = Figure(figsize=(5, 4.4), dpi=100, layout="constrained")
        super().__init__(figure, min_interval_ms=0)
        if parent is not None:
            self.setParent(parent)
        self.setObjectName("confusionMatrix")
        self.setAccessibleName("Confusion matrix: click a cell to see its test images")
        self.setMinimumSize(320, 300)
        self.ax = figure.add_subplot(1, 1, 1)
        self.confusion: np.ndarray | None = None
        self.normalized = False
        self.unit = "test images"  # what the counts count ("photos" for a photo model's evaluation)
        self.selected: tuple[int, int] | None = None
        self._image = None
        self._colorbar = None
        self._texts: list = []
        self.cell_font_size = _font_size() - 1.5
        self._highlight = Rectangle((0, 0), 1, 1, fill=False, edgecolor="#ff9900", linewidth=2.5, visible=False)
        self.ax.add_patch(self._highlight)
        self._setup_axes()
        self.mpl_connect("button_press_event", self._on_press)

    def _setup_axes(self) -> None:
        fs = _font_size()
        n = len(CLASS_NAMES)
        self.ax.set_xticks(range(n))
        self.ax.set_yticks(range(n))
        self.ax.set_xticklabels(CLASS_NAMES, rotation=40, ha="right", fontsize=fs)
        self.ax.set_yticklabels(CLASS_NAMES, fontsize=fs)
        self.ax.set_xlabel("predicted class", fontsize=fs)
        self.ax.set_ylabel("true class", fontsize=fs)
        self.ax.set_xlim(-0.5, n - 0.5)
        self.ax.set_ylim(n - 0.5, -0.5)

    def set_confusion(self, confusion: np.ndarray, unit: str = "test images") -> None:
        self.confusion = np.asarray(confusion, dtype=np.int64)
        self.unit = unit
        self.selected = None
        self.flush()

    def set_normalized(self, normalized: bool) -> None:
        self.normalized = bool(normalized)
        self.flush()

    def select_cell(self, true_index: int, pred_index: int) -> None:
        self.selected = (int(true_index), int(pred_index))
        self.flush()

    def values(self) -> np.ndarray | None:
        """What the cells show: counts, or row percentages when normalized."""
        if self.confusion is None:
            return None
        if not self.normalized:
            return self.confusion.astype(float)
        totals = self.confusion.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, 100.0 * self.confusion / np.maximum(totals, 1), 0.0)

    def cell_centre(self, true_index: int, pred_index: int) -> tuple[int, int]:
        """Widget pixel position (Qt coordinates) of a cell's centre, for tests and accessibility."""
        x, y = self.ax.transData.transform((pred_index, true_index))
        ratio = self.devicePixelRatioF() or 1.0
        return int(round(x / ratio)), int(round(self.height() - y / ratio))

    def update_artists(self) -> None:
        values = self.values()
        if values is None:
            return
        fs = _font_size()
        vmax = values.max() if values.size else 1.0
        if self._image is None:
            # aspect="auto": the cells fill the canvas instead of a small square in wide margins.
            self._image = self.ax.imshow(values, cmap="Blues", vmin=0, vmax=max(vmax, 1e-9), interpolation="nearest",
                                         aspect="auto")
            self._colorbar = self.figure.colorbar(self._image, ax=self.ax, fraction=0.046, pad=0.03)
            self._colorbar.ax.tick_params(labelsize=fs)
            self._setup_axes()
        else:
            self._image.set_data(values)
            self._image.set_clim(0, max(vmax, 1e-9))
        self._colorbar.set_label("% of the true class" if self.normalized else self.unit, fontsize=fs)
        for text in self._texts:
            text.remove()
        self._texts = []
        n = values.shape[0]
        self.cell_font_size = self._cell_font_size(n, fs)
        for i in range(n):
            for j in range(n):
                v = values[i, j]
                if v == 0:
                    continue
                label = f"{v:.0f}" if not self.normalized else (f"{v:.0f}" if v >= 10 else f"{v:.1f}")
                colour = "white" if v > 0.55 * vmax else "#222222"
                self._texts.append(
                    self.ax.text(j, i, label, ha="center", va="center", fontsize=self.cell_font_size, color=colour)
                )
        if self.selected is not None:
            i, j = self.selected
            self._highlight.set_xy((j - 0.5, i - 0.5))
            self._highlight.set_visible(True)
        else:
            self._highlight.set_visible(False)

    def _cell_font_size(self, n: int, base: float) -> float:
        """Cell numbers grow with the cells (about a third of a cell's height, "1000" fits its
        width), from the UI's small size up to 16 pt."""
        box = self.ax.get_position()  # the axes' share of the figure
        width_pt = box.width * self.figure.get_figwidth() * 72 / n
        height_pt = box.height * self.figure.get_figheight() * 72 / n
        return float(np.clip(min(0.42 * height_pt, 0.36 * width_pt), base - 1.5, 16.0))

    def resizeEvent(self, event):  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.confusion is not None:
            self.request_redraw()  # the cell numbers follow the new cell size

    def _on_press(self, event) -> None:
        if self.confusion is None or event.inaxes is not self.ax or event.xdata is None:
            return
        n = self.confusion.shape[0]
        j, i = int(round(event.xdata)), int(round(event.ydata))
        if 0 <= i < n and 0 <= j < n:
            self.select_cell(i, j)
            self.cellClicked.emit(i, j)
