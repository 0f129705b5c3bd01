"""The formats of `model.export(filepath, format=...)`, registered with `vae_zoo.models.exporting`.

Imported by `vae_zoo.export` (so by `import vae_zoo`), which makes
`model.export` work on every vae-zoo model:

| format | filepath | options (`**kwargs`) | written by |
|---|---|---|---|
| `tf_saved_model` | the SavedModel directory | `warmup`, `log_likelihood_samples` | `export_saved_model` |
| `litert` | the `.tflite` file | none | `export_tflite` |
| `onnx` | a directory: `<signature>.onnx` | `signatures`, `opset_version` | `export_onnx` |
| `openvino` | a directory: `<signature>.xml/.bin` | `signatures`, `compress_to_fp16` | `export_openvino` |

`tf_saved_model` writes what `export_saved_model(model, base_dir)` writes to
`base_dir/<version>/`, but at `filepath` itself, as Keras does: for TF Serving
pass `filepath = base_dir/<version>` (or call `export_saved_model`, which picks
the next version). Every format refuses an existing file or non-empty
directory. An option a format does not take is a `TypeError` naming it and the
ones it takes.
"""

import os
import shutil
import tempfile

from vae_zoo.export import onnx, openvino
from vae_zoo.export.saved_model import export_saved_model
from vae_zoo.export.tflite import export_tflite
from vae_zoo.models.exporting import register_export_format

OPTIONS = {
    "tf_saved_model": ("warmup", "log_likelihood_samples"),
    "litert": (),
    "onnx": ("signatures", "opset_version"),
    "openvino": ("signatures", "compress_to_fp16"),
}


def _check_options(format_name, kwargs):
    unknown = sorted(set(kwargs) - set(OPTIONS[format_name]))
    if unknown:
        takes = ", ".join(OPTIONS[format_name]) or "none"
        raise TypeError(
            f"model.export(format={format_name!r}) got options it does not take: {unknown}; it takes: {takes}"
        )


def saved_model(model, filepath, verbose=None, **kwargs):
    """`export_saved_model` into `filepath` itself (not `filepath/<version>`); returns `filepath`."""
    _check_options("tf_saved_model", kwargs)
    if not isinstance(filepath, (str, os.PathLike)):
        raise ValueError(f"filepath must be a directory path, got {type(filepath).__name__} {filepath!r}")
    path = os.fspath(filepath)
    if os.path.exists(path) and not (os.path.isdir(path) and not os.listdir(path)):
        raise FileExistsError(f"{path} already exists and is not an empty directory; it is never overwritten")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    base = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(path))}.partial-", dir=parent)
    try:
        written = export_saved_model(model, base, version=1, **kwargs)
        if os.path.isdir(path):
            os.rmdir(path)  # empty (checked); fails if something appeared meanwhile
        os.rename(written, path)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if verbose:
        print(
            f"Saved SavedModel (signatures: {', '.join(model.serving_signatures())}, serving_default) "
            f"at '{path}'."
        )
    return path


def litert(model, filepath, verbose=None, **kwargs):
    """`export_tflite(model, filepath)`; returns `filepath`."""
    if kwargs:
        raise TypeError(
            f"model.export(format='litert') takes no converter options (got {sorted(kwargs)}): the file "
            "holds TFLite builtin ops only, converted without optimizations, so it matches eager within 1e-5"
        )
    path = export_tflite(model, filepath)
    if verbose:
        print(f"Saved LiteRT file (signatures: encode, decode, reconstruct) at '{path}'.")
    return path


def onnx_format(model, filepath, verbose=None, **kwargs):
    _check_options("onnx", kwargs)
    return onnx.export_onnx(model, filepath, verbose=verbose, **kwargs)


def openvino_format(model, filepath, verbose=None, **kwargs):
    _check_options("openvino", kwargs)
    return openvino.export_openvino(model, filepath, verbose=verbose, **kwargs)


register_export_format("tf_saved_model", saved_model)
register_export_format("litert", litert)
register_export_format("onnx", onnx_format)
register_export_format("openvino", openvino_format)
