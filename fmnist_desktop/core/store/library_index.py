"""The model library's index file `library.json`: reading it (a damaged one set aside), writing
it (atomically, never past its size limit, never a non-finite number), and the lock that makes a
read-modify-write of it whole across processes.

A damaged index is set aside once: what the library writes back is always readable, so the next
command finds a good index instead of setting aside another copy. The active choices are read
back from a damaged index where its text still says them, so the user's active model is kept.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from ..base import paths
from ..base.file_lock import InterProcessLock, lock_for

INDEX_NAME = "library.json"
LOCK_NAME = "library.lock"
INDEX_VERSION = 1
# The index caches names and metadata: about 5 kB a model. Anything far beyond that is not an
# index (10 MB of "[[[[" made every listing fail); it is set aside like any damaged index.
MAX_INDEX_BYTES = 32 * 1024 * 1024
# Where a damaged index's active choices are looked for: its start and its end (json.dumps
# writes the top-level keys there; the model records sit between).
_SALVAGE_BYTES = 64 * 1024
_ACTIVE_PATTERN = re.compile(rb'"(active|active_photo)"\s*:\s*"([A-Za-z0-9._-]{1,200})"')


def index_lock(folder: Path) -> InterProcessLock:
    return lock_for(folder / LOCK_NAME)


def empty_index() -> dict[str, Any]:
    return {"version": INDEX_VERSION, "active": None, "models": []}


def read_index(index_path: Path, notices: list[str]) -> dict[str, Any]:
    """The index, or when it is damaged: a new one holding only the active choices it still
    names (the damaged file set aside as `library.json.corrupt-<timestamp>`, a notice added)."""
    if not index_path.exists():
        return empty_index()
    try:
        if index_path.stat().st_size > MAX_INDEX_BYTES:
            raise ValueError("too large to be a model list")
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if not isinstance(index, dict) or not isinstance(index.get("models"), list):
            raise ValueError("not a model list")
        for record in index["models"]:
            if not isinstance(record, dict) or not isinstance(record.get("file"), str):
                raise ValueError("bad model record")
        return index
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        return _set_aside(index_path, notices)


def _set_aside(index_path: Path, notices: list[str]) -> dict[str, Any]:
    active = salvage_active(index_path)
    aside = index_path.with_name(f"{INDEX_NAME}.corrupt-{_dt.datetime.now():%Y%m%d-%H%M%S}")
    try:
        os.replace(index_path, aside)
        kept = f"it was set aside as {aside.name}"
    except OSError:
        kept = "it will be replaced"  # rebuilding over it is still right
    chosen = " (the active choice was kept)" if active else " (names and the active choice may be reset)"
    notices.append(f"The model list {INDEX_NAME} in {index_path.parent} was damaged; {kept} and the list "
                   f"was rebuilt from the model files{chosen}.")
    return {**empty_index(), **active, "rebuilt_from": str(aside)}


def salvage_active(index_path: Path) -> dict[str, str]:
    """{"active": id, "active_photo": id} as far as a damaged index's first and last bytes say
    them, for ids whose model file is still in the folder."""
    try:
        size = index_path.stat().st_size
        with open(index_path, "rb") as handle:
            head = handle.read(_SALVAGE_BYTES)
            handle.seek(max(0, size - _SALVAGE_BYTES))
            tail = handle.read(_SALVAGE_BYTES)
    except OSError:
        return {}
    found: dict[str, str] = {}
    for chunk in (head, tail):
        for match in _ACTIVE_PATTERN.finditer(chunk):
            key, model_id = match.group(1).decode(), match.group(2).decode()
            if key not in found and (index_path.parent / f"{model_id}.pt").is_file():
                found[key] = model_id
    return found


def write_index(index_path: Path, index: dict[str, Any]) -> None:
    """Write the index atomically. Non-finite numbers are written as null (JSON has none), and
    when the cached metadata would take it past MAX_INDEX_BYTES the largest models' copies are
    left out (they are read from their files instead): an index the library writes is always
    one it can read back."""
    index = {k: v for k, v in index.items() if k != "rebuilt_from"}
    text = _dumps(index)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INDEX_BYTES:
        index = _without_largest_meta(index)
        text = _dumps(index)
    paths.atomic_write_text(index_path, text)


def _dumps(index: dict[str, Any]) -> str:
    index = finite_only(index)
    text = json.dumps(index, indent=2, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate read from a hostile index ("\udcff")
        text = json.dumps(index, indent=2, ensure_ascii=True, allow_nan=False)
    return text


def _without_largest_meta(index: dict[str, Any]) -> dict[str, Any]:
    records = [dict(r) for r in index["models"]]
    sizes = sorted(((len(json.dumps(finite_only(r.get("meta")))), i) for i, r in enumerate(records)), reverse=True)
    total = sum(size for size, _ in sizes)
    budget = MAX_INDEX_BYTES // 2  # names, files, ids and the indentation take the rest
    for size, i in sizes:
        if total <= budget:
            break
        records[i].pop("meta", None)
        total -= size
    return {**index, "models": records}


def finite_only(value: Any) -> Any:
    """`value` with every non-finite float (NaN, ±inf) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_only(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_only(v) for v in value]
    return value
