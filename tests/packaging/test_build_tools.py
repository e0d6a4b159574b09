"""The build command's tarball, the desktop entry and the icon set, checked without PyInstaller.

These run in the normal (fast) suite: they pack a small stand-in app folder, so they need no
multi-gigabyte bundle. tests/packaging/test_bundle.py checks the real bundle.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from fmnist_desktop import __version__
from fmnist_desktop import build
from fmnist_desktop.core.base import paths

RESOURCES = paths.source_root() / "resources"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


@pytest.fixture
def fake_app_dir(tmp_path) -> Path:
    """A small folder shaped like PyInstaller's output: an executable and an _internal/ tree."""
    app = tmp_path / "dist" / "fmnist-desktop"
    (app / "_internal" / "weights").mkdir(parents=True)
    exe = app / "fmnist-desktop"
    exe.write_bytes(b"#!/bin/sh\necho packaged\n")
    exe.chmod(0o755)
    (app / "_internal" / "weights" / "default.pt").write_bytes(os.urandom(2048))
    (app / "_internal" / "libfoo.so.1").write_bytes(b"\x7fELF" + bytes(100))
    (app / "_internal" / "libfoo.so").symlink_to("libfoo.so.1")
    return app


def test_tarball_holds_the_app_the_desktop_entry_icon_and_notes(fake_app_dir, tmp_path):
    seen: list[tuple[int, int]] = []
    archive = build.make_tarball(fake_app_dir, RESOURCES, tmp_path, version="9.8.7", progress=lambda d, t: seen.append((d, t)))

    assert archive.name == f"fmnist-desktop-9.8.7-linux-{build.platform.machine().lower()}.tar.gz"
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        top = "fmnist-desktop-9.8.7"
        for name in ("fmnist-desktop/fmnist-desktop", "fmnist-desktop/_internal/weights/default.pt",
                     "fmnist-desktop.desktop", "fmnist-desktop.png", "INSTALL.txt", "install-desktop-entry.sh"):
            assert f"{top}/{name}" in members, name
        # The app and the installer script must stay executable after unpacking.
        assert members[f"{top}/fmnist-desktop/fmnist-desktop"].mode & 0o111
        assert members[f"{top}/install-desktop-entry.sh"].mode & 0o111
        # Library symlinks stay links (PyInstaller relies on them; copying would double the size).
        assert members[f"{top}/fmnist-desktop/_internal/libfoo.so"].issym()
        weights = tar.extractfile(f"{top}/fmnist-desktop/_internal/weights/default.pt").read()
        note = tar.extractfile(f"{top}/INSTALL.txt").read().decode()
    assert weights == (fake_app_dir / "_internal" / "weights" / "default.pt").read_bytes()
    assert archive.name in note and "--self-test" in note and "install-desktop-entry.sh" in note
    assert seen and seen[-1][0] == seen[-1][1]  # progress reached 100 %
    assert not list(tmp_path.glob("*.part"))


def test_failed_tarball_leaves_no_archive_behind(fake_app_dir, tmp_path, monkeypatch):
    def broken_add(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "add", broken_add)
    with pytest.raises(OSError):
        build.make_tarball(fake_app_dir, RESOURCES, tmp_path)
    assert list(tmp_path.glob("*.tar.gz*")) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the desktop entry installer is for Linux")
def test_desktop_entry_installer_points_the_menu_at_the_unpacked_app(fake_app_dir, tmp_path):
    archive = build.make_tarball(fake_app_dir, RESOURCES, tmp_path, version="1.0")
    unpack = tmp_path / "My Apps"  # a space in the path must survive the Exec line's quoting
    with tarfile.open(archive) as tar:
        tar.extractall(unpack, filter="tar")
    data_home = tmp_path / "xdg"
    result = subprocess.run(
        [str(unpack / "fmnist-desktop-1.0" / "install-desktop-entry.sh")],
        env={**os.environ, "XDG_DATA_HOME": str(data_home)}, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(data_home / "applications" / "fmnist-desktop.desktop")
    exe = unpack / "fmnist-desktop-1.0" / "fmnist-desktop" / "fmnist-desktop"
    assert entry["Desktop Entry"]["Exec"] == f'"{exe}" %F'
    assert (data_home / "icons" / "hicolor" / "256x256" / "apps" / "fmnist-desktop.png").is_file()


def test_desktop_entry_has_what_menus_need():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive in .desktop files
    entry.read(RESOURCES / "fmnist-desktop.desktop")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] == "Fashion-MNIST Desktop"
    assert section["Exec"].split()[0] == "fmnist-desktop"
    assert section["Icon"] == "fmnist-desktop"
    assert section["Terminal"] == "false"


def test_icon_set_has_every_size_in_every_format():
    icons = RESOURCES / "icons"
    for size in ICON_SIZES:
        with Image.open(icons / f"fmnist-desktop-{size}.png") as image:
            assert image.size == (size, size)
            assert image.mode == "RGBA"
            # A rounded square: transparent corners, an opaque centre.
            assert image.getpixel((0, 0))[3] < 128 or size <= 32
            assert image.getpixel((size // 2, size // 2))[3] == 255
    with Image.open(icons / "fmnist-desktop.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(icons / "fmnist-desktop.icns") as icns:
        assert {(16, 16, 2), (32, 32, 2), (128, 128, 1), (256, 256, 1), (512, 512, 2)} <= set(icns.info["sizes"])
    # The running app sets this one as its window icon (fmnist_desktop/app.py).
    assert (icons / "fmnist-desktop.png").is_file()


def test_resources_stay_small():
    total = sum(p.stat().st_size for p in RESOURCES.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert total < 2_000_000, f"resources/ is {total / 1e6:.1f} MB; keep it under 2 MB"


def test_build_without_pyinstaller_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    # Simulate a venv without the build extra: the import of PyInstaller fails.
    monkeypatch.setitem(sys.modules, "PyInstaller", None)
    status = build.main([])
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert err.count("\n") == 0 and 'pip install -e ".[build]"' in err


def test_version_in_tarball_name_matches_the_package():
    assert build.tarball_name().startswith(f"fmnist-desktop-{__version__}-linux-")
