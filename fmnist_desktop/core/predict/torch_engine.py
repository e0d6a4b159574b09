"""The torch model as the Predictor's engine: for a model without an ONNX twin (one that cannot be
exported), a model given in memory (a run not yet saved), or a GPU. Same inputs and outputs as
predict.engines.OnnxEngine; imported only when one is needed, since it imports torch."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..learn.inference import probabilities as batched_probabilities
from ..models.arch_info import PHOTO_KIND, kind_of_arch
from ..photo.model_input import to_unit_tensor
from ..store.meta import CheckpointMeta
from .engines import BATCH_SIZE, PHOTO_BATCH


class TorchEngine:
    runtime = "torch"

    def __init__(self, model: nn.Module, meta: CheckpointMeta, device="cpu"):
        self.device = torch.device(device)
        model = model.to(self.device).eval()
        if kind_of_arch(meta.arch) == PHOTO_KIND:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.meta = meta

    def fmnist_probabilities(self, images: np.ndarray) -> np.ndarray:
        meta = self.meta
        return batched_probabilities(self.model, torch.from_numpy(np.ascontiguousarray(images, np.uint8)),
                                     meta.input_size, meta.mean, meta.std, device=self.device,
                                     batch_size=BATCH_SIZE).numpy()

    def photo_probabilities(self, images: list[Image.Image]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for k in range(0, len(images), PHOTO_BATCH):
                x = to_unit_tensor(images[k:k + PHOTO_BATCH]).to(self.device)
                out.append(self.model(x).float().softmax(1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, 11), np.float32)
