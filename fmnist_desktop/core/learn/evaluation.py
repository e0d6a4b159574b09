"""Measuring a torch model on a labelled split (`evaluate`); what the answers come to
(`EvaluationResult`: accuracy, confusion matrix, per-class metrics) lives in `metrics.py`.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..base.labels import NUM_CLASSES
from .inference import iter_logits
# The result and its figures are torch-free (the lite edition builds them too); re-exported here.
from .metrics import EvaluationResult, confusion_matrix, per_class_metrics, result_from_probabilities  # noqa: F401


def evaluate(
    model: nn.Module,
    split,
    input_size: int,
    mean: float,
    std: float,
    device: str | torch.device = "cpu",
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> EvaluationResult | None:
    """Run `model` over a `data.Split` (uint8 images, int64 labels) in batches.

    `progress(done, total)` is called after each batch (images). Returns None if `stop` was set
    (checked between batches). The model is put in eval mode for the run and given back on the
    device and in the mode it came in.
    """
    device = torch.device(device)
    images, labels = split.images, split.labels
    total = int(labels.shape[0])
    params = next(model.parameters(), None)
    home = params.device if params is not None else torch.device("cpu")
    was_training = model.training
    model.to(device).eval()
    probs = []
    loss_sum = 0.0
    done = 0
    try:
        for done, logits in iter_logits(model, images, input_size, mean, std, device=device,
                                        batch_size=batch_size, stop=stop):
            target = labels[done - logits.shape[0] : done].to(device)
            loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
            probs.append(logits.softmax(dim=1).cpu())
            if progress is not None:
                progress(done, total)
    finally:
        model.to(home).train(was_training)
    if done < total:  # stopped
        return None
    probabilities = torch.cat(probs).numpy() if probs else np.zeros((0, NUM_CLASSES), np.float32)
    return result_from_probabilities(probabilities, labels.cpu().numpy(), loss_sum / total if total else 0.0)
