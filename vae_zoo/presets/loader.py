"""The registry of shipped presets (`registry.json`): entries, verified weights, building a model.

An entry's weights are found, in this order: in `weights/` beside the registry (the
library's wheel ships those of the small entries); in an installed weights distribution,
a package that declares an entry point `NAME = "package"` in the group `vae_zoo.weights`
and holds the file among its resources (the sentence entry's 79 MB weights are
`vae-zoo-sentence-weights`, built from `weights/vae-zoo-sentence-weights/` of the
repository: a wheel under a package index's 100 MB limit each); at the entry's URL,
downloaded into `$VAE_ZOO_HOME/weights`. An entry whose `weights.distribution` names a
distribution that is not installed is refused with the `pip install` command.
"""

import importlib.metadata
import importlib.resources
import json
import os
import pathlib

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


ENTRY_POINT_GROUP = "vae_zoo.weights"
#: where a weights distribution's project lives in the repository (`pip install` from a checkout)
DISTRIBUTIONS_DIR = "weights"


def installed_weights(name, file):
    """The path of `file` in an installed weights distribution that provides preset `name`
    (an entry point `name = "package"` in the group `vae_zoo.weights`), or None."""
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            resource = importlib.resources.files(point.value) / file
        except ModuleNotFoundError:  # metadata left behind by an uninstalled package
            continue
        if isinstance(resource, pathlib.Path) and resource.is_file():
            return str(resource)
    return None


def _missing_distribution(name, weights, shipped):
    distribution = weights["distribution"]
    return FileNotFoundError(
        f"preset {name!r}: its weights ({weights['file']}, {weights.get('bytes', 0):,} bytes) are not "
        f"in the vae-zoo wheel but in the separate distribution {distribution!r}, which is not "
        f"installed: `pip install {distribution}` (from a checkout of vae-zoo: "
        f"`pip install ./{DISTRIBUTIONS_DIR}/{distribution}`); looked in {shipped} and the "
        f"{ENTRY_POINT_GROUP!r} entry points"
    )


def weights_path(name, registry_file=None):
    """Local path of a preset's verified weights: shipped beside the registry, in an installed
    weights distribution, or downloaded into `home()` (see the module docstring)."""
    weights = entry(name, registry_file)["weights"]
    shipped = os.path.join(weights_dir(registry_file), weights["file"])
    if os.path.exists(shipped):
        return verify(shipped, weights["sha256"])
    installed = installed_weights(name, weights["file"])
    if installed:
        return verify(installed, weights["sha256"])
    if weights.get("distribution") and not weights.get("url"):
        raise _missing_distribution(name, weights, shipped)
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
