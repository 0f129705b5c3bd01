"""The image pipeline: `load()`, `load_arrays()`, splits and binarization."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vae_zoo.datasets.catalog import BINARIZE_MODES, SPLITS, _check_choice
from vae_zoo.datasets.sources import _open_image_reader, _report, _resolve
from vae_zoo.datasets.wordnet import _sentences

# Index of each official split in the seed of its static binarization, so
# that an image gets the same bits whichever derived split it is read from.
_SPLIT_STREAMS = {"train": 0, "validation": 1, "test": 2}


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
    autotune=False,
):
    """Loads a dataset as a batched, prefetched `tf.data.Dataset`.

    Image datasets yield float32 images in [0, 1] of shape `(28, 28, 1)` (or
    `(x, y)` pairs with `with_labels=True`, `y` an int64 class id); text
    datasets yield `tf.string` sentences. The pipeline is: examples (uint8
    images, binarized already when `binarize="static"`) -> batches of indices
    (one permutation per epoch when shuffling) -> `map(gather)` ->
    `map(to float32 / dynamic binarization)` -> `prefetch()`; with
    `batch_size=None`, examples -> `cache()` -> `shuffle()` -> `map(...)`.

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
        autotune: whether tf.data's autotuning runs (`Options.autotune.enabled`).
            Off by default: on a machine with few cores its model thread
            can hold the teardown of each epoch's iterator and slow the fit
            of a small model (measurements: benchmarks/README.md, "The
            machine's slow state"). `True` lets it tune on larger machines.

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
    if not isinstance(autotune, bool):
        raise ValueError(f"autotune must be True or False, got {autotune!r}")
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
        return _with_autotune(_batch_and_prefetch(ds, batch_size, drop_remainder), autotune)

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
    if batch_size is None:
        ds = tf.data.Dataset.from_tensor_slices((x, y) if with_labels else x)
        if cache:
            ds = ds.cache()
        if shuffle and len(x):
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    else:
        # Batches of indices gathered from the in-memory arrays: the shuffle is one permutation per
        # epoch, and every later op runs once per batch, which keeps the pipeline off the model's cores.
        ds = _index_batches(len(x), batch_size, drop_remainder, shuffle, seed).map(
            _gatherer(x, y if with_labels else None), num_parallel_calls=tf.data.AUTOTUNE
        )
    if binarize == "dynamic":
        noise_seeds = tf.data.Dataset.random(seed=_derived_seed(seed, 1), rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, noise_seeds)
        if with_labels:
            ds = ds.map(lambda xy, key: (_bernoulli(xy[0], key), xy[1]), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(_bernoulli, num_parallel_calls=tf.data.AUTOTUNE)
    elif with_labels:
        ds = ds.map(lambda x, y: (_to_unit_float(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)
    return _with_autotune(ds.prefetch(tf.data.AUTOTUNE), autotune)


def _index_batches(n, batch_size, drop_remainder, shuffle, seed):
    """Batches of example indices: `[0, n)` in order, or one fresh permutation per epoch (iteration)."""
    if not shuffle or not n:
        return tf.data.Dataset.range(n).batch(batch_size, drop_remainder=drop_remainder)
    full = n // batch_size * batch_size

    def epoch(key):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([key, tf.constant(0, tf.int64)])
        )
        batches = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full], [-1, batch_size]))
        if not drop_remainder and full < n:
            batches = batches.concatenate(tf.data.Dataset.from_tensors(order[full:]))
        return batches

    keys = tf.data.Dataset.random(seed=_derived_seed(seed, 2), rerandomize_each_iteration=True).take(1)
    batches = n // batch_size if drop_remainder else -(-n // batch_size)
    return keys.flat_map(epoch).apply(tf.data.experimental.assert_cardinality(batches))


def _gatherer(x, y):
    x = tf.constant(x)
    if y is None:
        return lambda index: tf.gather(x, index)
    y = tf.constant(y)
    return lambda index: (tf.gather(x, index), tf.gather(y, index))


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
        raise ValueError(f"{target!r} is a text dataset; use load_sentences() or load() for it")
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


# --------------------------------------------------------------------------
# Pipeline pieces
# --------------------------------------------------------------------------


def _derived_seed(seed, offset):
    return None if seed is None else seed + offset


def _with_autotune(ds, autotune):
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return ds.with_options(options)


def _batch_and_prefetch(ds, batch_size, drop_remainder):
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)


def _to_unit_float(x):
    return tf.cast(x, tf.float32) / 255.0


def _bernoulli(images, key):
    """One Bernoulli draw per pixel of uint8 `images` (probability `pixel / 255`), keyed by the
    int64 scalar `key`; float32 0/1.

    Each pixel compares 16 random bits with `257 * pixel` (and pixel 255 always gives 1), so
    P(1) = 257 * pixel / 65536 = pixel / 255.004 for pixel < 255: half the random words of a
    float uniform per pixel, and integer arithmetic only.
    """
    images = tf.convert_to_tensor(images)
    if images.dtype != tf.uint8:  # already scaled to [0, 1] (static or float inputs)
        images = tf.cast(tf.round(tf.cast(images, tf.float32) * 255.0), tf.uint8)
    shape = tf.shape(images)
    flat = tf.reshape(images, [shape[0], -1])
    pixels = tf.shape(flat)[1]
    seed = tf.stack([key, tf.constant(0, tf.int64)])
    words = tf.random.stateless_uniform(
        [shape[0], (pixels + 1) // 2], seed=seed, minval=None, maxval=None, dtype=tf.int32
    )
    noise = tf.cast(tf.reshape(tf.bitcast(words, tf.uint16), [shape[0], -1])[:, :pixels], tf.int32)
    levels = tf.cast(flat, tf.int32)
    threshold = levels * 257 + tf.cast(tf.equal(levels, 255), tf.int32)
    return tf.reshape(tf.cast(noise < threshold, tf.float32), shape)


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
            raise ValueError(f"{target!r} has no {official!r} split (it has: {', '.join(reader.splits)})")
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
