"""Which models a command classifies with: `--weights FILE` (that one model answers everything)
or, by default, the library's active models together, the photo model and the 28×28 network,
each image going to the one it suits (core.predict.Predictor routes them)."""

from __future__ import annotations

from pathlib import Path

# What the `fmnist predict` table and `fmnist models` print for each kind of model.
KIND_COLUMN = {"photo": "photo", "fmnist": "28×28"}

WEIGHTS_HELP = ("model file: that one model classifies every image (default: the library's active photo model "
                "and 28×28 network together; each image goes to the one it suits)")


def model_paths(args) -> list[Path]:
    """[--weights FILE], or the active models: the photo model first (when there is one), then
    the 28×28 network."""
    if getattr(args, "weights", None):
        return [Path(args.weights)]
    from ..core.base.output_safety import printable
    from .console import complain
    from ..core.store.library import ModelLibrary

    library = ModelLibrary()
    paths = [entry.path for entry in library.active_models()]
    for notice in library.take_notices():  # e.g. a damaged shipped photo model: said, not hidden
        complain("note", printable(notice))
    return paths


def models_line(predictor) -> str:
    """ "Photo model – X and 28×28 network – Y": the models a Predictor holds."""
    from ..core.models.arch_info import KIND_NAMES

    return " and ".join(f"{KIND_NAMES.get(kind, kind)} – {slot.meta.name}" for kind, slot in predictor.slots.items())
