"""Datasets for vae-zoo: image sets for the VAEs and a sentence corpus.

The entry point is `load()`, which returns a ready-to-train `tf.data.Dataset`:

* `"fashion_mnist"`, `"mnist"`: 28x28 grayscale images, float32 in [0, 1],
  optionally binarized (statically or afresh every epoch);
* `"binarized_mnist"`: the fixed binarization of MNIST (Larochelle & Murray);
* `"wordnet_sentences"`: WordNet 3.0 definitions and example sentences, as
  `tf.string` scalars.

A local path works in place of a name: a directory of IDX files (the standard
`train-images-idx3-ubyte[.gz]`, ... names), a `.npz` file holding `x_train`,
`x_test` (and optionally `y_train`, `y_test`, `x_validation`, ...) or a `.txt`
file with one sentence per line.

The machine this runs on may be offline, so datasets are looked for in several
places, in this order, and the first one that has the data wins:

1. TFDS, when the dataset is already prepared in the TFDS data dir
   (`data_dir=`, else `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`);
2. TFDS `download_and_prepare()` from `manual_dir=`, when that directory holds
   every raw file TFDS would download, with the checksums TFDS registers (so
   no download is ever attempted);
3. local raw files (IDX for (fashion-)MNIST, `.amat` for binarized MNIST,
   WordNet's `data.*` files), looked for in `manual_dir`, `<data_dir>/<dir>`,
   `$VAE_ZOO_DATA/<dir>` and the system directories the Debian packages
   install to (`dataset-fashion-mnist` gives `/usr/share/datasets/fashion-mnist`,
   `wordnet-base` gives `/usr/share/wordnet`).

The source that was used is printed when `verbose=True` (and logged with
`logging` at INFO level otherwise), and `dataset_source(name)` returns it as a
`DataSource`. When no place has the data, `DatasetNotFoundError` (a
`FileNotFoundError`) lists every place looked and how to get the data.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import logging
import math
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

__all__ = [
    "BINARIZE_MODES",
    "DATA_ENV_VAR",
    "DataSource",
    "DatasetInfo",
    "DatasetNotFoundError",
    "KNOWN_DATASETS",
    "SPLITS",
    "dataset_source",
    "info",
    "load",
    "load_arrays",
    "load_sentences",
    "wordnet_sentences",
]

logger = logging.getLogger(__name__)

IMAGE_DATASETS = ("fashion_mnist", "mnist", "binarized_mnist")
TEXT_DATASETS = ("wordnet_sentences",)
KNOWN_DATASETS = IMAGE_DATASETS + TEXT_DATASETS
SPLITS = ("train", "validation", "test", "all")
BINARIZE_MODES = (None, "static", "dynamic")
DATA_ENV_VAR = "VAE_ZOO_DATA"

# Index of each official split in the seed of its static binarization, so
# that an image gets the same bits whichever derived split it is read from.
_SPLIT_STREAMS = {"train": 0, "validation": 1, "test": 2}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's data is in none of the places `vae_zoo.datasets` looks.

    The message names the dataset, every place looked (with why each did not
    qualify) and how to get the data. The same facts are attributes:

    Attributes:
        dataset: the dataset name or path asked for.
        places: one line per place looked.
    """

    def __init__(self, dataset, places, hints=()):
        self.dataset = dataset
        self.places = list(places)
        self.hints = list(hints)
        lines = [f"Could not find the data of dataset {dataset!r}. Looked in:"]
        lines += [f"  {i}. {place}" for i, place in enumerate(self.places, 1)]
        if self.hints:
            lines.append("To get it:")
            lines += [f"  - {hint}" for hint in self.hints]
        super().__init__("\n".join(lines))


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where a loaded dataset's examples came from.

    Attributes:
        kind: one of `"tfds"` (a prepared TFDS dataset), `"tfds-manual"`
            (prepared by TFDS from `manual_dir` during this call), `"idx"`,
            `"amat"`, `"npz"`, `"text"` or `"wordnet"` (local files).
        location: the TFDS data dir, the directory or the file read.
    """

    kind: str
    location: str

    def __str__(self):
        descriptions = {
            "tfds": "TFDS dataset prepared in",
            "tfds-manual": "TFDS dataset prepared from manual_dir into",
            "idx": "local IDX files in",
            "amat": "local .amat files in",
            "npz": "NumPy archive",
            "text": "text file",
            "wordnet": "WordNet data files in",
        }
        return f"{descriptions.get(self.kind, self.kind)} {self.location}"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a named dataset (no data is read to build them).

    Attributes:
        name: the dataset name.
        kind: `"image"` or `"text"`.
        element_shape: shape of one element as `load()` yields it.
        element_dtype: dtype of one element as `load()` yields it.
        num_classes: number of label classes, or None when unlabelled.
        class_names: label names, or None.
        official_splits: number of examples in each official split (None
            where it depends on the data found, as for WordNet).
    """

    name: str
    kind: str
    element_shape: tuple
    element_dtype: tf.DType
    num_classes: int | None
    class_names: tuple | None
    official_splits: dict | None


@dataclasses.dataclass(frozen=True)
class _ImageSpec:
    name: str
    tfds_name: str
    local_format: str  # "idx" or "amat"
    local_dir_name: str
    system_dirs: tuple
    apt_package: str | None
    official_splits: dict
    class_names: tuple | None


_FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_IMAGE_SPECS = {
    "fashion_mnist": _ImageSpec(
        name="fashion_mnist",
        tfds_name="fashion_mnist",
        local_format="idx",
        local_dir_name="fashion_mnist",
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        apt_package="dataset-fashion-mnist",
        official_splits={"train": 60000, "test": 10000},
        class_names=_FASHION_CLASSES,
    ),
    "mnist": _ImageSpec(
        name="mnist",
        tfds_name="mnist",
        local_format="idx",
        local_dir_name="mnist",
        system_dirs=("/usr/share/datasets/mnist",),
        apt_package=None,
        official_splits={"train": 60000, "test": 10000},
        class_names=tuple(str(d) for d in range(10)),
    ),
    "binarized_mnist": _ImageSpec(
        name="binarized_mnist",
        tfds_name="binarized_mnist",
        local_format="amat",
        local_dir_name="binarized_mnist",
        system_dirs=(),
        apt_package=None,
        official_splits={"train": 50000, "validation": 10000, "test": 10000},
        class_names=None,
    ),
}

_WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_WORDNET_LOCAL_DIR = "wordnet"
_WORDNET_SYSTEM_DIRS = ("/usr/share/wordnet",)
_WORDNET_APT_PACKAGE = "wordnet-base"

# Sentences go to train / validation / test by the md5 of their text:
# bucket = first 8 digest bytes mod 100; [0, 90) train, [90, 95) validation.
_TEXT_SPLIT_BOUNDS = (90, 95)

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_AMAT_FILES = {
    "train": "binarized_mnist_train.amat",
    "validation": "binarized_mnist_valid.amat",
    "test": "binarized_mnist_test.amat",
}

# IDX type codes (third byte of the magic number); multi-byte data is big-endian.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_SOURCES: dict[str, DataSource] = {}


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def load(
    name_or_path,
    split="train",
    binarize=None,
    batch_size=128,
    shuffle=None,
    seed=0,
    cache=True,
    drop_remainder=False,
    with_labels=False,
    data_dir=None,
    manual_dir=None,
    validation_size=5000,
    verbose=True,
):
    """Loads a dataset as a batched, prefetched `tf.data.Dataset`.

    Image datasets yield float32 images in [0, 1] of shape `(28, 28, 1)` (or
    `(x, y)` pairs with `with_labels=True`, `y` an int64 class id); text
    datasets yield `tf.string` sentences. The pipeline is: examples (uint8
    images, binarized already when `binarize="static"`) -> `cache()` ->
    `shuffle()` -> `map(to float32 / dynamic binarization)` -> `batch()` ->
    `prefetch()`.

    Args:
        name_or_path: one of `KNOWN_DATASETS` (`"fashion_mnist"`, `"mnist"`,
            `"binarized_mnist"`, `"wordnet_sentences"`), or a path: a
            directory of IDX files, a `.npz` file (`x_train`, `x_test`,
            optional `y_train`, `y_test` and `x_validation`/`x_val`/`x_valid`
            with its `y_*`), or a `.txt` file with one sentence per line.
            A known name wins over a same-named relative path.
        split: `"train"`, `"validation"`, `"test"` or `"all"`. For image sets
            without an official validation split, `"validation"` is the last
            `validation_size` examples of the official train set and
            `"train"` the examples before them. Text is split by a stable
            hash of each sentence (about 90/5/5). `"all"` concatenates the
            official splits.
        binarize: None (grayscale), `"static"` (each pixel drawn once from
            Bernoulli(intensity), keyed by `seed`: the same bits on every
            call) or `"dynamic"` (a fresh draw every epoch; the sequence of
            draws is reproducible for a given `seed`).
        batch_size: examples per batch, or None for an unbatched dataset.
        shuffle: whether to shuffle (reshuffled every epoch, seeded by
            `seed`). Defaults to True for the `"train"` split only.
        seed: int seed of the shuffling and of both binarizations, or None
            for non-reproducible randomness. As for any `tf.data` seeded op,
            a global `tf.random.set_seed()` also enters the shuffle order
            and the dynamic draws.
        cache: whether to cache the examples in memory.
        drop_remainder: whether to drop the last, smaller batch.
        with_labels: whether to yield `(x, y)` pairs (image datasets with
            labels only).
        data_dir: the TFDS data dir; `<data_dir>/<name>/` is also searched
            for raw files. Defaults to TFDS's default
            (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        manual_dir: a directory holding the raw files (IDX `.gz` files,
            `.amat` files, WordNet `data.*` files). Used both to let TFDS
            prepare the dataset offline (when the files are the exact ones
            TFDS registers) and as a plain local directory.
        validation_size: number of examples held out of the official train
            set as the validation split (ignored where there is an official
            validation split, and for text).
        verbose: whether to print which source was used.

    Returns:
        A `tf.data.Dataset`.

    Raises:
        ValueError: for an unknown name, split or binarize mode, invalid
            arguments, or corrupt files.
        DatasetNotFoundError: when the data is in none of the places looked
            (the message lists them and how to get the data).

    Example:

    >>> ds = load("fashion_mnist", batch_size=32, verbose=False)
    >>> x = next(iter(ds))
    >>> x.shape, x.dtype.name
    (TensorShape([32, 28, 28, 1]), 'float32')
    >>> ds = load("fashion_mnist", "test", binarize="dynamic", with_labels=True,
    ...           batch_size=None, verbose=False)
    >>> x, y = next(iter(ds))
    >>> sorted(set(x.numpy().ravel().tolist())), y.dtype.name
    ([0.0, 1.0], 'int64')
    >>> dataset_source("fashion_mnist").kind
    'idx'
    """
    _check_choice("split", split, SPLITS)
    _check_choice("binarize", binarize, BINARIZE_MODES)
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int or None; got {batch_size!r}")
    if shuffle is None:
        shuffle = split == "train"
    kind, target = _resolve(name_or_path)

    if kind == "text":
        if binarize is not None:
            raise ValueError(f"binarize applies to image datasets only; {target!r} is text")
        if with_labels:
            raise ValueError(f"{target!r} is a text dataset and has no labels")
        sentences, source = _sentences(target, split, data_dir, manual_dir)
        _report(target, split, len(sentences), source, verbose)
        ds = tf.data.Dataset.from_tensor_slices(tf.constant(sentences, dtype=tf.string))
        if cache:
            ds = ds.cache()
        if shuffle and sentences:
            ds = ds.shuffle(len(sentences), seed=seed, reshuffle_each_iteration=True)
        return _batch_and_prefetch(ds, batch_size, drop_remainder)

    x, y = load_arrays(
        name_or_path,
        split,
        binarize="static" if binarize == "static" else None,
        seed=seed,
        data_dir=data_dir,
        manual_dir=manual_dir,
        validation_size=validation_size,
        verbose=verbose,
    )
    if with_labels and y is None:
        raise ValueError(f"{target!r} has no labels for split {split!r}; use with_labels=False")
    if x.ndim == 3:
        x = x[..., np.newaxis]
    ds = tf.data.Dataset.from_tensor_slices((x, y) if with_labels else x)
    if cache:
        ds = ds.cache()
    if shuffle and len(x):
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    # Batch first, then convert / binarize whole batches: one vectorized op per
    # batch instead of one per image keeps the pipeline off the model's cores.
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if binarize == "dynamic":
        noise_seeds = tf.data.Dataset.random(
            seed=_derived_seed(seed, 1), rerandomize_each_iteration=True
        )
        ds = tf.data.Dataset.zip(ds, noise_seeds)
        if with_labels:
            ds = ds.map(
                lambda xy, key: (_bernoulli(_to_unit_float(xy[0]), key), xy[1]),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        else:
            ds = ds.map(
                lambda x, key: _bernoulli(_to_unit_float(x), key),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
    elif with_labels:
        ds = ds.map(lambda x, y: (_to_unit_float(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_arrays(
    name_or_path,
    split="train",
    binarize=None,
    seed=0,
    data_dir=None,
    manual_dir=None,
    validation_size=5000,
    verbose=True,
):
    """Loads an image dataset split as NumPy arrays.

    Same sources, splits and arguments as `load()`. Images are uint8 on the
    0..255 scale (binarized pixels are 0 or 255), shaped `(n, 28, 28)` for
    grayscale data (`(n, h, w, c)` for multi-channel `.npz` data).

    Args:
        name_or_path: an image dataset name or path (see `load()`).
        split: `"train"`, `"validation"`, `"test"` or `"all"`.
        binarize: None or `"static"` (see `load()`).
        seed: seed of the static binarization.
        data_dir: see `load()`.
        manual_dir: see `load()`.
        validation_size: see `load()`.
        verbose: whether to print which source was used.

    Returns:
        `(x, y)`: uint8 images and int64 labels (`y` is None when the dataset
        has no labels).

    Example:

    >>> x, y = load_arrays("fashion_mnist", "validation", verbose=False)
    >>> x.shape, x.dtype.name, y.shape, y.dtype.name
    ((5000, 28, 28), 'uint8', (5000,), 'int64')
    """
    _check_choice("split", split, SPLITS)
    _check_choice("binarize", binarize, (None, "static"))
    kind, target = _resolve(name_or_path)
    if kind == "text":
        raise ValueError(
            f"{target!r} is a text dataset; use load_sentences() or load() for it"
        )
    x, y, source = _image_arrays(
        target,
        split,
        static=binarize == "static",
        seed=seed,
        validation_size=validation_size,
        data_dir=data_dir,
        manual_dir=manual_dir,
    )
    _report(target, split, len(x), source, verbose)
    return x, y


def load_sentences(name_or_path, split="train", data_dir=None, manual_dir=None):
    """Returns the sentences of a text dataset split as a Python list.

    Handy for building a tokenizer vocabulary. The split is by a stable md5
    hash of each sentence (about 90% train, 5% validation, 5% test), so it
    never depends on file order or on Python's hash seed, and a sentence that
    occurs several times is always in a single split.

    Args:
        name_or_path: `"wordnet_sentences"` or a `.txt` file path (one
            sentence per line; whitespace is collapsed, blank lines dropped,
            duplicates kept).
        split: `"train"`, `"validation"`, `"test"` or `"all"`.
        data_dir: `<data_dir>/wordnet/` is searched for WordNet files.
        manual_dir: a directory holding WordNet's `data.*` files.

    Returns:
        A list of `str`, in corpus order.

    Example:

    >>> sentences = load_sentences("wordnet_sentences", "validation")
    >>> len(sentences) > 1000
    True
    """
    _check_choice("split", split, SPLITS)
    kind, target = _resolve(name_or_path)
    if kind != "text":
        raise ValueError(f"{target!r} is an image dataset; use load_arrays() or load() for it")
    sentences, source = _sentences(target, split, data_dir, manual_dir)
    _set_source(target, source)
    return sentences


def wordnet_sentences(split="train", data_dir=None, manual_dir=None):
    """Returns WordNet definitions and example sentences of a split.

    The corpus is built from WordNet 3.0's `data.noun`, `data.verb`,
    `data.adj` and `data.adv`: the gloss of every synset gives its
    definition and its quoted example sentences ("..."), each one sentence
    (whitespace collapsed, surrounding quotes stripped, case untouched). The
    corpus is deduplicated and split by a stable hash of each sentence (see
    `load_sentences()`).

    The files are looked for in `manual_dir`, `<data_dir>/wordnet`,
    `$VAE_ZOO_DATA/wordnet`, `$WNHOME/dict` and `/usr/share/wordnet` (Debian
    package `wordnet-base`).

    Args:
        split: `"train"`, `"validation"`, `"test"` or `"all"`.
        data_dir: see above.
        manual_dir: see above.

    Returns:
        A list of `str`.

    Example:

    >>> corpus = wordnet_sentences("all")
    >>> "obstruct or hinder any discussion" in corpus  # a definition
    True
    >>> "Nixon stonewalled the Watergate investigation" in corpus  # an example
    True
    >>> len(wordnet_sentences("train")) > 10 * len(wordnet_sentences("test"))
    True
    """
    return load_sentences("wordnet_sentences", split, data_dir=data_dir, manual_dir=manual_dir)


def dataset_source(name_or_path):
    """Returns where the last `load*()` of a dataset in this process got it.

    Args:
        name_or_path: a dataset name or the path passed to `load()`.

    Returns:
        A `DataSource` (`kind`, `location`; `str()` gives a description),
        or None when that dataset has not been loaded yet.

    Example:

    >>> _ = load_arrays("fashion_mnist", "test", verbose=False)
    >>> print(dataset_source("fashion_mnist"))
    local IDX files in /usr/share/datasets/fashion-mnist
    """
    try:
        _, key = _resolve(name_or_path)
    except (ValueError, FileNotFoundError):
        return None
    return _SOURCES.get(key)


def info(name):
    """Returns static facts about a named dataset as a `DatasetInfo`.

    Args:
        name: one of `KNOWN_DATASETS`.

    Returns:
        A `DatasetInfo`.

    Example:

    >>> i = info("fashion_mnist")
    >>> i.element_shape, i.num_classes, i.class_names[0]
    ((28, 28, 1), 10, 'T-shirt/top')
    """
    _check_known_name(name)
    if name in TEXT_DATASETS:
        return DatasetInfo(
            name=name,
            kind="text",
            element_shape=(),
            element_dtype=tf.string,
            num_classes=None,
            class_names=None,
            official_splits=None,
        )
    spec = _IMAGE_SPECS[name]
    return DatasetInfo(
        name=name,
        kind="image",
        element_shape=(28, 28, 1),
        element_dtype=tf.float32,
        num_classes=len(spec.class_names) if spec.class_names else None,
        class_names=spec.class_names,
        official_splits=dict(spec.official_splits),
    )


# --------------------------------------------------------------------------
# Argument handling and reporting
# --------------------------------------------------------------------------


def _check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(
            f"Invalid {what} {value!r}; valid values: {', '.join(map(repr, choices))}"
        )


def _check_known_name(name):
    if name not in KNOWN_DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(KNOWN_DATASETS)}; "
            "or pass a path to a directory of IDX files, a .npz file or a .txt file."
        )


def _resolve(name_or_path):
    """Returns `("image" | "text", name-or-absolute-path)`."""
    if isinstance(name_or_path, str) and name_or_path in KNOWN_DATASETS:
        return ("text" if name_or_path in TEXT_DATASETS else "image"), name_or_path
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"Expected a dataset name or a path; got {name_or_path!r}")
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    looks_like_path = (
        isinstance(name_or_path, os.PathLike)
        or os.sep in text
        or "/" in text
        or path.suffix in (".npz", ".txt", ".gz")
        or path.exists()
    )
    if not looks_like_path:
        _check_known_name(text)
    if not path.exists():
        raise DatasetNotFoundError(str(path), [f"{path}: no such file or directory"])
    path = path.resolve()
    return ("text" if path.suffix == ".txt" else "image"), str(path)


def _set_source(key, source):
    _SOURCES[key] = source


def _report(key, split, count, source, verbose):
    _set_source(key, source)
    label = key if key in KNOWN_DATASETS else Path(key).name
    message = f"vae_zoo.datasets: {label} [{split}]: {count} examples from {source}"
    if verbose:
        print(message)
    else:
        logger.info(message)


def _derived_seed(seed, offset):
    return None if seed is None else seed + offset


def _batch_and_prefetch(ds, batch_size, drop_remainder):
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


def _to_unit_float(x):
    return tf.cast(x, tf.float32) / 255.0


def _bernoulli(probs, key):
    """One Bernoulli(probs) draw per pixel, keyed by the int64 scalar `key`."""
    seed = tf.stack([key, tf.constant(0, tf.int64)])
    noise = tf.random.stateless_uniform(tf.shape(probs), seed=seed, dtype=tf.float32)
    return tf.cast(noise < probs, tf.float32)


# --------------------------------------------------------------------------
# Image data
# --------------------------------------------------------------------------


def _image_arrays(target, split, static, seed, validation_size, data_dir, manual_dir):
    """Returns `(x, y, source)` of a split of an image dataset name or path."""
    if not isinstance(validation_size, int) or validation_size < 0:
        raise ValueError(f"validation_size must be an int >= 0; got {validation_size!r}")
    reader = _open_image_reader(target, data_dir, manual_dir)

    def read(official):
        if official not in reader.splits:
            raise ValueError(
                f"{target!r} has no {official!r} split (it has: {', '.join(reader.splits)})"
            )
        x, y = reader.read(official)
        if static:
            x = _binarize_static(x, seed, _SPLIT_STREAMS[official])
        return x, y

    if split == "all":
        parts = [read(s) for s in reader.splits]
        x = np.concatenate([p[0] for p in parts])
        y = None if any(p[1] is None for p in parts) else np.concatenate([p[1] for p in parts])
        return x, y, reader.source
    if split == "test" or "validation" in reader.splits:
        return (*read(split), reader.source)

    x, y = read("train")
    if split == "validation" and validation_size == 0:
        raise ValueError("validation_size=0 leaves the validation split empty")
    if validation_size >= len(x):
        raise ValueError(
            f"validation_size={validation_size} must be smaller than the "
            f"{len(x)} examples of the official train split of {target!r}"
        )
    cut = len(x) - validation_size
    part = slice(None, cut) if split == "train" else slice(cut, None)
    return x[part], (None if y is None else y[part]), reader.source


def _binarize_static(x, seed, stream):
    """Draws each pixel once from Bernoulli(x / 255); returns 0/255 uint8.

    `u` is uniform on {0, ..., 254}, so P(x > u) = x / 255 exactly.
    """
    rng = np.random.default_rng(None if seed is None else [seed, stream])
    u = rng.integers(0, 255, size=x.shape, dtype=np.uint8)
    return np.where(x > u, np.uint8(255), np.uint8(0))


class _IdxReader:
    """The official splits of a directory of IDX files."""

    def __init__(self, directory, files):
        self.source = DataSource("idx", str(directory))
        self.splits = ("train", "test")
        self._files = files

    def read(self, split):
        images_path, labels_path = self._files[split]
        x = _read_idx(images_path)
        y = _read_idx(labels_path)
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ValueError(
                f"{images_path}: expected uint8 images of shape (n, rows, cols); "
                f"got {x.dtype.name} of shape {x.shape}"
            )
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(
                f"{labels_path}: expected {len(x)} labels to match {images_path}; "
                f"got an array of shape {y.shape}"
            )
        return x, y.astype(np.int64)


class _AmatReader:
    """The official splits of binarized MNIST as `.amat` text files."""

    def __init__(self, directory):
        self.source = DataSource("amat", str(directory))
        self.splits = ("train", "validation", "test")
        self._directory = Path(directory)

    def read(self, split):
        path = self._directory / _AMAT_FILES[split]
        try:
            x = np.loadtxt(path, dtype=np.uint8, ndmin=2)
        except ValueError as e:
            raise ValueError(f"{path}: not a binarized MNIST .amat file ({e})") from e
        if x.shape[1] != 28 * 28 or x.max(initial=0) > 1:
            raise ValueError(
                f"{path}: expected rows of 784 zeros and ones; got shape {x.shape}, "
                f"max {x.max(initial=0)}"
            )
        return x.reshape(-1, 28, 28) * np.uint8(255), None


class _NpzReader:
    """The splits of a `.npz` archive with `x_train`, `x_test`, ... arrays."""

    _VALIDATION_KEYS = ("validation", "val", "valid")

    def __init__(self, path):
        self.source = DataSource("npz", str(path))
        self._path = path
        try:
            with np.load(path, allow_pickle=False) as archive:
                self._keys = set(archive.files)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable .npz archive ({e})") from e
        if "x_train" not in self._keys:
            raise ValueError(
                f"{path}: expected an 'x_train' array (and 'x_test', optionally 'y_train', "
                f"'y_test', 'x_validation'); it holds {sorted(self._keys)}"
            )
        self._names = {"train": "train"}
        for key in self._VALIDATION_KEYS:
            if f"x_{key}" in self._keys:
                self._names["validation"] = key
                break
        if "x_test" in self._keys:
            self._names["test"] = "test"
        self.splits = tuple(s for s in ("train", "validation", "test") if s in self._names)

    def read(self, split):
        key = self._names[split]
        with np.load(self._path, allow_pickle=False) as archive:
            x = archive[f"x_{key}"]
            y = archive[f"y_{key}"] if f"y_{key}" in self._keys else None
        x = _as_uint8_images(x, f"{self._path}[x_{key}]")
        if y is not None:
            y = np.asarray(y)
            if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
                raise ValueError(
                    f"{self._path}[y_{key}]: expected {len(x)} integer labels; "
                    f"got {y.dtype.name} of shape {y.shape}"
                )
            y = y.astype(np.int64)
        return x, y


def _as_uint8_images(x, what):
    """Canonical images: uint8 0..255, `(n, h, w)` or `(n, h, w, c)` (c > 1)."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4):
        raise ValueError(f"{what}: expected images of shape (n, h, w[, c]); got {x.shape}")
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(f"{what}: integer pixels must be within 0..255")
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
            raise ValueError(f"{what}: float pixels must be within [0, 1]")
        return np.round(x * 255.0).astype(np.uint8)
    raise ValueError(f"{what}: unsupported pixel dtype {x.dtype.name}")


def _open_image_reader(target, data_dir, manual_dir):
    if target in _IMAGE_SPECS:
        return _find_named_image_dataset(_IMAGE_SPECS[target], data_dir, manual_dir)
    path = Path(target)
    if path.is_dir():
        files, missing = _idx_files(path)
        if files is None:
            raise DatasetNotFoundError(
                target, [f"{path} (local IDX files): missing {', '.join(missing)}"]
            )
        return _IdxReader(path, files)
    if path.suffix == ".npz":
        return _NpzReader(path)
    raise ValueError(
        f"Don't know how to read {target!r}: expected a directory of IDX files, "
        "a .npz file or a .txt file"
    )


def _idx_files(directory):
    """Returns `({split: (images, labels)}, [])` or `(None, missing names)`."""
    files, missing = {}, []
    for split, names in _IDX_FILES.items():
        found = []
        for name in names:
            path = _find_idx_file(directory, name)
            if path is None:
                missing.append(f"{name}[.gz]")
            found.append(path)
        files[split] = tuple(found)
    return (None, missing) if missing else (files, [])


def _find_idx_file(directory, name):
    # The original site's archives unpack on some systems as "train-images.idx3-ubyte".
    for base in (name, name.replace("-idx", ".idx")):
        for suffix in (".gz", ""):
            path = Path(directory) / f"{base}{suffix}"
            if path.is_file():
                return path
    return None


def _read_idx(path):
    """Reads an IDX file (gzip-compressed or raw) into a NumPy array.

    IDX layout: a magic number `00 00 TT NN` (TT the type code, NN the
    number of dimensions), NN big-endian uint32 dimension sizes, then the
    big-endian payload.

    Raises:
        FileNotFoundError: when `path` does not exist.
        ValueError: naming the file, when it cannot be read, is not an IDX
            file, or its size does not match its header (the message gives
            the expected and the actual byte counts).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ValueError(f"Cannot read IDX file {path}: {e}") from e
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from e
    if len(data) < 4:
        raise ValueError(
            f"{path} is not an IDX file: expected at least 4 bytes (the magic number), "
            f"got {len(data)} bytes"
        )
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path} is not an IDX file: bad magic number 0x{magic:08X} "
            "(an IDX file starts with two zero bytes, a type code and the number of dims)"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX data type code 0x{code:02X} (valid: {valid})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: expected {header_size} bytes for {ndim} "
            f"dimensions, got {len(data)} bytes"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = _IDX_DTYPES[code]
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "oversized (trailing data)"
        compressed = " (after gzip decompression)" if path.suffix == ".gz" else ""
        raise ValueError(
            f"{path}: {problem} IDX file: its header declares {dtype.name} data of shape "
            f"{shape}, so expected {expected} bytes, got {len(data)} bytes{compressed}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


# --------------------------------------------------------------------------
# Finding named datasets
# --------------------------------------------------------------------------


def _tfds_data_dir(data_dir):
    if data_dir is not None:
        return Path(data_dir).expanduser()
    default = os.environ.get("TFDS_DATA_DIR") or os.path.join("~", "tensorflow_datasets")
    return Path(default).expanduser()


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    return tfds


def _local_dirs(local_dir_name, system_dirs, data_dir, manual_dir):
    """Candidate local directories in search order, as `(label, path)`.

    `path` is None for a place that is not configured; its label says why.
    """
    candidates = []
    if manual_dir is not None:
        path = Path(manual_dir).expanduser()
        candidates.append((f"manual_dir {path}", path))
    else:
        candidates.append(("manual_dir: not given", None))
    if data_dir is not None:
        path = Path(data_dir).expanduser() / local_dir_name
        candidates.append((f"data_dir {path}", path))
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        path = Path(env).expanduser() / local_dir_name
        candidates.append((f"${DATA_ENV_VAR}/{local_dir_name} = {path}", path))
    else:
        candidates.append((f"${DATA_ENV_VAR}/{local_dir_name}: ${DATA_ENV_VAR} is not set", None))
    candidates += [(str(d), Path(d)) for d in system_dirs]
    return candidates


def _search_dirs(candidates, what, missing_files, places):
    """Returns the first candidate directory with no missing files, or None.

    `missing_files(directory)` lists the files a directory lacks. Every
    place looked, and why it did not qualify, is appended to `places`.
    """
    for label, directory in candidates:
        if directory is None:
            places.append(f"{label} (for {what})")
        elif not directory.is_dir():
            places.append(f"{label} ({what}): no such directory")
        elif missing := missing_files(directory):
            places.append(f"{label} ({what}): missing {', '.join(missing)}")
        else:
            return directory
    return None


def _find_named_image_dataset(spec, data_dir, manual_dir):
    places = []
    reader = _try_tfds_prepared(spec.tfds_name, data_dir, places)
    if reader is None and manual_dir is not None:
        reader = _try_tfds_manual(spec.tfds_name, data_dir, manual_dir, places)
    if reader is not None:
        return reader

    candidates = _local_dirs(spec.local_dir_name, spec.system_dirs, data_dir, manual_dir)
    if spec.local_format == "idx":
        directory = _search_dirs(candidates, "local IDX files", lambda d: _idx_files(d)[1], places)
        if directory is not None:
            return _IdxReader(directory, _idx_files(directory)[0])
    else:
        directory = _search_dirs(
            candidates,
            "local .amat files",
            lambda d: [f for f in _AMAT_FILES.values() if not (d / f).is_file()],
            places,
        )
        if directory is not None:
            return _AmatReader(directory)
    raise DatasetNotFoundError(spec.name, places, _image_hints(spec))


def _image_hints(spec):
    if spec.local_format == "idx":
        raw = ", ".join(f"{name}.gz" for names in _IDX_FILES.values() for name in names)
    else:
        raw = ", ".join(_AMAT_FILES.values())
    hints = []
    if spec.apt_package:
        hints.append(
            f"install the Debian/Ubuntu package {spec.apt_package} "
            f"(apt-get install {spec.apt_package}), which puts the files in "
            f"{spec.system_dirs[0]}"
        )
    hints += [
        f"with network access, prepare the TFDS dataset {spec.tfds_name!r} "
        f"(tfds build {spec.tfds_name} --data_dir DIR) and pass data_dir=DIR "
        "(--data-dir DIR on the command line)",
        f"or put the raw files ({raw}) in a directory DIR and pass manual_dir=DIR, "
        f"or put them in DIR/{spec.local_dir_name}/ and pass data_dir=DIR "
        f"(--data-dir DIR), or set {DATA_ENV_VAR}=DIR",
    ]
    return hints


def _try_tfds_prepared(tfds_name, data_dir, places):
    root = _tfds_data_dir(data_dir)
    label = f"TFDS data_dir {root}"
    if not (root / tfds_name).is_dir():
        # Nothing to ask TFDS about (and no TFDS import or warnings needed).
        places.append(f"{label}: {tfds_name!r} is not prepared there")
        return None
    tfds = _import_tfds()
    if tfds is None:
        places.append(f"{label}: tensorflow_datasets is not installed")
        return None
    try:
        builder = tfds.builder(tfds_name, data_dir=str(root))
        prepared = builder.is_prepared()
    except Exception as e:  # noqa: BLE001 - any TFDS failure means "not usable here"
        places.append(f"{label}: TFDS could not open {tfds_name!r} ({type(e).__name__}: {e})")
        return None
    if not prepared:
        places.append(f"{label}: {tfds_name!r} is not prepared there")
        return None
    return _TfdsReader(builder, DataSource("tfds", str(root)))


def _try_tfds_manual(tfds_name, data_dir, manual_dir, places):
    manual_dir = Path(manual_dir).expanduser()
    root = _tfds_data_dir(data_dir)
    label = f"manual_dir {manual_dir} (raw files for TFDS download_and_prepare)"
    tfds = _import_tfds()
    if tfds is None:
        places.append(f"{label}: tensorflow_datasets is not installed")
        return None
    try:
        builder = tfds.builder(tfds_name, data_dir=str(root))
        problem = _check_tfds_raw_files(builder, manual_dir)
        if problem is None:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
            )
    except Exception as e:  # noqa: BLE001 - fall back to the local files
        problem = f"TFDS could not prepare {tfds_name!r} ({type(e).__name__}: {e})"
    if problem is not None:
        places.append(f"{label}: {problem}")
        logger.info("Not preparing %s with TFDS: %s", tfds_name, problem)
        return None
    return _TfdsReader(builder, DataSource("tfds-manual", str(root)))


def _check_tfds_raw_files(builder, manual_dir):
    """Returns why TFDS can't prepare `builder` offline from `manual_dir`, or None.

    TFDS uses a file of `manual_dir` in place of a download when it has the
    file name of a registered URL; it then checks the registered checksum.
    Checking both here means TFDS never falls back to downloading.
    """
    from vae_zoo.presets import sha256

    if not manual_dir.is_dir():
        return "no such directory"
    url_infos = builder.url_infos or {}
    if not url_infos:
        return "TFDS has no registered raw files for this dataset"
    missing, mismatched = [], []
    for url_info in url_infos.values():
        path = manual_dir / url_info.filename
        if not path.is_file():
            missing.append(url_info.filename)
        elif sha256(path) != url_info.checksum:
            mismatched.append(url_info.filename)
    if missing:
        return f"missing {', '.join(sorted(missing))}"
    if mismatched:
        return (
            f"{', '.join(sorted(mismatched))} differ from the files TFDS registers "
            "(sha256 mismatch; e.g. Debian recompresses them)"
        )
    return None


class _TfdsReader:
    """The official splits of a prepared TFDS image dataset."""

    def __init__(self, builder, source):
        self.source = source
        self._builder = builder
        self.splits = tuple(
            s for s in ("train", "validation", "test") if s in builder.info.splits
        )

    def read(self, split):
        import tensorflow_datasets as tfds

        ds = self._builder.as_dataset(split=split, batch_size=-1, shuffle_files=False)
        example = tfds.as_numpy(ds)
        x = _as_uint8_images(example["image"], f"TFDS {self._builder.name}[{split}]")
        if self._builder.name == "binarized_mnist":
            x = x * np.uint8(255)  # TFDS stores its pixels as 0/1
        y = example.get("label")
        return x, (None if y is None else y.astype(np.int64))


# --------------------------------------------------------------------------
# Text data
# --------------------------------------------------------------------------


def _sentences(target, split, data_dir, manual_dir):
    """Returns `(sentences of split, source)` of a text dataset name or path."""
    if target == "wordnet_sentences":
        directory = _find_wordnet_dir(data_dir, manual_dir)
        corpus = _wordnet_corpus(str(directory))
        source = DataSource("wordnet", str(directory))
    else:
        corpus = _read_text_file(target)
        source = DataSource("text", target)
    if split == "all":
        return list(corpus), source
    return [s for s in corpus if _text_split(s) == split], source


def _text_split(sentence):
    digest = hashlib.md5(sentence.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    train_end, validation_end = _TEXT_SPLIT_BOUNDS
    if bucket < train_end:
        return "train"
    return "validation" if bucket < validation_end else "test"


def _read_text_file(path):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"Cannot read text file {path} as UTF-8: {e}") from e
    lines = (" ".join(line.split()) for line in text.splitlines())
    return tuple(line for line in lines if line)


def _find_wordnet_dir(data_dir, manual_dir):
    candidates = _local_dirs(_WORDNET_LOCAL_DIR, (), data_dir, manual_dir)
    wnhome = os.environ.get("WNHOME")
    if wnhome:
        path = Path(wnhome).expanduser() / "dict"
        candidates.append((f"$WNHOME/dict = {path}", path))
    else:
        candidates.append(("$WNHOME/dict: $WNHOME is not set", None))
    candidates += [(d, Path(d)) for d in _WORDNET_SYSTEM_DIRS]
    places = []
    directory = _search_dirs(
        candidates,
        "WordNet data files",
        lambda d: [f for f in _WORDNET_FILES if not (d / f).is_file()],
        places,
    )
    if directory is not None:
        return directory
    hints = [
        f"install the Debian/Ubuntu package {_WORDNET_APT_PACKAGE} "
        f"(apt-get install {_WORDNET_APT_PACKAGE}), which puts them in {_WORDNET_SYSTEM_DIRS[0]}",
        f"or put WordNet 3.0's {', '.join(_WORDNET_FILES)} in a directory DIR and pass "
        f"manual_dir=DIR, or put them in DIR/{_WORDNET_LOCAL_DIR}/ and pass data_dir=DIR "
        f"(--data-dir DIR), or set {DATA_ENV_VAR}=DIR or WNHOME (files in $WNHOME/dict)",
    ]
    raise DatasetNotFoundError("wordnet_sentences", places, hints)


@functools.lru_cache(maxsize=4)
def _wordnet_corpus(directory):
    """All distinct sentences of the WordNet glosses in `directory`, in file order."""
    sentences = {}
    for name in _WORDNET_FILES:
        path = Path(directory) / name
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # the license header
                    continue
                _, bar, gloss = line.partition(" | ")
                if not bar:
                    continue
                for sentence in _gloss_sentences(gloss):
                    sentences.setdefault(sentence, None)
    return tuple(sentences)


_QUOTED = re.compile(r'("[^"]*")')
# What may precede the first quoted example of a gloss, and the part of it
# that is dropped from the end of the definition.
_EXAMPLES_START = re.compile(r"(?:[;:,)]|\be\.g\.,?)$")
_EXAMPLES_LEAD = re.compile(r"[;,]?\s*(?:\bas in\s+)?\be\.g\.,?$")


def _gloss_sentences(gloss):
    """Splits a WordNet gloss into its definition and its quoted examples.

    A gloss is `definition; "example"; "example"`. A quoted text opening the
    gloss or following `;`, `:`, `,`, `)` or `e.g.` starts the examples; a
    quoted text inside the definition (`as in "carrot and stick"`) stays part
    of it. Text after
    the examples (attributions such as `- Henry Miller`) is dropped. A few
    glosses are malformed; an unterminated quote runs to the end of the gloss.
    """
    chunks = _QUOTED.split(gloss)  # unquoted, "quoted", unquoted, ..., unquoted
    pieces = [(i % 2 == 1, chunk[1:-1] if i % 2 else chunk) for i, chunk in enumerate(chunks)]
    head, quote, tail = pieces[-1][1].partition('"')
    if quote:
        pieces[-1:] = [(False, head), (True, tail)]
    definition, examples = [], []
    for quoted, text in pieces:
        if quoted and not text.strip():
            continue
        if not quoted:
            if not examples:
                definition.append(text)
            continue
        before = "".join(definition).rstrip()
        if examples or not before or _EXAMPLES_START.search(before):
            examples.append(text)
        else:
            definition.append(f'"{text}"')
    sentences = [_clean_sentence(_EXAMPLES_LEAD.sub("", "".join(definition).rstrip()))]
    sentences += [_clean_sentence(example) for example in examples]
    return [s for s in sentences if len(s) > 1 and any(c.isalnum() for c in s)]


def _clean_sentence(text):
    text = " ".join(text.split()).strip(" ;:,")
    if text.count('"') % 2:  # an unpaired quote left by a malformed gloss
        if text.endswith('"'):
            text = text[:-1]
        elif text.startswith('"'):
            text = text[1:]
        text = text.strip(" ;:,")
    return text
