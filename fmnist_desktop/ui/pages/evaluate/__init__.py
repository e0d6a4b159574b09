"""The Evaluate page (`page.EvaluatePage`), its results panel (`results`) and its report export (`report`)."""

from ...widgets.gallery import MAX_THUMB_SIZE, MIN_THUMB_SIZE, THUMB_SIZE
from .outcome import EvaluationOutcome
from .page import EvaluatePage

__all__ = ["EvaluatePage", "EvaluationOutcome", "MAX_THUMB_SIZE", "MIN_THUMB_SIZE", "THUMB_SIZE"]
