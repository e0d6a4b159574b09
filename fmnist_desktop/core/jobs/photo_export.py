"""Exporting a photo model (issue 20): RGB 224×224 in 0..1 in, 11 logits out, with its own contract.

`export.export_model` sends photo models here; the names are also importable from core.jobs.export.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..base import verdict as verdict_rules
from ..base.labels import CLASS_NAMES
from ..base.paths import bundled_path
from ..photo import load_image
from ..photo.model_input import PAD_RGB, letterbox, to_unit_tensor
from ..store.checkpoint import CheckpointMeta
from ..store.twins import FEATURES_OUTPUT, IMAGENET_OUTPUT
from .export_formats import (
    CONTRACT_VERSION,
    EXIF_ORIENTATION_TERM,
    check_answers_are_numbers,
    INPUT_NAME,
    OPSET,
    ExportError,
    Verification,
    _compare,
    onnx_session,
    torchscript_module,
)
from .export_targets import _write_verified, onnx_file_bytes, torchscript_file_bytes

# ---------------------------------------------------------------------------------------------
# The photo model (issue 20)
#
# The exported graph is the photo model itself: input `image`, float32 (N, 3, S, S) — S is the
# model's input size, 224 — holding an RGB photo letterboxed to S×S (the whole photo, scaled to fit,
# padded with `PAD_RGB`) with value = pixel / 255; ImageNet's mean/std normalisation is inside the
# model. Output `logits`, float32 (N, 11): the ten classes in `class_names` order, then "none of
# these". The app's verdict from those logits: softmax; "not sure" when the best of the ten is
# below `not_sure_threshold` or "none of these" is at least as likely as the best class.
#
# The contract (`photo_contract(meta, fmt)`) says all that and travels as for the 28×28 network's export
# (`<file>.json` beside it, ONNX metadata `fmnist_contract`, TorchScript extra file `fmnist.json`).
# Every export is verified before it is written: the file is loaded back with onnxruntime (or
# torch.jit) and run on the bundled sample photos; top-1 over the 11 outputs must agree with torch
# on every photo and each softmax probability within `export.TOLERANCE`.


PHOTO_OUTPUT_NAME = "logits"
PHOTO_NONE_NAME = "none of these"
# An ONNX twin (core.store.twins) answers and also feeds the head's fine-tune without torch
# (core.jobs.photo_finetune): beside the logits it returns the pooled backbone features the linear
# head sees and, for a model with ImageNet's opinion, ImageNet's 1000 probabilities that the
# opinion mixes in. A program that asks only for `logits` gets what any export gives.
FEATURES_OUTPUT_NAME = FEATURES_OUTPUT
IMAGENET_OUTPUT_NAME = IMAGENET_OUTPUT
FEATURES_TOLERANCE = 1e-3  # |features_onnx − features_torch|, relative to the largest feature


class PhotoTwinGraph(nn.Module):
    """The photo model as its twin is exported: (logits, features[, imagenet]) from one pass, the
    same computation as `PhotoNet.forward` in eval mode."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        net = self.model
        b, opinion = net.backbone, net.opinion
        if opinion is None:
            features = net.features(image)
            return net.head(features), features
        shared = b.blocks(b.stem(net.normalise(image)), 0, opinion.start_block)
        features = b.head_features(b.blocks(shared, opinion.start_block))
        imagenet = opinion.imagenet_probabilities(shared)
        return opinion.mix_probabilities(net.head(features), imagenet), features, imagenet


def twin_output_names(model: nn.Module) -> list[str]:
    names = [PHOTO_OUTPUT_NAME, FEATURES_OUTPUT_NAME]
    return names + [IMAGENET_OUTPUT_NAME] if getattr(model, "opinion", None) is not None else names


def photo_class_names(meta: CheckpointMeta) -> list[str]:
    """The 11 output names: the ten classes, then "none of these"."""
    return list(meta.class_names or CLASS_NAMES) + [PHOTO_NONE_NAME]


def photo_contract(meta: CheckpointMeta, fmt: str = "onnx") -> dict[str, Any]:
    """What a program must feed an exported photo model and what it gets back."""
    s = int(meta.input_size)
    metrics = meta.metrics or {}
    return {
        "contract_version": CONTRACT_VERSION,
        "kind": "photo",
        "format": fmt,
        "opset": OPSET if fmt == "onnx" else None,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", 3, s, s],
            "dtype": "float32",
            "layout": "NCHW, RGB (red, green, blue channel order)",
            "colour": "RGB",
            "input_size": s,
            "orientation": EXIF_ORIENTATION_TERM,
            "pixels": f"the photo turned upright by its EXIF orientation first (see 'orientation'), then the whole of it "
                      f"scaled to fit {s}×{s} (aspect ratio kept) and centred on a background of "
                      f"RGB {tuple(PAD_RGB)}; value = pixel / 255 (0..1). ImageNet mean/std normalisation is "
                      "inside the model: do not normalise",
            "range": [0.0, 1.0],
            "normalisation": "inside the model",
            "pad_rgb": list(PAD_RGB),
        },
        "output": {
            "name": PHOTO_OUTPUT_NAME,
            "shape": ["batch", 11],
            "dtype": "float32",
            "meaning": "logits (no softmax applied): the ten classes in the order of class_names, then index 10 = "
                       "'none of these'",
        },
        "class_names": photo_class_names(meta),
        "none_index": 10,
        "not_sure_threshold": verdict_rules.threshold_of(meta),
        "verdict": "softmax over the 11 logits; the answer is the most likely of the first ten; 'not sure' when its "
                   "probability is below not_sure_threshold, or when 'none of these' is at least as likely "
                   "(then it may not be one of the ten)",
        "photos": "fmnist_desktop.core.photo.model_input.load_photo_input(path, input_size) makes the input image",
        "model": {"name": meta.name, "preset": meta.preset, "arch": meta.arch, "created": meta.created,
                  "held_out_photos": metrics.get("held_out_photos"), "app_version": meta.app_version},
    }


def sample_photo_inputs(size: int) -> np.ndarray:
    """The bundled sample photos (resources/samples/photo_*.jpg) and Fashion-MNIST samples, as the
    exported model's input (N, 3, S, S) float32."""
    folder = bundled_path("resources/samples")
    files = sorted(folder.glob("photo_*.jpg")) + sorted(folder.glob("fashion-mnist_*.png"))[:3]
    if not files:
        raise ExportError("The bundled sample photos are missing, so the export cannot be verified.")
    return to_unit_tensor([letterbox(load_image(f), size) for f in files]).contiguous().numpy().astype(np.float32)


def photo_logits(model: nn.Module, x: np.ndarray, batch: int = 8) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[start:start + batch])).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 11), np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def _photo_onnx_bytes(model: nn.Module, meta: CheckpointMeta, terms: dict[str, Any], twin: bool = False) -> bytes:
    s = int(meta.input_size)
    graph, outputs = (PhotoTwinGraph(model).eval(), twin_output_names(model)) if twin else (model, PHOTO_OUTPUT_NAME)
    return onnx_file_bytes(
        graph, torch.zeros(2, 3, s, s), outputs, 4096,
        f"{meta.name} — clothing photo classifier (10 classes + none); see metadata 'fmnist_contract'.",
        {
            "fmnist_contract": json.dumps(terms, ensure_ascii=False),
            "class_names": json.dumps(terms["class_names"], ensure_ascii=False),
            "input_size": str(s),
            "colour": "RGB",
            "not_sure_threshold": repr(float(terms["not_sure_threshold"])),
            "model_name": meta.name,
            "preset": str(meta.preset),
        },
    )


def _photo_torchscript_bytes(model: nn.Module, meta: CheckpointMeta, terms: dict[str, Any]) -> bytes:
    s = int(meta.input_size)
    return torchscript_file_bytes(model, torch.zeros(2, 3, s, s), terms)


def _exported_photo_logits(fmt: str, path: Path, x: np.ndarray) -> tuple[str, np.ndarray]:
    """(runtime name, logits) of the exported file at `path` on `x`."""
    if fmt == "onnx":
        import onnxruntime

        session = onnx_session(path)
        got = np.concatenate([session.run([PHOTO_OUTPUT_NAME], {INPUT_NAME: x[s:s + 8]})[0] for s in range(0, len(x), 8)])
        return f"onnxruntime {onnxruntime.__version__}", got
    return f"torch.jit {torch.__version__.split('+')[0]}", photo_logits(torchscript_module(path), x)


def _features_agree(path: Path, model: nn.Module, x: np.ndarray) -> bool:
    """Whether a twin's `features` output is the torch model's pooled features."""
    session = onnx_session(path)
    got = np.concatenate([session.run([FEATURES_OUTPUT_NAME], {INPUT_NAME: x[s:s + 8]})[0]
                          for s in range(0, len(x), 8)])
    with torch.inference_mode():
        want = np.concatenate([model.features(torch.from_numpy(x[s:s + 8])).float().numpy()
                               for s in range(0, len(x), 8)])
    return bool(np.abs(got - want).max() <= FEATURES_TOLERANCE * max(1.0, float(np.abs(want).max())))


def export_photo_model(model: nn.Module, meta: CheckpointMeta, out: Path, fmt: str,
                       verify_inputs: np.ndarray | None = None, previous_mode: int | None = None, twin: bool = False):
    """Export a photo model to `out` (onnx or torchscript), verify it, write the contract beside it.
    `twin`: an ONNX twin, with the `features` (and `imagenet`) outputs beside the logits."""
    t0 = time.perf_counter()
    model = model.to("cpu").eval()
    twin = twin and fmt == "onnx"
    terms = photo_contract(meta, fmt)
    if twin:
        terms["twin_outputs"] = twin_output_names(model)
    x = sample_photo_inputs(int(meta.input_size)) if verify_inputs is None else np.asarray(verify_inputs, np.float32)
    logits = photo_logits(model, x)
    check_answers_are_numbers(logits, meta.name)
    want = _softmax(logits)
    blob = _photo_onnx_bytes(model, meta, terms, twin) if fmt == "onnx" else _photo_torchscript_bytes(model, meta, terms)
    def verify(tmp: Path) -> Verification:
        runtime, got = _exported_photo_logits(fmt, tmp, x)
        check = _compare(runtime, _softmax(got), want)
        if twin and check.ok and not _features_agree(tmp, model, x):
            return dataclasses.replace(check, ok=False)
        return check

    return _write_verified(out, fmt, blob, terms, verify, previous_mode, t0)


__all__ = ["FEATURES_OUTPUT_NAME", "IMAGENET_OUTPUT_NAME", "PHOTO_OUTPUT_NAME", "PhotoTwinGraph", "export_photo_model", "photo_class_names", "photo_contract", "photo_logits",
           "sample_photo_inputs"]
