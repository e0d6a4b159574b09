"""The Evaluate page (`page.EvaluatePage`), its results panel (`results`) and its report export (`report`)."""

from ...widgets.gallery import MAX_THUMB_SIZE, MIN_THUMB_SIZE, THUMB_SIZE
from .page import EvaluatePage, EvaluationOutcome

__all__ = ["EvaluatePage", "EvaluationOutcome", "MAX_THUMB_SIZE", "MIN_THUMB_SIZE", "THUMB_SIZE"]
