"""Where datasets are looked for, in order, and what is reported about it.

TFDS prepared data, TFDS `download_and_prepare()` from `manual_dir`, then
local raw files in `manual_dir`, `<data_dir>/<dir>`, `$VAE_ZOO_DATA/<dir>`
and the system directories of the Debian packages. Also `DataSource` (from
`readers`), `DatasetNotFoundError` with its messages, and `dataset_source()`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from vae_zoo.datasets.catalog import (
    KNOWN_DATASETS,
    TEXT_DATASETS,
    _IMAGE_SPECS,
    _check_known_name,
)
from vae_zoo.datasets.readers import (
    _AMAT_FILES,
    _IDX_FILES,
    DataSource,
    _AmatReader,
    _IdxReader,
    _NpzReader,
    _TfdsReader,
    _idx_files,
)

# The package's logger, named as before `vae_zoo.datasets` became a package.
logger = logging.getLogger("vae_zoo.datasets")

DATA_ENV_VAR = "VAE_ZOO_DATA"

_WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_WORDNET_LOCAL_DIR = "wordnet"
_WORDNET_SYSTEM_DIRS = ("/usr/share/wordnet",)
_WORDNET_APT_PACKAGE = "wordnet-base"

_SOURCES: dict[str, DataSource] = {}


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


# --------------------------------------------------------------------------
# Argument handling and reporting
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Finding named datasets
# --------------------------------------------------------------------------


def _open_image_reader(target, data_dir, manual_dir):
    if target in _IMAGE_SPECS:
        return _find_named_image_dataset(_IMAGE_SPECS[target], data_dir, manual_dir)
    path = Path(target)
    if path.is_dir():
        files, missing = _idx_files(path)
        if files is None:
            raise DatasetNotFoundError(target, [f"{path} (local IDX files): missing {', '.join(missing)}"])
        return _IdxReader(path, files)
    if path.suffix == ".npz":
        return _NpzReader(path)
    raise ValueError(
        f"Don't know how to read {target!r}: expected a directory of IDX files, a .npz file or a .txt file"
    )


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
    from vae_zoo.utils.checksums import sha256

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
