"""What the Models page says about each model's kind (issue 20): "Photo model" or "28×28 network",
its file size, its figures (each measure in its own column: the Fashion-MNIST test accuracy, the
share of held-out photos right), the epochs it ran, and what a fine-tune was."""

from __future__ import annotations

import math
from pathlib import Path

from ...core.base.formats import count_noun, recorded_test_accuracy
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


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fashion_test_text(entry) -> tuple[str, str]:
    """(cell, tooltip) for the "Fashion-MNIST test" column: accuracy on its 10,000 test images,
    which only 28×28 networks are measured on."""
    if kind_of(entry) == PHOTO_KIND:
        return "—", "A photo model is not measured on the Fashion-MNIST test set: see its held-out and real photos"
    accuracy = recorded_test_accuracy(getattr(getattr(entry, "meta", None), "metrics", None) or {})
    if accuracy is None:
        return "—", "No Fashion-MNIST test score recorded (e.g. a run stopped early is not tested)"
    return f"{accuracy:.2f}%", "Accuracy on the Fashion-MNIST test set (10,000 images)"


def held_out_text(entry) -> tuple[str, str]:
    """(cell, tooltip) for the "Held-out photos" column: the share of photos from senders the model
    never trained on that it named right (meta.metrics["held_out_photos"], recorded when trained)."""
    metrics = getattr(getattr(entry, "meta", None), "metrics", None) or {}
    held = metrics.get("held_out_photos") if isinstance(metrics, dict) else None
    accuracy = held.get("accuracy") if isinstance(held, dict) else None
    if _number(accuracy):
        n = held.get("n")
        of = f" of {n}" if isinstance(n, int) else ""
        return (f"{100 * accuracy:.1f}%", f"{100 * accuracy:.1f} % right on{of} held-out photos (senders it never "
                                          "trained on), measured when it was trained")
    finetune = metrics.get("finetune") if isinstance(metrics, dict) else None
    after = finetune.get("after_photos") if isinstance(finetune, dict) else None
    if _number(after):
        kept = finetune.get("n_kept_out")
        return (f"{100 * after:.1f}%", f"{100 * after:.1f} % right on your {kept or ''} kept-out photos after "
                                       "fine-tuning".replace("  ", " "))
    return "—", "No held-out photo figure recorded for this model; the Real photos column measures it"


def epochs_text(entry) -> tuple[str, str]:
    """(cell, tooltip) for the Epochs column: the epochs it actually ran (a run stopped early ran
    fewer than its recipe planned), or a head-only fine-tune's steps."""
    meta = getattr(entry, "meta", None)
    training = dict(getattr(meta, "training", None) or {})
    ran = len(getattr(meta, "history", None) or [])
    planned = training.get("epochs")
    planned = planned if isinstance(planned, int) and not isinstance(planned, bool) else None
    if ran:
        if planned and planned > ran:
            return str(ran), f"Stopped early: ran {ran} of the {count_noun(planned, 'epoch')} its recipe planned"
        return str(ran), f"Trained for {ran} epoch{'s' if ran != 1 else ''}"
    steps = training.get("steps")
    if isinstance(steps, int) and steps > 0:
        return count_noun(steps, "step"), f"Fine-tuned ({training.get('method', 'head only')}): {count_noun(steps, 'step')}, no epochs"
    if planned:
        return str(planned), f"{planned} epoch{'s' if planned != 1 else ''} (no per-epoch history recorded)"
    return "—", "No training recorded (e.g. imported weights)"


def finetune_sentence(entry) -> str:
    """What a fine-tuned model without a per-epoch history is ("… was fine-tuned from “P” on 3 of
    your photos …"), or "" when it was not fine-tuned."""
    meta = getattr(entry, "meta", None)
    training = dict(getattr(meta, "training", None) or {})
    if training.get("kind") != "finetune":
        return ""
    metrics = getattr(meta, "metrics", None) or {}
    finetune = metrics.get("finetune") if isinstance(metrics, dict) else None
    finetune = finetune if isinstance(finetune, dict) else {}
    n = finetune.get("n_photos", training.get("n_train"))
    parent = metrics.get("threshold_inherited_from") if isinstance(metrics, dict) else None
    how = [training.get("method") or "", count_noun(training["steps"], "step") if training.get("steps") else "",
           f"{training['elapsed_s']:.1f} s" if _number(training.get("elapsed_s")) else ""]
    text = f"“{entry.name}” was fine-tuned"
    if parent:
        text += f" from “{parent}”"
    if isinstance(n, int):
        text += f" on {n} of your photo{'s' if n != 1 else ''}"
    details = ", ".join(h for h in how if h)
    return text + (f" ({details})" if details else "") + ": it has no epochs to chart; the Real photos column " \
        "measures it."
