"""Which edition is running: the full app (PyTorch: training, tuning, CUDA) or the lite one.

The lite edition is the same code base without torch and torchvision (docs/PACKAGING.md, "The
lite edition"): every answer runs on onnxruntime through the models' ONNX twins, so Predict,
Evaluate, the Models page and the local API work; what needs torch (training a model from
scratch, tuning, making a twin, TorchScript, opening a .pt file without a twin) says in one line
that the full edition does it. This is the one fact the UI and the CLI consult — a page or a
command asks `has_torch()` (or calls `require_torch`) before it offers such a thing, instead of
catching ImportError where it happens.

Torch-free, and cheap: it only asks the import system whether torch could be imported.
"""

from __future__ import annotations

import importlib.util

from .errors import FmnistError

FULL = "full"
LITE = "lite"


class NeedsFullEdition(FmnistError):
    """Something the lite edition cannot do; the message is the one line the user sees."""


def has_torch() -> bool:
    """True when torch and torchvision can be imported (the full edition)."""
    for name in ("torch", "torchvision"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):  # a hidden or broken installation counts as absent
            return False
    return True


def edition() -> str:
    """"full" or "lite"."""
    return FULL if has_torch() else LITE


def full_edition_line(what: str) -> str:
    """The one line that says `what` ("Training a model", …) needs the full edition."""
    return f"{what} needs the full edition of the app (with PyTorch); this is the lite edition."


def require_torch(what: str) -> None:
    """Raise NeedsFullEdition(one line) in the lite edition; nothing in the full one."""
    if not has_torch():
        raise NeedsFullEdition(full_edition_line(what))
