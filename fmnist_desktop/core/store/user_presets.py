"""The user's own named presets (e.g. a tuning study's best settings), kept beside the models.

`presets.json` in the app data folder maps a name to a complete `Preset`. `get_preset`
falls back to these when a name is not built in, so `fmnist train --preset NAME` and the Train
page can use them like any other preset. A damaged file is ignored (built-in presets still
work) and replaced on the next save.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from ..base.errors import FmnistError
from ..models.networks import ARCHITECTURES
from ..models.presets import AUGMENTATIONS, OPTIMIZERS, PRESETS, SCHEDULES, Preset
from ..base.paths import app_data_dir, atomic_write_text

FILE_NAME = "presets.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def presets_path() -> Path:
    return app_data_dir() / FILE_NAME


def _read() -> dict[str, dict]:
    try:
        raw = json.loads(presets_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _from_dict(raw: dict) -> Preset | None:
    fields = {f.name for f in dataclasses.fields(Preset)}
    try:
        preset = Preset(**{k: v for k, v in raw.items() if k in fields})
    except TypeError:
        return None
    ok = (
        preset.arch in ARCHITECTURES and preset.augment in AUGMENTATIONS and preset.schedule in SCHEDULES
        and preset.optimizer in OPTIMIZERS and preset.epochs >= 1 and preset.batch_size >= 1 and preset.lr > 0
    )
    return preset if ok else None


def user_presets() -> dict[str, Preset]:
    """The user's presets by name (entries that are damaged or unusable are skipped)."""
    out = {}
    for name, raw in _read().items():
        preset = _from_dict(raw) if isinstance(raw, dict) else None
        if preset is not None and name not in PRESETS:
            out[name] = dataclasses.replace(preset, name=name)
    return out


def save_user_preset(preset: Preset, name: str | None = None) -> Preset:
    """Store `preset` under `name` (default: its own name), replacing one of that name."""
    name = name or preset.name
    if not NAME_RE.match(name):
        raise FmnistError(
            f"{name!r} cannot be a preset name.", "Use up to 40 letters, digits, '-', '_' or '.', starting with a letter or digit."
        )
    if name in PRESETS:
        raise FmnistError(f"{name!r} is a built-in preset; choose another name.")
    preset = dataclasses.replace(preset, name=name, title=preset.title if preset.title != preset.name else name)
    stored = {k: v for k, v in _read().items() if isinstance(v, dict)}
    stored[name] = dataclasses.asdict(preset)
    atomic_write_text(presets_path(), json.dumps(stored, indent=2, ensure_ascii=False))
    return preset


def delete_user_preset(name: str) -> None:
    stored = _read()
    if name not in stored:
        raise FmnistError(f"There is no preset of yours named {name!r}.")
    del stored[name]
    atomic_write_text(presets_path(), json.dumps(stored, indent=2, ensure_ascii=False))


def all_presets() -> dict[str, Preset]:
    """Built-in presets, then the user's."""
    return {**PRESETS, **user_presets()}


def get_preset(name: str) -> Preset:
    """A built-in preset, or one of the user's (e.g. saved by `fmnist tune`)."""
    try:
        return PRESETS[name]
    except KeyError:
        mine = user_presets()
        if name in mine:
            return mine[name]
        raise KeyError(f"unknown preset {name!r}; known: {', '.join([*PRESETS, *mine])}") from None
