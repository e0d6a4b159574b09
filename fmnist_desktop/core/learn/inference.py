"""The one batched-inference loop: a model over uint8 Fashion-MNIST-style images, batch by batch,
and the one batched softmax on top of it (`probabilities`).

Used by the test-set evaluation, the Predictor, the calibration, the photo-folder evaluation and
the fine-tuning comparison. (Training's own
validation keeps its loop: it sums loss and hits on the device without a sync per batch, which
matters on a GPU.)
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from ..base.labels import NUM_CLASSES
from .transforms import to_model_input


def iter_logits(
    model: nn.Module,
    images: torch.Tensor,
    input_size: int | None,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 1000,
    stop=None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield `(end, logits)` per batch of uint8 `images` (N, 28, 28): the float logits (on the
    model's device) of images `[end - len(logits), end)`. The model's mode is the caller's to set.

    `stop` (anything with `is_set()`) is checked before each batch; once it is set the loop ends
    early, so a caller that got fewer than N images was stopped. `input_size` None: `images` are
    model inputs already (a float batch (N, C, S, S), e.g. the photo-evaluation pipelines').
    """
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    total = int(images.shape[0])
    for start in range(0, total, batch_size):
        if stop is not None and stop.is_set():
            return
        with torch.inference_mode():
            batch = images[start : start + batch_size].to(device)
            x = batch if input_size is None else to_model_input(batch, input_size, mean, std)
            logits = model(x).float()
        yield min(start + batch_size, total), logits


def probabilities(
    model: nn.Module,
    images: torch.Tensor,
    input_size: int | None,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 1000,
    stop=None,
) -> torch.Tensor:
    """Class probabilities (N, classes) on the CPU: `iter_logits`, each batch softmaxed, joined.
    Fewer rows than images when `stop` was set. The model's mode is the caller's to set."""
    out = [logits.softmax(dim=1).cpu() for _end, logits in iter_logits(
        model, images, input_size, mean, std, device=device, batch_size=batch_size, stop=stop)]
    return torch.cat(out) if out else torch.zeros((0, NUM_CLASSES))
