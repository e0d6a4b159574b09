"""A photo model in memory (a torch `PhotoNet`) as the backbone `data.photo_embeddings` embeds
photos with: the way the photo model's training and a model without an ONNX twin are served.
The app's fine-tune embeds with the model's ONNX twin instead (core.predict.photo_twin), without
torch; both name their embeddings by the same backbone hash, so each finds what the other stored.
"""

from __future__ import annotations

import hashlib

import numpy as np

FEATURE_BATCH = 8  # the backbone is fastest on CPU in small batches (data.photo_features.BATCH)


def weights_id(state) -> str:
    """A hash of a module's state (name and float32 bytes of each tensor, by name): the backbone's
    or the ImageNet opinion's, as `core.predict.photo_twin.weights_id` hashes a file's arrays."""
    h = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        h.update(name.encode())
        h.update(tensor.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class TorchBackbone:
    """`features` and `imagenet` of letterboxed photos through a torch PhotoNet."""

    def __init__(self, net):
        self.net = net.eval()
        self.feature_dim = int(net.head.in_features)
        self.backbone_id = getattr(net, "_backbone_id", None) or weights_id(net.backbone.state_dict())
        net._backbone_id = self.backbone_id  # the backbone of a loaded photo model is never trained in place
        opinion = getattr(net, "opinion", None)
        self.opinion_id = None if opinion is None else weights_id(opinion.state_dict())

    def _batches(self, images: list, run) -> np.ndarray:
        import torch

        from ..photo.model_input import to_unit_tensor

        out = []
        with torch.inference_mode():
            for k in range(0, len(images), FEATURE_BATCH):
                out.append(run(to_unit_tensor(images[k:k + FEATURE_BATCH])).float().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.feature_dim), np.float32)

    def features(self, images: list) -> np.ndarray:
        """(N, 1280) pooled features of letterboxed RGB images."""
        return self._batches(images, self.net.features)

    def imagenet(self, images: list) -> np.ndarray:
        """(N, 1000) ImageNet's probabilities that the model's opinion mixes in."""
        net = self.net
        b, opinion = net.backbone, net.opinion

        def run(x):
            return opinion.imagenet_probabilities(b.blocks(b.stem(net.normalise(x)), 0, opinion.start_block))

        return self._batches(images, run)


def as_backbone(model):
    """A torch PhotoNet wrapped as a backbone; anything else (a twin's backbone) as it is."""
    return TorchBackbone(model) if hasattr(model, "state_dict") and hasattr(model, "head") else model
