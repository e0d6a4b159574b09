"""The tuner's search space: what a trial may change in the base preset, how a trial's settings
are drawn (`suggest`) and turned into a complete `Preset` (`trial_preset`), and how they are shown
(`format_params`). Names also importable from core.jobs.tuning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..base.errors import FmnistError
from ..models.presets import AUGMENTATIONS, Preset
from ..models.networks import width_family

if TYPE_CHECKING:
    import optuna

DEFAULT_BASE = "fast"
# Augmentations the tuner chooses from, weakest first ("realworld" is for photos, not val accuracy).
AUGMENT_STRENGTHS = ("none", "flip", "standard")


# ---------------------------------------------------------------------------------------------
# Search space


@dataclass(frozen=True)
class SearchSpace:
    lr: tuple[float, float]  # log-uniform
    weight_decay: tuple[float, float]  # log-uniform
    epochs: tuple[int, int]  # inclusive
    batch_sizes: tuple[int, ...]
    widths: tuple[int, ...]  # first-block channels; () = the base network only
    augments: tuple[str, ...]
    label_smoothing: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_space(base: Preset) -> SearchSpace:
    """A space around the base preset: lr ÷3..×3, weight decay 1e-5..1e-2, epochs from a third
    of the preset's to its own + 2 (capped, so a trial stays short), its network at every width."""
    family = width_family(base.arch)
    return SearchSpace(
        lr=(base.lr / 3, base.lr * 3),
        weight_decay=(1e-5, 1e-2),
        epochs=(max(1, base.epochs // 3), min(base.epochs + 2, 16)),
        batch_sizes=(64, 128, 256),
        widths=tuple(sorted(family)) if family else (),
        augments=AUGMENT_STRENGTHS,
        label_smoothing=(0.0, 0.15),
    )


def suggest(trial: "optuna.trial.Trial", space: SearchSpace) -> dict[str, Any]:
    """The trial's settings, drawn from `space` (names are the Preset's fields, plus width)."""
    params: dict[str, Any] = {
        "lr": trial.suggest_float("lr", *space.lr, log=True),
        "weight_decay": trial.suggest_float("weight_decay", *space.weight_decay, log=True),
        "epochs": trial.suggest_int("epochs", *space.epochs),
        "batch_size": trial.suggest_categorical("batch_size", list(space.batch_sizes)),
        "augment": trial.suggest_categorical("augment", list(space.augments)),
        "label_smoothing": trial.suggest_float("label_smoothing", *space.label_smoothing),
    }
    if len(space.widths) > 1:
        params["width"] = trial.suggest_categorical("width", list(space.widths))
    elif space.widths:
        params["width"] = space.widths[0]
    return params


def trial_preset(base: Preset, params: dict[str, Any], name: str | None = None, title: str | None = None) -> Preset:
    """The base preset with a trial's settings: a complete recipe the trainer can run."""
    arch = base.arch
    if "width" in params:
        family = width_family(base.arch) or {}
        if int(params["width"]) not in family:
            raise FmnistError(f"The {base.arch!r} network has no width {params['width']}; known: {sorted(family)}.")
        arch = family[int(params["width"])]
    augment = str(params.get("augment", base.augment))
    if augment not in AUGMENTATIONS:
        raise FmnistError(f"Unknown augmentation {augment!r}; use one of: {', '.join(AUGMENTATIONS)}.")
    described = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(params.items()))
    return dataclasses.replace(
        base,
        name=name or f"{base.name}-tuned",
        title=title or f"{base.title} (tuned)",
        description=f"{base.title} with tuned settings: {described}.",
        arch=arch,
        epochs=int(params.get("epochs", base.epochs)),
        batch_size=int(params.get("batch_size", base.batch_size)),
        lr=float(params.get("lr", base.lr)),
        weight_decay=float(params.get("weight_decay", base.weight_decay)),
        augment=augment,
        label_smoothing=float(params.get("label_smoothing", base.label_smoothing)),
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(params: dict[str, Any]) -> str:
    """One short line: "lr 0.00612, wd 0.000143, 3 ep, batch 128, width 24, flip, ls 0.05"."""
    parts = []
    if "lr" in params:
        parts.append(f"lr {params['lr']:.3g}")
    if "weight_decay" in params:
        parts.append(f"wd {params['weight_decay']:.2g}")
    if "epochs" in params:
        parts.append(f"{params['epochs']} ep")
    if "batch_size" in params:
        parts.append(f"batch {params['batch_size']}")
    if "width" in params:
        parts.append(f"width {params['width']}")
    if "augment" in params:
        parts.append(str(params["augment"]))
    if "label_smoothing" in params:
        parts.append(f"ls {params['label_smoothing']:.3f}")
    return ", ".join(parts)
