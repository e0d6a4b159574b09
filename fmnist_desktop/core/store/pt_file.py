"""Model files (.pt) read and written without torch: the weights as numpy arrays, the metadata as it is.

A model file is what `torch.save` writes (core.store.checkpoint): a zip holding `data.pkl`, a
protocol-2 pickle of ``{"format", "format_version", "state_dict", "meta"}`` whose tensors are
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`` calls and
whose storages are persistent ids naming raw little-endian records under ``data/``. This module
reads that with an unpickler that knows only those few names (the same ones torch's
`weights_only=True` loader allows; anything else is refused, nothing is executed), and writes a
file of the same shape that `torch.load(..., weights_only=True)` loads. The photo model's head
fine-tune (core.jobs.photo_finetune) uses it to write its new model without torch:
`HeadOnParent` is the parent's weights with a new head.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..base import paths
from ..base.errors import CheckpointError, SaveError
from .meta import FORMAT_VERSION, PLAIN_FORMAT_VERSION, CheckpointMeta, check_meta_shape

FORMAT_NAME = "fmnist-desktop"  # as core.store.checkpoint writes it
MAX_MODEL_BYTES = 250_000_000  # core.store.checkpoint's limit: a file or what its zip declares, inflated
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
           "ByteStorage": np.uint8, "BoolStorage": np.bool_}
_STORAGE_OF = {np.dtype(v): k for k, v in _DTYPES.items()}


@dataclass(frozen=True)
class _TorchName:
    """A name in torch's pickle (a storage type or the tensor rebuilder), kept as a name."""

    module: str
    name: str

    def __call__(self, *_args):  # the pickler asks that a reduce function be callable; it is never called
        raise TypeError(f"{self.module}.{self.name} needs torch")


_REBUILD = _TorchName("torch._utils", "_rebuild_tensor_v2")


class _Reader(pickle.Unpickler):
    def __init__(self, data: bytes, records: Mapping[str, bytes]):
        super().__init__(io.BytesIO(data))
        self.records = records

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == (_REBUILD.module, _REBUILD.name):
            return _rebuild
        if module == "torch" and name in _DTYPES:
            return _TorchName(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _TorchName)):
            raise pickle.UnpicklingError("unknown persistent id")
        _tag, kind, key, _location, numel = pid
        raw = self.records.get(str(key))
        if raw is None:
            raise pickle.UnpicklingError(f"storage {key} is missing")
        array = np.frombuffer(raw, dtype=np.dtype(_DTYPES[kind.name]).newbyteorder("<"))
        if len(array) < int(numel):
            raise pickle.UnpicklingError(f"storage {key} is truncated")
        return array


def _rebuild(storage, offset, size, stride, _requires_grad=False, _hooks=None, _metadata=None) -> np.ndarray:
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    needed = int(offset) + (sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else 0)
    if needed > len(storage):
        raise pickle.UnpicklingError("a tensor reaches past its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[int(offset):], size, tuple(s * item for s in stride))
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


def _records(archive: zipfile.ZipFile) -> tuple[str, dict[str, bytes]]:
    names = archive.namelist()
    pickle_name = next((n for n in names if n.endswith("/data.pkl")), None)
    if pickle_name is None:
        raise CheckpointError("it is not a PyTorch model file")
    prefix = pickle_name[: -len("data.pkl")]
    data = {n[len(prefix) + 5:]: archive.read(n) for n in names if n.startswith(prefix + "data/")}
    return archive.read(pickle_name).decode("latin-1"), data


def read_pt(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], CheckpointMeta]:
    """(state_dict as float/int numpy arrays, metadata) of one of the app's model files, without
    torch. Raises CheckpointError (one sentence naming the file)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_MODEL_BYTES:
            raise CheckpointError(f"{path.name} is too large to be a model file.")
        with zipfile.ZipFile(path) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_MODEL_BYTES:
                raise CheckpointError(f"{path.name} is too large to be a model file.")
            data, records = _records(archive)
        obj = _Reader(data.encode("latin-1"), records).load()
    except CheckpointError as exc:
        raise CheckpointError(exc.message if exc.message.startswith(path.name) else f"{path.name}: {exc.message}.") from None
    except FileNotFoundError:
        raise CheckpointError(f"There is no model file at {path}.") from None
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
            AttributeError, IndexError, RecursionError, MemoryError) as exc:
        raise CheckpointError(f"{path.name} cannot be read as a model file ({type(exc).__name__}).") from None
    if not (isinstance(obj, dict) and obj.get("format") == FORMAT_NAME and isinstance(obj.get("state_dict"), dict)):
        raise CheckpointError(f"{path.name} is not one of this app's model files.")
    check_meta_shape(path, obj.get("meta"))
    state = {str(k): v for k, v in obj["state_dict"].items() if isinstance(v, np.ndarray)}
    return state, CheckpointMeta.from_dict(obj["meta"])


class _Writer(pickle._Pickler):  # the pure-Python pickler: it lets torch's names be written as names
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, storages: dict[int, tuple[str, np.ndarray]]):
        super().__init__(file, protocol=2)
        self.storages = storages

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", _TorchName("torch", _STORAGE_OF[obj.array.dtype]), obj.key, "cpu", obj.array.size)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            array = obj if obj.flags.c_contiguous else obj.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
            key = str(len(self.storages))
            self.storages[id(array)] = (key, array)
            stride = tuple(s // array.itemsize for s in array.strides) if array.ndim else ()
            return _REBUILD, (_Storage(key, array), 0, array.shape, stride, False, collections.OrderedDict())
        return NotImplemented

    def _save_torch_name(self, obj: _TorchName) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_TorchName] = _save_torch_name


@dataclass(frozen=True, eq=False)
class _Storage:
    key: str
    array: np.ndarray


# A photo model's ImageNet opinion: the rule's settings, always in the file; its frozen ImageNet
# tensors ("opinion.<block>…") may be left out (core.models.photo_net.without_packaged_opinion).
OPINION_RULE_KEYS = frozenset({"opinion.start", "opinion.garments", "opinion.named_none", "opinion.named_level"})


def format_version_of(state: Mapping[str, np.ndarray]) -> int:
    """The file format `state` needs, as core.store.checkpoint decides it: version 2 when a photo
    model's opinion tensors are left out (an older app could not fill them in), else version 1.
    A head fine-tune of a file that left them out leaves them out too, and says so."""
    if "opinion.start" in state and not any(k.startswith("opinion.") and k not in OPINION_RULE_KEYS for k in state):
        return FORMAT_VERSION
    return PLAIN_FORMAT_VERSION


def pt_bytes(state: Mapping[str, np.ndarray], meta: CheckpointMeta) -> bytes:
    """A model file's bytes, as torch.save would write {"format", "format_version", "state_dict", "meta"}."""
    payload = {"format": FORMAT_NAME, "format_version": format_version_of(state),
               "state_dict": {str(k): np.asarray(v) for k, v in state.items()}, "meta": meta.to_dict()}
    storages: dict[int, tuple[str, np.ndarray]] = {}
    pickled = io.BytesIO()
    _Writer(pickled, storages).dump(payload)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickled.getvalue())
        archive.writestr("archive/byteorder", "little")
        for key, array in storages.values():
            archive.writestr(f"archive/data/{key}", array.astype(array.dtype.newbyteorder("<")).tobytes())
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/.data/serialization_id", uuid.uuid4().hex)
    return out.getvalue()


def write_pt(path: str | os.PathLike[str], state: Mapping[str, np.ndarray], meta: CheckpointMeta) -> Path:
    """Write a model file atomically (SaveError when the disk refuses; the old file stays intact)."""
    target = Path(path)
    blob = pt_bytes(state, meta)
    with paths.atomic_write(target) as handle:
        handle.write(blob)
    return target


@dataclass
class HeadOnParent:
    """A photo model fine-tuned in its head alone: the parent's weights with a new head (`weight`
    (11, 1280), `bias` (11,)), written without torch by `write_checkpoint`. Stands where a torch
    model would in a finished run (core.jobs.runs.FinishedRun.model): the library's `add` and
    `save_checkpoint` write it with `write_checkpoint`."""

    parent_state: dict[str, np.ndarray]
    weight: np.ndarray
    bias: np.ndarray
    head_prefix: str = "head."
    # Called with (path, meta) once the file is written: the fine-tune makes its ONNX twin there
    # (core.predict.head_twin). It must not raise: the file is saved whatever it does.
    after_write: Callable[[Path, CheckpointMeta], None] | None = None

    def state_arrays(self) -> dict[str, np.ndarray]:
        state = dict(self.parent_state)
        for name, value in (("weight", self.weight), ("bias", self.bias)):
            key = self.head_prefix + name
            state[key] = np.asarray(value, state[key].dtype).reshape(state[key].shape)
        return state

    def non_finite_names(self) -> list[str]:
        return [k for k, v in self.state_arrays().items()
                if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all()]

    def write_checkpoint(self, path: str | os.PathLike[str], meta: CheckpointMeta) -> Path:
        try:
            target = write_pt(path, self.state_arrays(), meta)
        except SaveError:
            raise
        except OSError as exc:
            raise SaveError(f"Cannot write {path}: {exc.strerror or exc}. The previous file, if any, is unchanged.") from None
        if self.after_write is not None:
            self.after_write(target, meta)
        return target
