"""Exporting a model for other programs: ONNX (run with onnxruntime) and TorchScript.

Both formats take the same input and give the same output, written down in a *preprocessing
contract* (`contract(meta)`): a float32 tensor `image` of shape (N, 1, S, S) — S is the model's
input size, 28 for every preset but the origin notebook's 16 — holding Fashion-MNIST-style
images (light garment on black, pixel / 255, resized to S×S) normalised as (x − mean) / std;
the output `probabilities` (N, 10) in the order of `class_names`. The softmax (and, for models
trained with flips, the mirror averaging the app uses) is inside the exported graph.

The contract travels three ways: as a JSON file beside the export (`<file>.json`), inside the
file (ONNX `metadata_props`: class_names, mean, std, input_size, opset, ...; TorchScript: the
extra file `fmnist.json`), and in the README. Real photos must first be turned into that
28×28 image (`core.photo.prepare_photo`, or the app's `fmnist predict`).

Every export is verified before it is kept: the written file is loaded back with onnxruntime
(or `torch.jit.load`) and run on the bundled Fashion-MNIST samples (or the images given);
top-1 must agree with torch on every image and each probability within `TOLERANCE` (1e-4).
A failed verification removes the file and raises `ExportError`.

A photo model (issue 20) is exported as itself (RGB 224×224 in 0..1 in, 11 logits out) with its
own contract: see core.jobs.photo_export.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..base.paths import bundled_path
from ..store.checkpoint import CheckpointMeta, load_model
from ..models.arch_info import PHOTO_KIND, kind_of_arch

# What every export shares, where an export may go, and the photo model's export live in their own
# modules; their names are imported here too, since callers import them from core.jobs.export.
from .export_formats import (  # noqa: F401
    CONTRACT_VERSION,
    EXIF_ORIENTATION_TERM,
    check_answers_are_numbers,
    FORMATS,
    INPUT_NAME,
    ONNX_HINT,
    OPSET,
    OUTPUT_NAME,
    SUFFIXES,
    TOLERANCE,
    ExportError,
    ExportResult,
    Verification,
    _compare,
    onnx_probabilities,
    onnx_session,
    read_contract,
    torchscript_module,
    torchscript_probabilities,
)
from .export_targets import (  # noqa: F401
    _MACHINE_KEYS,
    _new_temp_file,
    _strip_machine_paths,
    _without_debug_files,
    _write_verified,
    onnx_file_bytes,
    torchscript_file_bytes,
    check_export_target,
    share_like_other_files,
)
from .photo_export import (  # noqa: F401
    PHOTO_NONE_NAME,
    PHOTO_OUTPUT_NAME,
    _exported_photo_logits,
    _photo_onnx_bytes,
    _photo_torchscript_bytes,
    _softmax,
    export_photo_model,
    photo_class_names,
    photo_contract,
    photo_logits,
    sample_photo_inputs,
    twin_output_names,
)


class _WithSoftmax(nn.Module):
    """The model as exported: normalised image in, class probabilities out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(image), dim=1)


def contract(meta: CheckpointMeta, fmt: str = "onnx") -> dict[str, Any]:
    """What a program must feed the exported model and what it gets back."""
    s = int(meta.input_size)
    return {
        "contract_version": CONTRACT_VERSION,
        "format": fmt,
        "opset": OPSET if fmt == "onnx" else None,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", 1, s, s],
            "dtype": "float32",
            "layout": "NCHW, one grey channel",
            "orientation": EXIF_ORIENTATION_TERM,
            "pixels": f"a Fashion-MNIST-style image (light garment on black), turned upright by its EXIF orientation, "
                      f"resized to {s}×{s}, "
                      "value = pixel / 255, then (value - mean) / std",
            "mean": float(meta.mean),
            "std": float(meta.std),
        },
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(meta.class_names)], "dtype": "float32",
                   "meaning": "class probabilities (softmax applied), in the order of class_names"},
        "class_names": list(meta.class_names),
        "photos": "real photos must first become the 28×28 light-on-black image: "
                  "fmnist_desktop.core.photo.prepare_photo(load_image(path)).final",
        "model": {"name": meta.name, "preset": meta.preset, "arch": meta.arch, "created": meta.created,
                  "test_accuracy": (meta.metrics or {}).get("test_accuracy"), "app_version": meta.app_version},
    }


def default_output(weights: str | os.PathLike[str], fmt: str) -> Path:
    return Path(weights).with_suffix(SUFFIXES[fmt])


def sample_images() -> np.ndarray:
    """The bundled Fashion-MNIST samples (resources/samples/fashion-mnist_*.png) as uint8 (N,28,28)."""
    from ..base.formats import open_listed_image

    files = sorted(bundled_path("resources/samples").glob("fashion-mnist_*.png"))
    if not files:
        raise ExportError("The bundled Fashion-MNIST samples are missing, so the export cannot be verified.")
    return np.stack([np.asarray(open_listed_image(f).convert("L"), dtype=np.uint8) for f in files])


def model_input(images: np.ndarray | torch.Tensor, meta: CheckpointMeta) -> np.ndarray:
    """uint8 (N,28,28) → the exported model's float32 input (N,1,S,S), exactly as the app prepares it."""
    from ..learn.transforms import to_model_input

    t = torch.as_tensor(np.asarray(images, dtype=np.uint8))
    return to_model_input(t, meta.input_size, meta.mean, meta.std).contiguous().numpy().astype(np.float32)


def torch_probabilities(model: nn.Module, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    wrapped = _WithSoftmax(model).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            out.append(wrapped(torch.from_numpy(x[start : start + batch])).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


# ---------------------------------------------------------------------------------------------
# Export


def export_model(
    source: str | os.PathLike[str] | tuple[nn.Module, CheckpointMeta],
    out: str | os.PathLike[str],
    fmt: str = "onnx",
    verify_images: np.ndarray | None = None,
    twin: bool = False,
) -> ExportResult:
    """Export a model (a checkpoint path, or a (model, meta) pair) to `out` in `fmt`, write the
    contract beside it, and verify the file (see the module's docstring). Raises ExportError.
    `twin`: the ONNX twin of a photo model (core.jobs.photo_export.PhotoTwinGraph's outputs)."""
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}.")
    if isinstance(source, tuple):
        model, meta = source
    else:
        model, meta = load_model(source, "cpu")
    model = model.to("cpu").eval()
    out = Path(out)
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name, e.g. {out / ('model' + SUFFIXES[fmt])}.")
    if not out.parent.is_dir():
        raise ExportError(f"The folder {out.parent} does not exist.")
    previous_mode = check_export_target(out, contract=True)
    if kind_of_arch(meta.arch) == PHOTO_KIND:  # RGB 224×224 in, 11 logits out: its own contract
        return export_photo_model(model, meta, out, fmt, previous_mode=previous_mode, twin=twin)
    t0 = time.perf_counter()
    terms = contract(meta, fmt)
    images = sample_images() if verify_images is None else np.asarray(verify_images, dtype=np.uint8)
    x = model_input(images, meta)
    want = torch_probabilities(model, x)
    check_answers_are_numbers(want, meta.name)

    blob = _onnx_bytes(model, meta, terms) if fmt == "onnx" else _torchscript_bytes(model, meta, terms)
    def verify(tmp: Path) -> Verification:
        if fmt == "onnx":
            import onnxruntime

            return _compare(f"onnxruntime {onnxruntime.__version__}", onnx_probabilities(onnx_session(tmp), x), want)
        return _compare(f"torch.jit {torch.__version__.split('+')[0]}",
                        torchscript_probabilities(torchscript_module(tmp), x), want)

    return _write_verified(out, fmt, blob, terms, verify, previous_mode, t0)


def _onnx_bytes(model: nn.Module, meta: CheckpointMeta, terms: dict[str, Any]) -> bytes:
    s = int(meta.input_size)
    return onnx_file_bytes(
        _WithSoftmax(model).eval(), torch.zeros(2, 1, s, s), OUTPUT_NAME, 65536,
        f"{meta.name} — Fashion-MNIST classifier; see metadata 'fmnist_contract'.",
        {
            "fmnist_contract": json.dumps(terms, ensure_ascii=False),
            "class_names": json.dumps(list(meta.class_names), ensure_ascii=False),
            "mean": repr(float(meta.mean)),
            "std": repr(float(meta.std)),
            "input_size": str(s),
            "model_name": meta.name,
            "preset": str(meta.preset),
        },
    )


def _torchscript_bytes(model: nn.Module, meta: CheckpointMeta, terms: dict[str, Any]) -> bytes:
    s = int(meta.input_size)
    return torchscript_file_bytes(_WithSoftmax(model).eval(), torch.zeros(2, 1, s, s), terms)


def export_formats_available() -> dict[str, str | None]:
    """{format: None if it can be exported here, else why not} (the GUI greys out the others)."""
    out: dict[str, str | None] = {"torchscript": None}
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401

        out["onnx"] = None
    except ImportError:
        out["onnx"] = "onnx, onnxscript and onnxruntime are not installed"
    return out


__all__ = [
    "ExportError", "ExportResult", "FORMATS", "OPSET", "TOLERANCE", "Verification", "contract", "default_output",
    "export_formats_available", "export_model", "model_input", "onnx_probabilities", "onnx_session",
    "read_contract", "sample_images", "torch_probabilities", "torchscript_module", "torchscript_probabilities",
]

__all__ += ["PHOTO_OUTPUT_NAME", "export_photo_model", "photo_class_names", "photo_contract", "photo_logits",
            "sample_photo_inputs"]
