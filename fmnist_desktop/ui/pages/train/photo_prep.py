"""A labelled photo set (a folder of class subfolders) prepared for a Train run, in the page's
"prepare" task: read, checked and cached per folder and modification time (the results are cached
on disk too, so only the first run on a set takes minutes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ....core.jobs import train as train_job
from ...tasks import TaskCancelled


class PhotoSetPrep(QObject):
    progress = Signal(object)  # ui.tasks.Progress
    ready = Signal(object, object)  # the run's config, core.data.labelled_photos.PhotoTrainingSet
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, prepare_task, parent: QObject | None = None):
        super().__init__(parent)
        self._task = prepare_task
        self._cache: tuple[str, Any] | None = None  # (photo set key, PhotoTrainingSet)

    @staticmethod
    def key(path: str) -> str:
        try:
            stamp = Path(path).stat().st_mtime_ns
        except OSError:
            stamp = 0
        return f"{path}|{stamp}"

    def cached(self, path: str):
        """The prepared set of `path` when it is prepared and unchanged since, else None."""
        if self._cache is not None and self._cache[0] == self.key(path):
            return self._cache[1]
        return None

    def start(self, config, path: str) -> None:
        """Prepare the set in the task; `ready(config, photos)`, `failed` or `cancelled` follows."""
        key = self.key(path)

        def prepare(state):
            photos = train_job.prepare_photos(path, state)
            if photos is None:
                raise TaskCancelled()
            return photos

        def prepared(photos) -> None:
            self._cache = (key, photos)
            self.ready.emit(config, photos)

        self._task.start(prepare, on_result=prepared, on_error=self.failed.emit, on_cancelled=self.cancelled.emit,
                         on_progress=self.progress.emit, description="Preparing the photos", needs_torch=True)
