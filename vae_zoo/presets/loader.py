"""Reading the preset registry, checking weights and building models from it."""

import json
import os

import keras

from vae_zoo.utils.checksums import sha256

REGISTRY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry.json")
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


class PresetChecksumError(ValueError):
    """A weights file whose SHA-256 is not the registry's."""


def registry(path=None):
    """The registry at `path` (default: the shipped one): `{name: entry}`, a fresh copy on every call."""
    with open(path or REGISTRY_FILE) as f:
        return json.load(f)


def list_presets():
    """`{name: {"description", "model_class", "metrics"}}` of every registered preset."""
    return {
        name: {"description": e["description"], "model_class": e["model_class"], "metrics": e["metrics"]}
        for name, e in registry().items()
    }


def entry(name):
    """The registry entry of `name`; unknown names list the known ones."""
    presets = registry()
    if name not in presets:
        raise ValueError(f"Unknown preset {name!r}. Known presets: {', '.join(sorted(presets)) or 'none'}.")
    return presets[name]


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


def weights_path(name):
    """Local path of a preset's verified weights (shipped, or downloaded into `home()`)."""
    weights = entry(name)["weights"]
    shipped = os.path.join(WEIGHTS_DIR, weights["file"])
    if os.path.exists(shipped):
        return verify(shipped, weights["sha256"])
    if not weights.get("url"):
        raise FileNotFoundError(f"preset {name!r}: {shipped} is missing and the registry has no URL for it")
    path = keras.utils.get_file(
        weights["file"], weights["url"], file_hash=weights["sha256"], cache_dir=home(), cache_subdir="weights"
    )
    return verify(path, weights["sha256"])


def load(name, **overrides):
    """The model of preset `name`, built from its registry config (updated by `overrides`) with its weights."""
    return build(name, **overrides)


def model_class(class_name):
    """The vae-zoo model class registered with Keras as `vae_zoo>{class_name}`.

    The loader finds classes through Keras's serialization registry, so it
    never imports `vae_zoo.models` (the classes register when `vae_zoo` is imported).
    """
    found = keras.saving.get_registered_object(f"vae_zoo>{class_name}")
    if found is None:
        raise ValueError(f"model class {class_name!r} is not registered with Keras as 'vae_zoo>{class_name}'")
    return found


def build(name, cls=None, **overrides):
    """Builds preset `name` (checking it is a `cls`), loads its verified weights and returns it.

    The model is not compiled: compile it to fine-tune with `fit`.
    """
    e = entry(name)
    preset_cls = model_class(e["model_class"])
    if cls is not None and not issubclass(preset_cls, cls):
        raise ValueError(f"preset {name!r} is a {e['model_class']}, not a {cls.__name__}; use {e['model_class']}.from_preset")
    path = weights_path(name)
    model = preset_cls.from_config({**e["config"], **overrides})
    model.load_weights(path)
    return model


def load_model(path):
    """A vae-zoo model from a `.keras` file, a run directory holding `model.keras`, or a preset name.

    Raises:
        FileNotFoundError: naming what was looked for.
    """
    if not os.path.exists(path) and path in registry():
        return load(path)
    candidate = os.path.join(path, "model.keras") if os.path.isdir(path) else path
    if not os.path.isfile(candidate):
        raise FileNotFoundError(
            f"no model at {path!r}: expected a .keras file, a run directory with model.keras, "
            f"or a preset name ({', '.join(sorted(registry()))})"
        )
    return keras.models.load_model(candidate)
