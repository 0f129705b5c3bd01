"""Pretrained models: a registry kept as data (`registry.json`) and the code that loads it.

Each entry names a model class and its config, the data and preprocessing it
was trained on, the recipe that trained it (`training/recipes/*.yaml`), its
weights file with the file's SHA-256, the measured metrics with the command
that measured them, the data license and the vae_zoo version.

Weights ship in the package (`vae_zoo/presets/weights/`), in a weights
distribution of their own (the sentence entry's: `vae-zoo-sentence-weights`,
found through the `vae_zoo.weights` entry points, so that each wheel stays under
a package index's 100 MB limit; see `loader`), or come from the entry's URL
through `keras.utils.get_file` into `$VAE_ZOO_HOME` (default `~/.vae_zoo`).
Either way the SHA-256 is checked before the file is read; a wrong or truncated
file is refused with `PresetChecksumError`.

User presets are directories in keras-hub's layout written by
`model.save_to_preset(directory)` (`directory`), loaded from their path, from a
URL of an archive, or from a hub handle (`hf://...`, `kaggle://...`; `hubs`).
`save_registered(name, directory)` writes a shipped entry in that layout, its
weights file copied as it is, to publish it on a hub.

Example:

>>> import vae_zoo
>>> sorted(vae_zoo.list_presets())  # doctest: +NORMALIZE_WHITESPACE
['beta_vae_fashion_mnist', 'conv_fashion_mnist', 'dense_fashion_mnist',
 'dense_fashion_mnist_2d', 'lstm_wordnet_sentences']
>>> model = vae_zoo.load("dense_fashion_mnist")
>>> model.sample(4, seed=0).shape
TensorShape([4, 28, 28, 1])
"""

from vae_zoo.presets.checks import PresetChecksumError, home, model_class, verify
from vae_zoo.presets.directory import load_preset_directory, read_metadata, save_preset
from vae_zoo.presets.handles import build, load, load_model, save_registered
from vae_zoo.presets import loader
from vae_zoo.presets.loader import REGISTRY_FILE, WEIGHTS_DIR, entry, list_presets, registry, weights_path

__all__ = [
    "REGISTRY_FILE",
    "WEIGHTS_DIR",
    "PresetChecksumError",
    "build",
    "entry",
    "home",
    "list_presets",
    "load",
    "load_model",
    "load_preset_directory",
    "loader",
    "model_class",
    "read_metadata",
    "registry",
    "save_preset",
    "save_registered",
    "verify",
    "weights_path",
]
