"""The layers are enforced: pyproject.toml's import-linter contracts hold, and each one fails when broken.

`lint-imports` reads the contracts from pyproject.toml. To prove a contract is not vacuous, the
package is copied to a temporary folder, one forbidden import is added to the copy, and
`lint-imports` must then report that contract as broken (the real tree is never touched).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e '.[test]')")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=240)


def test_the_layer_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


@pytest.fixture(scope="module")
def broken_copies(tmp_path_factory):
    """One copy of the package per broken rule, each with exactly one forbidden import added."""
    breaks = {
        "core-is-plain-python": ("fmnist_desktop/core/_layer_probe.py", "from fmnist_desktop.ui import tasks\n"),
        "ui-below-app": ("fmnist_desktop/ui/_layer_probe.py", "from fmnist_desktop import app\n"),
        "cli-headless": ("fmnist_desktop/cli/_layer_probe.py", "from fmnist_desktop.ui import context\n"),
        "serve-headless": ("fmnist_desktop/serve/_layer_probe.py", "import PySide6.QtCore\n"),
        "pages-independent": ("fmnist_desktop/ui/pages/evaluate_probe.py", ""),  # replaced below
    }
    copies = {}
    for contract, (relative, text) in breaks.items():
        root = tmp_path_factory.mktemp(contract)
        shutil.copytree(ROOT / "fmnist_desktop", root / "fmnist_desktop",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
        if contract == "pages-independent":
            # The Evaluate page taking a widget from the Train page, as it once took its Banner.
            page = root / "fmnist_desktop/ui/pages/evaluate.py"
            page.write_text(page.read_text(encoding="utf-8") + "\nfrom .train.form import SettingsForm  # noqa\n",
                            encoding="utf-8")
        else:
            (root / relative).write_text(text, encoding="utf-8")
        copies[contract] = root
    return copies


@pytest.mark.parametrize("contract", ["core-is-plain-python", "ui-below-app", "cli-headless", "serve-headless", "pages-independent"])
def test_each_contract_fails_when_broken(broken_copies, contract):
    result = lint_imports(broken_copies[contract])
    assert result.returncode != 0, result.stdout
    assert "1 broken" in result.stdout, result.stdout
    assert "BROKEN" in result.stdout
