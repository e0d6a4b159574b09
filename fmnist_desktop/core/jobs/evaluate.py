"""Evaluating a model file on the Fashion-MNIST test split: the one way the Evaluate page, `fmnist
evaluate` and the tuner's "save the best model" measure a checkpoint.

`run(EvaluateInputs(path, ...), state)` (see `state.py`) loads the model, reads the test split
(or takes one already read), runs `learn.evaluation.evaluate` and returns a `CheckpointEvaluation`,
or None when stopped. Progress: the model, the test images, then image counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..data.fashion_mnist import load_test_split
from ..learn.evaluation import EvaluationResult, evaluate
from ..store.checkpoint import CheckpointMeta, load_model
from .state import TaskState

LOAD_SHARE = 0.1  # of the progress bar, for loading the model and reading the test images


@dataclass(frozen=True)
class EvaluateInputs:
    checkpoint: str | os.PathLike[str]
    data_dir: str | os.PathLike[str] | None = None  # where the test files are (None: the usual places)
    test_split: Any = None  # a (data.Split, DataSource or None) pair already read, to reuse
    device: str = "cpu"
    batch_size: int = 1000


@dataclass(frozen=True)
class CheckpointEvaluation:
    result: EvaluationResult
    model: Any  # the loaded nn.Module (eval mode, on `device`)
    meta: CheckpointMeta
    split: Any  # the data.Split evaluated on
    source: Any  # its data.DataSource (None when the caller gave a split without one)


def report(result: EvaluationResult, *, name: str, path: Any, preset: str | None, data_source: str) -> dict:
    """The evaluation as JSON values: what `fmnist evaluate --json` prints and the Evaluate page
    exports (File ▸ Export…)."""
    out = result.to_dict()
    out.update(model={"path": str(path), "name": name, "preset": preset}, data_source=data_source)
    return out


def run(inputs: EvaluateInputs, state: TaskState) -> CheckpointEvaluation | None:
    state.set_progress(0.02, "Step 1 of 3: loading the model…")
    model, meta = load_model(inputs.checkpoint, device=inputs.device)
    if state.is_interruption_requested():
        return None
    if inputs.test_split is None:
        state.set_progress(LOAD_SHARE / 2, "Step 2 of 3: reading the test images…")
        split, source = load_test_split(inputs.data_dir)
    else:
        split, source = inputs.test_split
    if state.is_interruption_requested():
        return None

    def progress(done: int, total: int) -> None:
        fraction = LOAD_SHARE + (1 - LOAD_SHARE) * done / max(1, total)
        state.set_progress(fraction, f"Step 3 of 3: {done:,} of {total:,} images", done=done, total=total)

    result = evaluate(model, split, meta.input_size, meta.mean, meta.std, device=inputs.device,
                      batch_size=inputs.batch_size, progress=progress, stop=state)
    if result is None or state.is_interruption_requested():
        return None
    return CheckpointEvaluation(result, model, meta, split, source)
