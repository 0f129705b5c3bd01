"""The dataset catalog: the known names, their static facts and `info()`.

A leaf of the `vae_zoo.datasets` package: it imports nothing else of it.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

IMAGE_DATASETS = ("fashion_mnist", "mnist", "binarized_mnist")
TEXT_DATASETS = ("wordnet_sentences",)
KNOWN_DATASETS = IMAGE_DATASETS + TEXT_DATASETS
SPLITS = ("train", "validation", "test", "all")
BINARIZE_MODES = (None, "static", "dynamic")


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
# Argument checks
# --------------------------------------------------------------------------


def _check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(f"Invalid {what} {value!r}; valid values: {', '.join(map(repr, choices))}")


def _check_known_name(name):
    if name not in KNOWN_DATASETS:
        raise ValueError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(KNOWN_DATASETS)}; "
            "or pass a path to a directory of IDX files, a .npz file or a .txt file."
        )
