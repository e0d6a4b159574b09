"""Before a model is made active: does it do worse than the active model of its kind?

The Train page's "Make it the active model", a photo run that would become the active photo model,
and Tune… ▸ "Make best active…" ask this first (`run`, a task): a model that scores lower on the
Fashion-MNIST test set (28×28 networks) or names fewer of the real measuring photos right is made
active only after the user says so. The real-photo figures are the Models page's "Real photos"
column, measured by the same task (`core.jobs.photo_scores.run`) on the same photos. No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models.arch_info import FMNIST_KIND
from .state import TaskState


@dataclass(frozen=True)
class CompareInputs:
    candidate: Any  # core.store.library.ModelEntry about to be made active
    active: Any  # the active ModelEntry of the candidate's kind, or None


@dataclass(frozen=True)
class Comparison:
    candidate_name: str
    active_name: str | None
    test: tuple[float | None, float | None] = (None, None)  # percent: (candidate, active)
    photos: tuple[Any, Any] = (None, None)  # core.predict.photo_score.PhotoScore: (candidate, active)
    reasons: tuple[str, ...] = field(default=())  # what it does worse, one phrase each
    also: tuple[str, ...] = field(default=())  # the other measured figures (not worse), one phrase each
    active_path: str | None = None  # the file of the model it was compared with, when known

    @property
    def worse(self) -> bool:
        return bool(self.reasons)

    def question(self, what: str = "the active model") -> str:
        """The question before making a worse model active (empty when it is not worse)."""
        if not self.reasons:
            return ""
        also = f"\n\n(Not worse: {'; '.join(self.also)}.)" if self.also else ""
        return (f"“{self.candidate_name}” does worse than “{self.active_name}”, {what} now: "
                f"{'; '.join(self.reasons)}.{also}\n\nMake “{self.candidate_name}” {what} anyway?")


class _Scores:
    """The task state `photo_scores.run` reports to: its scores kept, stops passed on."""

    def __init__(self, outer: TaskState):
        self.outer = outer
        self.scores: dict[str, Any] = {}

    def is_interruption_requested(self) -> bool:
        return self.outer.is_interruption_requested()

    def is_set(self) -> bool:
        return self.outer.is_interruption_requested()

    def set_progress(self, fraction=None, message: str = "", **counts) -> None:
        # Preparing the photos, then scoring each model: the phase named as the user sees it.
        what = "preparing the real photos" if message.startswith("Preparing") else "scoring on the real photos"
        self.outer.set_progress(fraction, f"Comparing with the active model, {what}: {message}", **counts)

    def set_partial_result(self, value: Any) -> None:
        if value[0] == "score":
            self.scores[value[1][0]] = value[2]


def _add_photo_phrase(new, old, active_name: str, reasons: list[str], also: list[str]) -> None:
    """Both models' real-photo figures, one phrase: among the reasons when the candidate names
    fewer right, else among the figures it does not do worse on (`Comparison.also`)."""
    if new is not None and old is not None and new.total:
        (reasons if new.right < old.right else also).append(
            f"it names {new.right} of {new.description} right, “{active_name}” {old.right}")


def photo_comparison(candidate_name: str, active_name: str, active_path: str | None, new, old) -> Comparison:
    """A comparison made from real-photo scores measured already (a photo fine-tune measures its
    new head against its parent's before it is offered); the same rule and phrases as `run`."""
    reasons: list[str] = []
    also: list[str] = []
    _add_photo_phrase(new, old, active_name, reasons, also)
    return Comparison(candidate_name, active_name, photos=(new, old), reasons=tuple(reasons), also=tuple(also),
                      active_path=active_path)


def _kind(entry) -> str:
    return getattr(entry, "kind", FMNIST_KIND)


def run(inputs: CompareInputs, state: TaskState) -> Comparison | None:
    """Compare the candidate with the active model of its kind; None when stopped."""
    candidate, active = inputs.candidate, inputs.active
    if active is None or active.id == candidate.id:
        return Comparison(candidate.name, getattr(active, "name", None))
    reasons, also = [], []  # both name both models' figures: the question says what the user gives up and keeps
    test = (candidate.test_accuracy, active.test_accuracy) if _kind(candidate) == FMNIST_KIND else (None, None)
    if None not in test:
        (reasons if test[0] < test[1] - 0.005 else also).append(
            f"{test[0]:.2f} % on the Fashion-MNIST test set against {test[1]:.2f} %")
    state.set_progress(None, "Comparing with the active model on real photos…")
    from . import photo_scores

    scores = _Scores(state)
    kind = _kind(candidate)
    photo_scores.run(photo_scores.ScoreInputs([("candidate", candidate.path, kind), ("active", active.path, kind)]),
                     scores)
    if state.is_interruption_requested():
        return None
    photos = (scores.scores.get("candidate"), scores.scores.get("active"))
    _add_photo_phrase(*photos, active.name, reasons, also)
    return Comparison(candidate.name, active.name, test, photos, tuple(reasons), tuple(also),
                      active_path=str(active.path))
