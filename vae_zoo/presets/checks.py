"""Checks shared by every kind of preset: file hashes, the model class from Keras's registry, the cache."""

import os

import keras

from vae_zoo.utils.checksums import sha256


class PresetChecksumError(ValueError):
    """A weights file whose SHA-256 is not the registry's."""


def home():
    """The cache directory for downloaded weights: `$VAE_ZOO_HOME` or `~/.vae_zoo`."""
    return os.environ.get("VAE_ZOO_HOME") or os.path.join(os.path.expanduser("~"), ".vae_zoo")


def verify(path, expected):
    """Raises `PresetChecksumError` unless the file at `path` has SHA-256 `expected`."""
    actual = sha256(path)
    if actual != expected:
        raise PresetChecksumError(
            f"weights file {path} has SHA-256 {actual}, expected {expected}; "
            "the file is corrupted, truncated or not the published one, and was not loaded"
        )
    return path


def model_class(class_name):
    """The vae-zoo model class registered with Keras as `vae_zoo>{class_name}`.

    The loader finds classes through Keras's serialization registry, so it
    never imports `vae_zoo.models` (the classes register when `vae_zoo` is imported).
    """
    found = keras.saving.get_registered_object(f"vae_zoo>{class_name}")
    if found is None:
        raise ValueError(f"model class {class_name!r} is not registered with Keras as 'vae_zoo>{class_name}'")
    return found
