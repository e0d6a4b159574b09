"""The user's own named presets (e.g. a tuning study's best settings), kept beside the models.

`presets.json` in the app data folder maps a name to a complete `Preset`. `get_preset`
falls back to these when a name is not built in, so `fmnist train --preset NAME` and the Train
page can use them like any other preset. A damaged file is ignored (built-in presets still
work) and replaced on the next save.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

from ..base.errors import FmnistError
from ..models.arch_info import ARCH_INFO as ARCHITECTURES  # the same names (networks.py asserts it), without torch
from ..models.presets import AUGMENTATIONS, OPTIMIZERS, PRESETS, SCHEDULES, Preset
from ..base.paths import app_data_dir, atomic_write_text
from ..base.output_safety import printable

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
    if wrongly_typed_field(raw) is not None:  # "epochs": "3" used to crash every command (issue 17)
        return None
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
        if not is_preset_name(name):
            continue  # a hand-edited name with a newline broke every command's --help (issue 17)
        preset = _from_dict(raw) if isinstance(raw, dict) else None
        if preset is not None and name not in PRESETS:
            out[name] = dataclasses.replace(preset, name=name)
    return out


def save_user_preset(preset: Preset, name: str | None = None) -> Preset:
    """Store `preset` under `name` (default: its own name), replacing one of that name."""
    name = name or preset.name
    if not is_preset_name(name):
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


# ---------------------------------------------------------------------------------------------
# Entries set aside (issue 17, hostile items 8 and 9)


def is_preset_name(name: object) -> bool:
    """NAME_RE on the whole name: `re.match` with `$` let a trailing newline through."""
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


def wrongly_typed_field(raw: dict) -> str | None:
    """The first field of `raw` whose value has the wrong type for a Preset (a number as text,
    a list for a name, true for a count), or None."""
    reference = PRESETS["standard"]
    for field in dataclasses.fields(Preset):
        if field.name not in raw:
            continue
        value, want = raw[field.name], type(getattr(reference, field.name))
        if want is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif want is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, want)
        if not ok:
            return field.name
    return None


def preset_notices() -> list[str]:
    """One line for each entry of presets.json that `user_presets` sets aside, saying why."""
    notices = []
    for name, raw in _read().items():
        shown = "'" + printable(name) + "'"
        if not is_preset_name(name):
            notices.append(f"Your preset {shown} in {FILE_NAME} is ignored: that is not a usable preset name.")
        elif name in PRESETS:
            notices.append(f"Your preset {shown} in {FILE_NAME} is ignored: a built-in preset has that name.")
        elif not isinstance(raw, dict):
            notices.append(f"Your preset {shown} in {FILE_NAME} is ignored: it is not a set of settings.")
        elif (field := wrongly_typed_field(raw)) is not None:
            notices.append(f"Your preset {shown} in {FILE_NAME} is ignored: its {field!r} has the wrong type "
                           f"({type(raw[field]).__name__}).")
        elif _from_dict(raw) is None:
            notices.append(f"Your preset {shown} in {FILE_NAME} is ignored: its settings are incomplete or out of range.")
    return notices
