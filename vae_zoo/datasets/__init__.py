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

Modules (imports run one way: catalog <- readers <- sources <- wordnet <- images):

* `catalog`: the known names, `DatasetInfo`, `info()`;
* `readers`: the IDX, `.amat`, `.npz` and TFDS readers, `DataSource`;
* `sources`: the search order, `DatasetNotFoundError`, `dataset_source()`;
* `wordnet`: `load_sentences()`, `wordnet_sentences()`, WordNet parsing;
* `images`: `load()`, `load_arrays()`, binarization, batching.
"""

from vae_zoo.datasets.catalog import (
    BINARIZE_MODES,
    IMAGE_DATASETS as IMAGE_DATASETS,
    KNOWN_DATASETS,
    SPLITS,
    TEXT_DATASETS as TEXT_DATASETS,
    DatasetInfo,
    info,
)
from vae_zoo.datasets.images import load, load_arrays
from vae_zoo.datasets.readers import DataSource
from vae_zoo.datasets.sources import (
    DATA_ENV_VAR,
    DatasetNotFoundError,
    dataset_source,
    logger as logger,
)
from vae_zoo.datasets.wordnet import load_sentences, wordnet_sentences

# `IMAGE_DATASETS`, `TEXT_DATASETS` and `logger` (the "vae_zoo.datasets" logger) stay
# attributes of the package, as they were of the module before the split, without
# joining `__all__`.

# Private names the tests reach through the package. Rebinding one of them
# here (e.g. with monkeypatch.setattr) does not affect the module that uses
# it: patch `vae_zoo.datasets.sources._WORDNET_SYSTEM_DIRS` and
# `vae_zoo.datasets.sources._check_tfds_raw_files` instead.
from vae_zoo.datasets.catalog import _IMAGE_SPECS  # noqa: F401
from vae_zoo.datasets.readers import _AMAT_FILES, _read_idx  # noqa: F401
from vae_zoo.datasets.sources import (  # noqa: F401
    _WORDNET_SYSTEM_DIRS,
    _check_tfds_raw_files,
)
from vae_zoo.datasets.wordnet import _gloss_sentences, _wordnet_corpus  # noqa: F401

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
