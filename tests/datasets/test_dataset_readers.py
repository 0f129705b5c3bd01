"""Tests of `vae_zoo.datasets.readers`: the IDX and `.npz` readers."""

import gzip
import struct

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import datasets

from dataset_testing import idx_bytes, needs_fashion, write_idx, write_idx_dir


@needs_fashion
def test_fashion_idx_files_have_the_official_contents(fashion):
    assert fashion["x_train"].shape == (60000, 28, 28)
    assert fashion["x_test"].shape == (10000, 28, 28)
    assert fashion["x_train"].dtype == np.uint8 and fashion["x_test"].dtype == np.uint8
    assert fashion["y_train"].shape == (60000,) and fashion["y_test"].shape == (10000,)
    np.testing.assert_array_equal(np.bincount(fashion["y_train"]), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(fashion["y_test"]), [1000] * 10)
    assert fashion["x_train"].min() == 0 and fashion["x_train"].max() == 255


def test_read_idx_round_trips_types_and_compression(tmp_path):
    labels = np.arange(7, dtype=np.uint8)
    np.testing.assert_array_equal(datasets._read_idx(write_idx(tmp_path / "a.gz", labels)), labels)
    np.testing.assert_array_equal(datasets._read_idx(write_idx(tmp_path / "a", labels)), labels)
    floats = np.linspace(-1, 1, 12, dtype=">f4").reshape(3, 4)
    (tmp_path / "f").write_bytes(idx_bytes(floats, type_code=0x0D))
    result = datasets._read_idx(tmp_path / "f")
    assert result.shape == (3, 4) and result.dtype == np.float32
    np.testing.assert_array_equal(result, floats)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_idx_reports_expected_and_actual_bytes(tmp_path, compress):
    data = idx_bytes(np.zeros((10, 28, 28), np.uint8))[: 16 + 100]
    path = tmp_path / ("images.gz" if compress else "images")
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError) as excinfo:
        datasets._read_idx(path)
    message = str(excinfo.value)
    assert str(path) in message and "truncated" in message
    assert "expected 7856 bytes" in message and "got 116 bytes" in message


def test_oversized_idx_and_truncated_gzip_stream_raise(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8)) + b"extra")
    with pytest.raises(ValueError, match="expected 13 bytes, got 18 bytes"):
        datasets._read_idx(path)
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8).reshape(10, 100)))
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match="gzip") as excinfo:
        datasets._read_idx(path)
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize(
    "data, pattern",
    [
        (b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number 0x12340801"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX data type code 0x07"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header: expected 16 bytes"),
        (b"\x00\x00", "expected at least 4 bytes"),
    ],
)
def test_malformed_idx_header_raises(tmp_path, data, pattern):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=pattern):
        datasets._read_idx(path)


def test_corrupt_file_in_an_idx_directory_raises(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03junk"))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        datasets.load_arrays(tmp_path, verbose=False)


def test_npz_path(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    x_test = rng.random((20, 28, 28, 1)).astype(np.float32)  # floats in [0, 1] work too
    path = tmp_path / "data.npz"
    y_train, y_test = np.arange(50) % 10, np.arange(20) % 10
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)

    ds = datasets.load(str(path), batch_size=8, with_labels=True, validation_size=10, verbose=False)
    x, y = next(iter(ds))
    assert x.shape == (8, 28, 28, 1) and x.dtype == tf.float32 and y.dtype == tf.int64
    assert datasets.dataset_source(path) == datasets.DataSource("npz", str(path.resolve()))

    x_val, y_val = datasets.load_arrays(path, "validation", validation_size=10, verbose=False)
    np.testing.assert_array_equal(x_val, x_train[40:])
    np.testing.assert_array_equal(y_val, np.arange(40, 50) % 10)
    x_t, _ = datasets.load_arrays(path, "test", verbose=False)
    np.testing.assert_array_equal(x_t, np.round(x_test[..., 0] * 255).astype(np.uint8))

    np.savez(tmp_path / "unlabelled.npz", x_train=x_train, x_test=x_train[:5])
    x, y = datasets.load_arrays(tmp_path / "unlabelled.npz", "all", verbose=False)
    assert x.shape == (55, 28, 28) and y is None
    with pytest.raises(ValueError, match="no labels"):
        datasets.load(tmp_path / "unlabelled.npz", with_labels=True, validation_size=5, verbose=False)
