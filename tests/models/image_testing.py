"""Random images for the model tests (``from image_testing import unit_images``).

A helper module, not part of ``tests/conftest.py``: the test folders have conftest.py files of their
own, so ``from conftest import ...`` would not say which one it means.
"""

import numpy as np


def unit_images(n=16, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).random((n, *shape), dtype="float32")
