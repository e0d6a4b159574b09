"""What the Models page says about each model's kind (issue 20): "Photo model" or "28×28 network",
its file size, and its headline figure (a 28×28 network's test accuracy, a photo model's share of
held-out photos right), and how a photo model is measured on the real photos."""

from __future__ import annotations

import math
from pathlib import Path

from ...core.base.formats import recorded_test_accuracy
from ...core.models.arch_info import FMNIST_KIND, KIND_NAMES, PHOTO_KIND


def kind_of(entry) -> str:
    return getattr(entry, "kind", FMNIST_KIND)


def kind_text(entry) -> str:
    """"Photo model" / "28×28 network"."""
    return KIND_NAMES.get(kind_of(entry), str(kind_of(entry)))


def active_phrase(entry) -> str:
    """"the active photo model" / "the active 28×28 network": what Make active changed."""
    text = kind_text(entry)
    return f"the active {text[:1].lower() + text[1:]}"


def size_text(entry) -> str:
    """The model file's size ("18.9 MB", "1.2 MB", "420 kB"), or "—" when it cannot be read."""
    try:
        size = Path(entry.path).stat().st_size
    except (OSError, TypeError, AttributeError):
        return "—"
    if size >= 1_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{max(1, round(size / 1e3))} kB"


def figure_text(entry) -> tuple[str, str]:
    """(cell, tooltip) for the figure column: a 28×28 network's Fashion-MNIST test accuracy, a
    photo model's share of held-out photos right (meta.metrics["held_out_photos"])."""
    metrics = getattr(getattr(entry, "meta", None), "metrics", None) or {}
    if kind_of(entry) == PHOTO_KIND:
        held = metrics.get("held_out_photos") if isinstance(metrics, dict) else None
        accuracy = held.get("accuracy") if isinstance(held, dict) else None
        if isinstance(accuracy, (int, float)) and not isinstance(accuracy, bool) and math.isfinite(accuracy):
            n = held.get("n")
            of = f" of {n}" if isinstance(n, int) else ""
            return (f"{100 * accuracy:.1f}% photos",
                    f"A photo model: {100 * accuracy:.1f} % right on{of} held-out photos "
                    "(senders it never trained on), not the Fashion-MNIST test set")
        return "—", "A photo model: no held-out photo figure recorded"
    accuracy = recorded_test_accuracy(metrics)
    return (f"{accuracy:.2f}%" if accuracy is not None else "—",
            "Accuracy on the Fashion-MNIST test set (10,000 images)")
