"""Tests of `vae_zoo.datasets.sources`: where data is found, and not-found errors."""

import dataclasses
import logging
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import datasets
from vae_zoo.datasets import sources

from dataset_testing import FASHION_DIR, needs_fashion, write_idx, write_idx_dir


@needs_fashion
def test_fashion_is_found_without_configuration_and_reported(capsys):
    ds = datasets.load("fashion_mnist", batch_size=32)
    out = capsys.readouterr().out
    assert "fashion_mnist" in out and "55000 examples" in out and str(FASHION_DIR) in out

    x = next(iter(ds))
    assert x.shape == (32, 28, 28, 1)
    assert x.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
    assert float(tf.reduce_max(x)) > 0.5  # really scaled by 1/255, not 1/255**2

    source = datasets.dataset_source("fashion_mnist")
    assert source == datasets.DataSource("idx", str(FASHION_DIR))
    assert str(FASHION_DIR) in str(source)

    datasets.load_arrays("fashion_mnist", "test", verbose=False)
    assert capsys.readouterr().out == ""


@needs_fashion
def test_manual_dir_with_debian_files_skips_tfds_and_reads_idx(tmp_path, caplog):
    data_dir = tmp_path / "tfds"
    with caplog.at_level(logging.INFO, logger=datasets.__name__):
        x, _ = datasets.load_arrays(
            "fashion_mnist", "test", data_dir=data_dir, manual_dir=FASHION_DIR, verbose=False
        )
    assert x.shape == (10000, 28, 28)
    assert datasets.dataset_source("fashion_mnist") == datasets.DataSource("idx", str(FASHION_DIR))
    # Debian recompresses the files, so TFDS's checksums don't match and TFDS
    # is not asked to prepare anything.
    assert "sha256 mismatch" in caplog.text
    assert not (data_dir / "fashion_mnist").exists()


def test_not_found_error_lists_every_place_looked(tmp_path, monkeypatch):
    if Path("/usr/share/datasets/mnist").exists():
        pytest.skip("MNIST is installed on this machine")
    env_dir, manual_dir, data_dir = tmp_path / "env", tmp_path / "manual", tmp_path / "tfds"
    env_dir.mkdir()
    manual_dir.mkdir()
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(env_dir))
    with pytest.raises(datasets.DatasetNotFoundError) as excinfo:
        datasets.load("mnist", data_dir=data_dir, manual_dir=manual_dir)
    error = excinfo.value
    assert isinstance(error, FileNotFoundError)
    message = str(error)
    assert "'mnist'" in message
    for place in [
        f"TFDS data_dir {data_dir}",
        f"manual_dir {manual_dir} (raw files for TFDS",
        f"manual_dir {manual_dir} (local IDX files): missing train-images-idx3-ubyte",
        f"data_dir {data_dir / 'mnist'} (local IDX files): no such directory",
        f"$VAE_ZOO_DATA/mnist = {env_dir / 'mnist'}",
        "/usr/share/datasets/mnist (local IDX files): no such directory",
    ]:
        assert place in message
    assert len(error.places) == 6
    for hint in ["tfds build mnist", "manual_dir=DIR", "--data-dir", "VAE_ZOO_DATA=DIR"]:
        assert hint in message


def test_not_found_error_names_the_debian_package(tmp_path, monkeypatch):
    spec = datasets._IMAGE_SPECS["fashion_mnist"]
    nowhere = str(tmp_path / "fashion-mnist")
    monkeypatch.setitem(
        datasets._IMAGE_SPECS, "fashion_mnist", dataclasses.replace(spec, system_dirs=(nowhere,))
    )
    with pytest.raises(datasets.DatasetNotFoundError) as excinfo:
        datasets.load_arrays("fashion_mnist")
    message = str(excinfo.value)
    assert f"{nowhere} (local IDX files): no such directory" in message
    assert "$VAE_ZOO_DATA is not set" in message
    assert "manual_dir: not given (for local IDX files)" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "'fashion_mnist'" in message


def test_missing_path_raises_not_found(tmp_path):
    with pytest.raises(datasets.DatasetNotFoundError, match="no such file"):
        datasets.load(tmp_path / "missing.npz")


def test_idx_directory_path_and_data_locations(tmp_path, monkeypatch):
    x_train, _, x_test, y_test = write_idx_dir(tmp_path / "raw")
    ds = datasets.load(tmp_path / "raw", "all", batch_size=None, verbose=False)
    assert sum(1 for _ in ds) == 16
    x, y = datasets.load_arrays(tmp_path / "raw", "test", verbose=False)
    np.testing.assert_array_equal(x, x_test)
    np.testing.assert_array_equal(y, y_test)
    x, _ = datasets.load_arrays(tmp_path / "raw", "train", validation_size=2, verbose=False)
    np.testing.assert_array_equal(x, x_train[:10])

    # `mnist` from $VAE_ZOO_DATA/mnist.
    write_idx_dir(tmp_path / "env" / "mnist", seed=1)
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(tmp_path / "env"))
    datasets.load_arrays("mnist", "test", validation_size=2, verbose=False)
    assert datasets.dataset_source("mnist").location == str(tmp_path / "env" / "mnist")

    # manual_dir comes first; its files are not TFDS's, so it is read as plain IDX.
    x, _ = datasets.load_arrays(
        "mnist", "test", data_dir=tmp_path / "tfds", manual_dir=tmp_path / "raw", verbose=False
    )
    np.testing.assert_array_equal(x, x_test)
    assert datasets.dataset_source("mnist") == datasets.DataSource("idx", str(tmp_path / "raw"))

    # <data_dir>/mnist comes next.
    write_idx_dir(tmp_path / "tfds" / "mnist", seed=2)
    datasets.load_arrays("mnist", "test", data_dir=tmp_path / "tfds", verbose=False)
    assert datasets.dataset_source("mnist").location == str(tmp_path / "tfds" / "mnist")


def test_binarized_mnist_from_local_amat_files(tmp_path):
    rng = np.random.default_rng(0)
    for name in datasets._AMAT_FILES.values():
        np.savetxt(tmp_path / name, rng.integers(0, 2, (3, 784)), fmt="%d")
    x, y = datasets.load_arrays(
        "binarized_mnist",
        "validation",
        manual_dir=tmp_path,
        data_dir=tmp_path / "tfds",
        validation_size=100_000,
        verbose=False,  # ignored: binarized_mnist has its own
    )
    assert x.shape == (3, 28, 28) and set(np.unique(x)) == {0, 255} and y is None
    assert datasets.dataset_source("binarized_mnist").kind == "amat"
    ds = datasets.load("binarized_mnist", "all", manual_dir=tmp_path, batch_size=None, verbose=False)
    assert sum(1 for _ in ds) == 9
    with pytest.raises(ValueError, match="no labels"):
        datasets.load("binarized_mnist", manual_dir=tmp_path, with_labels=True, verbose=False)


def test_tfds_manual_dir_then_prepared_data_dir(tmp_path):
    """Source (b) prepares with TFDS from manual_dir; source (a) then finds it.

    Real TFDS raw files are not available offline, so TFDS's example counts
    and checksum checks are patched to accept a small synthetic set.
    """
    pytest.importorskip("tensorflow_datasets")
    from tensorflow_datasets.image_classification import mnist as tfds_mnist

    x_train, y_train, x_test, y_test = write_idx_dir(tmp_path / "manual", n_train=30, n_test=10)
    # TFDS looks for the exact names it downloads.
    (tmp_path / "manual" / "t10k-labels.idx1-ubyte").unlink()
    write_idx(tmp_path / "manual" / "t10k-images-idx3-ubyte.gz", x_test)
    write_idx(tmp_path / "manual" / "t10k-labels-idx1-ubyte.gz", y_test)
    data_dir = tmp_path / "tfds"
    download_manager = "tensorflow_datasets.core.download.download_manager.DownloadManager"
    with (
        mock.patch.object(tfds_mnist, "_TRAIN_EXAMPLES", 30),
        mock.patch.object(tfds_mnist, "_TEST_EXAMPLES", 10),
        mock.patch.object(sources, "_check_tfds_raw_files", return_value=None),
        mock.patch(f"{download_manager}._register_or_validate_checksums"),
    ):
        x, y = datasets.load_arrays(
            "fashion_mnist",
            "train",
            data_dir=data_dir,
            manual_dir=tmp_path / "manual",
            validation_size=5,
            verbose=False,
        )
    source = datasets.dataset_source("fashion_mnist")
    assert source == datasets.DataSource("tfds-manual", str(data_dir))
    assert x.shape == (25, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64

    x, y = datasets.load_arrays("fashion_mnist", "test", data_dir=data_dir, verbose=False)
    assert datasets.dataset_source("fashion_mnist") == datasets.DataSource("tfds", str(data_dir))
    # TFDS stores the examples in its own order; compare as sets of rows.
    order = np.argsort(y)
    np.testing.assert_array_equal(y[order], y_test)
    np.testing.assert_array_equal(x[order], x_test)
