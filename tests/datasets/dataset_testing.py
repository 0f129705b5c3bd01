"""Shared markers and file writers of the `vae_zoo.datasets` tests.

The fixtures (`isolated_environment`, autouse, and `fashion`) live in this
folder's conftest.py, where pytest finds them without an import.

The Fashion-MNIST tests read the real files of Debian's `dataset-fashion-mnist`
package and the WordNet tests those of `wordnet-base`; everything else runs on
small files written to `tmp_path`. No test touches the network or the user's
TFDS data dir.
"""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
WORDNET_DIR = Path("/usr/share/wordnet")

needs_fashion = pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs Debian package dataset-fashion-mnist",
)
needs_wordnet = pytest.mark.skipif(
    not (WORDNET_DIR / "data.noun").is_file(), reason="needs Debian package wordnet-base"
)


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


def md5_split(sentence):
    bucket = int.from_bytes(hashlib.md5(sentence.encode()).digest()[:8], "big") % 100
    return "train" if bucket < 90 else "validation" if bucket < 95 else "test"
