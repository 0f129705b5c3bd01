"""Checks shared by every kind of preset: file hashes, asset files, the model class from
Keras's registry, the cache.

A sentence model's vocabulary is an asset file beside its weights: one word
per line (UTF-8, each line ended by a newline), in the codec's order. The
config names it as `"vocabulary": {"file": NAME, "sha256": HEX}`;
`resolve_assets` replaces that reference with the file's words, after checking
the file's SHA-256, so the model is built from the same config as before.
"""

import os

import keras

from vae_zoo.utils.checksums import sha256


class PresetChecksumError(ValueError):
    """A weights or asset file whose SHA-256 is not the one recorded for it."""


def home():
    """The cache directory for downloaded weights: `$VAE_ZOO_HOME` or `~/.vae_zoo`."""
    return os.environ.get("VAE_ZOO_HOME") or os.path.join(os.path.expanduser("~"), ".vae_zoo")


def verify(path, expected, kind="weights"):
    """Raises `PresetChecksumError` unless the file at `path` (a `kind` file) has SHA-256 `expected`."""
    actual = sha256(path)
    if actual != expected:
        raise PresetChecksumError(
            f"{kind} file {path} has SHA-256 {actual}, expected {expected}; "
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


def vocabulary_writable(vocabulary):
    """Whether every word fits on one line of a vocabulary file (none holds a newline)."""
    return all("\n" not in word for word in vocabulary)


def write_vocabulary(vocabulary, path):
    """Writes `vocabulary` one word per line to `path`; returns the reference `{"file", "sha256"}` to it."""
    if not vocabulary_writable(vocabulary):
        raise ValueError(
            f"a vocabulary file holds one word per line; a word of {path}'s vocabulary holds a newline"
        )
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(f"{word}\n" for word in vocabulary))
    return {"file": os.path.basename(path), "sha256": sha256(path)}


def read_vocabulary(path, expected):
    """The words of the vocabulary file at `path`, after checking its SHA-256 is `expected`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"vocabulary file {path} is missing (expected SHA-256 {expected}); the preset was not loaded"
        )
    verify(path, expected, kind="vocabulary")
    with open(path, encoding="utf-8", newline="") as f:
        content = f.read()
    if content and not content.endswith("\n"):
        raise ValueError(f"vocabulary file {path} does not end with a newline: it is not one word per line")
    return content.split("\n")[:-1]


def resolve_assets(config, folder, *fallbacks):
    """`config` with a vocabulary reference replaced by the words of the file it names, checked.

    The file is looked for in `folder`, then in each of `fallbacks` (its
    SHA-256 decides whether a file is the one named). A config whose
    vocabulary is a list (or that has none) comes back unchanged.
    """
    reference = config.get("vocabulary")
    if not isinstance(reference, dict):
        return config
    if os.path.basename(reference["file"]) != reference["file"]:
        raise ValueError(f"a vocabulary reference names a file beside the config, got {reference['file']!r}")
    paths = [os.path.join(f, reference["file"]) for f in (folder, *fallbacks)]
    path = next((p for p in paths if os.path.isfile(p)), paths[0])
    return {**config, "vocabulary": read_vocabulary(path, reference["sha256"])}
