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

import io
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..base import paths
from ..base.errors import CheckpointError, SaveError
from ..base.labels import NUM_CLASSES
# The metadata (torch-free, so the answer path can read it without torch) lives in store.meta;
# its names are importable from here too.
from .meta import (  # noqa: F401
    MAX_FIELD_CHARS,
    MAX_META_DEPTH,
    MAX_META_TEXT_CHARS,
    MAX_META_VALUES,
    MAX_NAME_CHARS,
    MEAN_RANGE,
    STD_RANGE,
    FORMAT_VERSION,
    PLAIN_FORMAT_VERSION,
    CheckpointMeta,
    _plain,
    bounded_text,
    check_meta_shape,
    safe_text,
)
from .weights_check import check_answers, check_fits, check_runnable, class_count, expected_state, few_names, is_state_dict, mismatches

FORMAT_NAME = "fmnist-desktop"
SEED_IMPORT_NAME = "Imported notebook model"

# Limits checked before a file is unpickled or inflated (issue 12). The app's model files are
# 0.1–6 MB; a file, or the sum of the sizes its zip directory declares once inflated, beyond
# MAX_MODEL_BYTES is refused from its header (a 2 MB file can inflate to gigabytes).
MAX_MODEL_BYTES = 250_000_000


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
    tensors, slimmed = _without_packaged_parts(tensors)
    meta_dict = meta.to_dict() if isinstance(meta, CheckpointMeta) else _plain(dict(meta))
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION if slimmed else PLAIN_FORMAT_VERSION,
        "state_dict": tensors,
        "meta": meta_dict,
    }
    target = Path(path)
    _write_torch_file(target, payload)
    return target


def _without_packaged_parts(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], bool]:
    if "opinion.start" not in tensors:
        return tensors, False
    from ..models.photo_net import without_packaged_opinion

    return without_packaged_opinion(tensors)


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
        if "opinion.start" in state_dict:
            from ..models.photo_net import with_packaged_opinion

            state_dict = with_packaged_opinion(state_dict)
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
