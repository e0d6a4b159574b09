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
own contract: see the section "The photo model" at the end.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..base import verdict as verdict_rules
from ..base.labels import CLASS_NAMES
from ..photo import load_image
from ..photo.model_input import PAD_RGB, letterbox, to_unit_tensor
from ..store.checkpoint import CheckpointMeta, load_model
from ..models.arch_info import PHOTO_KIND, kind_of_arch
from ..base.errors import FmnistError
from ..base.paths import atomic_write_bytes, atomic_write_text, bundled_path

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
            "pixels": f"a Fashion-MNIST-style image (light garment on black), resized to {s}×{s}, "
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
    from PIL import Image

    files = sorted(bundled_path("resources/samples").glob("fashion-mnist_*.png"))
    if not files:
        raise ExportError("The bundled Fashion-MNIST samples are missing, so the export cannot be verified.")
    return np.stack([np.asarray(Image.open(f).convert("L"), dtype=np.uint8) for f in files])


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


# ---------------------------------------------------------------------------------------------
# Export


def export_model(
    source: str | os.PathLike[str] | tuple[nn.Module, CheckpointMeta],
    out: str | os.PathLike[str],
    fmt: str = "onnx",
    verify_images: np.ndarray | None = None,
) -> ExportResult:
    """Export a model (a checkpoint path, or a (model, meta) pair) to `out` in `fmt`, write the
    contract beside it, and verify the file (see the module's docstring). Raises ExportError."""
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
        return export_photo_model(model, meta, out, fmt, previous_mode=previous_mode)
    t0 = time.perf_counter()
    terms = contract(meta, fmt)
    images = sample_images() if verify_images is None else np.asarray(verify_images, dtype=np.uint8)
    x = model_input(images, meta)
    want = torch_probabilities(model, x)

    blob = _onnx_bytes(model, meta, terms) if fmt == "onnx" else _torchscript_bytes(model, meta, terms)
    def verify(tmp: Path) -> Verification:
        if fmt == "onnx":
            import onnxruntime

            return _compare(f"onnxruntime {onnxruntime.__version__}", onnx_probabilities(onnx_session(tmp), x), want)
        return _compare(f"torch.jit {torch.__version__.split('+')[0]}",
                        torchscript_probabilities(torchscript_module(tmp), x), want)

    return _write_verified(out, fmt, blob, terms, verify, previous_mode, t0)


def _write_verified(out: Path, fmt: str, blob: bytes, terms: dict[str, Any], verify, previous_mode, t0: float
                    ) -> "ExportResult":
    """Verify the export from a temporary copy first, so a bad export never replaces a good file;
    then write it and its contract atomically. The copy is created new (O_EXCL) under a short name
    of its own: a planted symlink is never followed, and a long output name leaves room."""
    tmp = None
    try:
        tmp = _new_temp_file(out.parent, blob, SUFFIXES[fmt])
        check = verify(tmp)
    except OSError as exc:
        raise ExportError(f"Cannot write {out}: {exc.strerror or exc}.") from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    if not check.ok:
        raise ExportError(
            f"The exported {fmt} model does not answer like the original ({check.line()}); nothing was written.",
            "Report this with the model file.",
        )
    atomic_write_bytes(out, blob)
    contract_path = out.with_name(out.name + ".json")
    terms["verification"] = check.to_dict()
    atomic_write_text(contract_path, json.dumps(terms, indent=2, ensure_ascii=False))
    share_like_other_files(out, previous_mode)
    share_like_other_files(contract_path)
    return ExportResult(out, fmt, len(blob), contract_path, check, time.perf_counter() - t0)


def _onnx_bytes(model: nn.Module, meta: CheckpointMeta, terms: dict[str, Any]) -> bytes:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch's ONNX exporter is built on it)
    except ImportError as exc:
        raise ExportError("Exporting to ONNX needs the onnx and onnxscript packages, which are not installed.", ONNX_HINT) from exc
    import tempfile

    s = int(meta.input_size)
    example = torch.zeros(2, 1, s, s)
    wrapped = _WithSoftmax(model).eval()
    with tempfile.TemporaryDirectory(prefix="fmnist-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrapped, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                    opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
                    dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},),
                )
        except Exception as exc:  # noqa: BLE001 — the exporter's errors are long; one line for the user
            raise ExportError(f"The ONNX exporter failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        proto = onnx.load(str(path))
    proto.producer_name = "fmnist-desktop"
    proto.doc_string = f"{meta.name} — Fashion-MNIST classifier; see metadata 'fmnist_contract'."
    props = {
        "fmnist_contract": json.dumps(terms, ensure_ascii=False),
        "class_names": json.dumps(list(meta.class_names), ensure_ascii=False),
        "mean": repr(float(meta.mean)),
        "std": repr(float(meta.std)),
        "input_size": str(s),
        "opset": str(OPSET),
        "model_name": meta.name,
        "preset": str(meta.preset),
    }
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    _strip_machine_paths(proto)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _torchscript_bytes(model: nn.Module, meta: CheckpointMeta, terms: dict[str, Any]) -> bytes:
    import io

    s = int(meta.input_size)
    wrapped = _WithSoftmax(model).eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated upstream but still the TorchScript format
            traced = torch.jit.trace(wrapped, torch.zeros(2, 1, s, s), check_trace=False)
            torch.jit.save(traced, buf, _extra_files={"fmnist.json": json.dumps(terms, ensure_ascii=False)})
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"TorchScript export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    return _without_debug_files(buf.getvalue())


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


# ---------------------------------------------------------------------------------------------
# Where an export may go, and what it must not carry (issue 17, hostile items 10-13)


def check_export_target(out: str | os.PathLike[str], contract: bool = False) -> int | None:
    """Refuse an output that is not a regular file (`/dev/null`, a FIFO, a socket: they were
    replaced by regular files), a read-only file (it was silently replaced), or a name too long
    for the file system (with `contract`: also its `<name>.json`). Returns the mode of the file
    being replaced (None when there is none), so the export keeps it."""
    from ..base.paths import name_too_long

    out = Path(out)
    try:
        info = os.stat(out)
    except FileNotFoundError:
        info = None
    except OSError as exc:  # ENAMETOOLONG among them
        raise ExportError(f"Cannot write {out.name[:40] + '…' if len(out.name) > 40 else out}: "
                          f"{exc.strerror or exc}.") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise ExportError(f"{out} is a folder; give a file name to write.")
        if not stat.S_ISREG(info.st_mode):
            what = ("a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a pipe" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
                    else "not a regular file")
            raise ExportError(f"{out} is {what}, not a file; an export is written only to a new or ordinary file.")
        if not os.access(out, os.W_OK) or not info.st_mode & 0o222:  # root may write anyway; it still asks
            raise ExportError(f"{out} is read-only; it was left as it is.",
                              "Choose another name, or make the file writable first if it should be replaced.")
    for path in (out, out.with_name(out.name + ".json")) if contract else (out,):
        reason = name_too_long(path)
        if reason:
            raise ExportError(f"Cannot write {path.name[:40]}…: {reason}." if len(path.name) > 40
                              else f"Cannot write {path}: {reason}.")
    return stat.S_IMODE(info.st_mode) if info is not None else None


def share_like_other_files(path: str | os.PathLike[str], mode: int | None = None) -> None:
    """Give a written export the mode of the file it replaced, or else the one a new file gets
    (0666 less the umask): the atomic write's temporary file is 0600, which other users and
    programs could not read."""
    if mode is None:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        os.chmod(path, mode)
    except OSError:  # a file system without modes (FAT, some network shares): nothing to keep
        pass


def _new_temp_file(folder: Path, data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=".fmnist-verify-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


_MACHINE_KEYS = ("pkg.torch.onnx.stack_trace",)  # file:line of the exporting machine, home folder included


def _strip_machine_paths(proto) -> None:
    """Remove the exporter's stack traces (absolute paths of this machine) from every node."""
    def clean(graph) -> None:
        for node in graph.node:
            node.doc_string = ""
            keep = [(e.key, e.value) for e in node.metadata_props if e.key not in _MACHINE_KEYS]
            del node.metadata_props[:]
            for key, value in keep:
                entry = node.metadata_props.add()
                entry.key, entry.value = key, value
            for attr in node.attribute:
                if attr.HasField("g"):
                    clean(attr.g)
                for sub in attr.graphs:
                    clean(sub)

    clean(proto.graph)
    for function in proto.functions:
        clean(function)


def _without_debug_files(blob: bytes) -> bytes:
    """A TorchScript archive without its `*.debug_pkl` entries: they map the code to the source
    files it was traced from, by absolute path. `torch.jit.load` does not need them."""
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(blob))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if not info.filename.endswith(".debug_pkl"):
                dst.writestr(info, src.read(info.filename))
    return buf.getvalue()


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
            "pixels": f"the whole photo scaled to fit {s}×{s} (aspect ratio kept) and centred on a background of "
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


def _photo_onnx_bytes(model: nn.Module, meta: CheckpointMeta, terms: dict[str, Any]) -> bytes:
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's ONNX exporter is built on it)
    except ImportError as exc:
        raise ExportError("Exporting to ONNX needs the onnx and onnxscript packages, which are not installed.", ONNX_HINT) from exc
    import tempfile

    s = int(meta.input_size)
    with tempfile.TemporaryDirectory(prefix="fmnist-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model, (torch.zeros(2, 3, s, s),), str(path), input_names=[INPUT_NAME], output_names=[PHOTO_OUTPUT_NAME],
                    opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
                    dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
                )
        except Exception as exc:  # noqa: BLE001 — the exporter's errors are long; one line for the user
            raise ExportError(f"The ONNX exporter failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        proto = onnx.load(str(path))
    proto.producer_name = "fmnist-desktop"
    proto.doc_string = f"{meta.name} — clothing photo classifier (10 classes + none); see metadata 'fmnist_contract'."
    props = {
        "fmnist_contract": json.dumps(terms, ensure_ascii=False),
        "class_names": json.dumps(terms["class_names"], ensure_ascii=False),
        "input_size": str(s),
        "colour": "RGB",
        "not_sure_threshold": repr(float(terms["not_sure_threshold"])),
        "opset": str(OPSET),
        "model_name": meta.name,
        "preset": str(meta.preset),
    }
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    _strip_machine_paths(proto)  # no absolute paths of this machine in a file given to others
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _photo_torchscript_bytes(model: nn.Module, meta: CheckpointMeta, terms: dict[str, Any]) -> bytes:
    import io

    s = int(meta.input_size)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated upstream but still the TorchScript format
            traced = torch.jit.trace(model, torch.zeros(2, 3, s, s), check_trace=False)
            torch.jit.save(traced, buf, _extra_files={"fmnist.json": json.dumps(terms, ensure_ascii=False)})
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"TorchScript export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    return buf.getvalue()


def _exported_photo_logits(fmt: str, path: Path, x: np.ndarray) -> tuple[str, np.ndarray]:
    """(runtime name, logits) of the exported file at `path` on `x`."""
    if fmt == "onnx":
        import onnxruntime

        session = onnx_session(path)
        got = np.concatenate([session.run([PHOTO_OUTPUT_NAME], {INPUT_NAME: x[s:s + 8]})[0] for s in range(0, len(x), 8)])
        return f"onnxruntime {onnxruntime.__version__}", got
    return f"torch.jit {torch.__version__.split('+')[0]}", photo_logits(torchscript_module(path), x)


def export_photo_model(model: nn.Module, meta: CheckpointMeta, out: Path, fmt: str,
                       verify_inputs: np.ndarray | None = None, previous_mode: int | None = None):
    """Export a photo model to `out` (onnx or torchscript), verify it, write the contract beside it."""
    t0 = time.perf_counter()
    model = model.to("cpu").eval()
    terms = photo_contract(meta, fmt)
    x = sample_photo_inputs(int(meta.input_size)) if verify_inputs is None else np.asarray(verify_inputs, np.float32)
    want = _softmax(photo_logits(model, x))
    blob = _photo_onnx_bytes(model, meta, terms) if fmt == "onnx" else _photo_torchscript_bytes(model, meta, terms)
    def verify(tmp: Path) -> Verification:
        runtime, got = _exported_photo_logits(fmt, tmp, x)
        return _compare(runtime, _softmax(got), want)

    return _write_verified(out, fmt, blob, terms, verify, previous_mode, t0)


__all__ += ["PHOTO_OUTPUT_NAME", "export_photo_model", "photo_class_names", "photo_contract", "photo_logits",
            "sample_photo_inputs"]
