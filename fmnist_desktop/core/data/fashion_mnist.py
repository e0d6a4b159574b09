"""Finding, fetching and loading Fashion-MNIST as uint8 tensors.

Sources are tried in a fixed order and always named to the user:

1. a folder the user picked (`folder=`) — when given, it is the only source: a user who points at
   a folder means that folder, so a missing file there is reported instead of silently using
   another copy;
2. the app's own data folder (`paths.datasets_dir()`, where downloads go);
3. Debian's `dataset-fashion-mnist` package (`DEBIAN_DIR`);
4. a download with torchvision's mirror list and checksums, into the app's data folder (only
   when `download=True`).

In each folder the four files are accepted gzip-compressed (`train-images-idx3-ubyte.gz`, as
Debian and the upstream site ship them) or raw (`train-images-idx3-ubyte`), at the top level or
in torchvision's layout (`FashionMNIST/raw/...`). Every file is verified (magic number, 28×28
dimensions, count in the header against the file size, labels in 0..9, image and label counts
equal) and a problem raises a `DatasetError` naming the file, what is wrong with it and how to
fix it.

The whole set is 55 MB as uint8, so it is read once into tensors (numpy.frombuffer, no per-image
objects) and batches are later built by indexing; reading it takes about a second, mostly gzip.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..base import paths
from ..base.defaults import DEFAULT_VAL_SIZE
from ..base.errors import DatasetError
from ..base.labels import NUM_CLASSES

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"

# The four files, by role, with their upstream (uncompressed) names.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILE_STEMS = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

IMAGE_SIZE = 28
# Sub-folders (relative to a data folder) where the files may sit: the top level, and the layouts
# torchvision's FashionMNIST(root=...) creates (root/FashionMNIST/raw) or is pointed into.
_LAYOUTS = ("", "FashionMNIST/raw", "raw")

# IDX type codes (third header byte) → numpy dtype; Fashion-MNIST only uses 0x08, but a foreign
# IDX file is named for what it is rather than called "corrupt".
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_HINT_REPLACE = (
    "Re-download it, reinstall the dataset-fashion-mnist package, or pick another folder "
    "that holds the four Fashion-MNIST files."
)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class DataSource:
    """Where a data set comes from. `kind` is "folder" | "app" | "debian" | "download"."""

    kind: str
    path: Path | None
    description: str


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, 28, 28), light object on black; labels as int64 (N,). torch tensors, or
    numpy arrays where torch is not needed (`load_test_split(tensors=False)`: the lite edition)."""

    images: Any
    labels: Any

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class FashionMNIST:
    train: Split
    val: Split
    test: Split
    source: DataSource


# ---------------------------------------------------------------------------------------------
# Reading IDX files

# The largest Fashion-MNIST file holds 47 MB of data (60,000 × 28 × 28). A header declaring more
# than this is refused before anything is inflated: a 2 MB gzip file can inflate to gigabytes
# (it used to be decompressed whole before its header was looked at: 4.6 GB, or MemoryError).
MAX_IDX_DATA_BYTES = 200_000_000
_READ_CHUNK = 1 << 20


def read_idx(path: str | os.PathLike[str]) -> Any:
    """`read_idx_array` as a (writable) uint8 torch tensor."""
    import torch

    return torch.from_numpy(read_idx_array(path).copy())


def read_idx_array(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file, gzip-compressed or raw (decided by its content, not its name).

    Verifies the magic number, that the data is as long as the header says, and — for the
    Fashion-MNIST shapes — 28×28 images and labels in 0..9. Returns a read-only uint8 numpy array
    shaped as the header says (no torch). Raises DatasetError naming the file and the problem.
    The header is checked first and the data streamed with a cap: a gzip file is inflated only
    up to the size its header declares (plus one byte, to notice extra data), and a header that
    declares more than MAX_IDX_DATA_BYTES, or dimensions whose product overflows, is refused
    before any data is read.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(2)
            if magic == b"\x1f\x8b":
                blob = _gunzip_idx(handle, magic, path)
            else:
                blob = _read_raw_idx(handle, magic, path)
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist.", _HINT_REPLACE) from None
    except IsADirectoryError:
        raise DatasetError(f"{path} is a folder, not a data file.", _HINT_REPLACE) from None
    except OSError as exc:
        raise DatasetError(f"Cannot read {path}: {exc.strerror or exc}.", "Check the file's permissions.") from None
    ndim, dims, header_len, expected = _idx_header(blob, path)
    actual = len(blob) - header_len
    if actual < expected:
        raise DatasetError(
            f"{path} is truncated: its header promises {expected:,} bytes of data but it holds {actual:,}.",
            _HINT_REPLACE,
        )
    if actual > expected:
        raise DatasetError(
            f"{path} holds more than its header describes (extra data: damaged or not Fashion-MNIST).", _HINT_REPLACE
        )
    array = np.frombuffer(blob, dtype=np.uint8, offset=header_len).reshape(dims)
    if ndim == 1 and array.size and int(array.max()) >= NUM_CLASSES:
        raise DatasetError(
            f"{path} has label {int(array.max())}; Fashion-MNIST labels are 0 to 9.", _HINT_REPLACE
        )
    return array


def _idx_header(blob: bytes, path: Path) -> tuple[int, tuple[int, ...], int, int]:
    """(ndim, dims, header length, data bytes declared) from the start of an IDX file; raises
    DatasetError for a wrong magic number, a short header, a foreign type, images that are not
    28×28, or a declared size beyond MAX_IDX_DATA_BYTES. Needs only the first 4 + 4·ndim bytes."""
    if len(blob) < 4 or not _looks_like_idx(blob):
        raise DatasetError(
            f"{path} is not an IDX data file (wrong magic number {blob[:4].hex() or 'empty file'}).",
            _HINT_REPLACE,
        )
    type_code, ndim = blob[2], blob[3]
    header_len = 4 + 4 * ndim
    if len(blob) < header_len:
        raise DatasetError(f"{path} is truncated (the header is incomplete).", _HINT_REPLACE)
    dims = tuple(int(d) for d in np.frombuffer(blob, dtype=">u4", count=ndim, offset=4))
    if type_code != 0x08:
        raise DatasetError(
            f"{path} holds {np.dtype(_IDX_TYPES[type_code]).name} values; Fashion-MNIST files hold bytes.",
            _HINT_REPLACE,
        )
    if ndim == 3 and dims[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(
            f"{path} holds {dims[1]}×{dims[2]} images; Fashion-MNIST images are 28×28.", _HINT_REPLACE
        )
    expected = math.prod(dims)  # Python integers: dimensions whose product overflows int64 stay huge
    if expected > MAX_IDX_DATA_BYTES:
        shape = "×".join(f"{d:,}" for d in dims)
        raise DatasetError(
            f"{path} declares {shape} values ({expected:,} bytes), more than the {MAX_IDX_DATA_BYTES // 1_000_000} MB "
            "an IDX file may hold here (Fashion-MNIST's largest holds 47 MB); it was not read.",
            _HINT_REPLACE,
        )
    return ndim, dims, header_len, expected


def _read_raw_idx(handle, magic: bytes, path: Path) -> bytes:
    """A raw IDX file: the header, checked against the file's size before the data is read."""
    head = magic + handle.read(2)
    if path.name.endswith(".gz") and not _looks_like_idx(head):
        raise DatasetError(f"{path} is not a gzip file, though its name ends in .gz.", _HINT_REPLACE)
    if _looks_like_idx(head):
        head += handle.read(4 * head[3])
    _, _, header_len, expected = _idx_header(head, path)
    # Read at most one byte beyond the declared data: enough to tell "extra data" apart.
    return head + handle.read(expected + 1)


def _gunzip_idx(handle, magic: bytes, path: Path) -> bytes:
    """Inflate a gzip IDX file (several members, as `cat a.gz b.gz` makes, and trailing padding
    are accepted, as gzip(1) does), checking the header as soon as it is out and never inflating
    more than header + declared data + 1 byte."""
    out = bytearray()
    limit: int | None = None  # header + declared data, known once the header is out
    pending = magic + handle.read(_READ_CHUNK)
    inflater = zlib.decompressobj(wbits=31)
    while True:
        room = (limit + 1 - len(out)) if limit is not None else 64
        try:
            out += inflater.decompress(pending, max(1, room))
        except zlib.error as exc:
            raise DatasetError(f"{path} is a damaged gzip file ({exc}).", _HINT_REPLACE) from None
        pending = inflater.unconsumed_tail
        if limit is None and (len(out) >= 4 and (not _looks_like_idx(out) or len(out) >= 4 + 4 * out[3])):
            _, _, header_len, expected = _idx_header(bytes(out), path)
            limit = header_len + expected
        if limit is not None and len(out) > limit:
            return bytes(out)  # extra data: read_idx says so
        if inflater.eof:
            rest = inflater.unused_data
            if not rest:
                rest = handle.read(_READ_CHUNK)
            if not rest or rest[:2] != b"\x1f\x8b":
                break  # the end, or trailing padding after the stream (gzip(1) ignores it too)
            inflater = zlib.decompressobj(wbits=31)  # a further gzip member
            pending = rest
            continue
        if not pending:
            pending = handle.read(_READ_CHUNK)
            if not pending:
                if limit is None or len(out) < limit or not inflater.eof:
                    if not inflater.eof:
                        raise DatasetError(f"{path} is truncated (the gzip stream ends early).", _HINT_REPLACE)
                break
    return bytes(out)


def _looks_like_idx(blob: bytes) -> bool:
    return len(blob) >= 4 and blob[0] == 0 and blob[1] == 0 and blob[2] in _IDX_TYPES and 1 <= blob[3] <= 4


# ---------------------------------------------------------------------------------------------
# Finding sources


def _find_file(folder: Path, stem: str) -> Path | None:
    for layout in _LAYOUTS:
        base = folder / layout if layout else folder
        for candidate in (base / f"{stem}.gz", base / stem):
            if candidate.is_file():
                return candidate
    return None


def _not_a_file_note(folder: Path, stem: str) -> str:
    """A note like ' (x.gz is a folder, not a file)' when something by that name is there but is
    no file, so a user who sees the name in a file manager learns why it does not count."""
    for layout in _LAYOUTS:
        base = folder / layout if layout else folder
        for candidate in (base / f"{stem}.gz", base / stem):
            if candidate.exists() and not candidate.is_file():
                return f" ({candidate.relative_to(folder)} is a folder, not a file)"
    return ""


def _files_in(folder: Path) -> dict[str, Path | None]:
    return {stem: _find_file(folder, stem) for stem in FILE_STEMS}


def _is_complete(folder: Path | None, stems=FILE_STEMS) -> bool:
    if folder is None or not folder.is_dir():
        return False
    return all(_find_file(folder, stem) is not None for stem in stems)


def _download_source() -> DataSource:
    # No torchvision import here: listing sources must stay quick (the GUI calls it often).
    return DataSource("download", paths.datasets_dir(), f"a download into {paths.datasets_dir()}")


def candidate_sources(folder: str | os.PathLike[str] | None = None) -> list[tuple[DataSource, bool]]:
    """Every source in search order, each with whether it holds a complete set now.

    With `folder`, only that folder is listed (it is then the only source used). The download
    source is listed last and is never "complete" (nothing is fetched until asked).
    """
    if folder is not None:
        path = Path(folder).expanduser()
        return [(DataSource("folder", path, f"the folder {path}"), _is_complete(path))]
    app_dir = paths.datasets_dir()
    return [
        (DataSource("app", app_dir, f"the app's data folder {app_dir}"), _is_complete(app_dir)),
        (
            DataSource("debian", DEBIAN_DIR, f"the {DEBIAN_PACKAGE} package ({DEBIAN_DIR})"),
            _is_complete(DEBIAN_DIR),
        ),
        (_download_source(), False),
    ]


def find_dataset(
    folder: str | os.PathLike[str] | None = None,
    download: bool = False,
    progress: ProgressFn | None = None,
    stems: tuple[str, ...] = FILE_STEMS,
    stop: threading.Event | None = None,
) -> DataSource:
    """The first source holding all the files in `stems` (by default all four); downloads into
    the app's folder if none does and `download` is true. Raises DatasetError naming every
    source tried and how to fix it."""
    sources = candidate_sources(folder)
    for source, _ in sources:
        if source.kind != "download" and _is_complete(source.path, stems):
            return source
    if folder is not None:
        path = Path(folder).expanduser()
        if path.is_file():
            raise DatasetError(f"{path} is a file; pick the folder that holds the four Fashion-MNIST files.")
        if not path.is_dir():
            raise DatasetError(f"The folder {path} does not exist.", "Pick the folder that holds the Fashion-MNIST files.")
        missing = [f"{stem}[.gz]{_not_a_file_note(path, stem)}" for stem in stems if _find_file(path, stem) is None]
        raise DatasetError(
            f"The folder {path} is missing {', '.join(missing)}.",
            "Pick a folder holding all four Fashion-MNIST files (gzip or raw IDX), or leave the folder empty "
            "to use the app's data folder, the dataset-fashion-mnist package or a download.",
        )
    if download:
        download_dataset(progress=progress, stop=stop)
        return sources[-1][0]
    tried = "; ".join(source.description for source, _ in sources if source.kind != "download")
    raise DatasetError(
        f"Fashion-MNIST was not found (looked in {tried}).",
        f"Install the {DEBIAN_PACKAGE} package, pick a folder that holds the files, or download it "
        "(--download on the command line, the Download button in the app).",
    )


# ---------------------------------------------------------------------------------------------
# Downloading


def download_dataset(
    dest: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """Fetch the four gzip files into `dest` (default: the app's data folder), checking each
    against torchvision's MD5 sums. Files already there and intact are kept. `progress(done,
    total)` is called with byte counts over all files. Each file is written atomically, so an
    interrupted download never leaves a half file under the real name."""
    from torchvision.datasets import FashionMNIST as TVFashionMNIST
    from torchvision.datasets.utils import check_integrity

    target = Path(dest) if dest is not None else paths.datasets_dir()
    target.mkdir(parents=True, exist_ok=True)
    todo = [(name, md5) for name, md5 in TVFashionMNIST.resources if not check_integrity(str(target / name), md5)]
    if not todo:
        return target
    # Sizes are only known once each response arrives; open all first so the total is right.
    done = 0
    errors: list[str] = []
    for mirror in TVFashionMNIST.mirrors:
        errors.clear()
        if stop is not None and stop.is_set():  # before each mirror: connecting may take 30 s
            raise DatasetError("The download was cancelled.")
        try:
            responses = [(name, md5, _open_url(mirror + name)) for name, md5 in todo]
        except DatasetError as exc:
            errors.append(str(exc))
            continue
        total = sum(int(resp.length or 0) for _, _, resp in responses)
        try:
            for name, md5, resp in responses:
                digest = hashlib.md5()
                with resp, paths.atomic_write(target / name) as handle:
                    while chunk := _read_chunk(resp, mirror + name):
                        if stop is not None and stop.is_set():
                            raise DatasetError("The download was cancelled.")
                        handle.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, max(total, done))
                    if digest.hexdigest() != md5:
                        raise DatasetError(
                            f"The downloaded {name} does not match its checksum (damaged in transit).",
                            "Try the download again, or install the dataset-fashion-mnist package.",
                        )
            return target
        finally:
            for _, _, resp in responses:
                resp.close()
    raise DatasetError(
        f"Could not download Fashion-MNIST (no network?): {errors[-1] if errors else 'no mirror answered'}",
        f"Install the {DEBIAN_PACKAGE} package or pick a folder that holds the files.",
    )


def _open_url(url: str):
    from torchvision.datasets.utils import USER_AGENT

    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": USER_AGENT}), timeout=30)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DatasetError(f"could not reach {url} ({reason})") from None


def _read_chunk(resp, url: str) -> bytes:
    try:
        return resp.read(1 << 16)
    except (urllib.error.URLError, OSError) as exc:
        raise DatasetError(
            f"Could not download Fashion-MNIST (no network?): the connection to {url} broke ({exc}).",
            f"Install the {DEBIAN_PACKAGE} package or pick a folder that holds the files.",
        ) from None


# ---------------------------------------------------------------------------------------------
# Loading


def _read_pair(folder: Path, images_stem: str, labels_stem: str, tensors: bool = True) -> Split:
    images_path = _find_file(folder, images_stem)
    labels_path = _find_file(folder, labels_stem)
    for stem, found in ((images_stem, images_path), (labels_stem, labels_path)):
        if found is None:
            raise DatasetError(f"{folder} has no {stem}[.gz] any more.", _HINT_REPLACE)
    read = read_idx if tensors else read_idx_array
    images, labels = read(images_path), read(labels_path)
    if images.ndim != 3:
        raise DatasetError(f"{images_path} holds {images.ndim}-dimensional data, not images.", _HINT_REPLACE)
    if labels.ndim != 1:
        raise DatasetError(f"{labels_path} holds {labels.ndim}-dimensional data, not labels.", _HINT_REPLACE)
    if images.shape[0] == 0:
        # An empty set used to report "Test Accuracy: 0.00 %" and exit 0.
        raise DatasetError(f"{images_path} holds no images (its header says 0).", _HINT_REPLACE)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{images_path.name} has {images.shape[0]:,} images but {labels_path.name} has "
            f"{labels.shape[0]:,} labels (files from different sets?).",
            _HINT_REPLACE,
        )
    return Split(images, labels.long() if tensors else labels.astype(np.int64))


def load_dataset(
    folder: str | os.PathLike[str] | None = None,
    val_size: int = DEFAULT_VAL_SIZE,
    seed: int = 0,
    download: bool = False,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> FashionMNIST:
    """Find (or download) and load the whole set, with `val_size` training images set aside for
    validation by a permutation seeded with `seed` (same seed, same split). Setting `stop` during
    a download ends it with DatasetError("The download was cancelled."), leaving no partial file."""
    source = find_dataset(folder, download=download, progress=progress, stop=stop)
    assert source.path is not None
    full_train = _read_pair(source.path, TRAIN_IMAGES, TRAIN_LABELS)
    test = _read_pair(source.path, TEST_IMAGES, TEST_LABELS)
    train, val = split_validation(full_train, val_size, seed)
    return FashionMNIST(train=train, val=val, test=test, source=source)


def load_test_split(folder: str | os.PathLike[str] | None = None, tensors: bool = True) -> tuple[Split, DataSource]:
    """Only the 10,000 test images (for evaluating a model without reading the training set); as
    numpy arrays with `tensors=False` (no torch)."""
    source = find_dataset(folder, stems=(TEST_IMAGES, TEST_LABELS))
    assert source.path is not None
    return _read_pair(source.path, TEST_IMAGES, TEST_LABELS, tensors), source


def split_validation(full: Split, val_size: int, seed: int = 0) -> tuple[Split, Split]:
    """(train, val): `val_size` images chosen by a seeded permutation, the rest for training.
    Both keep the original order of the images they hold."""
    n = len(full)
    if val_size < 0 or val_size >= n:
        raise DatasetError(
            f"The validation set size must be between 0 and {n - 1:,} (the training set has {n:,} images), "
            f"not {val_size:,}."
        )
    import torch

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    val_idx = order[:val_size].sort().values
    train_idx = order[val_size:].sort().values
    return (
        Split(full.images[train_idx], full.labels[train_idx]),
        Split(full.images[val_idx], full.labels[val_idx]),
    )
