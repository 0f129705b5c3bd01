"""Fixtures of the `vae_zoo.datasets` tests: every test runs in an isolated data environment, and
`fashion` reads the official Fashion-MNIST splits (the markers and file writers are in dataset_testing.py).
"""

import pytest
from dataset_testing import FASHION_DIR

from vae_zoo import datasets


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
