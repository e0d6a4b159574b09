"""The Predict page's list tasks: classifying photos into the list, and classifying its rows again
when the active models changed. Apart from the page (which routes input to its views) because
they share state of their own: the queue, the progress bar's offset, whether it is re-classifying.

Both run as the page's "classify" task, which a single photo shares (starting one cancels the
other: `stop`). Photos dropped on the list while it is being classified are queued and join it
when that is done (starting a task then would cancel the files not classified yet).

The list follows the active models: when the active model of either kind changes, its rows are
marked out of date at once (`BatchView.set_current_models`; left out of the CSV, and an export is
refused until they are classified again), then classified again in the background with progress
as soon as nothing else runs (`after_task`; each new row replaces its old one). A list longer than
the page's AUTO_RECLASSIFY_MAX (which it passes to `after_task`), or one whose re-classifying the
user cancelled or that failed, waits for the "Classify again" button (`reclassify_stale`). What the page shows is its own: these emit
`message` (its banner), `started`, `showList` and `settled`."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from ....core.base.formats import count_noun
from ...tasks import Progress
from .batch_view import BatchView, added_message
from .predictors import batch_task, models_key, reclassify_task


class ListTasks(QObject):
    message = Signal(str, bool)  # for the page's banner: the text, is it an error
    started = Signal()  # a task started: what can be used has changed
    showList = Signal(bool)  # show the list; True when a task starts (False: the photos were queued)
    settled = Signal()  # a list task finished and nothing is queued

    def __init__(self, context, runner, batch: BatchView, predictors, parent: QObject | None = None):
        super().__init__(parent)
        self.context = context
        self.runner = runner  # the page's "classify" task
        self.batch = batch
        self.predictors = predictors
        self.queue: list[str] = []  # items added while the list was still being classified
        self.running = False
        self.offset = 0  # rows listed before the batch being classified (for the progress bar)
        self.reclassifying = False  # the running list task classifies the list's rows again
        self.declined = False  # the user cancelled it: wait for "Classify again"

    def reclassifying_now(self) -> bool:
        return self.reclassifying and self.runner.is_running()

    def follow_active_models(self) -> None:
        """The list's rows answered by other models than the active ones are out of date from now on."""
        self.batch.set_current_models(models_key(self.context.active_entries()))

    def active_models_changed(self) -> None:
        self.follow_active_models()
        self.declined = False

    def stop(self) -> None:
        """A single photo's task starts: it cancels a list being classified (or classified again:
        it resumes when that one is done); queued photos are dropped."""
        self.running = False
        self.reclassifying = False
        self.queue.clear()

    def user_cancels(self) -> None:
        """Cancel was clicked: a re-classifying stopped so is not started again unasked."""
        if self.reclassifying_now():
            self.declined = True  # the rows stay marked; "Classify again" offers it

    def export_refusal(self, paths: set[str]) -> str | None:
        """Why the visible rows (`paths`) are not exported now — some are still a previous model's
        answers — or None."""
        stale = {*self.batch.stale_paths()} & paths
        if not stale:
            return None
        then = ("they are being classified again with the active models; export when that is done"
                if self.reclassifying_now() else f"click “{self.batch.refresh_button.text()}” first")
        return (f"Not exported: {len(stale)} of the listed photos still show the previous model's "
                f"answers — {then}.")

    # ================================================================= classify again
    def after_task(self, max_rows: int) -> None:
        """Nothing is running: classify the list's out-of-date rows again, when it has at most
        `max_rows` rows (otherwise "Classify again" is shown by the page)."""
        if self.runner.is_running() or self.declined or not self.context.is_torch_ready():
            return
        stale = self.batch.stale_paths()
        if stale and self.batch.model.rowCount() <= max_rows:
            self._start_reclassify(stale)

    @Slot()
    def reclassify_stale(self) -> None:
        """"Classify again": the list's out-of-date rows, with the active models."""
        stale = self.batch.stale_paths()
        if not stale or not self.context.active_entries():
            return
        self.declined = False
        self.message.emit("", True)
        self._start_reclassify(stale)

    def _start_reclassify(self, files: list[str]) -> None:
        """Classify the list's rows of `files` again with the active models, in the background:
        each new row replaces its old one; photos dropped meanwhile join the list afterwards."""
        entry = self.context.active_entries()
        if not entry:
            return
        self.reclassifying = True
        self.running = True  # photos dropped meanwhile are queued (`start`)
        self.offset = self.batch.model.rowCount() - len(files)  # the bar counts the whole list
        self.batch.progress.setRange(0, 0)
        noun = "photo" if len(files) == 1 else "photos"
        self.runner.start(
            reclassify_task(self.predictors, entry, files),
            on_partial=self.batch.replace_rows,
            on_progress=lambda progress: self._on_reclassify_progress(progress, len(files)),
            on_result=lambda counts: self._on_reclassified(counts, entry),
            on_cancelled=self._on_reclassify_cancelled,
            on_error=self._on_reclassify_failed,
            on_finished=self._on_finished,
            description=f"Classifying {len(files)} {noun} again",
        )
        self.batch.count_label.setText(f"Classifying {len(files)} {noun} again with the active models…")
        self.started.emit()

    def _on_reclassify_progress(self, progress: Progress, total: int) -> None:
        self.batch.show_progress(progress, self.offset)
        done = progress.done or 0
        self.batch.count_label.setText(f"Classifying {total} {'photo' if total == 1 else 'photos'} again with "
                                       f"the active models… {done} of {total} done")

    def _on_reclassify_cancelled(self) -> None:
        if self.batch.stale_paths():  # not after Clear list
            self.message.emit("Stopped classifying the list again: the greyed rows are still the previous "
                              "model's answers.", False)

    def _on_reclassify_failed(self, message: str) -> None:
        self.declined = True  # not again unasked: "Classify again" stays offered
        self.message.emit(message, True)

    def _on_reclassified(self, counts: tuple[int, int], entry) -> None:
        total, _skipped = counts
        self.batch.show_done(total, self.offset)
        names = " and ".join(e.name for e in entry)
        self.message.emit(f"The list was classified again: {total} {'photo' if total == 1 else 'photos'} "
                          f"now answered by {names}.", False)

    # ================================================================= new photos
    def start(self, entry, items: list[str], add: bool = False) -> None:
        """Classify `items` (files, folders) into a new list, or `add` them to the list."""
        if add and self.running and self.runner.is_running():
            # The list is still being classified: these join it when it is done (starting a task
            # now would cancel the files not classified yet).
            self.queue.extend(items)
            self.showList.emit(False)
            self.batch.count_label.setText(f"{len(self.queue)} more item(s) to add after these…")
            return
        if not add:
            self.queue.clear()
            self.batch.clear()
        self.running = True
        self.reclassifying = False
        self.offset = self.batch.model.rowCount()  # the progress bar counts the whole list
        known = self.batch.paths()  # photos already in the list are not added twice
        self.batch.progress.setRange(0, 0)  # busy until the folder walk has counted the files
        self.showList.emit(True)
        self.runner.start(
            batch_task(self.predictors, entry, items, known),
            on_partial=self.batch.append_rows if add and self.offset else self.batch.add_rows,
            on_progress=lambda progress: self.batch.show_progress(progress, self.offset),
            on_result=self._on_result,
            on_cancelled=lambda: self.message.emit(f"Cancelled after {count_noun(self.batch.model.rowCount(), 'image')}.", False),
            on_error=lambda message: self.message.emit(message, True),
            on_finished=self._on_finished,
            description=f"Classifying {len(items)} item(s)",
        )
        self.started.emit()

    def _on_result(self, counts: tuple[int, int]) -> None:
        total, skipped = counts  # classified now, already in the list
        self.batch.show_done(total, self.offset)
        message = added_message(total, skipped)
        if message is not None:
            self.message.emit(*message)

    def _on_finished(self) -> None:
        self.running = False
        self.reclassifying = False
        if self.queue and self.context.active_entries():
            queued, self.queue = self.queue, []
            self.start(self.context.active_entries(), queued, add=True)
            return
        self.settled.emit()
