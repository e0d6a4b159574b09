"""What every export shares: the formats and their constants, `ExportError`, the verification
record, and the runtimes that load an exported file back (onnxruntime, torch.jit).

Used by the 28×28 network's export (core.jobs.export) and the photo model's (core.jobs.photo_export);
every public name here is also importable from core.jobs.export.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..base.errors import FmnistError

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 18
TOLERANCE = 1e-4
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
CONTRACT_VERSION = 1
ONNX_HINT = 'Install the export extra: pip install "fmnist-desktop[export]" (onnx, onnxscript, onnxruntime).'


class ExportError(FmnistError):
    """The model could not be exported, or the exported file does not answer like the model."""


@dataclass(frozen=True)
class Verification:
    runtime: str  # "onnxruntime 1.x" or "torch.jit 2.x"
    n: int  # images compared
    top1_agreement: float  # fraction 0..1
    max_abs_diff: float  # largest |p_export − p_torch| over every image and class
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "n": self.n, "top1_agreement": self.top1_agreement,
                "max_abs_diff": self.max_abs_diff, "ok": self.ok, "tolerance": TOLERANCE}

    def line(self) -> str:
        return (f"verified with {self.runtime} on {self.n} images: top-1 agreement "
                f"{self.top1_agreement * 100:.2f}%, max probability difference {self.max_abs_diff:.2e}")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    size_bytes: int
    contract_path: Path
    verification: Verification
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "size_bytes": self.size_bytes,
                "contract": str(self.contract_path), "verification": self.verification.to_dict(),
                "seconds": round(self.seconds, 2)}


# Phone cameras store most photos sideways with an EXIF tag saying how to turn them; the app turns
# them upright before anything else (following the contract without it turned a 91 % Trouser into a
# 29 % Dress).
EXIF_ORIENTATION_TERM = ("apply the photo's EXIF orientation before preparing it (Pillow: "
                         "PIL.ImageOps.exif_transpose(image)); phone photos are often stored sideways")


def check_answers_are_numbers(answers: np.ndarray, name: str) -> None:
    """Refuse to export a model whose answers on the verification inputs are NaN or infinite
    (one line; comparing them used to print a numpy RuntimeWarning and blame the exporter)."""
    if not np.isfinite(answers).all():
        raise ExportError(f"“{name}” cannot be exported: this model's answers are not numbers (NaN or infinity); "
                          "nothing was written.", "Train or import the model again.")


def _compare(runtime: str, got: np.ndarray, want: np.ndarray) -> Verification:
    n = int(len(want))
    agree = float(np.mean(got.argmax(1) == want.argmax(1))) if n else 1.0
    diff = float(np.abs(got - want).max()) if n else 0.0
    return Verification(runtime, n, agree, diff, ok=bool(agree == 1.0 and diff <= TOLERANCE and np.isfinite(got).all()))


# ---------------------------------------------------------------------------------------------
# Runtimes for the exported files


def onnx_session(path: str | os.PathLike[str], threads: int | None = None):
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ExportError("Running an ONNX file needs onnxruntime, which is not installed.", ONNX_HINT) from exc
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 — onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot load {Path(path).name}: {str(exc).splitlines()[0][:200]}") from exc


def onnx_probabilities(session, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    out = [session.run([OUTPUT_NAME], {INPUT_NAME: x[s : s + batch]})[0] for s in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def torchscript_module(path: str | os.PathLike[str]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated upstream; TorchScript files still load
        module = torch.jit.load(str(path), map_location="cpu")
    return module.eval()


def torchscript_probabilities(module, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            out.append(module(torch.from_numpy(x[start : start + batch])).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def read_contract(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The contract stored inside an exported file (ONNX metadata or TorchScript extra file)."""
    path = Path(path)
    if path.suffix == ".onnx":
        session = onnx_session(path)
        props = session.get_modelmeta().custom_metadata_map
        return json.loads(props["fmnist_contract"])
    files = {"fmnist.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    return json.loads(files["fmnist.json"])
