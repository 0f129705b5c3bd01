import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The tests' own cache home, inherited by the commands they run: publish, remeasure and evaluate save
# their importance-weighted passes in $VAE_ZOO_HOME/log_likelihood, and a pass saved by an earlier run
# of the suite would be read back instead of computed, hiding a change to the estimator.
os.environ["VAE_ZOO_HOME"] = tempfile.mkdtemp(prefix="vae_zoo_tests_home_")
atexit.register(shutil.rmtree, os.environ["VAE_ZOO_HOME"], ignore_errors=True)

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def fashion_train():
    """The first 2,000 real Fashion-MNIST training images, uint8 (N, 28, 28, 1)."""
    from vae_zoo import datasets

    x, _ = datasets.load_arrays("fashion_mnist", split="train")
    return x[:2000].reshape(-1, 28, 28, 1)


@pytest.fixture(scope="session")
def fashion_test():
    """The first 1,000 real Fashion-MNIST test images and labels."""
    from vae_zoo import datasets

    x, y = datasets.load_arrays("fashion_mnist", split="test")
    return x[:1000].reshape(-1, 28, 28, 1), y[:1000]


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(1234)
    yield
