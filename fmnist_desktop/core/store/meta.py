"""A model file's metadata (`CheckpointMeta`) and the checks on it, without torch: the library's
index, the ONNX twins' manifests and the answer path read metadata with this module alone
(core.store.checkpoint, which reads and writes the model files, needs torch)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ... import __version__ as APP_VERSION
from ..base.errors import CheckpointError
from ..base.labels import CLASS_NAMES

FORMAT_VERSION = 2  # the newest model file format this app reads (core.store.checkpoint writes it)
# Version 2: a photo model's ImageNet opinion may be left out of the file (it equals the package's,
# core.models.photo_net.without_packaged_opinion); every other file is still written as version 1,
# so older apps keep reading them.
PLAIN_FORMAT_VERSION = 1

# Metadata is plain values; deeper nesting or more values than this is not a description but an
# attack on every later reader (json, repr, the GUI): refused at load.
MAX_META_DEPTH = 32
MAX_META_VALUES = 200_000
# A model's description is about 10 kB of text; a 17 MB name pushed the library's index past its
# limit. Text beyond MAX_META_TEXT_CHARS in all is refused at load; a name is cut to
# MAX_NAME_CHARS and the other short fields (preset, dates, versions, class names) to MAX_FIELD_CHARS.
MAX_META_TEXT_CHARS = 1_000_000
MAX_NAME_CHARS = 200
MAX_FIELD_CHARS = 200
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
        meta.class_names = [bounded_text(str(c), MAX_FIELD_CHARS) for c in meta.class_names]
        # The descriptive fields are only ever shown, never needed to run the model: a damaged
        # one (a history that is a number, metrics that are a string) is dropped so the model
        # stays usable and no page trips over it later.
        meta.name, meta.preset = bounded_text(str(meta.name), MAX_NAME_CHARS), bounded_text(str(meta.preset), MAX_FIELD_CHARS)
        meta.created = bounded_text(str(meta.created), MAX_FIELD_CHARS)
        meta.app_version = bounded_text(str(meta.app_version), MAX_FIELD_CHARS)
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
    if hasattr(value, "item") and callable(value.item):  # numpy scalars, one-element tensors
        try:
            return value.item()
        except (TypeError, ValueError, RuntimeError):  # a tensor of many elements
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


def bounded_text(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, the cut marked with "…"."""
    return value if len(value) <= limit else value[:limit - 1] + "…"


def _only_escapes(value: str) -> bool:
    return all(not 0xD800 <= ord(ch) <= 0xDFFF or 0xDC80 <= ord(ch) <= 0xDCFF for ch in value)


def check_meta_shape(path: Path, raw: Any) -> None:
    """Refuse metadata nested deeper than MAX_META_DEPTH or holding more than MAX_META_VALUES
    values (a file whose metadata nested 20,000 levels made every later listing of the library
    fail with RecursionError), or more than MAX_META_TEXT_CHARS characters of text in all.
    Iterative, so the check itself cannot overflow the stack."""
    stack = [(raw, 1)]
    count = text = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if isinstance(value, str):
            text += len(value)
        if depth > MAX_META_DEPTH or count > MAX_META_VALUES or text > MAX_META_TEXT_CHARS:
            what = f"nested more than {MAX_META_DEPTH} levels deep" if depth > MAX_META_DEPTH else (
                f"more than {MAX_META_VALUES:,} values" if count > MAX_META_VALUES else
                f"more than {MAX_META_TEXT_CHARS:,} characters of text")
            raise CheckpointError(f"{path.name} is damaged (its description of the model is {what}).")
        if isinstance(value, Mapping):
            text += sum(len(k) for k in value if isinstance(k, str))
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)
