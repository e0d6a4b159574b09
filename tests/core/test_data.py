"""Finding and loading Fashion-MNIST: formats, layouts, every kind of damaged file, the split."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from fmnist_desktop.core.data import fashion_mnist as data
from fmnist_desktop.core.base import paths
from fmnist_desktop.core.base.errors import DatasetError


def test_gzip_idx_folder_loads_with_shapes_dtypes_and_labels(tiny_idx_dir, idx_writer):
    ds = data.load_dataset(tiny_idx_dir, val_size=100)
    assert ds.source.kind == "folder" and ds.source.path == tiny_idx_dir
    assert (len(ds.train), len(ds.val), len(ds.test)) == (500, 100, 200)
    assert ds.train.images.dtype == torch.uint8 and ds.train.images.shape[1:] == (28, 28)
    assert ds.train.labels.dtype == torch.int64
    expected_test, expected_labels = idx_writer.tiny_patterns(200, seed=2)
    assert torch.equal(ds.test.images, torch.from_numpy(expected_test))
    assert ds.test.labels.tolist() == expected_labels.tolist()


@pytest.mark.parametrize("layout", ["", "FashionMNIST/raw", "raw"])
def test_raw_idx_in_every_layout_loads(tmp_path, idx_writer, layout):
    folder = idx_writer.write_tiny_dataset(tmp_path / "d", n_train=50, n_test=20, compress=False, layout=layout)
    ds = data.load_dataset(folder, val_size=10)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (40, 10, 20)


def test_search_order_prefers_app_folder_then_reports_every_source(tmp_path, idx_writer, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(DatasetError) as info:
        data.find_dataset()
    message = str(info.value)
    assert str(paths.datasets_dir()) in message and "no-debian" in message
    assert "dataset-fashion-mnist" in message  # how to fix it

    idx_writer.write_tiny_dataset(tmp_path / "no-debian", n_train=30, n_test=10)
    assert data.find_dataset().kind == "debian"
    idx_writer.write_tiny_dataset(paths.datasets_dir(), n_train=30, n_test=10)
    assert data.find_dataset().kind == "app"
    complete = {src.kind: ok for src, ok in data.candidate_sources()}
    assert complete == {"app": True, "debian": True, "download": False}


def test_folder_with_half_the_files_names_the_missing_ones(tiny_idx_dir):
    (tiny_idx_dir / "t10k-images-idx3-ubyte.gz").unlink()
    (tiny_idx_dir / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as info:
        data.load_dataset(tiny_idx_dir, val_size=10)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "train-images" not in message
    assert [ok for _, ok in data.candidate_sources(tiny_idx_dir)] == [False]


def test_missing_folder_or_a_file_instead_of_a_folder_is_reported(tiny_idx_dir):
    with pytest.raises(DatasetError, match="does not exist"):
        data.load_dataset("/nonexistent/fmnist", val_size=10)
    with pytest.raises(DatasetError, match="is a file; pick the folder"):
        data.load_dataset(tiny_idx_dir / "train-images-idx3-ubyte.gz", val_size=10)


def test_test_split_alone_needs_only_the_test_files(tiny_idx_dir):
    (tiny_idx_dir / "train-images-idx3-ubyte.gz").unlink()
    split, source = data.load_test_split(tiny_idx_dir)
    assert len(split) == 200 and source.kind == "folder"


def _corrupt(folder, name, payload: bytes):
    (folder / name).write_bytes(payload)


def _gz(folder, name) -> bytes:
    return gzip.decompress((folder / name).read_bytes())


@pytest.mark.parametrize(
    "case, expected",
    [
        ("truncated_gzip", "truncated"),
        ("not_gzip", "not a gzip file"),
        ("damaged_gzip", "damaged gzip"),
        ("truncated_data", "truncated: its header promises"),
        ("extra_data", "more than its header describes"),
        ("bad_magic", "not an IDX data file"),
        ("wrong_dims", "14×14 images"),
        ("bad_label", "label 12"),
        ("count_mismatch", "600 images but"),
        ("empty", "not an IDX data file"),
    ],
)
def test_each_damaged_file_is_named_with_the_problem_and_a_fix(tiny_idx_dir, idx_writer, case, expected):
    images = "train-images-idx3-ubyte.gz"
    labels = "train-labels-idx1-ubyte.gz"
    target = images
    if case == "truncated_gzip":
        blob = (tiny_idx_dir / images).read_bytes()
        _corrupt(tiny_idx_dir, images, blob[: len(blob) // 2])
    elif case == "not_gzip":
        _corrupt(tiny_idx_dir, images, b"<html>404 Not Found</html>")
    elif case == "damaged_gzip":
        blob = bytearray((tiny_idx_dir / images).read_bytes())
        blob[20:60] = b"\xff" * 40
        _corrupt(tiny_idx_dir, images, bytes(blob))
    elif case == "truncated_data":
        _corrupt(tiny_idx_dir, images, gzip.compress(_gz(tiny_idx_dir, images)[:-100]))
    elif case == "extra_data":
        _corrupt(tiny_idx_dir, images, gzip.compress(_gz(tiny_idx_dir, images) + b"\0" * 50))
    elif case == "bad_magic":
        _corrupt(tiny_idx_dir, images, gzip.compress(b"\x12\x34\x56\x78" + _gz(tiny_idx_dir, images)[4:]))
    elif case == "wrong_dims":
        idx_writer.write_idx_file(tiny_idx_dir / images, np.zeros((600, 14, 14), np.uint8))
    elif case == "bad_label":
        target = labels
        idx_writer.write_idx_file(tiny_idx_dir / labels, np.full(600, 12, np.uint8))
    elif case == "count_mismatch":
        target = labels
        idx_writer.write_idx_file(tiny_idx_dir / labels, np.zeros(599, np.uint8))
    elif case == "empty":
        _corrupt(tiny_idx_dir, images, gzip.compress(b""))
    with pytest.raises(DatasetError) as info:
        data.load_dataset(tiny_idx_dir, val_size=10)
    message = str(info.value)
    assert expected in message
    assert target.split(".")[0] in message  # which file
    assert "\n" not in message
    assert "Re-download" in message or "reinstall" in message or "pick another folder" in message


def test_raw_file_with_a_gz_name_is_still_read(tiny_idx_dir):
    name = "t10k-labels-idx1-ubyte.gz"
    (tiny_idx_dir / name).write_bytes(_gz(tiny_idx_dir, name))
    assert len(data.load_test_split(tiny_idx_dir)[0]) == 200


def test_validation_split_is_deterministic_disjoint_and_complete(tmp_path, idx_writer):
    images = np.zeros((300, 28, 28), np.uint8)
    images[:, 0, 0] = np.arange(300) % 256  # an identity tag per image
    images[:, 0, 1] = np.arange(300) // 256
    full = data.Split(torch.from_numpy(images), torch.from_numpy(np.arange(300) % 10).long())

    def ids(split):
        return set((split.images[:, 0, 0].long() + 256 * split.images[:, 0, 1].long()).tolist())

    train_a, val_a = data.split_validation(full, 60, seed=3)
    train_b, val_b = data.split_validation(full, 60, seed=3)
    _, val_c = data.split_validation(full, 60, seed=4)
    assert ids(val_a) == ids(val_b) and ids(train_a) == ids(train_b)
    assert ids(val_a) != ids(val_c)
    assert not ids(train_a) & ids(val_a)
    assert ids(train_a) | ids(val_a) == set(range(300))
    assert len(val_a) == 60 and len(train_a) == 240
    # labels travel with their images
    tags = val_a.images[:, 0, 0].long() + 256 * val_a.images[:, 0, 1].long()
    assert torch.equal(val_a.labels, tags % 10)


def test_validation_size_must_leave_training_images(tiny_idx_dir):
    with pytest.raises(DatasetError, match="validation set size"):
        data.load_dataset(tiny_idx_dir, val_size=600)
    assert len(data.load_dataset(tiny_idx_dir, val_size=0).val) == 0


def test_download_failure_says_no_network_and_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "none")

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetError) as info:
        data.load_dataset(download=True)
    message = str(info.value)
    assert "could not download" in message.lower() and "no network" in message
    assert "dataset-fashion-mnist" in message and "pick a folder" in message
    assert not list(paths.datasets_dir().iterdir())  # nothing half-written


def test_download_writes_verified_files_with_byte_progress(fake_mirror):
    """Serve a fake mirror with torchvision's checksums patched to the fake files' own."""
    blobs = fake_mirror(n_train=40, n_test=20)
    seen = []
    ds = data.load_dataset(download=True, val_size=10, progress=lambda done, total: seen.append((done, total)))
    assert ds.source.kind == "download" and len(ds.test) == 20
    total = sum(len(b) for b in blobs.values())
    assert seen[-1] == (total, total) and all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))
    assert data.find_dataset().kind == "app"  # next time it is found locally


@pytest.mark.realdata
def test_real_dataset_loads(real_data_dir):
    ds = data.load_dataset(real_data_dir)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (55_000, 5_000, 10_000)
    assert torch.bincount(ds.test.labels).tolist() == [1000] * 10


def _read_or_dataset_error(path):
    try:
        data.read_idx(path)
    except DatasetError as exc:
        assert str(exc) and "\n" not in str(exc)


def test_any_damage_to_a_file_gives_a_dataset_error_never_another_exception(tmp_path_factory, idx_writer):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    folder = tmp_path_factory.mktemp("fuzz")
    labels, _ = idx_writer.tiny_patterns(20, seed=5)
    raw = idx_writer.idx_bytes(labels)
    packed = gzip.compress(raw)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        base=st.sampled_from([raw, packed]),
        cut=st.integers(min_value=0, max_value=len(packed) + 10),
        flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
        name=st.sampled_from(["t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"]),
    )
    def check(base, cut, flips, name):
        blob = bytearray(base[:cut])
        for pos, value in flips:
            if blob:
                blob[pos % len(blob)] = value
        path = folder / name
        path.write_bytes(bytes(blob))
        _read_or_dataset_error(path)

    check()


def test_download_stops_when_asked_and_keeps_no_partial_file(fake_mirror):
    """Cancel between two reads: a DatasetError that says so, and no file under a real name."""
    import threading

    fake_mirror(n_train=400, n_test=100, chunk=64)  # many small reads, so the stop lands mid-file
    stop = threading.Event()
    reads = []

    def progress(done, total):
        reads.append(done)
        if len(reads) == 5:
            stop.set()  # the user presses Cancel after a few chunks

    with pytest.raises(DatasetError, match="cancelled"):
        data.load_dataset(download=True, val_size=10, progress=progress, stop=stop)
    assert len(reads) == 5, "no chunk may be read after the stop"
    assert [p.name for p in paths.datasets_dir().iterdir()] == []
    with pytest.raises(DatasetError, match="not found|cannot find|No Fashion-MNIST|was not found"):
        data.find_dataset()
