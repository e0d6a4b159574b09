"""A finished run and a fine-tuned model's name: what `core.jobs.runs` hands on, torch-free.

The photo model's head fine-tune (core.jobs.photo_finetune) builds its run without torch, so
the run's record lives here; `core.jobs.runs` imports these names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..store.meta import CheckpointMeta

KIND_TRAIN = "train"
KIND_FINETUNE = "finetune"


@dataclass
class FinishedRun:
    """A trained model with everything known about it, ready to be saved."""

    model: Any  # torch nn.Module (CPU, eval mode), or store.pt_file.HeadOnParent (a photo head fine-tune)
    meta: CheckpointMeta
    test: Any = None  # core.learn.evaluation.EvaluationResult, None when stopped or failed
    evaluation_error: str | None = None  # why `test` is None when the evaluation failed
    finetune_report: Any = None  # core.jobs.finetune.FinetuneReport for fine-tuning runs

    @property
    def test_accuracy(self) -> float | None:
        """Percent, or None when the test-set evaluation was stopped or failed."""
        return float(self.test.accuracy) if self.test is not None else None


_FIGURES = re.compile(r"( – [^–]*)+$")  # " – 3 epochs – 91.84%", " – 8 photos": the parent's own figures
_NOTES = re.compile(r"\s*\([^()]*\)\s*$")  # "(recommended)", "(shipped with the app)"
_FINETUNED = re.compile(r",\s*fine-tuned\b.*$")


def finetuned_name(parent_name: str, figures: str = "", when: datetime | None = None) -> str:
    """A fine-tuned model's name, from the model it started from (both kinds):
    "Default model, fine-tuned 2 Dec 15:40 – 91.20%". The parent's notes ("(recommended)",
    "(shipped with the app)"), figures and earlier "fine-tuned …" are left out: they are not this
    model's. `figures`: this model's own (" – 91.20%", " – 8 photos")."""
    base = _FINETUNED.sub("", _FIGURES.sub("", parent_name.strip()))
    while _NOTES.search(base):
        base = _NOTES.sub("", base)
    base = base.strip(" ,–-") or "Model"
    when = when or datetime.now()
    return f"{base}, fine-tuned {when.day} {when:%b %H:%M}{figures}"




def save_head_run(run: FinishedRun, library, make_active: bool = False):
    """`runs.save_run` for a photo head fine-tune's run (its model a `store.pt_file.HeadOnParent`),
    without torch: refused when a weight is not a finite number, else added to `library` (a
    `core.store.library.ModelLibrary`; its ONNX twin is made from the parent's as the file is
    written) and made the active photo model when `make_active`. Returns the `ModelEntry`."""
    from ..base.errors import FmnistError

    bad = run.model.non_finite_names()
    if bad:
        raise FmnistError(f"The fine-tuned model's weights are not finite numbers ({bad[0]}): nothing was saved.")
    entry = library.add(run.model, run.meta)
    if make_active:
        library.set_active(entry.id)
    return entry
