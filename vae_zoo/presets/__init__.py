"""Pretrained models: a registry kept as data (`registry.json`) and the code that loads it.

Each entry names a model class and its config, the data and preprocessing it
was trained on, the recipe that trained it (`training/recipes/*.yaml`), its
weights file with the file's SHA-256, the measured metrics with the command
that measured them, the data license and the vae_zoo version.

Weights either ship in the package (`vae_zoo/presets/weights/`) or come from
the entry's URL through `keras.utils.get_file` into `$VAE_ZOO_HOME`
(default `~/.vae_zoo`). Either way the SHA-256 is checked before the file is
read; a wrong or truncated file is refused with `PresetChecksumError`.

Example:

>>> import vae_zoo
>>> sorted(vae_zoo.list_presets())  # doctest: +NORMALIZE_WHITESPACE
['beta_vae_fashion_mnist', 'conv_fashion_mnist', 'dense_fashion_mnist',
 'dense_fashion_mnist_2d', 'lstm_wordnet_sentences']
>>> model = vae_zoo.load("dense_fashion_mnist")
>>> model.sample(4, seed=0).shape
TensorShape([4, 28, 28, 1])
"""

import hashlib
import json
import os

REGISTRY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry.json")
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


class PresetChecksumError(ValueError):
    """A weights file whose SHA-256 is not the registry's."""


def registry():
    """The registry: `{name: entry}` (a fresh copy on every call)."""
    with open(REGISTRY_FILE) as f:
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


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    import keras

    path = keras.utils.get_file(
        weights["file"], weights["url"], file_hash=weights["sha256"], cache_dir=home(), cache_subdir="weights"
    )
    return verify(path, weights["sha256"])


def load(name, **overrides):
    """The model of preset `name`, built from its registry config (updated by `overrides`) with its weights."""
    return build(name, **overrides)


def build(name, cls=None, **overrides):
    """Builds preset `name` (checking it is a `cls`), loads its verified weights and returns it.

    The model is not compiled: compile it to fine-tune with `fit`.
    """
    from vae_zoo import models

    e = entry(name)
    preset_cls = getattr(models, e["model_class"])
    if cls is not None and not issubclass(preset_cls, cls):
        raise ValueError(f"preset {name!r} is a {e['model_class']}, not a {cls.__name__}; use {e['model_class']}.from_preset")
    path = weights_path(name)
    model = preset_cls.from_config({**e["config"], **overrides})
    model.load_weights(path)
    return model


def evaluation_data(e, model):
    """The test split a registry entry `e` was measured on, prepared for `model` as a numpy array.

    Images: the dataset's test split binarized once with the entry's seed
    (`preprocessing.test_binarize` and `preprocessing.seed`). Sentences: the
    dataset's test split tokenized by the model's own vocabulary.
    """
    from vae_zoo.evaluation import load_split

    preprocessing = e["preprocessing"]
    x = load_split(model, e["dataset"], binarize=preprocessing.get("test_binarize"), seed=preprocessing["seed"])
    return model.prepare_inputs(x).numpy()


# ---------------------------------------------------------------------- command


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the registry as JSON")


def main(args):
    presets = list_presets()
    if args.json:
        print(json.dumps(registry(), indent=2))
        return 0
    print(f"{'name':28} {'class':12} {'test NLL':>9} {'test -ELBO':>11}  description")
    for name, p in sorted(presets.items()):
        m = p["metrics"]
        print(f"{name:28} {p['model_class']:12} {m.get('test_nll', float('nan')):9.2f} {m.get('test_negative_elbo', float('nan')):11.2f}  {p['description']}")
    return 0
