"""Making ONNX twins (core.store.twins), and the Predictor that answers with them.

`predictor_for(paths)` is how the app, the CLI and the server load their models: each model file's
twin is found (torch-free) or, when missing, stale or damaged, made here: the model is loaded
with torch, exported with `export.export_model` (verified against torch on the bundled samples;
a failed verification writes nothing) and its manifest written after it. The export runs in a
child process (core.jobs.twin_process): torch's exporter holds the GIL for seconds, which stalled
the window when it ran in a worker thread. Only making a twin imports torch (in the child; in this
process only when `MAKE_IN_CHILD_PROCESS` is off), so the modules that do are imported inside
`make_twin_here`.

A model that cannot be exported (onnxruntime missing, an export that does not answer like the
model) is answered by torch; the Predictor says so (`Predictor.torch_notes`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..base.edition import NeedsFullEdition, has_torch
from ..base.errors import FmnistError
from ..models.arch_info import PHOTO_KIND, kind_of_arch
from ..predict.predictor import Predictor
from ..store import twins
from ..store.twins import Twin
from . import twin_process

# Off only where a test fakes the exporter in this process (a child process would not see it).
MAKE_IN_CHILD_PROCESS = True


def make_twin(source: str | os.PathLike[str]) -> Twin:
    """Export `source` to its twin (in a child process) and record it. Raises FmnistError
    (CheckpointError for a model file that does not load, ExportError for one that cannot be
    exported; NeedsFullEdition in the lite edition, which has no torch to make one with)."""
    if not has_torch():
        raise NeedsFullEdition(f"{Path(source).name} has no ONNX twin (the file the lite edition answers with), and "
                               "making one needs the full edition of the app (with PyTorch).")
    if not MAKE_IN_CHILD_PROCESS:
        return make_twin_here(source)
    twin_process.make_in_child(make_twin_here, source)
    twin = twins.find_twin(source)  # the child's twin, checked like any twin on disk
    if twin is None:
        raise FmnistError(f"The ONNX twin made for {Path(source).name} does not match the model file "
                          "(it changed while the twin was being made).")
    return twin


def make_twin_here(source: str | os.PathLike[str]) -> Twin:
    """`make_twin` in this process (it imports torch): what the child process runs."""
    from ..store.checkpoint import load_model
    from .export import OUTPUT_NAME, export_model, twin_output_names

    source = Path(source)
    try:
        source_sha = twins.file_sha256(source)
    except OSError:
        source_sha = None
    model, meta = load_model(source, "cpu")  # a missing or damaged file: its CheckpointError
    if source_sha is None or twins.file_sha256(source) != source_sha:  # replaced while it loaded
        raise FmnistError(f"{source.name} changed while its ONNX twin was being made.")
    onnx_path, _contract, _manifest = twin_files_ready(source)
    kind = kind_of_arch(meta.arch)
    result = export_model((model, meta), onnx_path, "onnx", twin=True)
    outputs = twin_output_names(model) if kind == PHOTO_KIND else [OUTPUT_NAME]
    return twins.write_manifest(source, source_sha, result.path, meta, kind, result.verification.to_dict(), outputs)


def twin_files_ready(source: Path) -> tuple[Path, Path, Path]:
    """The twin's files, any stale manifest removed first: a crash between writing the new .onnx
    and its manifest must leave no manifest that vouches for the old one."""
    onnx_path, contract, manifest = twins.twin_files(source)
    manifest.unlink(missing_ok=True)
    return onnx_path, contract, manifest


def ensure_twin(source: str | os.PathLike[str]) -> Twin:
    """The model file's valid twin, made when it is missing, stale or damaged."""
    return twins.find_twin(source) or make_twin(source)


def predictor_for(paths: Sequence[str | os.PathLike[str]], device: str = "cpu") -> Predictor:
    """The Predictor over model files (the first is the primary one), answering through their ONNX
    twins on the CPU, made first where needed; torch answers a model whose twin cannot be made
    (and on another device: `device` "cuda" or "auto" keeps torch)."""
    return Predictor.from_checkpoints(paths, device, make_twin=ensure_twin)
