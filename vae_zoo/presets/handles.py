"""What `vae_zoo.load` and `Family.from_preset` accept: a registry name, a preset directory, a URL or a
hub handle.

* a name from `vae_zoo.list_presets()` (weights shipped or downloaded, SHA-256 checked);
* a directory written by `model.save_to_preset(directory)` (keras-hub's layout, or vae_zoo 0.2's);
* `https://.../preset.tar.gz#sha256=<hex>`: an archive of such a directory;
* `hf://OWNER/NAME[@REVISION]`, `kaggle://OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]`: such a
  directory uploaded to the Hugging Face Hub or Kaggle Models (`vae_zoo.presets.hubs`).
"""

import os

import keras

from vae_zoo.presets import directory as directories
from vae_zoo.presets import hubs
from vae_zoo.presets.loader import build_registered, entry, registry, weights_path


def build(handle, cls=None, **overrides):
    """The model `handle` names (see the module docstring), checking it is a `cls`; not compiled."""
    if directories.is_url(handle):
        return directories.load_preset_directory(directories.fetch_url(handle), cls, **overrides)
    if hubs.is_hub_handle(handle):
        return directories.load_preset_directory(hubs.fetch(handle), cls, **overrides)
    if isinstance(handle, str) and "://" in handle:
        raise ValueError(
            f"preset handle {handle!r}: unknown scheme {handle.partition('://')[0]!r}; a preset is a name "
            "from vae_zoo.list_presets(), a preset directory, https://.../preset.tar.gz#sha256=<hex>, "
            "hf://OWNER/NAME or kaggle://OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]"
        )
    if isinstance(handle, (str, os.PathLike)) and directories.is_preset_directory(handle):
        return directories.load_preset_directory(handle, cls, **overrides)
    return build_registered(handle, cls, **overrides)


def save_registered(name, directory):
    """Writes registry entry `name` as a preset directory in keras-hub's layout, ready to upload
    to a hub (`vae_zoo.presets.hubs`); returns its path.

    Its weights file is the entry's, copied byte for byte (the SHA-256 the registry and the
    model card record); metadata.json holds the entry's metrics and description.
    """
    e = entry(name)
    return directories.save_preset(
        build_registered(name),
        directory,
        metrics=e["metrics"],
        description=e["description"],
        weights_file=weights_path(name),
    )


def load(handle, **overrides):
    """The model of a preset name, directory, URL or hub handle, with its weights; its config
    updated by `overrides`."""
    return build(handle, **overrides)


def load_model(path):
    """A vae-zoo model from a `.keras` file, a run directory holding `model.keras`, or a preset name.

    Raises:
        FileNotFoundError: naming what was looked for.
    """
    if (
        directories.is_url(path)
        or hubs.is_hub_handle(path)
        or directories.is_preset_directory(path)
        or (not os.path.exists(path) and path in registry())
    ):
        return load(path)
    candidate = os.path.join(path, "model.keras") if os.path.isdir(path) else path
    if not os.path.isfile(candidate):
        raise FileNotFoundError(
            f"no model at {path!r}: expected a .keras file, a run directory with model.keras, "
            f"or a preset name ({', '.join(sorted(registry()))})"
        )
    return keras.models.load_model(candidate)
