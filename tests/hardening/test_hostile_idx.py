"""Hostile Fashion-MNIST files (issue 12, hostile items 3 for IDX .gz, 7's IDX case and 11's empty
test set): a small gzip file whose header, or whose stream, is far larger than Fashion-MNIST;
dimensions whose product overflows; a test set of 0 images. Each is one `DatasetError` line, and
nothing is inflated beyond what the header declares.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import numpy as np
import pytest

from fmnist_desktop.core.data import fashion_mnist as data
from fmnist_desktop.core.base.errors import DatasetError

pytestmark = pytest.mark.timeout(120)

TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


def _header(*dims: int) -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + np.asarray(dims, dtype=">u4").tobytes()


def _gzip_stream(head: bytes, zeros: int) -> bytes:
    """gzip of `head` followed by `zeros` zero bytes, built in chunks (a few MB of output)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(head)]
    chunk = bytes(1 << 20)
    for _ in range(zeros // len(chunk)):
        parts.append(packer.compress(chunk))
    parts.append(packer.flush())
    return b"".join(parts)


def test_a_header_declaring_gigabytes_is_refused_before_inflating(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_gzip_stream(_header(4_000_000, 28, 28), 64 << 20))  # claims 3.1 GB, holds 64 MB
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=r"declares 4,000,000×28×28 values \(3,136,000,000 bytes\), more than "
                                               r"the 200 MB an IDX file may hold here"):
            data.read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"inflated {peak:,} bytes before refusing"


def test_a_stream_far_longer_than_its_header_is_refused_after_the_declared_size(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(_gzip_stream(_header(1000) + bytes(1000), 96 << 20))  # 2 MB-class bomb of zeros
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="holds more than its header describes"):
            data.read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"inflated {peak:,} bytes of a stream whose header declares 1,000"


def test_a_raw_file_is_not_read_beyond_its_declared_size(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    with open(path, "wb") as handle:  # 1 GB, sparse
        handle.write(_header(10) + bytes(10))
        handle.truncate(1 << 30)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="holds more than its header describes"):
            data.read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_dimensions_whose_product_overflows_are_refused(tmp_path):
    path = tmp_path / TEST_IMAGES
    path.write_bytes(gzip.compress(_header(65536, 65536, 65536, 65536)))  # 2^64: 0 in int64
    with pytest.raises(DatasetError, match=r"declares 65,536×65,536×65,536×65,536 values"):
        data.read_idx(path)


def test_overflowing_dimensions_through_fmnist_evaluate_are_one_line(tiny_idx_dir, run_cli, seed_model_file):
    (tiny_idx_dir / TEST_IMAGES).write_bytes(gzip.compress(_header(65536, 65536, 65536, 65536)))
    result = run_cli("evaluate", "--weights", seed_model_file, "--data", tiny_idx_dir)
    assert result.code == 2
    result.assert_one_error_line(TEST_IMAGES, "declares")


def test_an_empty_test_set_is_refused_not_scored_zero(tiny_idx_dir, idx_writer, run_cli, seed_model_file):
    idx_writer.write_idx_file(tiny_idx_dir / TEST_IMAGES, np.zeros((0, 28, 28), np.uint8))
    idx_writer.write_idx_file(tiny_idx_dir / TEST_LABELS, np.zeros((0,), np.uint8))
    result = run_cli("evaluate", "--weights", seed_model_file, "--data", tiny_idx_dir)
    assert "Test Accuracy" not in result.out
    result.assert_one_error_line(TEST_IMAGES, "holds no images")
    assert result.code == 2


def test_multi_member_gzip_and_trailing_padding_still_read(tmp_path):
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    blob = _header(2, 28, 28) + array.tobytes()
    path = tmp_path / "two-members.gz"
    path.write_bytes(gzip.compress(blob[:700]) + gzip.compress(blob[700:]) + b"\0" * 32)
    assert np.array_equal(data.read_idx(path).numpy(), array)


def test_the_real_data_set_reads_as_before(real_data_dir):
    split, _ = data.load_test_split(real_data_dir)
    assert split.images.shape == (10000, 28, 28) and int(split.labels.max()) == 9
