"""Fixtures of the model tests."""

import pytest

from vae_zoo import datasets


@pytest.fixture(scope="module")
def corpus():
    """The first 4,000 WordNet training sentences (the SequenceVAE tests)."""
    return datasets.wordnet_sentences("train")[:4000]
