"""Tests of `vae_zoo.datasets.catalog` (names, `info()`) and of the docstring examples."""

import doctest

import pytest
import tensorflow as tf

from vae_zoo import datasets
from vae_zoo.datasets import catalog, images, readers, sources, wordnet

from dataset_testing import needs_fashion, needs_wordnet


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as excinfo:
        datasets.load("cifar10")
    for name in datasets.KNOWN_DATASETS:
        assert name in str(excinfo.value)


def test_info():
    fashion = datasets.info("fashion_mnist")
    assert fashion.element_shape == (28, 28, 1) and fashion.element_dtype == tf.float32
    assert fashion.num_classes == 10 and fashion.official_splits == {"train": 60000, "test": 10000}
    assert datasets.info("binarized_mnist").num_classes is None
    assert datasets.info("wordnet_sentences").element_dtype == tf.string
    with pytest.raises(ValueError, match="fashion_mnist"):
        datasets.info("nope")


@needs_fashion
@needs_wordnet
def test_docstring_examples():
    # The examples are in the package's modules; they run, as before the
    # split, with every public name of `vae_zoo.datasets` in scope.
    names = {name: getattr(datasets, name) for name in datasets.__all__}
    attempted = failed = 0
    for module in (catalog, readers, sources, wordnet, images):
        result = doctest.testmod(module, extraglobs=names, optionflags=doctest.NORMALIZE_WHITESPACE)
        attempted += result.attempted
        failed += result.failed
    assert attempted >= 10
    assert failed == 0
