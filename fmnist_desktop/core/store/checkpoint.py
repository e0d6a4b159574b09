"""Model files: the weights plus everything needed to use them again, saved atomically, loaded
without ever executing code.

One file is a `torch.save`d dict::

    {"format": "fmnist-desktop", "format_version": 1,
     "state_dict": {name: tensor}, "meta": {plain str/int/float/bool/list/dict values}}

It is loaded with `torch.load(..., weights_only=True)`, which refuses any pickle that would
construct arbitrary objects or run code. The origin notebook's bare
`torch.save(model.state_dict(), ...)` file is accepted too: it is recognised by its keys and
shapes and given the seed preset's metadata.

Every problem is a `CheckpointError` whose message is one sentence naming the file.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import io
import math
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ... import __version__ as APP_VERSION
from ..base import paths
from ..base.errors import CheckpointError, SaveError
from ..base.labels import CLASS_NAMES, NUM_CLASSES
from .weights_check import check_answers, check_fits, check_runnable, class_count, expected_state, few_names, is_state_dict, mismatches

FORMAT_NAME = "fmnist-desktop"
FORMAT_VERSION = 1
SEED_IMPORT_NAME = "Imported notebook model"

# Limits checked before a file is unpickled or inflated (issue 12). The app's model files are
# 0.1–6 MB; a file, or the sum of the sizes its zip directory declares once inflated, beyond
# MAX_MODEL_BYTES is refused from its header (a 2 MB file can inflate to gigabytes).
MAX_MODEL_BYTES = 250_000_000
# Metadata is plain values; deeper nesting or more values than this is not a description but an
# attack on every later reader (json, repr, the GUI): refused at load.
MAX_META_DEPTH = 32
MAX_META_VALUES = 200_000
# mean/std normalise pixels on the 0..1 scale; values outside these bounds make every input
# overflow or vanish.
MEAN_RANGE = (-1.0, 2.0)
STD_RANGE = (1e-3, 10.0)


@dataclass
class CheckpointMeta:
    """What a model file says about its model. Plain values only (it is stored as a dict)."""

    name: str
    preset: str
    arch: str
    input_size: int
    mean: float
    std: float
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    metrics: dict = field(default_factory=dict)  # e.g. {"test_accuracy": 93.1, "val_accuracy": ...}
    training: dict = field(default_factory=dict)  # the resolved TrainConfig summary, device, time
    history: list[dict] = field(default_factory=list)  # one EpochEnd.to_dict() per epoch
    created: str = field(default_factory=lambda: _now_iso())
    app_version: str = APP_VERSION
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)  # keys a newer app of the same format version added

    @classmethod
    def for_preset(cls, preset: str, name: str, **fields: Any) -> "CheckpointMeta":
        """Metadata for a model trained with `preset` (arch, input size and normalisation from it)."""
        from .user_presets import get_preset

        p = get_preset(preset)
        return cls(name=name, preset=p.name, arch=p.arch, input_size=p.input_size, mean=p.mean, std=p.std, **fields)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "extra"}
        out.update(_plain(self.extra))
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "CheckpointMeta":
        """Build from a stored dict; raises KeyError/TypeError/ValueError on missing or bad fields."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values = {key: raw[key] for key in known if key in raw}
        for required in ("arch", "input_size", "mean", "std"):
            if required not in values:
                raise KeyError(required)
        values.setdefault("name", "Unnamed model")
        values.setdefault("preset", "")
        meta = cls(**values, extra={k: v for k, v in raw.items() if k not in known})
        raw_size = meta.input_size
        if isinstance(raw_size, bool) or not isinstance(raw_size, (int, float)):
            raise TypeError(f"input_size {raw_size!r} is not a number")
        if isinstance(raw_size, float) and not (math.isfinite(raw_size) and raw_size.is_integer()):
            raise ValueError(f"input_size {raw_size!r} is not a whole number")
        meta.input_size = int(raw_size)
        meta.mean, meta.std = float(meta.mean), float(meta.std)
        if meta.input_size < 1:
            raise ValueError(f"input_size {meta.input_size} is not a size")
        if not (math.isfinite(meta.mean) and MEAN_RANGE[0] <= meta.mean <= MEAN_RANGE[1]):
            raise ValueError(f"mean {meta.mean!r} is outside {MEAN_RANGE[0]:g}..{MEAN_RANGE[1]:g}")
        if not (math.isfinite(meta.std) and STD_RANGE[0] <= meta.std <= STD_RANGE[1]):
            raise ValueError(f"std {meta.std!r} is outside {STD_RANGE[0]:g}..{STD_RANGE[1]:g}")
        if not isinstance(meta.arch, str):
            raise TypeError(f"arch {meta.arch!r} is not a name")
        meta.class_names = [str(c) for c in meta.class_names]
        # The descriptive fields are only ever shown, never needed to run the model: a damaged
        # one (a history that is a number, metrics that are a string) is dropped so the model
        # stays usable and no page trips over it later.
        meta.name, meta.preset = str(meta.name), str(meta.preset)
        meta.created, meta.app_version = str(meta.created), str(meta.app_version)
        meta.metrics = dict(meta.metrics) if isinstance(meta.metrics, Mapping) else {}
        meta.training = dict(meta.training) if isinstance(meta.training, Mapping) else {}
        history = meta.history if isinstance(meta.history, (list, tuple)) else []
        meta.history = [dict(epoch) for epoch in history if isinstance(epoch, Mapping)]
        return meta


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _plain(value: Any) -> Any:
    """`value` as str/int/float/bool/None/list/dict only, which weights_only loading accepts and
    JSON can hold. Anything else becomes its str(): metadata must never make a save fail."""
    if isinstance(value, str):
        return safe_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {safe_text(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def safe_text(value: str) -> str:
    """`value` as text that UTF-8 (JSON, the index, a terminal) can hold. A file name that is not
    valid UTF-8 arrives with surrogate escapes (nb_\\udcff.pth); its undecodable bytes become
    U+FFFD instead of making every later write of the metadata fail."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape" if _only_escapes(value) else "replace").decode("utf-8", "replace")


def _only_escapes(value: str) -> bool:
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in value)


# ---------------------------------------------------------------------------------------------
# Saving


def save_checkpoint(
    path: str | os.PathLike[str],
    model_or_state_dict: nn.Module | Mapping[str, torch.Tensor],
    meta: CheckpointMeta | Mapping[str, Any],
) -> Path:
    """Write a model file atomically (the old file, if any, stays intact on any failure).
    Raises SaveError (disk full, permission denied...)."""
    if isinstance(model_or_state_dict, nn.Module):
        state_dict = model_or_state_dict.state_dict()
    else:
        state_dict = model_or_state_dict
    tensors = {str(k): v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    meta_dict = meta.to_dict() if isinstance(meta, CheckpointMeta) else _plain(dict(meta))
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "state_dict": tensors,
        "meta": meta_dict,
    }
    target = Path(path)
    _write_torch_file(target, payload)
    return target


def save_state_dict(path: str | os.PathLike[str], model_or_state_dict: nn.Module | Mapping[str, torch.Tensor]) -> Path:
    """Write only the bare state_dict (what the origin notebook saved), atomically."""
    if isinstance(model_or_state_dict, nn.Module):
        model_or_state_dict = model_or_state_dict.state_dict()
    tensors = {str(k): v.detach().to("cpu").contiguous() for k, v in model_or_state_dict.items()}
    target = Path(path)
    _write_torch_file(target, tensors)
    return target


def _write_torch_file(target: Path, obj: Any) -> None:
    """`torch.save(obj)` into `target` atomically; SaveError on failure, old file intact."""
    with paths.atomic_write(target) as handle:
        # Serialised in memory first (models are a few MB): torch's own file writer reports a full
        # disk as "[enforce fail at inline_container.cc] unexpected pos", while a plain write()
        # raises ENOSPC, which atomic_write turns into "the disk is full".
        buffer = io.BytesIO()
        try:
            torch.save(obj, buffer)
        except RuntimeError as exc:
            raise SaveError(f"Cannot write {target}: {exc}. The previous file, if any, is unchanged.") from None
        handle.write(buffer.getbuffer())


# ---------------------------------------------------------------------------------------------
# Loading


def _read(path: Path) -> Any:
    if not path.exists():
        raise CheckpointError(f"There is no model file at {path}.")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a model file.")
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise CheckpointError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if not head:
        raise CheckpointError(f"{path.name} is empty, not a model file.")
    _check_size(path, head)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it did not write; the user needs no such line.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # A pickle (zip-wrapped by torch.save, or bare: protocol byte 0x80) that the weights-only
        # unpickler refused asks for globals or opcodes beyond plain tensors and containers.
        if "weights only" in str(exc).lower() and (head.startswith(b"PK") or head[:1] == b"\x80"):
            raise CheckpointError(
                f"{path.name} is not a plain weights file; refusing to execute code in it."
            ) from None
        raise CheckpointError(f"{path.name} is not a PyTorch model file.") from None
    except (MemoryError, RecursionError):
        raise CheckpointError(f"{path.name} is too large to be a model file.") from None
    except Exception:  # noqa: BLE001 — torch reports damage with many types (RuntimeError, KeyError, EOFError...)
        if head.startswith(b"PK"):
            if _is_complete_foreign_zip(path):
                raise CheckpointError(f"{path.name} is a zip archive of something else, not a PyTorch model file.") from None
            raise CheckpointError(f"{path.name} is truncated or damaged (its archive is incomplete).") from None
        raise CheckpointError(f"{path.name} is not a PyTorch model file.") from None


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 10e6 else f"{n / 1e6:,.0f} MB"


def _check_size(path: Path, head: bytes) -> None:
    """Refuse a file larger than MAX_MODEL_BYTES, or a zip (torch's format) whose directory
    declares more than that once inflated, before anything is unpacked. A 2 MB file holding a
    deflated 2 GiB storage used to load (2.5 GB of memory) and to be imported as a 2 GB file."""
    limit = f"the limit is {_megabytes(MAX_MODEL_BYTES)} (this app's models are a few MB)"
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if size > MAX_MODEL_BYTES:
        raise CheckpointError(f"{path.name} is too large to be a model file: {_megabytes(size)}, and {limit}.")
    if not head.startswith(b"PK"):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        return  # not a readable zip: torch.load reports it as truncated or damaged
    if declared > MAX_MODEL_BYTES:
        raise CheckpointError(
            f"{path.name} is too large to be a model file: it would unpack to {_megabytes(declared)}, and {limit}."
        )


def _is_complete_foreign_zip(path: Path) -> bool:
    """A whole, readable zip without torch's data.pkl: another program's archive, not a damaged
    model (a truncated model file has lost its zip directory, so it does not open)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return not any(name.endswith("data.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def check_meta_shape(path: Path, raw: Any) -> None:
    """Refuse metadata nested deeper than MAX_META_DEPTH or holding more than MAX_META_VALUES
    values (a file whose metadata nested 20,000 levels made every later listing of the library
    fail with RecursionError). Iterative, so the check itself cannot overflow the stack."""
    stack = [(raw, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if depth > MAX_META_DEPTH or count > MAX_META_VALUES:
            what = f"nested more than {MAX_META_DEPTH} levels deep" if depth > MAX_META_DEPTH else (
                f"more than {MAX_META_VALUES:,} values")
            raise CheckpointError(f"{path.name} is damaged (its description of the model is {what}).")
        if isinstance(value, Mapping):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)


def _meta_for_bare(path: Path, state_dict: Mapping[str, torch.Tensor]) -> CheckpointMeta:
    """Which known network a bare state_dict belongs to; the origin notebook's is `seed_cnn`."""
    from ..models.networks import ARCHITECTURES
    from ..models.presets import PRESETS

    best: tuple[int, str] | None = None
    for arch in ARCHITECTURES:
        expected = expected_state(arch)
        if not mismatches(state_dict, expected):
            preset = next((p for p in PRESETS.values() if p.arch == arch), None)
            if preset is None:
                break
            name = SEED_IMPORT_NAME if preset.name == "seed" else f"Imported {preset.title} model"
            return CheckpointMeta.for_preset(preset.name, name, training={"imported_from": str(path)})
        classes = class_count(state_dict, expected)
        if classes is not None:
            raise CheckpointError(
                f"{path.name} classifies {classes} classes; a Fashion-MNIST model needs {NUM_CLASSES}."
            )
        overlap = len(set(state_dict) & set(expected))
        if best is None or overlap > best[0]:
            best = (overlap, arch)
    if best is None or best[0] == 0:
        raise CheckpointError(
            f"{path.name} holds weights of an unknown network (layers {few_names(list(state_dict))}), "
            f"not one of: {', '.join(ARCHITECTURES)}."
        )
    problems = mismatches(state_dict, expected_state(best[1]))
    raise CheckpointError(f"{path.name} does not fit the {best[1]!r} network: {'; '.join(problems)}.")


def load_checkpoint(path: str | os.PathLike[str], probe: bool = True) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """(state_dict, meta) from a model file, verified to fit its network and, with `probe`, to
    answer a test image with numbers (`weights_check.check_answers`; importing, renaming and
    exporting go through here). Never executes code from the file. Raises CheckpointError with
    one clear sentence."""
    path = Path(path)
    state_dict, meta = _verified_weights(path)
    if probe:
        _built_model(path, state_dict, meta)
    return state_dict, meta


def _verified_weights(path: Path) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    obj = _read(path)
    try:
        state_dict, meta = _checked(path, obj)
    except RecursionError:
        raise CheckpointError(f"{path.name} is damaged (its contents are nested too deeply).") from None
    check_runnable(path, state_dict, meta)
    return state_dict, meta


def _built_model(path: Path, state_dict: Mapping[str, torch.Tensor], meta: CheckpointMeta) -> nn.Module:
    """The network of `meta` with the weights, in eval mode on the CPU, its answers checked."""
    from ..models.networks import build_model, set_flip_averaging
    from .user_presets import get_preset

    model = build_model(meta.arch)
    model.load_state_dict(state_dict, strict=True)
    augment = meta.training.get("augment") if isinstance(meta.training, Mapping) else None
    if not isinstance(augment, str):
        try:
            augment = get_preset(meta.preset).augment
        except KeyError:
            augment = "none"
    set_flip_averaging(model, augment)
    model.eval()
    check_answers(path, model, meta)
    return model


def _checked(path: Path, obj: Any) -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    from ..models.networks import ARCHITECTURES

    if isinstance(obj, Mapping) and "format" in obj:
        if obj.get("format") != FORMAT_NAME:
            raise CheckpointError(f"{path.name} is a PyTorch file of another program, not a Fashion-MNIST Desktop model.")
        version = obj.get("format_version")
        if not isinstance(version, int):
            raise CheckpointError(f"{path.name} is damaged (no format version).")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"{path.name} was made by a newer version of the app (model format {version}; "
                f"this version reads up to {FORMAT_VERSION}). Update the app to use it."
            )
        state_dict = obj.get("state_dict")
        if not is_state_dict(state_dict):
            raise CheckpointError(f"{path.name} is damaged (it holds no weights).")
        raw_meta = obj.get("meta")
        if not isinstance(raw_meta, Mapping):
            raise CheckpointError(f"{path.name} is damaged (it has no description of its model).")
        check_meta_shape(path, raw_meta)
        try:
            meta = CheckpointMeta.from_dict(raw_meta)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CheckpointError(f"{path.name} is damaged (its description is incomplete: {exc}).") from None
        if meta.arch not in ARCHITECTURES:
            raise CheckpointError(
                f"{path.name} uses the network {meta.arch!r}, which this version of the app does not know "
                "(made by a newer version?)."
            )
        if len(meta.class_names) != NUM_CLASSES:
            raise CheckpointError(
                f"{path.name} classifies {len(meta.class_names)} classes; a Fashion-MNIST model needs {NUM_CLASSES}."
            )
        check_fits(path, state_dict, meta.arch)
        return dict(state_dict), meta
    if is_state_dict(obj):
        meta = _meta_for_bare(path, obj)
        return dict(obj), meta
    raise CheckpointError(f"{path.name} is a PyTorch file but holds no model weights.")


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointMeta]:
    """The model in a file, built with its architecture, weights loaded strictly, on `device`,
    in eval mode; and its metadata."""
    path = Path(path)
    state_dict, meta = _verified_weights(path)
    model = _built_model(path, state_dict, meta)
    model.to(device)
    return model, meta


def read_meta(path: str | os.PathLike[str]) -> CheckpointMeta:
    """Only the metadata of a model file (the file is verified, but not run: listing the library
    stays fast; a model whose answers are not numbers is refused when it is loaded)."""
    return load_checkpoint(path, probe=False)[1]
