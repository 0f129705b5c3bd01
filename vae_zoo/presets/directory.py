"""User-published presets: a directory in keras-hub's layout (or an archive of one at a URL, or a hub handle).

`model.save_to_preset(directory)` writes, as `keras_hub`'s `save_to_preset` does:

* `config.json`: the model as Keras serializes an object, `{"module", "class_name", "config",
  "registered_name"}`; a sentence model's vocabulary is not listed in it but named with its
  SHA-256 (`"vocabulary": {"file": "vocabulary.txt", "sha256": ...}`);
* `model.weights.h5`: the weights (no optimizer state);
* `assets/tokenizer/vocabulary.txt` (sentence models): the vocabulary, one word per line;
* `metadata.json`: keras-hub's fields (`keras_version`, `parameter_count`, `date_saved`) and
  ours: `vae_zoo_version`, the TensorFlow and TFP versions, a description, the metrics given,
  and `files`, the SHA-256 and size of every other file of the directory.

Directories written by vae_zoo 0.2 and earlier (`vocabulary.txt` beside `config.json`, no
`module` in `config.json`) load as before.

`vae_zoo.load(directory)` and `Family.from_preset(directory)` check it the way
shipped entries are checked: every file listed must exist and have its
SHA-256, and the preset must come from the same vae_zoo major version;
otherwise a clear error names the file (and the expected hash) and nothing
is loaded. A URL preset is an archive (`.tar.gz`, `.zip`) of such a
directory, named with its SHA-256: `https://host/p.tar.gz#sha256=<hex>`;
it is downloaded through `keras.utils.get_file` into `$VAE_ZOO_HOME/presets`.
A preset directory uploaded to the Hugging Face Hub or Kaggle Models loads from
its handle (`hf://owner/name`, `kaggle://owner/model/keras/variation/version`):
see `vae_zoo.presets.hubs`.
"""

import datetime
import json
import math
import os
import shutil
import tempfile
import urllib.parse

import keras

from vae_zoo.presets.checks import (
    PresetChecksumError,
    home,
    model_class,
    resolve_assets,
    verify,
    vocabulary_writable,
    write_vocabulary,
)
from vae_zoo.utils.checksums import sha256
from vae_zoo.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
VOCABULARY_FILE = "vocabulary.txt"
#: keras-hub's folder of tokenizer assets; vae_zoo 0.2 kept `vocabulary.txt` beside `config.json`
TOKENIZER_ASSETS_DIR = "assets/tokenizer"
#: 2: keras-hub's layout; 1 (no `format_version` in metadata.json): vae_zoo 0.2's
FORMAT_VERSION = 2


def _versions():
    import tensorflow as tf
    import tensorflow_probability as tfp

    return {
        "vae_zoo": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": tfp.__version__,
    }


def _files(directory):
    """`{relative path: {"sha256", "bytes"}}` of every file under `directory` but metadata.json."""
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, directory).replace(os.sep, "/")
            if relative != METADATA_FILE:
                files[relative] = {"sha256": sha256(path), "bytes": os.path.getsize(path)}
    return dict(sorted(files.items()))


def save_preset(model, directory, metrics=None, description=None, weights_file=None):
    """Writes `model` as a preset directory (see the module docstring); returns its path.

    An existing non-empty directory is refused (`FileExistsError`); the files
    are written to a staging folder first, so a failed save leaves nothing.
    `weights_file`: a weights file of `model` to copy as it is (a registry entry's,
    so the directory's weights keep the SHA-256 the registry and its card record)
    instead of saving the model's weights.
    """
    directory = os.path.abspath(directory)
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise FileExistsError(f"preset directory {directory} already exists and is not empty; pick a new one")
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".preset-partial-", dir=parent)
    try:
        model_config = model.get_config()
        vocabulary = model_config.get("vocabulary")
        if isinstance(vocabulary, list) and vocabulary_writable(vocabulary):
            assets = os.path.join(staging, *TOKENIZER_ASSETS_DIR.split("/"))
            os.makedirs(assets)
            model_config["vocabulary"] = write_vocabulary(vocabulary, os.path.join(assets, VOCABULARY_FILE))
        config = {
            "module": type(model).__module__,
            "class_name": type(model).__name__,
            "config": model_config,
            "registered_name": keras.saving.get_registered_name(type(model)),
        }
        with open(os.path.join(staging, CONFIG_FILE), "w") as f:
            json.dump(config, f, indent=2)
        if weights_file is None:
            clone = type(model).from_config(model.get_config())  # weights only, no optimizer state
            clone.set_weights(model.get_weights())
            clone.save_weights(os.path.join(staging, WEIGHTS_FILE))
        else:
            shutil.copyfile(weights_file, os.path.join(staging, WEIGHTS_FILE))
        versions = _versions()
        metadata = {
            "keras_version": versions["keras"],
            "vae_zoo_version": __version__,
            "tensorflow_version": versions["tensorflow"],
            "tensorflow_probability_version": versions["tensorflow_probability"],
            "parameter_count": sum(math.prod(w.shape) for w in model.weights),
            "date_saved": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d@%H:%M:%S"),
            "format": "vae_zoo preset",
            "format_version": FORMAT_VERSION,
            "model_class": type(model).__name__,
            "description": description or "",
            "metrics": dict(metrics or {}),
            "versions": versions,
            "files": _files(staging),
        }
        with open(os.path.join(staging, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2)
        if os.path.isdir(directory):
            os.rmdir(directory)  # empty, checked above
        os.rename(staging, directory)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)
    return directory


def is_preset_directory(path):
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, METADATA_FILE))


def _major(version):
    return str(version).split(".")[0]


def check_file_name(name, where):
    """Raises unless `name` (a key of metadata.json's `files`) is a relative path inside the directory."""
    parts = str(name).split("/")
    if not name or name.startswith("/") or "\\" in name or ".." in parts or "" in parts or ":" in name:
        raise ValueError(
            f"{where} lists a file {name!r} outside the preset directory; a preset's files are "
            "relative paths below it (e.g. assets/tokenizer/vocabulary.txt); the preset was not loaded"
        )
    return name


def check_metadata(metadata, path):
    """The parsed `metadata.json` at `path` (a file or URL), checked for its version and file list."""
    if not isinstance(metadata, dict) or not isinstance(metadata.get("files"), dict):
        raise ValueError(f"{path} has no `files` table of SHA-256s; not a vae_zoo preset's metadata.json")
    version = metadata.get("vae_zoo_version")
    if _major(version) != _major(__version__):
        raise ValueError(
            f"{path} was written by vae_zoo {version} (major version {_major(version)}); this is vae_zoo "
            f"{__version__} (major {_major(__version__)}), which reads presets of its own major version only"
        )
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if name not in metadata["files"]:
            raise ValueError(f"{path} lists no SHA-256 for {name}; the preset was not loaded")
    for name in metadata["files"]:
        check_file_name(name, path)
    return metadata


def read_metadata(directory):
    """The checked `metadata.json` of a preset directory: same major version, every file present
    and intact."""
    path = os.path.join(directory, METADATA_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is missing: a preset directory holds {METADATA_FILE}, {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    try:
        with open(path) as f:
            metadata = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); the preset was not loaded") from None
    check_metadata(metadata, path)
    for name in (
        CONFIG_FILE,
        WEIGHTS_FILE,
        *sorted(set(metadata["files"]) - {CONFIG_FILE, WEIGHTS_FILE}),
    ):
        expected = metadata["files"][name]["sha256"]
        file = os.path.join(directory, *name.split("/"))
        if not os.path.isfile(file):
            raise FileNotFoundError(
                f"preset file {file} is missing (expected SHA-256 {expected}); the preset was not loaded"
            )
        verify(file, expected, kind="vocabulary" if name.endswith(VOCABULARY_FILE) else "weights")
    return metadata


def load_preset_directory(directory, cls=None, **overrides):
    """The model of a preset directory, checked (see `read_metadata`), its config updated by `overrides`.

    Reads keras-hub's layout and vae_zoo 0.2's (the vocabulary is looked for in
    `assets/tokenizer/`, then beside `config.json`).
    """
    read_metadata(directory)
    with open(os.path.join(directory, CONFIG_FILE)) as f:
        config = json.load(f)
    found = keras.saving.get_registered_object(config.get("registered_name") or "") or model_class(
        config["class_name"]
    )
    if cls is not None and not issubclass(found, cls):
        raise ValueError(
            f"preset {directory} is a {found.__name__}, not a {cls.__name__}; "
            f"use {found.__name__}.from_preset"
        )
    assets = os.path.join(directory, *TOKENIZER_ASSETS_DIR.split("/"))
    model = found.from_config({**resolve_assets(config["config"], assets, directory), **overrides})
    model.load_weights(os.path.join(directory, WEIGHTS_FILE))
    return model


def is_url(handle):
    return isinstance(handle, str) and handle.split("://")[0] in ("http", "https", "file")


def fetch_url(handle):
    """Downloads and unpacks a URL preset `URL#sha256=<hex>`; returns the preset directory."""
    url, _, fragment = handle.partition("#")
    expected = dict(urllib.parse.parse_qsl(fragment)).get("sha256")
    if not expected or len(expected) != 64:
        raise ValueError(
            f"URL preset {url} needs its archive's SHA-256 to be checked: "
            f"{url}#sha256=<64 hex digits>, got {handle!r}"
        )
    name = os.path.basename(urllib.parse.urlparse(url).path) or "preset.tar.gz"
    cache = os.path.join(home(), "presets")
    try:
        path = keras.utils.get_file(
            name,
            url,
            file_hash=expected,
            hash_algorithm="sha256",
            extract=True,
            cache_dir=cache,
            cache_subdir=expected[:16],
        )
    except ValueError as error:
        raise PresetChecksumError(
            f"{url} did not serve the published preset: its SHA-256 is not {expected} ({error}); "
            "nothing was loaded"
        ) from None
    candidates = [path] + (
        [os.path.join(path, d) for d in sorted(os.listdir(path))] if os.path.isdir(path) else []
    )
    for candidate in candidates:
        if is_preset_directory(candidate):
            return candidate
    raise ValueError(
        f"{url} (SHA-256 {expected}) unpacked to {path}, which holds no {METADATA_FILE}; not a vae_zoo preset"
    )
