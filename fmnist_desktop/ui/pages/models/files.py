"""The Models page's model files: the Open and Export dialogs' file types, and the worker side of
saving a model as the app's own file (a byte copy, written atomically)."""

from __future__ import annotations

from pathlib import Path

from ....core.base import paths
from ....core.base.errors import FmnistError

MODEL_FILTER = "Model files (*.pt *.pth);;All files (*)"
# Export… file types → core.jobs.export formats ("checkpoint": the app's own file).
EXPORT_FILTERS = {
    "App model file (*.pt)": "checkpoint",
    "ONNX, for onnxruntime (*.onnx)": "onnx",
    "TorchScript, for torch.jit.load (*.ts.pt)": "torchscript",
}
EXPORT_SUFFIXES = {"checkpoint": ".pt", "onnx": ".onnx", "torchscript": ".ts.pt"}


def export_target(target: str, chosen_filter: str) -> tuple[str, str]:
    """(the file to write, its format) for the Export dialog's answer: the format's suffix is added
    when the name lacks it."""
    fmt = EXPORT_FILTERS.get(chosen_filter, "checkpoint")
    if fmt == "checkpoint":
        if not target.lower().endswith((".pt", ".pth")):
            target += ".pt"
    elif not target.lower().endswith(EXPORT_SUFFIXES[fmt]):
        target = (target[:-3] if target.lower().endswith(".pt") else target) + EXPORT_SUFFIXES[fmt]
    return target, fmt


def copy_model_file(source: Path, destination: Path) -> str:
    """Copy a model file (weights + metadata) atomically; returns the written path."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise FmnistError(f"Cannot read the model file {source}: {exc.strerror or exc}.") from exc
    paths.atomic_write_bytes(destination, data)
    return str(destination)


def safe_file_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("._")
    return cleaned or "model"
