"""What an evaluation hands the Evaluate page (`EvaluationOutcome`), and the task that evaluates
a photo model on labelled photos (`photo_evaluation`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...tasks import TaskCancelled


@dataclass(frozen=True)
class EvaluationOutcome:
    """Handed from the worker to the page: the result, the test images and what was evaluated."""

    entry: Any  # core.store.library.ModelEntry
    result: Any  # core.learn.evaluation.EvaluationResult
    images: Any  # uint8 (N, 28, 28), the test split in result order; or the photos' (h, w, 3) thumbnails
    source_description: str
    photo: Any = None  # core.jobs.evaluate.PhotoEvaluation for a photo model, else None

    @property
    def names(self):
        """The photos' file names (a photo model's evaluation), None for the test set."""
        return None if self.photo is None else self.photo.names


def photo_evaluation(entry, folder: str | None):
    """The task that evaluates a photo model on labelled photos (None: the shipped real photos)."""
    def evaluate(state):
        from ....core.jobs import evaluate as evaluate_job

        done = evaluate_job.run_photos(evaluate_job.PhotoEvaluateInputs(entry.path, folder), state)
        if done is None:
            raise TaskCancelled()
        return None, EvaluationOutcome(entry, done.result, done.thumbnails, done.description, photo=done)

    return evaluate
