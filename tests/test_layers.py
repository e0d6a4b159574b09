"""The layers are enforced: pyproject.toml's import-linter contracts hold, each one fails when broken
(and only that one), and no module of the package takes part in an import circle.

`lint-imports` reads the contracts from pyproject.toml. To prove a contract is not vacuous, the
package is copied to a temporary folder, one forbidden import is added to the copy, and
`lint-imports` must then report exactly that contract as broken (the real tree is never touched).
import-linter is a test dependency: without it these tests fail rather than skip, since a missing
linter would otherwise let every layer rule lapse in silence.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = {c["id"]: c["name"] for c in
             tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"import-linter is not installed next to {sys.executable} (pip install -e '.[test]'): "
                    "the layer contracts cannot be checked")
    # A wide terminal, so that each contract's verdict is on one line with its name.
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "1000"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=240)


def verdicts(output: str) -> dict[str, str]:
    """{contract id: "KEPT" or "BROKEN"} from lint-imports' report."""
    out = {}
    for contract_id, name in CONTRACTS.items():
        found = re.search(re.escape(name) + r"\s+(KEPT|BROKEN)", output)
        assert found, f"lint-imports did not report on {contract_id!r}:\n{output}"
        out[contract_id] = found.group(1)
    return out


def test_the_layer_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(verdicts(result.stdout).values()) == {"KEPT"}
    assert "core-layers" in CONTRACTS


# One forbidden import per rule: (file to add to a copy of the package, its text) or, for an
# existing file, (file, a line appended to it).
BREAKS = {
    "core-is-plain-python": ("fmnist_desktop/core/jobs/_layer_probe.py", "from fmnist_desktop.ui import tasks\n"),
    "core-imports-serve": ("fmnist_desktop/core/jobs/_layer_probe.py", "from fmnist_desktop.serve import app\n"),
    # the bottom layer reaching up to the model library
    "core-layers": ("fmnist_desktop/core/base/_layer_probe.py", "from fmnist_desktop.core.store import library\n"),
    # presets (models) asking the user's presets (store), the circle the layout broke
    "core-layers-presets": ("fmnist_desktop/core/models/presets.py", "from ..store import user_presets  # noqa\n"),
    "ui-below-app": ("fmnist_desktop/ui/_layer_probe.py", "from fmnist_desktop import app\n"),
    "cli-headless": ("fmnist_desktop/cli/_layer_probe.py", "from fmnist_desktop.ui import context\n"),
    "serve-headless": ("fmnist_desktop/serve/_layer_probe.py", "import PySide6.QtCore\n"),
    # The Evaluate page taking a widget from the Train page, as it once took its Banner.
    # `fmnist predict` reaching for torch: answering would load it again (issue 25). (Not the ONNX
    # engine: the photo head's fine-tune runs the twin through it, so that break is both contracts'.)
    "answers-without-torch": ("fmnist_desktop/cli/predict.py", "import torch  # noqa\n"),
    # The photo head's fine-tune reaching for torch: the lite edition could not fine-tune (issue 25 item 3).
    "finetune-without-torch": ("fmnist_desktop/core/learn/head_finetune.py", "import torch  # noqa\n"),
    "pages-independent": ("fmnist_desktop/ui/pages/evaluate/page.py", "from ..train.form import SettingsForm  # noqa\n"),
}
EXPECTED = {"core-imports-serve": "core-is-plain-python", "core-layers-presets": "core-layers"}


@pytest.fixture(scope="module")
def broken_copies(tmp_path_factory):
    """One copy of the package per broken rule, each with exactly one forbidden import added."""
    copies = {}
    for case, (relative, text) in BREAKS.items():
        root = tmp_path_factory.mktemp(case)
        shutil.copytree(ROOT / "fmnist_desktop", root / "fmnist_desktop",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
        target = root / relative
        before = target.read_text(encoding="utf-8") + "\n" if target.exists() else ""
        target.write_text(before + text, encoding="utf-8")
        copies[case] = root
    return copies


@pytest.mark.parametrize("case", list(BREAKS))
def test_each_contract_fails_when_broken(broken_copies, case):
    result = lint_imports(broken_copies[case])
    assert result.returncode != 0, result.stdout
    expected = EXPECTED.get(case, case)
    report = verdicts(result.stdout)
    assert report[expected] == "BROKEN", result.stdout
    assert [c for c, v in report.items() if v == "BROKEN"] == [expected], result.stdout


def test_no_import_circle_in_the_package():
    """No module imports itself through others (checked on the real tree with grimp, which
    import-linter installs): a circle makes import order matter and layers meaningless."""
    import grimp

    env_path = sys.path[:]
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph("fmnist_desktop", cache_dir=None)
    finally:
        sys.path[:] = env_path
    circles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.find_shortest_chain(importer=imported, imported=module):
                circles.append(f"{module} -> {imported} -> … -> {module}")
    assert not circles, "\n".join(circles)
