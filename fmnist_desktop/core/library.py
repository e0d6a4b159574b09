"""The user's model library: every model trained or imported, one of them active.

Files live in `paths.models_dir()`, one checkpoint per model, with an index `library.json`
(written atomically) holding the list, each model's name and metadata (so listing does not open
every checkpoint), and which model is active. The model shipped with the app
(`paths.default_weights_path()`) is always listed first; it cannot be renamed or deleted, and it
is what `active()` falls back to when the active model's file has gone.

The folder is the truth, the index a cache of it: `*.pt` files that appear in the folder are
added, entries whose file has gone are dropped, and an unreadable index is set aside as
`library.json.corrupt-<timestamp>` and rebuilt by scanning the folder.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from . import paths
from .checkpoint import CheckpointMeta, load_checkpoint, read_meta, save_checkpoint
from .errors import CheckpointError, FmnistError, SaveError

INDEX_NAME = "library.json"
INDEX_VERSION = 1
BUILTIN_ID = "default"
BUILTIN_NAME = "Default model (shipped with the app)"

_lock = threading.RLock()  # the GUI thread and workers share one library
_builtin_meta_cache: dict[Path, tuple[int, int, CheckpointMeta]] = {}


@dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    path: Path
    meta: CheckpointMeta
    builtin: bool = False

    @property
    def test_accuracy(self) -> float | None:
        value = self.meta.metrics.get("test_accuracy")
        return float(value) if isinstance(value, (int, float)) else None


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40] or "model"


def _stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


class ModelLibrary:
    def __init__(self, folder: str | os.PathLike[str] | None = None):
        self.folder = Path(folder) if folder is not None else paths.models_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index_path = self.folder / INDEX_NAME
        self._notices: list[str] = []  # repairs made while reading, for the user (take_notices)
        # Saves interrupted by a killed process or a power cut leave hidden ".<name>.<random>.tmp"
        # files; they never match "*.pt", so they are never listed, and old ones are cleared here.
        paths.remove_stale_temp_files(self.folder)

    # -- the index ---------------------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        if not self.index_path.exists():
            return {"version": INDEX_VERSION, "active": None, "models": []}
        try:
            index = json.loads(self.index_path.read_text(encoding="utf-8"))
            if not isinstance(index, dict) or not isinstance(index.get("models"), list):
                raise ValueError("not a model list")
            for record in index["models"]:
                if not isinstance(record, dict) or not isinstance(record.get("file"), str):
                    raise ValueError("bad model record")
            return index
        except (OSError, UnicodeDecodeError, ValueError):
            aside = self.index_path.with_name(f"{INDEX_NAME}.corrupt-{_stamp()}")
            try:
                os.replace(self.index_path, aside)
                kept = f"it was set aside as {aside.name}"
            except OSError:
                kept = "it will be replaced"  # rebuilding over it is still right
            self._notices.append(
                f"The model list {INDEX_NAME} in {self.folder} was damaged; {kept} and the list "
                "was rebuilt from the model files (names and the active choice may be reset)."
            )
            return {"version": INDEX_VERSION, "active": None, "models": [], "rebuilt_from": str(aside)}

    def _write_index(self, index: dict[str, Any]) -> None:
        index = {k: v for k, v in index.items() if k != "rebuilt_from"}
        paths.atomic_write_text(self.index_path, json.dumps(index, indent=2, ensure_ascii=False))

    def _synced_index(self) -> dict[str, Any]:
        """The index, reconciled with the files in the folder (and saved if that changed it)."""
        index = self._read_index()
        changed = "rebuilt_from" in index
        records = []
        known_files = set()
        for record in index["models"]:
            file = record["file"]
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
            if path.name in known_files:
                continue
            try:
                meta = read_meta(path)
            except CheckpointError:
                continue  # not a usable model; leave the file alone, do not list it
            records.append({"id": path.stem, "file": path.name, "name": meta.name, "meta": meta.to_dict()})
            known_files.add(path.name)
            changed = True
        index["models"] = records
        if changed:
            self._write_index(index)
        return index

    def _entry(self, record: dict[str, Any]) -> ModelEntry:
        path = self.folder / record["file"]
        try:
            meta = CheckpointMeta.from_dict(record.get("meta") or {})
        except (KeyError, TypeError, ValueError):
            meta = read_meta(path)
        return ModelEntry(id=record.get("id") or path.stem, name=record.get("name") or meta.name, path=path, meta=meta)

    def take_notices(self) -> list[str]:
        """One-line messages about repairs made while reading the folder (a damaged index set
        aside, models whose file vanished), each returned once, oldest first."""
        with _lock:
            notices, self._notices = self._notices, []
        return notices

    # -- reading -----------------------------------------------------------------------------

    def builtin(self) -> ModelEntry | None:
        """The model shipped with the app, or None if this installation lacks it."""
        path = paths.default_weights_path()
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = _builtin_meta_cache.get(path)
        if cached and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            meta = cached[2]
        else:
            try:
                meta = read_meta(path)
            except CheckpointError:
                return None
            _builtin_meta_cache[path] = (stat.st_mtime_ns, stat.st_size, meta)
        return ModelEntry(id=BUILTIN_ID, name=BUILTIN_NAME, path=path, meta=meta, builtin=True)

    def entries(self) -> list[ModelEntry]:
        """The built-in model first (when present), then the user's models, oldest first."""
        with _lock:
            index = self._synced_index()
            user = []
            for record in index["models"]:
                try:
                    user.append(self._entry(record))
                except CheckpointError:
                    continue
        builtin = self.builtin()
        return ([builtin] if builtin else []) + user

    def get(self, model_id: str) -> ModelEntry:
        for entry in self.entries():
            if entry.id == model_id:
                return entry
        raise FmnistError(f"There is no model {model_id!r} in the library.", "List them with: fmnist models")

    def active(self) -> ModelEntry:
        """The active model; the built-in one when none was chosen or the chosen file is gone."""
        with _lock:
            active_id = self._synced_index().get("active")
        entries = self.entries()
        for entry in entries:
            if entry.id == active_id:
                return entry
        if entries:
            return entries[0]
        raise CheckpointError(
            "There is no model yet: the default model is missing and the library is empty.",
            "Train one (fmnist train, or the Train page) or import a model file.",
        )

    # -- changing ----------------------------------------------------------------------------

    def _unique_file(self, name: str) -> Path:
        base = f"{_slug(name)}-{_stamp()}"
        candidate = self.folder / f"{base}.pt"
        n = 2
        while candidate.exists() or candidate.stem == BUILTIN_ID:
            candidate = self.folder / f"{base}-{n}.pt"
            n += 1
        return candidate

    def _record(self, path: Path, meta: CheckpointMeta) -> ModelEntry:
        with _lock:
            index = self._synced_index()  # the new file is picked up here if it was not yet
            record = next((r for r in index["models"] if r["file"] == path.name), None)
            if record is None:
                record = {"id": path.stem, "file": path.name}
                index["models"].append(record)
            record.update(name=meta.name, meta=meta.to_dict())
            self._write_index(index)
            return self._entry(record)

    def add(self, model: nn.Module | dict, meta: CheckpointMeta) -> ModelEntry:
        """Save a model into the library under a new, unique file name."""
        with _lock:
            path = self._unique_file(meta.name)
            save_checkpoint(path, model, meta)
            try:
                return self._record(path, meta)
            except SaveError:
                # All or nothing: a model whose index entry could not be written (disk full) would
                # appear at the next start although the caller was told the save failed.
                path.unlink(missing_ok=True)
                raise

    def import_file(self, path: str | os.PathLike[str], name: str | None = None) -> ModelEntry:
        """Copy a model file (ours, or the notebook's bare state_dict) into the library, after
        checking it loads. The original file is left alone."""
        state_dict, meta = load_checkpoint(path)
        if name:
            meta.name = name
        return self.add(state_dict, meta)

    def _user_record(self, index: dict[str, Any], model_id: str, action: str) -> dict[str, Any]:
        if model_id == BUILTIN_ID:
            raise FmnistError(f"The built-in model cannot be {action}.")
        for record in index["models"]:
            if record.get("id") == model_id:
                return record
        raise FmnistError(f"There is no model {model_id!r} in the library.", "List them with: fmnist models")

    def rename(self, model_id: str, name: str) -> ModelEntry:
        name = " ".join(name.split())
        if not name:
            raise FmnistError("A model's name cannot be empty.")
        with _lock:
            index = self._synced_index()
            record = self._user_record(index, model_id, "renamed")
            path = self.folder / record["file"]
            # The name is written into the file too, so it survives an index rebuild.
            state_dict, meta = load_checkpoint(path)
            meta.name = name
            save_checkpoint(path, state_dict, meta)
            record.update(name=name, meta=meta.to_dict())
            self._write_index(index)
            return self._entry(record)

    def delete(self, model_id: str) -> None:
        with _lock:
            index = self._synced_index()
            record = self._user_record(index, model_id, "deleted")
            try:
                (self.folder / record["file"]).unlink(missing_ok=True)
            except OSError as exc:
                raise FmnistError(f"Cannot delete {record['file']}: {exc.strerror or exc}.") from None
            index["models"] = [r for r in index["models"] if r is not record]
            if index.get("active") == model_id:
                index["active"] = None
            self._write_index(index)

    def set_active(self, model_id: str) -> ModelEntry:
        entry = self.get(model_id)
        with _lock:
            index = self._synced_index()
            index["active"] = entry.id
            self._write_index(index)
        return entry
