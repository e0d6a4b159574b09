"""The user's model library: every model trained or imported, one of them active.

Files live in `paths.models_dir()`, one checkpoint per model, with an index `library.json`
(written atomically) holding the list, each model's name and metadata (so listing does not open
every checkpoint), and which model is active. The model shipped with the app
(`paths.default_weights_path()`) is always listed first; it cannot be renamed or deleted, and it
is what `active()` falls back to when the active model's file has gone.

The folder is the truth, the index a cache of it: `*.pt` files that appear in the folder are
added, entries whose file has gone are dropped, and an unreadable index is set aside as
`library.json.corrupt-<timestamp>` and rebuilt by scanning the folder (core.store.library_index).

Every change is a read-modify-write of the index under a lock that holds across processes (the
app, `fmnist` commands and a server share the folder), so two activations at once both stay, and
two models added at once get two files and two names. Names are at most MAX_NAME_CHARS characters.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import paths
from . import twins
from .library_index import INDEX_NAME, INDEX_VERSION, MAX_INDEX_BYTES, index_lock, read_index, write_index  # noqa: F401
from .meta import MAX_NAME_CHARS, CheckpointMeta, bounded_text, check_meta_shape, safe_text
from ..base.edition import NeedsFullEdition, has_torch, require_torch
from ..base.errors import CheckpointError, FmnistError, SaveError
from ..models.arch_info import FMNIST_KIND, PHOTO_KIND, kind_of_arch

BUILTIN_ID = "default"
BUILTIN_NAME = "Default model (shipped with the app)"
# The photo model shipped with the app (weights/photo.pt): what a dropped photo meets.
BUILTIN_PHOTO_ID = "default-photo"
BUILTIN_PHOTO_NAME = "Photo model (shipped with the app)"
# These are the shipped models' names everywhere (the app, `fmnist models`, the Local API's
# /model and each answer's "model"): `shipped_name` gives them to whatever loads those files.
RESERVED_IDS = (BUILTIN_ID, BUILTIN_PHOTO_ID)
# The index keeps one active model per kind: "active" (the 28×28 network; the key older
# versions wrote) and "active_photo".
ACTIVE_KEYS = {FMNIST_KIND: "active", PHOTO_KIND: "active_photo"}
_builtin_meta_cache: dict[Path, tuple[int, int, CheckpointMeta]] = {}
# Model files in the folder that do not load, by path → (mtime_ns, size): each is reported once
# per process (and not re-read) until it changes.
_unusable_files: dict[Path, tuple[int, int]] = {}


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _confined_file_name(file: Any) -> bool:
    """Whether an index record's `file` is a plain model file name inside the models folder:
    no folder parts, not absolute, not hidden (temp files), ending in .pt. A record pointing at
    ../../victim.txt or /etc/passwd made `fmnist models --delete` delete that file."""
    return (
        isinstance(file, str)
        and file.endswith(".pt")
        and not file.startswith(".")
        and not any(ch in file for ch in "/\\:\x00")
        and Path(file).name == file
    )


@dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    path: Path
    meta: CheckpointMeta
    builtin: bool = False

    @property
    def kind(self) -> str:
        """"photo" (a colour photo model) or "fmnist" (a 28×28 network)."""
        return kind_of_arch(self.meta.arch)

    @property
    def test_accuracy(self) -> float | None:
        value = self.meta.metrics.get("test_accuracy")
        return float(value) if isinstance(value, (int, float)) else None


def shipped_name(path: str | os.PathLike[str]) -> str | None:
    """The library's name for a model file shipped with the app (None for any other file): the
    files' own metadata names ("Fashion-MNIST + real photos") are how they were made, not what
    the app calls them."""
    try:
        target = Path(path).resolve()
        if target == paths.default_weights_path().resolve():
            return BUILTIN_NAME
        if target == paths.photo_weights_path().resolve():
            return BUILTIN_PHOTO_NAME
    except (OSError, RuntimeError, ValueError):
        return None
    return None


def checked_name(name: str) -> str:
    """A name the user typed (rename, import), whitespace tidied; refused when empty or longer
    than MAX_NAME_CHARS (a name is a label in a table, not a document)."""
    name = safe_text(" ".join(str(name).split()))
    if not name:
        raise FmnistError("A model's name cannot be empty.")
    if len(name) > MAX_NAME_CHARS:
        raise FmnistError(f"A model's name can have at most {MAX_NAME_CHARS} characters; this one has {len(name):,}.")
    return name


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40] or "model"


def _checkpoint():
    """core.store.checkpoint on first use: model files need torch to be read or written, while the
    answer path lists the library from its index and the ONNX twins' manifests without it (and
    the lite edition, which has no torch, says so: NeedsFullEdition)."""
    require_torch("Reading or writing a .pt model file without its ONNX twin")
    from . import checkpoint

    return checkpoint


def _stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


class ModelLibrary:
    def __init__(self, folder: str | os.PathLike[str] | None = None):
        self.folder = Path(folder) if folder is not None else paths.models_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index_path = self.folder / INDEX_NAME
        self._lock = index_lock(self.folder)  # threads and processes sharing the folder
        self._notices: list[str] = []  # repairs made while reading, for the user (take_notices)
        self._reported_builtins: set[Path] = set()  # a damaged built-in model is reported once
        # Saves interrupted by a killed process or a power cut leave hidden ".<name>.<random>.tmp"
        # files; they never match "*.pt", so they are never listed, and old ones are cleared here.
        paths.remove_stale_temp_files(self.folder)

    # -- the index ---------------------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        return read_index(self.index_path, self._notices)

    def _write_index(self, index: dict[str, Any]) -> None:
        write_index(self.index_path, index)

    def _synced_index(self, written: dict[str, CheckpointMeta] | None = None) -> dict[str, Any]:
        """The index, reconciled with the folder's files (saved if that changed it); `written`: files just written."""
        index = self._read_index()
        changed = "rebuilt_from" in index
        for key in ACTIVE_KEYS.values():
            if not isinstance(index.get(key), (str, type(None))):
                index[key] = None
                changed = True
        records = []
        known_files = set()
        for record in index["models"]:
            file = record["file"]
            if not _confined_file_name(file):
                self._notices.append(
                    f"An entry of {INDEX_NAME} pointed at {safe_text(str(file))[:80]}, which is not a model file "
                    "inside the models folder; it was removed from the list and no file was touched."
                )
                changed = True
                continue
            if Path(file).stem in RESERVED_IDS:
                self._reserved_name_note(self.folder / file)
                changed = True
                continue
            if not isinstance(record.get("id"), str) or not record["id"] or record["id"] in RESERVED_IDS:
                record["id"] = Path(file).stem  # a damaged id ("id": 5) is rebuilt from the file name
                changed = True
            if not isinstance(record.get("name"), (str, type(None))):
                record["name"] = None
                changed = True
            elif record.get("name") and len(record["name"]) > MAX_NAME_CHARS:
                record["name"] = bounded_text(record["name"], MAX_NAME_CHARS)
                changed = True
            if file in known_files or not (self.folder / file).is_file():
                if file not in known_files:
                    self._notices.append(
                        f"“{record.get('name') or file}” was removed from the list: its file {file} is missing"
                        + (" (the default model is active instead)." if record.get("id") == index.get("active") else ".")
                    )
                changed = True
                continue
            known_files.add(file)
            records.append(record)
        for path in sorted(self.folder.glob("*.pt")):
            if path.name in known_files or not _confined_file_name(path.name):
                continue
            if path.stem in RESERVED_IDS:
                self._reserved_name_note(path)
                continue
            meta = (written or {}).get(path.name) or self._usable_meta(path)
            if meta is None:
                continue  # not a usable model; left alone, not listed, reported once
            records.append({"id": path.stem, "file": path.name, "name": meta.name, "meta": meta.to_dict()})
            known_files.add(path.name)
            changed = True
        index["models"] = records
        if changed:
            try:
                self._write_index(index)
            except SaveError as exc:
                # The index is only a cache of the folder: listing goes on (a read-only folder).
                self._notices.append(f"The model list could not be updated: {exc}")
        return index

    def _reserved_name_note(self, path: Path) -> None:
        """`default.pt` in the folder would share the built-in model's id: it is not listed, and
        said once per process (until the file changes)."""
        key = _stat_key(path)
        if key is not None and _unusable_files.get(path) == key:
            return
        if key is not None:
            _unusable_files[path] = key
        self._notices.append(
            f"{path.name} in {self.folder} is not listed: the id {path.stem!r} is a built-in model's. "
            "Rename the file to list it."
        )

    def _usable_meta(self, path: Path) -> CheckpointMeta | None:
        """The metadata of a model file in the folder, or None when it does not load. A file that
        does not load is set aside from the list (the file itself is left alone: it may be a
        newer app's model) with one note, and not read again until it changes."""
        key = _stat_key(path)
        if key is not None and _unusable_files.get(path) == key:
            return None
        try:
            return twins.builtin_meta_from_twin(path) or _checkpoint().read_meta(path)
        except (CheckpointError, NeedsFullEdition) as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 — one hostile file must never break the library
            reason = f"{path.name} could not be read ({type(exc).__name__})."
        if key is not None:
            _unusable_files[path] = key
        self._notices.append(f"{safe_text(path.name)} in {self.folder} is not listed: {safe_text(reason)}")
        return None

    def _entry(self, record: dict[str, Any]) -> ModelEntry:
        path = self.folder / record["file"]
        try:
            raw = record.get("meta") or {}
            if not isinstance(raw, dict):
                raise TypeError("meta is not a dict")
            check_meta_shape(path, raw)  # the same bounds as in a model file (depth, size)
            meta = CheckpointMeta.from_dict(raw)
        except (KeyError, TypeError, ValueError, OverflowError, RecursionError, CheckpointError):
            meta = self._usable_meta(path)  # the cached copy is damaged: the file decides
            if meta is None:
                raise CheckpointError(f"{path.name} does not load.") from None
        return ModelEntry(id=record.get("id") or path.stem, name=record.get("name") or meta.name, path=path, meta=meta)

    def take_notices(self) -> list[str]:
        """One-line messages about repairs made while reading the folder (a damaged index set
        aside, models whose file vanished), each returned once, oldest first."""
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    # -- reading -----------------------------------------------------------------------------

    def builtin(self, kind: str = FMNIST_KIND) -> ModelEntry | None:
        """The model of `kind` shipped with the app, or None if this installation lacks it."""
        if kind == PHOTO_KIND:
            path, model_id, name = paths.photo_weights_path(), BUILTIN_PHOTO_ID, BUILTIN_PHOTO_NAME
        else:
            path, model_id, name = paths.default_weights_path(), BUILTIN_ID, BUILTIN_NAME
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = _builtin_meta_cache.get(path)
        if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            meta = cached[2]
        else:
            try:
                meta = twins.builtin_meta_from_twin(path) or _checkpoint().read_meta(path)  # twin: no torch
            except (CheckpointError, NeedsFullEdition) as exc:
                if kind == PHOTO_KIND and path not in self._reported_builtins:
                    # Photos still get an answer (from the 28×28 network), but the user must
                    # hear why they no longer meet the photo model.
                    self._reported_builtins.add(path)
                    self._notices.append(f"The photo model shipped with the app cannot be used ({str(exc).rstrip('.')}); photos "
                                         "are answered by the 28×28 network until it is reinstalled.")
                return None
            _builtin_meta_cache[path] = (stat.st_mtime_ns, stat.st_size, meta)
        return ModelEntry(id=model_id, name=name, path=path, meta=meta, builtin=True)

    def builtins(self) -> list[ModelEntry]:
        """The shipped models present: the 28×28 network first, then the photo model."""
        return [e for e in (self.builtin(FMNIST_KIND), self.builtin(PHOTO_KIND)) if e is not None]

    def entries(self) -> list[ModelEntry]:
        """The built-in models first (when present), then the user's models, oldest first."""
        with self._lock:
            user = []
            try:
                index = self._synced_index()
                for record in index["models"]:
                    try:
                        user.append(self._entry(record))
                    except CheckpointError:
                        continue
            except Exception as exc:  # noqa: BLE001 — the built-in model must always work
                self._notices.append(
                    f"The model library in {self.folder} could not be read ({type(exc).__name__}: "
                    f"{safe_text(str(exc))[:120]}); only the built-in model is listed."
                )
        return self.builtins() + user

    def get(self, model_id: str) -> ModelEntry:
        for entry in self.entries():
            if entry.id == model_id:
                return entry
        raise FmnistError(f"There is no model {model_id!r} in the library.", "List them with: fmnist models")

    def active(self, kind: str = FMNIST_KIND) -> ModelEntry:
        """The active model of `kind` (the 28×28 network unless told); the built-in one of that
        kind when none was chosen or the chosen file is gone."""
        with self._lock:
            try:
                active_id = self._synced_index().get(ACTIVE_KEYS.get(kind, "active"))
            except Exception:  # noqa: BLE001 — reported by entries() below; the built-in still works
                active_id = None
        entries = [e for e in self.entries() if e.kind == kind]
        for entry in entries:
            if entry.id == active_id:
                return entry
        if entries:
            return entries[0]
        if kind == PHOTO_KIND:
            raise CheckpointError("There is no photo model: the shipped one is missing and none was trained.",
                                  "Train one (fmnist train --kind photo, or the Train page).")
        raise CheckpointError(
            "There is no model yet: the default model is missing and the library is empty.",
            "Train one (fmnist train, or the Train page) or import a model file.",
        )

    def active_models(self) -> list[ModelEntry]:
        """What answers a dropped image: the active photo model (when there is one) first, then
        the active 28×28 network (core.predict routes each image to one of them)."""
        out = []
        for kind in (PHOTO_KIND, FMNIST_KIND):
            try:
                out.append(self.active(kind))
            except CheckpointError:
                if kind == FMNIST_KIND and not out:
                    raise
        return out

    # -- changing ----------------------------------------------------------------------------

    def _unique_file(self, name: str) -> Path:
        base = f"{_slug(name)}-{_stamp()}"
        candidate = self.folder / f"{base}.pt"
        n = 2
        while candidate.exists() or candidate.stem in RESERVED_IDS:
            candidate = self.folder / f"{base}-{n}.pt"
            n += 1
        return candidate

    def _record(self, path: Path, meta: CheckpointMeta) -> ModelEntry:
        with self._lock:
            index = self._synced_index({path.name: meta})  # the new file is picked up here if it was not yet
            record = next((r for r in index["models"] if r["file"] == path.name), None)
            if record is None:
                record = {"id": path.stem, "file": path.name}
                index["models"].append(record)
            record.update(name=safe_text(meta.name), meta=meta.to_dict())
            self._write_index(index)
            return self._entry(record)

    def _taken_names(self, index: dict[str, Any], except_id: str | None = None) -> dict[str, str]:
        """The names in use, case-folded → as written: the built-in models' and every listed model's."""
        names = [e.name for e in self.builtins()]
        for record in index["models"]:
            if record.get("id") != except_id:
                meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
                names.append(record.get("name") or meta.get("name") or "")
        return {n.casefold(): n for n in names if isinstance(n, str) and n}

    def unique_name(self, name: str, index: dict[str, Any] | None = None) -> str:
        """`name`, or "name (2)", "name (3)", … when a model of the library already has it: two
        rows of one name could not be told apart (in the table, the status bar, `fmnist models`)."""
        with self._lock:
            taken = self._taken_names(index if index is not None else self._synced_index())
        name = safe_text(str(name))
        if not name or name.casefold() not in taken:
            return name
        stem = re.sub(r" \(\d+\)$", "", name)[:MAX_NAME_CHARS - 8]
        n = 2
        while f"{stem} ({n})".casefold() in taken:
            n += 1
        return f"{stem} ({n})"

    def add(self, model: Any, meta: CheckpointMeta) -> ModelEntry:
        """Save a model (a torch module, a state_dict, or anything with `write_checkpoint(path, meta)`:
        store.pt_file.HeadOnParent) into the library under a new, unique file
        name; a name another model already has becomes "name (2)" (`meta.name` is updated to what
        was saved). The lock is held from choosing the name and file to writing the index: another
        process adding a model of the same name in the same second gets the next name and its own file."""
        with self._lock:
            meta.name = self.unique_name(bounded_text(str(meta.name), MAX_NAME_CHARS))
            path = self._unique_file(meta.name)
            if hasattr(model, "write_checkpoint"):  # a photo head fine-tune's model: written without torch
                model.write_checkpoint(path, meta)
            else:
                _checkpoint().save_checkpoint(path, model, meta)
            try:
                return self._record(path, meta)
            except BaseException:
                # All or nothing: a model whose index entry could not be written (disk full) would
                # appear at the next start although the caller was told the save failed.
                path.unlink(missing_ok=True)
                raise

    def import_file(self, path: str | os.PathLike[str], name: str | None = None) -> ModelEntry:
        """Copy a model file (ours, or the notebook's bare state_dict) into the library, after
        checking it loads. The original file is left alone. The lite edition copies a file that
        carries its ONNX twin, and says in one line that one without needs the full edition."""
        if not has_torch():
            return self._import_with_twin(Path(path), name)
        state_dict, meta = _checkpoint().load_checkpoint(path)
        if name:
            meta.name = checked_name(name)
        return self.add(state_dict, meta)

    def _import_with_twin(self, path: Path, name: str | None) -> ModelEntry:
        twin = twins.find_twin(path)
        if twin is None:
            raise NeedsFullEdition(f"{path.name} has no ONNX twin beside it: opening a .pt file without one needs "
                                   "the full edition of the app (with PyTorch).")
        meta = CheckpointMeta.from_dict(twin.meta.to_dict())
        with self._lock:
            meta.name = self.unique_name(bounded_text(checked_name(name) if name else str(meta.name), MAX_NAME_CHARS))
            dest = self._unique_file(meta.name)
            twins.copy_with_twin(twin, dest)
            return self._record(dest, meta)

    def _user_record(self, index: dict[str, Any], model_id: str, action: str) -> dict[str, Any]:
        if model_id == BUILTIN_ID:
            raise FmnistError(f"The built-in model cannot be {action}.")
        for record in index["models"]:
            if record.get("id") == model_id:
                return record
        raise FmnistError(f"There is no model {model_id!r} in the library.", "List them with: fmnist models")

    def rename(self, model_id: str, name: str) -> ModelEntry:
        name = checked_name(name)
        with self._lock:
            index = self._synced_index()
            record = self._user_record(index, model_id, "renamed")
            taken = self._taken_names(index, except_id=model_id).get(name.casefold())
            if taken is not None:
                raise FmnistError(f"Another model is already called “{taken}”; choose another name.")
            path = self.folder / record["file"]
            twin = twins.find_twin(path)  # the weights stay the same: the ONNX twin follows the rename
            if has_torch():  # the name is written into the file too, so it survives an index rebuild
                state_dict, meta = _checkpoint().load_checkpoint(path)
                meta.name = name
                _checkpoint().save_checkpoint(path, state_dict, meta)
            else:  # the lite edition cannot write a .pt file: the index and the twin hold the name
                meta = self._entry(record).meta
                meta.name = name
            twins.follow_rename(twin, meta)
            record.update(name=name, meta=meta.to_dict())
            self._write_index(index)
            return self._entry(record)

    def delete(self, model_id: str) -> None:
        with self._lock:
            index = self._synced_index()
            record = self._user_record(index, model_id, "deleted")
            try:
                (self.folder / record["file"]).unlink(missing_ok=True)
            except OSError as exc:
                raise FmnistError(f"Cannot delete {record['file']}: {exc.strerror or exc}.") from None
            twins.remove_twin(self.folder / record["file"])
            index["models"] = [r for r in index["models"] if r is not record]
            for key in ACTIVE_KEYS.values():
                if index.get(key) == model_id:
                    index[key] = None
            self._write_index(index)

    def set_active(self, model_id: str) -> ModelEntry:
        with self._lock:
            entry = self.get(model_id)
            index = self._synced_index()
            index[ACTIVE_KEYS[entry.kind]] = entry.id
            self._write_index(index)
        return entry
