"""The Models page's "Real photos" column: every listed model scored on the same real photos
(`core.predict.photo_score`: the user's kept-out photos when there are enough, else the 80 CC0
photos shipped in resources/real-photos), in the page's "photo-scores" task (`core.jobs.photo_scores`),
with its progress and then which photos it counts on the line under the table.

Photo models see the photos themselves, 28×28 networks the photos as the app prepares them. Scores
are kept per model file and photo set, so a later visit only scores models it has not seen, and
Rename (same weights) measures nothing again. This lives apart from page.py because it is one
self-contained piece (its cache, its task, its cells and its line); the page asks it for a
model's cell (`item`) and score (`score`), and starts it when the page is shown.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtGui import QStandardItem

from ...widgets import model_facts


def class_list_text(photo_set) -> str:
    from ....core.predict.photo_score import class_list

    return class_list(photo_set)


class RealPhotoScores:
    """The column's scores and the line under the table (`label`, a widgets.banner.MessageLabel)."""

    def __init__(self, task, table, label, on_measured: Callable[[], None]):
        self.task = task  # the page's "photo-scores" ui.tasks.TaskRunner
        self.table = table  # table.ModelsTable
        self.label = label
        self.on_measured = on_measured  # after each arrival, once the column shows it (the page's "weaker" check)
        self.photo_set = None  # core.predict.photo_score.PhotoSet the models are measured on
        self._scores: dict[tuple, object] = {}  # (model file key, photo set key) -> PhotoScore
        self.measured = 0  # scores that arrived from the task (tests wait for them)
        self.failure: str | None = None  # why the last measuring task failed (its cells say so)

    @staticmethod
    def file_key(entry) -> tuple:
        # Its file and creation time: Rename rewrites the file but not the weights, so no re-measure.
        return str(entry.path), str(getattr(entry.meta, "created", ""))

    def score(self, entry):
        """The entry's `core.predict.photo_score.PhotoScore` on the current photos, or None (not yet)."""
        if self.photo_set is None:
            return None
        return self._scores.get((self.file_key(entry), self.photo_set.key))

    def item(self, entry) -> QStandardItem:
        """The entry's "Real photos" cell."""
        score = self.score(entry)
        if self.photo_set is not None and len(self.photo_set) == 0:
            item = QStandardItem("—")
            item.setToolTip("No real photos to measure on")
        elif score is None and self.failure is not None:
            item = QStandardItem("not measured")
            item.setToolTip(f"Could not measure it on the real photos: {self.failure}")
        elif score is None:
            item = QStandardItem("measuring…")
            item.setToolTip("Classifying the real photos with this model")
        else:
            from ....core.predict.photo_score import class_list

            item = QStandardItem(score.short())
            how = ("the photos themselves" if model_facts.kind_of(entry) == "photo"
                   else "the photos as the app prepares them for a 28×28 network")
            item.setToolTip(f"Gets {score.right} of {score.description} right ({class_list(self.photo_set)}); "
                            f"it sees {how}")
        return item

    def sentence(self) -> tuple[str, str]:
        """(the line under the table, its tooltip): which photos the "Real photos" column counts."""
        photo_set = self.photo_set
        if photo_set is None:
            return "", ""
        if len(photo_set) == 0:
            return "Real photos: there are no real photos to measure the models on.", ""
        classes = class_list_text(photo_set)
        if photo_set.source == "user":
            return (f"Real photos: every model is scored on {photo_set.description} (never used to fine-tune).",
                    f"Classes: {classes}.")
        return (f"Real photos: every model is scored on {photo_set.description} (CC0 phone photos).",
                f"CC0 phone photos of {classes}, from people held out of the shipped models' training "
                "(resources/real-photos). Once you have kept out enough of your own photos, those are used instead.")

    def show_sentence(self) -> None:
        text, tip = self.sentence()
        self.label.show_message(text, error=False)
        if tip:
            self.label.setToolTip(f"{text}\n{tip}")

    def _on_progress(self, progress) -> None:
        if progress.message:
            self.label.show_message(f"Real photos: {progress.message}", error=False)

    def measure(self) -> None:
        """Score every listed model on the measuring photos, in the task (models already scored
        on this photo set are skipped)."""
        wanted = [(self.file_key(e), e.path, model_facts.kind_of(e)) for e in self.table.entries()]
        photo_set = self.photo_set
        done = set(self._scores)

        def task(state):
            from ....core.jobs import photo_scores

            return photo_scores.run(photo_scores.ScoreInputs(wanted, photo_set, frozenset(done)), state)

        self.failure = None
        self.task.start(task, on_partial=self._on_partial, on_progress=self._on_progress, on_error=self._on_error,
                        on_finished=self._on_finished, description="Measuring models on photos")

    def _on_error(self, message: str) -> None:
        """The task failed: the cells still waiting say "not measured" (the reason in their
        tooltip) and the line under the table says why, instead of "measuring…" for ever."""
        self.failure = " ".join(str(message).split()) or "an unexpected error"
        self.table.update_photo_column(self.item)

    def _on_finished(self) -> None:
        if self.failure is None:
            self.show_sentence()
        else:
            self.label.show_message(f"Real photos: the models could not be measured: {self.failure}", error=True)

    def _on_partial(self, value) -> None:
        if value[0] == "set":
            self.photo_set = value[1]
        else:
            _kind, key, score = value
            self._scores[key] = score
            self.measured += 1
        self.table.update_photo_column(self.item)
        self.on_measured()
        if value[0] == "set" or not self.task.is_running():
            self.show_sentence()
