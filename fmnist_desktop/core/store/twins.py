"""ONNX twins: the file onnxruntime answers with in place of a model file, found without torch.

Every model the app answers with has a *twin*: its ONNX export (core.jobs.export, verified
against torch when it was made) plus a manifest that ties it to the model file it was made from.

    <model>.twin.onnx        the exported graph (a 28×28 network: normalised image in, probabilities
                             out; a photo model: RGB 0..1 in, 11 logits out; see core.jobs.export)
    <model>.twin.onnx.json   the export's contract, as every export writes it
    <model>.twin.json        the manifest: the model file's SHA-256 and size, the twin's SHA-256
                             and size, its outputs, the model's metadata and the export's verification

A photo model's twin has more outputs than its logits: `features`, the pooled backbone features
its linear head sees, and, with ImageNet's opinion, `imagenet`, the 1000 probabilities the opinion
mixes in; the head's fine-tune runs on them without torch (core.jobs.photo_finetune). A photo
twin made without `features` is stale like one made from other weights.

They sit beside the model file (a source checkout's weights/ included; .gitignore keeps them
out of git); for a model file whose folder cannot be written (the built-in models of an installed
app, a file on a read-only share) they go to the app's data folder, `twins/`, under a name made
from the model file's path. A twin answers only when its manifest
names the model file's current content (a model renamed, fine-tuned in place or replaced is
*stale*) and the .onnx file on disk has exactly the bytes the manifest recorded (a truncated or
damaged twin never answers): otherwise `find_twin` returns None and the caller makes a new one
(core.jobs.twins, which needs torch) or answers with torch.

Hashing is what makes this torch-free and safe; it costs about 20 ms for the 20 MB photo model
and is remembered per process for a file whose size and modification time have not changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import paths
from ..base.edition import NeedsFullEdition
from ..base.errors import FmnistError
from .meta import CheckpointMeta, check_meta_shape

TWIN_VERSION = 1
TWIN_SUFFIX = ".twin.onnx"
MANIFEST_SUFFIX = ".twin.json"
CACHE_FOLDER = "twins"
FEATURES_OUTPUT = "features"  # a photo twin's pooled backbone features (N, 1280)
IMAGENET_OUTPUT = "imagenet"  # with ImageNet's opinion: ImageNet's probabilities (N, 1000)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

_lock = threading.Lock()
_hashes: dict[tuple[str, int, int, int], str] = {}  # (path, inode, size, mtime_ns) → SHA-256


@dataclass(frozen=True)
class Twin:
    """A verified twin of one model file, ready to be loaded by onnxruntime."""

    source: Path  # the model file
    onnx_path: Path
    meta: CheckpointMeta  # the model's metadata, as the model file holds it
    kind: str  # "photo" or "fmnist"
    source_sha256: str
    outputs: tuple[str, ...] = ()  # the graph's outputs, the answer first


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, remembered while its inode, size and mtime stay the same."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _lock:
        known = _hashes.get(key)
    if known is not None:
        return known
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    with _lock:
        _hashes[key] = digest
    return digest


def _folder_writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def twin_base(source: str | os.PathLike[str]) -> Path:
    """Where a model file's twin is made, without the suffixes: beside the file, or, when its folder
    cannot be written (an installed app's built-in models), in the app data folder's twins/ under
    a name unique to the file's path."""
    source = Path(source)
    if _folder_writable(source.parent):
        return source.with_name(source.stem)
    return _cache_base(source)


def _cache_base(source: Path) -> Path:
    where = hashlib.sha256(os.fsencode(str(source.resolve()))).hexdigest()[:16]
    folder = paths.app_data_dir() / CACHE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{source.stem}-{where}"


def twin_files(source: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """(the .onnx file, its contract, the manifest) of a model file's twin."""
    return _files_at(twin_base(source))


def _files_at(base: Path) -> tuple[Path, Path, Path]:
    onnx_path = base.with_name(base.name + TWIN_SUFFIX)
    return onnx_path, onnx_path.with_name(onnx_path.name + ".json"), base.with_name(base.name + MANIFEST_SUFFIX)


def _read_manifest(manifest_path: Path) -> dict[str, Any] | None:
    try:
        if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return manifest if isinstance(manifest, dict) else None


def find_twin(source: str | os.PathLike[str]) -> Twin | None:
    """The model file's twin when it is there, made from the file's current content and intact;
    None when it is missing, stale or damaged (then it must be made again)."""
    source = Path(source)
    try:
        source_sha = file_sha256(source)
        bases = [twin_base(source)]
    except OSError:
        return None
    if bases[0].parent != source.parent:  # a read-only folder may ship its twins (the lite edition's built-ins)
        bases.insert(0, source.with_name(source.stem))
    for base in bases:
        twin = _valid_twin_at(base, source, source_sha)
        if twin is not None:
            return twin
    return None


def existing_twin(source: str | os.PathLike[str]) -> Twin:
    """The model file's valid twin, never made here: what the lite edition (no torch to export
    with) passes as `find_twin` to the photo fine-tune. The built-ins' twins ship beside them and a
    fine-tuned model's twin is derived from its parent's when it is saved, so only a model that came
    without one lacks it; NeedsFullEdition says so in one line."""
    twin = find_twin(source)
    if twin is None:
        raise NeedsFullEdition(f"{Path(source).name} has no ONNX twin (the file the lite edition answers with); "
                               "making one needs the full edition of the app (with PyTorch).")
    return twin


def _valid_twin_at(base: Path, source: Path, source_sha: str) -> Twin | None:
    onnx_path, _contract, manifest_path = _files_at(base)
    manifest = _read_manifest(manifest_path)
    if manifest is None or manifest.get("twin_version") != TWIN_VERSION or manifest.get("source_sha256") != source_sha:
        return None
    try:
        if onnx_path.stat().st_size != manifest.get("onnx_bytes"):
            return None  # truncated or grown: never loaded
        if file_sha256(onnx_path) != manifest.get("onnx_sha256"):
            return None  # damaged in place
        raw = manifest.get("meta")
        check_meta_shape(source, raw)
        meta = CheckpointMeta.from_dict(raw)
    except Exception:  # noqa: BLE001 — a damaged manifest is a missing twin, never an error
        return None
    kind, outputs = manifest.get("kind"), manifest.get("outputs", [])
    if kind not in ("photo", "fmnist") or not (isinstance(outputs, list) and all(isinstance(o, str) for o in outputs)):
        return None
    if kind == "photo" and FEATURES_OUTPUT not in outputs:
        return None  # made before twins fed the fine-tune: made again with its features
    return Twin(source, onnx_path, meta, kind, source_sha, tuple(outputs))


def write_manifest(source: Path, source_sha: str, onnx_path: Path, meta: CheckpointMeta, kind: str,
                   verification: dict[str, Any], outputs: tuple[str, ...] | list[str] = ()) -> Twin:
    """Record a freshly written twin (atomically, after the .onnx file itself)."""
    _onnx, _contract, manifest_path = twin_files(source)
    manifest = {
        "twin_version": TWIN_VERSION,
        "source": source.name,
        "source_sha256": source_sha,
        "source_bytes": source.stat().st_size,
        "onnx": onnx_path.name,
        "onnx_sha256": file_sha256(onnx_path),
        "onnx_bytes": onnx_path.stat().st_size,
        "kind": kind,
        "outputs": list(outputs),
        "meta": meta.to_dict(),
        "verification": verification,
    }
    paths.atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False))
    return Twin(source, onnx_path, meta, kind, source_sha, tuple(outputs))


def follow_rename(twin: Twin | None, meta: CheckpointMeta) -> None:
    """After a model file was rewritten with the same weights and new metadata (a rename), point
    its twin at the new content instead of making it again (the photo model's takes ~40 s)."""
    if twin is None:
        return
    manifest_path = twin_files(twin.source)[2]
    manifest = _read_manifest(manifest_path)
    if manifest is None or manifest.get("source_sha256") != twin.source_sha256:
        return
    try:
        manifest.update(source_sha256=file_sha256(twin.source), source_bytes=twin.source.stat().st_size,
                        meta=meta.to_dict())
        paths.atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False))
    except (OSError, FmnistError):
        pass  # the twin is made again on first use


def copy_with_twin(twin: Twin, dest: Path) -> None:
    """Copy a model file and its twin to `dest` (and the twin beside it), byte for byte: the lite
    edition's import, which has no torch to make a twin. All or nothing."""
    source_base = twin.onnx_path.with_name(twin.onnx_path.name[: -len(TWIN_SUFFIX)])
    pairs = [(twin.source, dest), *zip(_files_at(source_base), twin_files(dest))]
    try:
        for src, dst in pairs:
            paths.atomic_write_bytes(dst, src.read_bytes())
    except (OSError, FmnistError) as exc:
        remove_twin(dest)
        dest.unlink(missing_ok=True)
        raise FmnistError(f"Cannot copy {twin.source.name}: {getattr(exc, 'strerror', None) or exc}.") from None


def export_twin(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> Path:
    """ONNX export without torch (the lite edition): the model's twin — already verified against
    the model when it was made — copied to `destination`, its contract to `<destination>.json`."""
    twin, destination = find_twin(source), Path(destination)
    if twin is None:
        raise NeedsFullEdition(f"{Path(source).name} has no ONNX twin: exporting it needs the full edition of the app "
                               "(with PyTorch).")
    contract = twin.onnx_path.with_name(twin.onnx_path.name + ".json")
    paths.atomic_write_bytes(destination, twin.onnx_path.read_bytes())
    if contract.is_file():
        paths.atomic_write_bytes(destination.with_name(destination.name + ".json"), contract.read_bytes())
    return destination


def remove_twin(source: str | os.PathLike[str]) -> None:
    """Delete a model file's twin (when the model leaves the library). Never raises."""
    try:
        for path in twin_files(source):
            path.unlink(missing_ok=True)
    except OSError:
        pass


def builtin_meta_from_twin(source: str | os.PathLike[str]) -> CheckpointMeta | None:
    """A model file's metadata from its valid twin (no torch needed), or None."""
    twin = find_twin(source)
    return twin.meta if twin is not None else None
