"""Package `__init__`s that name their public names without importing them.

`__getattr__, __dir__ = lazy_exports(__name__, {"Name": "submodule", ...})` in a package's
`__init__` makes `from package import Name` work, importing `package.submodule` on first use
(PEP 562). Importing one submodule then never loads its siblings: the GUI reaches torch-free
modules (`base`, `models.arch_info`, `store.logs`) before torch is loaded.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted([*import_module(package).__dict__, *exports])

    return __getattr__, __dir__
