"""Shared fixtures: an isolated app data folder for every test, and tiny data sets in the real
Fashion-MNIST file format (gzip or raw IDX), so no test needs the network or the 30 MB files.

Add fixtures here only additively; fixtures for one area belong in that folder's conftest.py.
"""

from __future__ import annotations

import os

if os.environ.get("FMNIST_HIDE_TORCH") == "1":  # the lite edition's tests (tests/test_lite_edition.py)
    from lite import hide_torch

    hide_torch.install()
# tests/lite runs only with torch hidden, in an interpreter of its own (tests/test_lite_edition.py).
collect_ignore = [] if os.environ.get("FMNIST_HIDE_TORCH") == "1" else ["lite"]

import gzip
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REAL_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """`array` (uint8) in IDX format: magic 0x0000 0x08 <ndim>, big-endian dims, then the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def write_idx_file(path: Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write `array` as an IDX file; gzip-compressed when `compress` (default: name ends .gz)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if compress is None:
        compress = path.name.endswith(".gz")
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
    return path


def tiny_patterns(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` 28×28 uint8 images of 10 easily learnt classes, balanced, with labels.

    Class k is a bright centred square of side 4 + 2k on a dim noisy background, jittered by up
    to ±1 px. The classes survive horizontal flips and small shifts (the presets' augmentations),
    so even a 1-epoch run of a tiny network learns them well above chance.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 30, size=(n, 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        side = 4 + 2 * int(k)
        top = 14 - side // 2 + int(rng.integers(-1, 2))
        left = 14 - side // 2 + int(rng.integers(-1, 2))
        top, left = max(0, min(28 - side, top)), max(0, min(28 - side, left))
        images[i, top : top + side, left : left + side] = rng.integers(200, 256)
    return images, labels.astype(np.uint8)


def write_tiny_dataset(
    folder: Path, n_train: int = 600, n_test: int = 200, compress: bool = True, layout: str = ""
) -> Path:
    """Write the four Fashion-MNIST files (tiny pattern data) into `folder` (or `folder/layout`,
    e.g. layout="FashionMNIST/raw" as torchvision lays them out). Returns `folder`."""
    base = Path(folder) / layout if layout else Path(folder)
    suffix = ".gz" if compress else ""
    train_x, train_y = tiny_patterns(n_train, seed=1)
    test_x, test_y = tiny_patterns(n_test, seed=2)
    for key, array in (
        ("train_images", train_x),
        ("train_labels", train_y),
        ("test_images", test_x),
        ("test_labels", test_y),
    ):
        write_idx_file(base / f"{IDX_STEMS[key]}{suffix}", array, compress)
    return Path(folder)


@pytest.fixture(autouse=True)
def tmp_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own empty app data folder (FMNIST_DESKTOP_HOME), never the user's."""
    home = tmp_path_factory.mktemp("fmnist_home")
    monkeypatch.setenv("FMNIST_DESKTOP_HOME", str(home))
    # No shipped photo model unless a test asks for one (`shipped_photo_model`): the tests written
    # for the 28×28 pipeline keep meeting it, whatever weights/ holds.
    monkeypatch.setenv("FMNIST_DESKTOP_PHOTO_WEIGHTS", str(home / "no-shipped-photo-model.pt"))
    # The Models page measures every model on resources/real-photos (80 photos through GrabCut):
    # tests meet 3 of them unless they ask for the whole set (`shipped_real_photos`).
    monkeypatch.setenv("FMNIST_DESKTOP_REAL_PHOTOS", str(_three_real_photos(tmp_path_factory)))
    from fmnist_desktop.core.store import logs

    logs.reset()  # the log handler of an earlier test points into that test's folder
    yield home
    logs.reset()


_THREE_REAL_PHOTOS: list[Path] = []


def _three_real_photos(tmp_path_factory) -> Path:
    """A copy of three of the shipped real photos (one T-shirt/top, Trouser, Dress), same layout."""
    if not _THREE_REAL_PHOTOS:
        import shutil

        source = Path(__file__).resolve().parents[1] / "resources" / "real-photos"
        folder = tmp_path_factory.mktemp("three_real_photos")
        for sub in ("0_T-shirt_top", "1_Trouser", "3_Dress"):
            first = sorted((source / sub).glob("*.jpg"))[:1]
            for photo in first:
                (folder / sub).mkdir()
                shutil.copy(photo, folder / sub / photo.name)
        _THREE_REAL_PHOTOS.append(folder)
    return _THREE_REAL_PHOTOS[0]


@pytest.fixture
def shipped_real_photos(monkeypatch) -> Path:
    """The whole real-photo set of resources/real-photos, as the app measures models on it."""
    monkeypatch.delenv("FMNIST_DESKTOP_REAL_PHOTOS", raising=False)
    return Path(__file__).resolve().parents[1] / "resources" / "real-photos"


@pytest.fixture
def tiny_idx_dir(tmp_path) -> Path:
    """A folder holding a tiny Fashion-MNIST look-alike in gzip IDX files: 600 training and 200
    test images of 10 learnable patterns (see `tiny_patterns`). Use with val_size ≤ 100."""
    return write_tiny_dataset(tmp_path / "tiny_fmnist")


def save_untrained_model(path: Path, preset: str, name: str, **meta_fields) -> Path:
    """A valid checkpoint of `preset`'s network with fixed random weights (seed 0): its answers are
    arbitrary but deterministic, enough to drive the CLI, the pages and the server (not accuracy)."""
    import torch

    from fmnist_desktop.core.models import build_model
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint

    torch.manual_seed(0)
    meta = CheckpointMeta.for_preset(preset, name, **meta_fields)
    return save_checkpoint(path, build_model(meta.arch), meta)


@pytest.fixture
def small_model(tmp_path) -> Path:
    """An untrained 'fast' model (bn_cnn_small) in the app's format."""
    return save_untrained_model(tmp_path / "small.pt", "fast", "Small test model", metrics={"test_accuracy": 12.5})


@pytest.fixture(scope="session")
def seed_model_file(tmp_path_factory) -> Path:
    """An untrained model of the origin notebook's seed CNN, shared by a session's tests."""
    return save_untrained_model(tmp_path_factory.mktemp("models") / "untrained-seed.pt", "seed", "Untrained seed",
                                metrics={"test_accuracy": 10.0})


@pytest.fixture
def idx_writer():
    """The IDX helpers for tests that build their own (possibly broken) files:
    `.idx_bytes(array)`, `.write_idx_file(path, array, compress=None)`,
    `.write_tiny_dataset(folder, n_train, n_test, compress, layout)`, `.tiny_patterns(n, seed)`,
    `.stems` (role → upstream file name without .gz)."""

    return SimpleNamespace(
        stems=dict(IDX_STEMS),
        idx_bytes=idx_bytes,
        write_idx_file=write_idx_file,
        write_tiny_dataset=write_tiny_dataset,
        tiny_patterns=tiny_patterns,
    )


@pytest.fixture
def fake_mirror(monkeypatch, tmp_path):
    """Factory: serve a tiny data set as torchvision's Fashion-MNIST mirror, offline.

    `fake_mirror(n_train=40, n_test=20, chunk=None, delay_s=0.0)` writes the four gzip files,
    patches torchvision's checksums to theirs and `urllib.request.urlopen` to answer from them
    (`chunk` bytes per read, `delay_s` before each: a slow network), hides the Debian package,
    and returns {file name: bytes}."""
    import hashlib
    import io
    import time

    from torchvision.datasets import FashionMNIST as TV

    from fmnist_desktop.core.data import fashion_mnist as data

    def serve(n_train: int = 40, n_test: int = 20, chunk: int | None = None, delay_s: float = 0.0) -> dict[str, bytes]:
        monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian-package")
        source = write_tiny_dataset(tmp_path / "mirror", n_train=n_train, n_test=n_test)
        blobs = {p.name: p.read_bytes() for p in source.iterdir()}
        monkeypatch.setattr(TV, "resources", [(n, hashlib.md5(b).hexdigest()) for n, b in blobs.items()])

        class Response(io.BytesIO):
            def __init__(self, blob: bytes):
                super().__init__(blob)
                self.length = len(blob)

            def read(self, size: int = -1) -> bytes:
                if delay_s:
                    time.sleep(delay_s)
                return super().read(chunk if chunk is not None else size)

        monkeypatch.setattr(data.urllib.request, "urlopen",
                            lambda req, timeout: Response(blobs[req.full_url.rsplit("/", 1)[1]]))
        return blobs

    return serve


@pytest.fixture
def real_data_dir() -> Path:
    """The Debian dataset-fashion-mnist folder; skips the test when it is not installed."""
    if not all((REAL_DATA_DIR / f"{stem}.gz").is_file() for stem in IDX_STEMS.values()):
        pytest.skip(f"real Fashion-MNIST not installed in {REAL_DATA_DIR}")
    return REAL_DATA_DIR


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def assert_one_error_line(self, *expected: str) -> str:
        """Non-zero exit, exactly one stderr line `fmnist: error: ...` holding `expected`, no traceback."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert self.code != 0, self
        assert len(lines) == 1, f"expected one stderr line, got:\n{self.err}"
        assert lines[0].startswith("fmnist: error: "), lines[0]
        assert "Traceback" not in self.err + self.out
        for words in expected:
            assert words in lines[0], f"{words!r} not in {lines[0]!r}"
        return lines[0]


@pytest.fixture
def run_cli(capsys):
    """run_cli("predict", "--json", path) → CliResult(code, out, err): the `fmnist` command, in this process."""
    from fmnist_desktop.cli import main

    def run(*argv: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


# --------------------------------------------------------------------------------- GUI
# Shared by tests/ui and tests/hardening. Qt is imported inside the fixtures, so the core and CLI
# tests never load it.


@pytest.fixture
def isolated_settings(tmp_path, tmp_home):
    """QSettings in INI format under tmp_path/settings (never the user's); returns that folder.
    The app data folder is already the test's own (`tmp_home`)."""
    from PySide6.QtCore import QSettings

    settings_dir = tmp_path / "settings"
    settings_dir.mkdir()
    previous_format = QSettings.defaultFormat()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(settings_dir))
    yield settings_dir
    QSettings.setDefaultFormat(previous_format)


@pytest.fixture
def make_main_window(qtbot, isolated_settings):
    """Factory: build a fresh MainWindow in the same isolated settings and data folder; by default
    shown, with its background torch import finished. Every page is shut down afterwards."""
    windows = []

    def make(show: bool = True, wait_ready: bool = True):
        from fmnist_desktop.ui.main_window import MainWindow

        window = MainWindow()
        # pytest-qt closes its widgets before fixture teardown. A test that failed while work was
        # running would otherwise meet the "Quit while work is running?" question there, a modal
        # box nobody answers offscreen: the run hangs and its failure is never printed.
        qtbot.addWidget(window, before_close_func=_stop_work_and_allow_close)
        windows.append(window)
        if show:
            window.show()
            qtbot.waitExposed(window)
            if wait_ready:
                qtbot.waitUntil(
                    lambda: window.context.is_torch_ready() or window.context.import_error() is not None,
                    timeout=60_000,
                )
        return window

    yield make
    for window in windows:
        _stop_work_and_allow_close(window)


def _stop_work_and_allow_close(window) -> None:
    for page in window.pages.values():
        shutdown = getattr(page, "shutdown", None)
        if shutdown is not None:
            shutdown(5000)
    window._closing_confirmed = True  # as if the user had answered "Quit anyway"


@pytest.fixture
def shipped_photo_model(monkeypatch) -> Path:
    """weights/photo.pt as the built-in photo model (skips when this checkout has none)."""
    path = Path(__file__).resolve().parents[1] / "weights" / "photo.pt"
    if not path.is_file():
        pytest.skip("weights/photo.pt is not in this checkout")
    monkeypatch.delenv("FMNIST_DESKTOP_PHOTO_WEIGHTS", raising=False)
    return path


# --------------------------------------------------------------------------------- photo model
# Tests of the plumbing around the photo model (CLI, serve, export, self-test) make one, so they
# run in every checkout and know what it answers: its head is fixed (one class, strongly).


def write_photo_model(path: Path, name: str = "Test photo model", threshold: float = 0.3, answer: int = 7) -> Path:
    """A photo model file (pretrained backbone, a fixed head that always says class `answer`,
    7 = Sneaker, at about 0.98) with a photo model's metadata."""
    import torch

    from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, PhotoNet
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint

    torch.manual_seed(0)
    net = PhotoNet.pretrained().eval()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([6.0 if k == answer else 0.0 for k in range(11)]))
    meta = CheckpointMeta(name=name, preset="photo-model", arch=PHOTO_ARCH, input_size=224, mean=0.0, std=1.0,
                          metrics={"not_sure_threshold": threshold, "out_of_scope_threshold": None},
                          training={"augment": "none"})
    return save_checkpoint(path, net, meta)


@pytest.fixture(scope="session")
def photo_model_file(tmp_path_factory) -> Path:
    """A photo model file whose head always says "Sneaker" (about 0.98); threshold 0.3."""
    return write_photo_model(tmp_path_factory.mktemp("photo_model") / "photo.pt")


@pytest.fixture
def photo_model_writer():
    """`write_photo_model(path, name=..., threshold=..., answer=...)`: another photo model file."""
    return write_photo_model


@pytest.fixture
def builtin_test_photo_model(photo_model_file, monkeypatch) -> Path:
    """`photo_model_file` as the built-in photo model (as if it were weights/photo.pt)."""
    monkeypatch.setenv("FMNIST_DESKTOP_PHOTO_WEIGHTS", str(photo_model_file))
    return photo_model_file
