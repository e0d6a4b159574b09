"""The core must never depend on Qt: the CLI, benchmarks and workers use it without a GUI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import fmnist_desktop.core as core_package

CORE_DIR = Path(core_package.__file__).parent
QT_MODULES = ("PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "shiboken2", "sip", "qtpy")


def _core_modules() -> list[Path]:
    return sorted(p for p in CORE_DIR.rglob("*.py"))


def _imported_names(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            names.extend(a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return names


def test_no_core_module_imports_qt():
    modules = _core_modules()
    assert len(modules) >= 8  # the walk really sees the core
    offenders = []
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in _imported_names(tree):
            if name.split(".")[0] in QT_MODULES:
                offenders.append(f"{path.relative_to(CORE_DIR.parent)} imports {name}")
    assert not offenders, "Qt imported in the core: " + "; ".join(offenders)


def test_the_checker_would_catch_a_qt_import():
    tree = ast.parse("import os\nfrom PySide6.QtCore import QObject\nimportlib.import_module('PyQt6')\n")
    assert [n for n in _imported_names(tree) if n.split(".")[0] in QT_MODULES] == ["PySide6.QtCore", "PyQt6"]


def test_importing_every_core_module_loads_no_qt():
    # Every module, in sub-packages too (core/photo/…): "photo/masks.py" -> fmnist_desktop.core.photo.masks
    names = [".".join(("fmnist_desktop", "core", *p.relative_to(CORE_DIR).with_suffix("").parts)).removesuffix(".__init__")
             for p in _core_modules() if p != CORE_DIR / "__init__.py"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print('QT:' + ','.join(loaded))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "QT:"
