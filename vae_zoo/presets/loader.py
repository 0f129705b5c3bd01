"""The registry of shipped presets (`registry.json`): entries, verified weights, building a model."""

import json
import os

import keras

from vae_zoo.presets.checks import home, model_class, resolve_assets, verify

REGISTRY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry.json")
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
SHIPPED_ASSETS_DIR = WEIGHTS_DIR  # the shipped vocabulary files; WEIGHTS_DIR may be redirected, this stays


def registry(path=None, resolve=True):
    """The registry at `path` (default: the shipped one): `{name: entry}`, a fresh copy on every call.

    An entry's config may name an asset file instead of holding its value (a
    sentence model's vocabulary, see `checks.resolve_assets`), looked for in
    `weights/` beside the registry, then among the shipped ones. With `resolve`
    (the default) each such reference is replaced by the file's checked
    content, so `config` builds the model;
    `resolve=False` gives the entries as the file keeps them, which is what a
    tool that writes the registry back must read.
    """
    path = path or REGISTRY_FILE
    with open(path) as f:
        entries = json.load(f)
    if resolve:
        folder = os.path.join(os.path.dirname(os.path.abspath(path)), "weights")
        for e in entries.values():
            if "config" in e:  # an entry being written may not have one yet
                e["config"] = resolve_assets(e["config"], folder, SHIPPED_ASSETS_DIR)
    return entries


def list_presets():
    """`{name: {"description", "model_class", "metrics"}}` of every registered preset."""
    return {
        name: {"description": e["description"], "model_class": e["model_class"], "metrics": e["metrics"]}
        for name, e in registry().items()
    }


def entry(name, registry_file=None):
    """The registry entry of `name` (in `registry_file`, default the shipped one);
    unknown names list the known ones."""
    presets = registry(registry_file)
    if name not in presets:
        raise ValueError(f"Unknown preset {name!r}. Known presets: {', '.join(sorted(presets)) or 'none'}.")
    return presets[name]


def weights_dir(registry_file=None):
    """The folder of a registry's shipped weights: `weights/` beside `registry_file`
    (default `WEIGHTS_DIR`)."""
    return (
        WEIGHTS_DIR
        if registry_file is None
        else os.path.join(os.path.dirname(os.path.abspath(registry_file)), "weights")
    )


def weights_path(name, registry_file=None):
    """Local path of a preset's verified weights (shipped beside the registry, or downloaded
    into `home()`)."""
    weights = entry(name, registry_file)["weights"]
    shipped = os.path.join(weights_dir(registry_file), weights["file"])
    if os.path.exists(shipped):
        return verify(shipped, weights["sha256"])
    if not weights.get("url"):
        raise FileNotFoundError(f"preset {name!r}: {shipped} is missing and the registry has no URL for it")
    path = keras.utils.get_file(
        weights["file"], weights["url"], file_hash=weights["sha256"], cache_dir=home(), cache_subdir="weights"
    )
    return verify(path, weights["sha256"])


def build_registered(name, cls=None, registry_file=None, **overrides):
    """Builds registry preset `name` (checking it is a `cls`), loads its verified weights and returns it.

    `registry_file`: another registry than the shipped one (its weights in
    `weights/` beside it). The model is not compiled: compile it to fine-tune with `fit`.
    """
    e = entry(name, registry_file)
    preset_cls = model_class(e["model_class"])
    if cls is not None and not issubclass(preset_cls, cls):
        raise ValueError(
            f"preset {name!r} is a {e['model_class']}, not a {cls.__name__}; "
            f"use {e['model_class']}.from_preset"
        )
    path = weights_path(name, registry_file)
    model = preset_cls.from_config({**e["config"], **overrides})
    model.load_weights(path)
    return model
