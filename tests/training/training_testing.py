"""Shared helpers of the training tests: the quick CLI settings and weight comparisons."""

import os
import subprocess
import sys

import keras
import numpy as np

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
QUICK = [
    "--model", "dense", "--hidden-units", "64", "--latent-dim", "4", "--batch-size", "64",
    "--no-tensorboard", "--verbose", "2", "--seed", "3",
]  # fmt: skip


def run_cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "vae_zoo.cli", "train", *args],
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def weights_of(path):
    import vae_zoo  # noqa: F401  (registers the classes a .keras file names, when no other test has)

    return keras.models.load_model(path).get_weights()


def assert_same_weights(a, b, atol):
    assert len(a) == len(b)
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    assert worst <= atol, f"weights differ by {worst}"
    return worst
