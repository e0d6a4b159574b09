"""Where an answer came from: a heat map over the image the model saw.

- The photo model: Grad-CAM (Selvaraju et al., 2017) on its last convolution (the 1280-channel
  head convolution, 7×7 at 224 px): each channel weighted by the mean gradient of the answered
  class's logit, summed, the negative part dropped, upsampled to the input. One forward and one
  backward pass.
- A 28×28 network: occlusion. A patch of background (black) slides over the 28×28 input; the map
  is how much the answered class's probability falls when each place is hidden. Small networks
  make the 144 hidden copies one batch.

Both return a float map in 0..1 with the model input's size (224×224 or 28×28), hottest = 1.
No Qt here; the Predict page draws the map over "What the model saw".
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

OCCLUSION_PATCH = 6  # pixels of the 28×28 input hidden at a time
OCCLUSION_STRIDE = 2


def _normalised(cam: np.ndarray) -> np.ndarray:
    cam = np.nan_to_num(cam.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    cam -= cam.min()
    top = float(cam.max())
    return cam / top if top > 0 else np.zeros_like(cam)


def photo_grad_cam(net, image: Image.Image, class_index: int) -> np.ndarray:
    """Grad-CAM of a PhotoNet for `class_index` on `image` (RGB, the model's input size)."""
    from ..photo.model_input import to_unit_tensor

    x = to_unit_tensor([image])
    b = net.backbone
    was_training = net.training
    net.eval()
    try:
        with torch.enable_grad():
            blocks = b.blocks(b.stem(net.normalise(x)))
            activations = F.relu6(b._bn1(b._conv_head(blocks)))
            activations.retain_grad()
            logits = net.head(activations.mean((2, 3)))
            logits[0, class_index].backward()
        weights = activations.grad.mean((2, 3), keepdim=True)
        cam = F.relu((weights * activations).sum(1, keepdim=True)).detach()
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    finally:
        net.zero_grad(set_to_none=True)
        net.train(was_training)
    return _normalised(cam.numpy())


def occlusion_map(model, model_input: np.ndarray, class_index: int, mean: float, std: float,
                  input_size: int) -> np.ndarray:
    """Occlusion map of a 28×28 network for `class_index` on its uint8 28×28 input."""
    from .transforms import to_model_input

    base = np.asarray(model_input, np.uint8)
    side = base.shape[0]
    starts = range(0, side - OCCLUSION_PATCH + 1, OCCLUSION_STRIDE)
    hidden, spots = [base], []
    for top in starts:
        for left in starts:
            copy = base.copy()
            copy[top:top + OCCLUSION_PATCH, left:left + OCCLUSION_PATCH] = 0
            hidden.append(copy)
            spots.append((top, left))
    batch = torch.from_numpy(np.stack(hidden))
    model.eval()
    with torch.inference_mode():
        probs = model(to_model_input(batch, input_size, mean, std)).float().softmax(1)[:, class_index].numpy()
    drop = np.maximum(probs[0] - probs[1:], 0.0)
    heat, count = np.zeros((side, side), np.float32), np.zeros((side, side), np.float32)
    for (top, left), d in zip(spots, drop):
        heat[top:top + OCCLUSION_PATCH, left:left + OCCLUSION_PATCH] += d
        count[top:top + OCCLUSION_PATCH, left:left + OCCLUSION_PATCH] += 1
    return _normalised(heat / np.maximum(count, 1))


def overlay(image: Image.Image, heat: np.ndarray, alpha: float = 0.55) -> Image.Image:
    """`image` with `heat` (0..1) drawn over it in a blue → red colour ramp, as RGB."""
    base = image.convert("RGB")
    heat_img = Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8), "L").resize(base.size, Image.BILINEAR)
    h = np.asarray(heat_img, np.float32) / 255.0
    colour = np.stack([np.clip(2 * h, 0, 1), np.clip(2 - np.abs(4 * h - 2), 0, 1) * 0.8, np.clip(1 - 2 * h, 0, 1)], -1)
    mixed = np.asarray(base, np.float32) / 255.0 * (1 - alpha * h[..., None]) + colour * alpha * h[..., None]
    return Image.fromarray((np.clip(mixed, 0, 1) * 255).astype(np.uint8), "RGB")
