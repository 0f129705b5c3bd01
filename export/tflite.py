"""TFLite export: one `.tflite` file with the `encode`, `decode` and `reconstruct` signatures.

`export_tflite(model, path)` converts the same signature functions that the
SavedModel export writes (`model.serving_signatures()`) with
`tf.lite.TFLiteConverter`, TFLite builtin ops only (no TF Select, so the file
runs in the plain LiteRT runtime):

| signature runner | inputs | outputs |
|---|---|---|
| `encode` | `x` [B, *input_shape] float32 | `mean`, `stddev` [B, L] (+ `scale_tril` [B, L, L]) |
| `decode` | `z` [B, L] float32 | likelihood parameters (`logits`, `probs` / `loc`, `scale`), `mean` |
| `reconstruct` | `x` | `reconstruction` [B, *input_shape] |

B is dynamic (-1): LiteRT's signature runner resizes the inputs to what it is
given. TFLite drops `tf.Assert` and `tf.ensure_shape`, so the SavedModel's input
checks (shape, values in [0, 1], no NaN) are not in the file: the runner checks
the input names and dtypes only, and a caller passes `x` as float32 in [0, 1].

The signatures that draw random numbers (`encode_sample`, `decode_sample`,
`sample`, `log_likelihood`) are not converted: their stateless random ops
(StatelessRandomNormalV2, ...) and int64 seed arithmetic are TF Select ops
(`convert(model, ["sample"])` says so). On device, draw `eps ~ N(0, I)`:
`z = mean + stddev * eps` (`mean + scale_tril @ eps` for a full covariance), or
`z = temperature * eps` for the standard normal prior, then `decode(z)`.

Sentence models (string inputs) are refused: tokenizing needs string and
lookup-table ops, which are TF Select ops; export those as a SavedModel. The
sequence models' LSTMs (TensorList ops) do not convert either; the error says so.

Example:

>>> import os, tempfile
>>> import numpy as np
>>> import vae_zoo
>>> from ai_edge_litert.interpreter import Interpreter
>>> model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
>>> path = export_tflite(model, os.path.join(tempfile.mkdtemp(), "vae.tflite"))
>>> encode = Interpreter(model_path=path).get_signature_runner("encode")
>>> encode(x=np.zeros((2, 28, 28, 1), "float32"))["mean"].shape
(2, 4)
"""

import os
import re
import tempfile

import keras
import tensorflow as tf

#: The signature runners of the `.tflite` file, in this order.
SIGNATURES = ("encode", "decode", "reconstruct")
SUFFIX = ".tflite"


def tflite_signatures(model, names=SIGNATURES):
    """`{name: (function, [tf.TensorSpec, ...])}` of `names`, from `model.serving_signatures()`.

    Raises `ValueError` for a signature the model does not have and for string
    inputs (sentence models), which TFLite builtins cannot take.
    """
    signatures = model.serving_signatures()
    missing = [name for name in names if name not in signatures]
    if missing:
        raise ValueError(
            f"{type(model).__name__} has no serving signature {', '.join(missing)}; "
            f"expected some of {sorted(signatures)}"
        )
    strings = [
        f"{name}({spec.name})" for name in names for spec in signatures[name][1] if spec.dtype == tf.string
    ]
    if strings or model.serving_metadata().get("input_dtype") == "string":
        raise ValueError(
            f"{type(model).__name__} takes strings "
            f"({', '.join(strings) or 'input_dtype string'}): tokenizing "
            "needs string and lookup-table ops, which are TF Select ops, not TFLite builtins, so a sentence "
            "model cannot be exported to TFLite; export it as a SavedModel (vae_zoo.export_saved_model)"
        )
    return {name: signatures[name] for name in names}


def _select_ops(message):
    """The op names of the converter's "TF Select ops: A, B" line, or None."""
    match = re.search(r"TF Select ops: ([^\n]+)", message)
    return match.group(1).strip() if match else None


def _reason(message):
    """The converter's first error, without its location prefix and its advice to use TF Select."""
    lines = [
        line for line in message.splitlines() if "error:" in line and "failed while converting" not in line
    ]
    reason = (lines[0] if lines else message.strip().splitlines()[-1] if message.strip() else "").partition(
        "error: "
    )[2]
    reason = re.sub(r"^loc\(.*?\)+: (error: )?", "", reason)  # the op's location in the graph
    return reason.split(" Please consider using Select TF ops")[0].strip() or "no message"


def convert(model, names=SIGNATURES):
    """The `.tflite` flatbuffer (bytes) holding the signatures `names` of `model`, builtins only.

    The functions are traced once, written to a temporary SavedModel holding
    just these signatures (through `keras.export.ExportArchive`, as the
    SavedModel export does) and converted with
    `TFLiteConverter.from_saved_model(dir, signature_keys=names)`.
    Raises `ValueError` naming the ops when a signature needs TF Select ops.
    """
    names = list(names)
    signatures = tflite_signatures(model, names)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, specs) in signatures.items():
        traced = tf.function(function, input_signature=specs, autograph=False)
        traced.get_concrete_function()
        archive.add_endpoint(name, traced)
    with tempfile.TemporaryDirectory(prefix="vae_zoo_tflite_") as directory:
        archive.write_out(directory, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory, signature_keys=names)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            return converter.convert()
        except Exception as error:
            if type(error).__name__ != "ConverterError":  # tf.lite's; not public API, so matched by name
                raise
            raise _conversion_error(model, names, str(error)) from error


def _conversion_error(model, names, message):
    """The `ValueError` for a failed conversion: the TF Select ops it needs, or the converter's reason."""
    ops = _select_ops(message)
    if ops is not None:
        return ValueError(
            f"{type(model).__name__} signatures {names} need TensorFlow ops that are not TFLite builtins "
            f"({ops}); TF Select is not used, so these cannot be exported to TFLite "
            "(export a SavedModel with vae_zoo.export_saved_model instead)"
        )
    return ValueError(
        f"{type(model).__name__} signatures {names} cannot be converted with TFLite builtin ops only: "
        f"{_reason(message)} (export a SavedModel with vae_zoo.export_saved_model instead)"
    )


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file path ending in {SUFFIX}, got {type(path).__name__} {path!r}")
    path = os.fspath(path)
    if not path.endswith(SUFFIX):
        raise ValueError(f"path must end in {SUFFIX} (one TFLite flatbuffer file), got {path!r}")
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists; it is never overwritten (pass another path)")
    return path


def export_tflite(model, path):
    """Writes `model`'s `encode`, `decode` and `reconstruct` signatures to one `.tflite` file; returns `path`.

    Args:
        model: a `vae_zoo.models.VAE` with float (image) inputs; an unbuilt one is
            built from its config. Sentence models are refused (`ValueError`).
        path: the file to write, ending in `.tflite`; its folder is created. An
            existing file is never overwritten (`FileExistsError`).
    """
    from vae_zoo.models import VAE

    if not isinstance(model, VAE):
        raise ValueError(
            f"export_tflite needs a vae_zoo VAE model, got {type(model).__name__}; "
            "load a .keras file with keras.models.load_model first"
        )
    path = _check_path(path)
    if not model.built:
        model.build((None, *model.data_shape))
    flatbuffer = convert(model)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Written next to the target and renamed in one step: no reader sees a half-written file.
    handle, staging = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.partial-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(flatbuffer)
        if os.path.exists(path):
            raise FileExistsError(f"{path} appeared during export; not overwritten")
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    return path
