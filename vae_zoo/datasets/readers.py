"""File readers: IDX, `.amat`, `.npz` and prepared TFDS image datasets.

Each reader gives the official splits of one source as uint8 image arrays
(`read(split) -> (x, y)`) and says where they came from (`.source`, a
`DataSource`).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

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
                f"{path}: expected rows of 784 zeros and ones; got shape {x.shape}, max {x.max(initial=0)}"
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
            f"{path} is not an IDX file: expected at least 4 bytes (the magic number), got {len(data)} bytes"
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


class _TfdsReader:
    """The official splits of a prepared TFDS image dataset."""

    def __init__(self, builder, source):
        self.source = source
        self._builder = builder
        self.splits = tuple(s for s in ("train", "validation", "test") if s in builder.info.splits)

    def read(self, split):
        import tensorflow_datasets as tfds

        ds = self._builder.as_dataset(split=split, batch_size=-1, shuffle_files=False)
        example = tfds.as_numpy(ds)
        x = _as_uint8_images(example["image"], f"TFDS {self._builder.name}[{split}]")
        if self._builder.name == "binarized_mnist":
            x = x * np.uint8(255)  # TFDS stores its pixels as 0/1
        y = example.get("label")
        return x, (None if y is None else y.astype(np.int64))
