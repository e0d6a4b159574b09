"""The words of a photo model's evaluation on the Evaluate page: its accuracy on the photos, and
how often it says "not sure", is confidently wrong, and flags the none-of-the-ten photos."""

from __future__ import annotations

import math


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f} %" if math.isfinite(rate) else "–"


def photo_accuracy_text(photo) -> str:
    """"Photo accuracy: 85.0 % (68 of 80)" for a core.jobs.evaluate.PhotoEvaluation."""
    result = photo.result
    right = int((result.predictions == result.labels).sum())
    return f"Photo accuracy: {result.accuracy:.1f} % ({right} of {len(result.labels)})"


def photo_rates_text(photo) -> str:
    """Not sure, confidently wrong, the none-of-the-ten photos and unreadable ones, in one line."""
    figures = photo.photo_result
    parts = [f"Not sure (below {100 * figures.threshold:.1f} % confidence): {_percent(figures.not_sure_rate)} "
             "of the photos",
             f"confidently wrong: {_percent(figures.confidently_wrong_rate)}"]
    if figures.n_none:
        noun = "photo" if figures.n_none == 1 else "photos"
        parts.append(f"{figures.n_none} none-of-the-ten {noun}, {_percent(figures.none_flagged_rate)} of them "
                     "called not sure")
    if figures.errors:
        parts.append(f"{figures.errors} unreadable, left out")
    return " · ".join(parts) + "."
