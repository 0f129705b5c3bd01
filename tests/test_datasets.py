"""Tests of `vae_zoo.datasets`.

The Fashion-MNIST tests read the real files of Debian's `dataset-fashion-mnist`
package and the WordNet tests those of `wordnet-base`; everything else runs on
small files written to `tmp_path`. No test touches the network or the user's
TFDS data dir.
"""

import dataclasses
import doctest
import gzip
import hashlib
import logging
import struct
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import datasets

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
WORDNET_DIR = Path("/usr/share/wordnet")

needs_fashion = pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs Debian package dataset-fashion-mnist",
)
needs_wordnet = pytest.mark.skipif(
    not (WORDNET_DIR / "data.noun").is_file(), reason="needs Debian package wordnet-base"
)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path_factory):
    """Points TFDS at an empty data dir and unsets the data env vars."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path_factory.mktemp("tfds_default")))
    monkeypatch.delenv(datasets.DATA_ENV_VAR, raising=False)
    monkeypatch.delenv("WNHOME", raising=False)


@pytest.fixture(scope="module")
def fashion():
    """The official Fashion-MNIST splits, read straight from the IDX files."""
    read = datasets._read_idx
    return {
        "x_train": read(FASHION_DIR / "train-images-idx3-ubyte.gz"),
        "y_train": read(FASHION_DIR / "train-labels-idx1-ubyte.gz"),
        "x_test": read(FASHION_DIR / "t10k-images-idx3-ubyte.gz"),
        "y_test": read(FASHION_DIR / "t10k-labels-idx1-ubyte.gz"),
    }


def idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path, array, compress=None):
    data = idx_bytes(array)
    if compress is None:
        compress = str(path).endswith(".gz")
    Path(path).write_bytes(gzip.compress(data) if compress else data)
    return path


def write_idx_dir(directory, n_train=12, n_test=4, seed=0):
    """A small MNIST-like set in all the file name variants the reader accepts."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    x_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    y_train = (np.arange(n_train) % 10).astype(np.uint8)
    x_test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_test = (np.arange(n_test) % 10).astype(np.uint8)
    write_idx(directory / "train-images-idx3-ubyte.gz", x_train)
    write_idx(directory / "train-labels-idx1-ubyte.gz", y_train)
    write_idx(directory / "t10k-images-idx3-ubyte", x_test)  # raw
    write_idx(directory / "t10k-labels.idx1-ubyte", y_test)  # dot variant
    return x_train, y_train, x_test, y_test


# ---------------------------------------------------------------------------
# Fashion-MNIST from the Debian files
# ---------------------------------------------------------------------------


@needs_fashion
def test_fashion_idx_files_have_the_official_contents(fashion):
    assert fashion["x_train"].shape == (60000, 28, 28)
    assert fashion["x_test"].shape == (10000, 28, 28)
    assert fashion["x_train"].dtype == np.uint8 and fashion["x_test"].dtype == np.uint8
    assert fashion["y_train"].shape == (60000,) and fashion["y_test"].shape == (10000,)
    np.testing.assert_array_equal(np.bincount(fashion["y_train"]), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(fashion["y_test"]), [1000] * 10)
    assert fashion["x_train"].min() == 0 and fashion["x_train"].max() == 255


@needs_fashion
def test_fashion_split_sizes_and_validation_is_the_end_of_train(fashion):
    sizes = {}
    for split in datasets.SPLITS:
        x, y = datasets.load_arrays("fashion_mnist", split, verbose=False)
        assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
        assert y.dtype == np.int64 and y.shape == (len(x),)
        sizes[split] = len(x)
        if split == "train":
            np.testing.assert_array_equal(x, fashion["x_train"][:55000])
        elif split == "validation":
            np.testing.assert_array_equal(x, fashion["x_train"][55000:])
            np.testing.assert_array_equal(y, fashion["y_train"][55000:])
        elif split == "test":
            np.testing.assert_array_equal(x, fashion["x_test"])
    assert sizes == {"train": 55000, "validation": 5000, "test": 10000, "all": 70000}

    x, _ = datasets.load_arrays("fashion_mnist", "validation", validation_size=1000, verbose=False)
    np.testing.assert_array_equal(x, fashion["x_train"][59000:])


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
def test_labels_and_conversion_match_the_arrays(fashion):
    ds = datasets.load("fashion_mnist", "test", batch_size=100, with_labels=True, verbose=False)
    x, y = next(iter(ds))  # the test split is not shuffled by default
    assert y.dtype == tf.int64 and y.shape == (100,)
    np.testing.assert_array_equal(y.numpy(), fashion["y_test"][:100])
    np.testing.assert_allclose(x.numpy()[..., 0], fashion["x_test"][:100] / 255.0, atol=1e-6)


@needs_fashion
def test_train_split_is_shuffled_reproducibly_and_reshuffled_each_epoch(fashion):
    def first_labels(ds):
        return next(iter(ds))[1].numpy()

    ds = datasets.load("fashion_mnist", batch_size=64, with_labels=True, verbose=False)
    epoch1, epoch2 = first_labels(ds), first_labels(ds)
    assert not np.array_equal(epoch1, fashion["y_train"][:64])
    assert not np.array_equal(epoch1, epoch2)
    again = datasets.load("fashion_mnist", batch_size=64, with_labels=True, verbose=False)
    np.testing.assert_array_equal(first_labels(again), epoch1)

    unshuffled = datasets.load(
        "fashion_mnist", batch_size=64, with_labels=True, shuffle=False, verbose=False
    )
    np.testing.assert_array_equal(first_labels(unshuffled), fashion["y_train"][:64])


@needs_fashion
def test_unbatched_and_drop_remainder():
    ds = datasets.load("fashion_mnist", "validation", batch_size=None, verbose=False)
    assert ds.element_spec.shape == (28, 28, 1)
    ds = datasets.load(
        "fashion_mnist", "validation", batch_size=128, drop_remainder=True, verbose=False
    )
    assert ds.element_spec.shape == (128, 28, 28, 1)
    assert sum(1 for _ in ds) == 5000 // 128


@needs_fashion
def test_static_binarization_is_binary_deterministic_and_unbiased(fashion):
    def batch(seed):
        ds = datasets.load(
            "fashion_mnist", "validation", binarize="static", batch_size=5000, seed=seed,
            verbose=False,
        )
        return next(iter(ds)).numpy()

    first, second, other_seed = batch(0), batch(0), batch(1)
    assert set(np.unique(first)) == {0.0, 1.0}
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other_seed)
    gray = fashion["x_train"][55000:].mean() / 255.0
    assert abs(first.mean() - gray) < 0.002  # the sampling std is ~0.0002

    x, _ = datasets.load_arrays("fashion_mnist", "validation", binarize="static", verbose=False)
    np.testing.assert_array_equal(x / 255.0, first[..., 0])
    # The same image gets the same bits whichever split it is read from.
    x_all, _ = datasets.load_arrays("fashion_mnist", "all", binarize="static", verbose=False)
    np.testing.assert_array_equal(x_all[55000:60000], x)


@needs_fashion
def test_dynamic_binarization_redraws_every_epoch_reproducibly(fashion):
    def epochs(seed, shuffle=False, n=2):
        ds = datasets.load(
            "fashion_mnist", "validation", binarize="dynamic", batch_size=1000, seed=seed,
            shuffle=shuffle, verbose=False,
        )
        return [next(iter(ds)).numpy() for _ in range(n)]

    epoch1, epoch2 = epochs(seed=0)
    assert set(np.unique(epoch1)) == {0.0, 1.0}
    assert not np.array_equal(epoch1, epoch2)
    assert np.mean(epoch1 != epoch2) > 0.01
    gray = fashion["x_train"][55000:56000].mean() / 255.0
    assert abs(epoch1.mean() - gray) < 0.01 and abs(epoch2.mean() - gray) < 0.01

    again1, again2 = epochs(seed=0)
    np.testing.assert_array_equal(again1, epoch1)
    np.testing.assert_array_equal(again2, epoch2)
    assert not np.array_equal(epochs(seed=1, n=1)[0], epoch1)

    shuffled = epochs(seed=3, shuffle=True)
    for a, b in zip(shuffled, epochs(seed=3, shuffle=True)):
        np.testing.assert_array_equal(a, b)


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


# ---------------------------------------------------------------------------
# IDX reader
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Names, arguments, errors
# ---------------------------------------------------------------------------


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as excinfo:
        datasets.load("cifar10")
    for name in datasets.KNOWN_DATASETS:
        assert name in str(excinfo.value)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"binarize": "sometimes"}, r"'static', 'dynamic'"),
        ({"binarize": True}, r"None, 'static', 'dynamic'"),
        ({"split": "dev"}, r"'train', 'validation', 'test', 'all'"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation_size": 60}, "validation_size=60"),
        ({"split": "validation", "validation_size": 0}, "validation split empty"),
    ],
)
def test_invalid_arguments_raise_value_error(tmp_path, kwargs, pattern):
    write_idx_dir(tmp_path)
    with pytest.raises(ValueError, match=pattern):
        datasets.load(tmp_path, **{"verbose": False, **kwargs})


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


def test_info():
    fashion = datasets.info("fashion_mnist")
    assert fashion.element_shape == (28, 28, 1) and fashion.element_dtype == tf.float32
    assert fashion.num_classes == 10 and fashion.official_splits == {"train": 60000, "test": 10000}
    assert datasets.info("binarized_mnist").num_classes is None
    assert datasets.info("wordnet_sentences").element_dtype == tf.string
    with pytest.raises(ValueError, match="fashion_mnist"):
        datasets.info("nope")


# ---------------------------------------------------------------------------
# Local paths and directories
# ---------------------------------------------------------------------------


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
        datasets.load(
            tmp_path / "unlabelled.npz", with_labels=True, validation_size=5, verbose=False
        )


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
    for split, name in datasets._AMAT_FILES.items():
        np.savetxt(tmp_path / name, rng.integers(0, 2, (3, 784)), fmt="%d")
    x, y = datasets.load_arrays(
        "binarized_mnist", "validation", manual_dir=tmp_path, data_dir=tmp_path / "tfds",
        validation_size=100_000, verbose=False,  # ignored: binarized_mnist has its own
    )
    assert x.shape == (3, 28, 28) and set(np.unique(x)) == {0, 255} and y is None
    assert datasets.dataset_source("binarized_mnist").kind == "amat"
    ds = datasets.load(
        "binarized_mnist", "all", manual_dir=tmp_path, batch_size=None, verbose=False
    )
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
    with mock.patch.object(tfds_mnist, "_TRAIN_EXAMPLES", 30), mock.patch.object(
        tfds_mnist, "_TEST_EXAMPLES", 10
    ), mock.patch.object(datasets, "_check_tfds_raw_files", return_value=None), mock.patch(
        f"{download_manager}._register_or_validate_checksums"
    ):
        x, y = datasets.load_arrays(
            "fashion_mnist", "train", data_dir=data_dir, manual_dir=tmp_path / "manual",
            validation_size=5, verbose=False,
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


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------


def md5_split(sentence):
    bucket = int.from_bytes(hashlib.md5(sentence.encode()).digest()[:8], "big") % 100
    return "train" if bucket < 90 else "validation" if bucket < 95 else "test"


def test_txt_path(tmp_path):
    lines = [f"sentence   number {i} is here " for i in range(400)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(lines) + "\n   \n", encoding="utf-8")
    expected = [" ".join(line.split()) for line in lines]

    ds = datasets.load(path, "all", batch_size=None, verbose=False)
    assert ds.element_spec.dtype == tf.string
    assert [s.decode() for s in ds.as_numpy_iterator()] == expected
    splits = {s: datasets.load_sentences(path, s) for s in ("train", "validation", "test")}
    assert sum(len(v) for v in splits.values()) == 400
    assert all(splits[s] for s in splits) and len(splits["train"]) > 300
    for split, sentences in splits.items():
        assert all(md5_split(s) == split for s in sentences)

    batch = next(iter(datasets.load(path, batch_size=16, verbose=False)))
    assert batch.shape == (16,) and batch.dtype == tf.string
    assert datasets.dataset_source(path) == datasets.DataSource("text", str(path.resolve()))
    with pytest.raises(ValueError, match="binarize"):
        datasets.load(path, binarize="static", verbose=False)


@needs_wordnet
def test_wordnet_sentences_split_is_deterministic_disjoint_and_real():
    splits = {s: datasets.wordnet_sentences(s) for s in datasets.SPLITS}
    datasets._wordnet_corpus.cache_clear()
    assert {s: datasets.wordnet_sentences(s) for s in datasets.SPLITS} == splits

    train, validation, test = (set(splits[s]) for s in ("train", "validation", "test"))
    assert min(len(validation), len(test)) > 1000 and len(train) > 100_000
    assert not (train & validation or train & test or validation & test)
    assert train | validation | test == set(splits["all"])
    assert len(splits["all"]) == len(set(splits["all"]))  # deduplicated
    for split in ("validation", "test"):
        assert all(md5_split(s) == split for s in splits[split])

    corpus = set(splits["all"])
    assert "Nixon stonewalled the Watergate investigation" in corpus  # a quoted example
    assert "obstruct or hinder any discussion" in corpus  # its definition
    assert (
        "that which is perceived or known or inferred to have its own distinct existence "
        "(living or nonliving)" in corpus
    )  # the first synset's definition
    assert 'promise of reward as in "carrot and stick"' in corpus  # an inline quote stays
    assert not any("LICENSEE" in s or s != s.strip() or s.startswith('"') for s in corpus)
    source = datasets.dataset_source("wordnet_sentences")
    assert source == datasets.DataSource("wordnet", str(WORDNET_DIR))


@needs_wordnet
def test_load_wordnet_sentences_as_dataset():
    expected = datasets.wordnet_sentences("validation")
    ds = datasets.load("wordnet_sentences", "validation", batch_size=None, verbose=False)
    assert ds.element_spec == tf.TensorSpec((), tf.string)
    assert [s.decode() for s in ds.as_numpy_iterator()] == expected
    with pytest.raises(ValueError, match="no labels"):
        datasets.load("wordnet_sentences", with_labels=True, verbose=False)


def test_wordnet_not_found_lists_places(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_WORDNET_SYSTEM_DIRS", (str(tmp_path / "wordnet"),))
    monkeypatch.setenv("WNHOME", str(tmp_path / "wnhome"))
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "data.noun").write_text("")
    with pytest.raises(datasets.DatasetNotFoundError) as excinfo:
        datasets.wordnet_sentences(manual_dir=tmp_path / "manual")
    message = str(excinfo.value)
    assert f"manual_dir {tmp_path / 'manual'} (WordNet data files): missing data.verb" in message
    assert f"$WNHOME/dict = {tmp_path / 'wnhome' / 'dict'}" in message
    assert f"{tmp_path / 'wordnet'} (WordNet data files): no such directory" in message
    assert "apt-get install wordnet-base" in message


def test_gloss_parsing():
    parse = datasets._gloss_sentences
    assert parse('settle by concession  \n') == ["settle by concession"]
    assert parse('achieve harmony; "No two would agree"; "we agree"- A. Writer  ') == [
        "achieve harmony",
        "No two would agree",
        "we agree",
    ]
    assert parse('female of domestic cattle: "`moo-cow\' is a child\'s term"') == [
        "female of domestic cattle",
        "`moo-cow' is a child's term",
    ]
    assert parse('keep in a state; e.g., "keep clean"') == ["keep in a state", "keep clean"]
    # An unterminated example quote runs to the end of the gloss.
    assert parse('move up; "She ascended from a life of poverty') == [
        "move up",
        "She ascended from a life of poverty",
    ]


@needs_fashion
@needs_wordnet
def test_docstring_examples():
    result = doctest.testmod(datasets, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10
    assert result.failed == 0
