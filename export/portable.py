"""What the ONNX and OpenVINO exports share: which signatures a runtime without TensorFlow can take,
the optional dependencies, and the directory both write.

Only the deterministic signatures are converted (`encode`, `decode`,
`reconstruct`), as the raw contract functions of `model.serving_signatures()`
(like the TFLite export): no per-row `error` output and no input checks, since
those are string ops that neither ONNX nor OpenVINO's CPU runtime has. A caller
passes `x` float32 in [0, 1] (int32 token ids for a token model); the runtime
checks the input names, dtypes and fixed dimensions.

The random signatures (`encode_sample`, `decode_sample`, `sample`,
`log_likelihood`) are refused: they draw with TensorFlow's stateless Philox
generator keyed by one 64-bit seed per row (`Bitcast`, `StatelessRandomNormalV2`,
...), which has no ONNX op or OpenVINO conversion rule, so the per-row seeds could
not be kept. Sentence models (string inputs) are refused: tokenizing needs string
and lookup-table ops.
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from vae_zoo.version import __version__

#: The signatures ONNX and OpenVINO exports hold by default, in this order.
DETERMINISTIC = ("encode", "decode", "reconstruct")
#: The signatures that draw random numbers, refused (see the module docstring).
RANDOM = ("encode_sample", "decode_sample", "sample", "log_likelihood")
MANIFEST = "vae_zoo_manifest.json"
EXTRAS = {"onnx": "onnx", "openvino": "openvino"}


def require(module, format_name):
    """`import module`, or an `ImportError` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"format={format_name!r} needs the Python package {module!r}, which is not installed: "
            f"pip install 'vae-zoo[{EXTRAS[format_name]}]' (or export format='tf_saved_model', which needs "
            "nothing more)"
        ) from error


def select(model, names, format_name):
    """`{name: (function, specs)}` of the signatures `names` (None: `DETERMINISTIC`), refused with a
    `ValueError` when one is random, unknown, or takes strings."""
    from vae_zoo.models import VAE

    if not isinstance(model, VAE):
        raise ValueError(
            f"format={format_name!r} needs a vae_zoo VAE model, got {type(model).__name__}; "
            "load a .keras file with keras.models.load_model first"
        )
    names = list(DETERMINISTIC if names is None else ([names] if isinstance(names, str) else names))
    if not names:
        raise ValueError(f"signatures must name at least one of {list(DETERMINISTIC)}, got []")
    random = [name for name in names if name in RANDOM]
    if random:
        raise ValueError(
            f"format={format_name!r} cannot hold the random signatures {random}: they draw with "
            "TensorFlow's stateless Philox generator keyed by one int64 seed per row (Bitcast, "
            "StatelessRandomNormalV2, ...), "
            f"which {format_name} has no ops for, so the per-row seeds could not be kept. Export "
            "format='tf_saved_model' for them, or draw eps ~ N(0, I) in the caller and run encode/decode "
            "(z = mean + stddev * eps; mean + scale_tril @ eps for a full covariance)"
        )
    signatures = model.serving_signatures()
    unknown = [name for name in names if name not in signatures]
    if unknown:
        raise ValueError(
            f"{type(model).__name__} has no serving signature {unknown}; "
            f"format={format_name!r} takes some of {list(DETERMINISTIC)}"
        )
    strings = [
        f"{name}({spec.name})" for name in names for spec in signatures[name][1] if spec.dtype == tf.string
    ]
    if strings:
        raise ValueError(
            f"{type(model).__name__} takes strings ({', '.join(strings)}): tokenizing needs string and "
            f"lookup-table ops that {format_name} cannot run, so a sentence model cannot be exported with "
            f"format={format_name!r}; export format='tf_saved_model' (every signature), or a token-id "
            "SequenceVAE (no vocabulary), whose encode converts"
        )
    return {name: signatures[name] for name in names}


def traced(function, specs):
    """`function` as a `tf.function` with the signature's input specs."""
    return tf.function(function, input_signature=specs, autograph=False)


def unconvertible(model, format_name, failures):
    """The `ValueError` for signatures that did not convert: `{name: reason}`."""
    reasons = "; ".join(f"{name}: {reason}" for name, reason in failures.items())
    return ValueError(
        f"{type(model).__name__} signatures {list(failures)} cannot be converted to {format_name}: "
        f"{reasons}. Pass signatures=[...] without them to export the others, or export "
        "format='tf_saved_model' (every signature)"
    )


def check_directory(filepath):
    """`filepath` as a string; refused when it is a file or a non-empty directory (never overwritten)."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise ValueError(f"filepath must be a directory path, got {type(filepath).__name__} {filepath!r}")
    path = os.fspath(filepath)
    if os.path.exists(path) and not (os.path.isdir(path) and not os.listdir(path)):
        raise FileExistsError(f"{path} already exists and is not an empty directory; it is never overwritten")
    return path


def write_directory(path, files, manifest):
    """Writes `files` (`{name: write(path)}`) and the manifest into `path`, staged next to it and renamed
    in one step (no reader sees a half-written export); returns `path`."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(path))}.partial-", dir=parent)
    try:
        for name, write in files.items():
            write(os.path.join(staging, name))
        with open(os.path.join(staging, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
        if os.path.isdir(path):
            os.rmdir(path)  # empty (checked); fails if something appeared meanwhile
        os.rename(staging, path)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)
    return path


def manifest(model, format_name, signatures, files, **extra):
    """The manifest record: versions, the model, and each signature's file, inputs and outputs."""
    return {
        "format": format_name,
        "vae_zoo_version": __version__,
        "model_class": type(model).__name__,
        **model.serving_metadata(),
        **extra,
        "signatures": {
            name: {
                "files": files[name],
                "inputs": {
                    spec.name: {"shape": list(spec.shape.as_list()), "dtype": spec.dtype.name}
                    for spec in specs
                },
                "outputs": outputs,
            }
            for name, (specs, outputs) in signatures.items()
        },
        "notes": (
            "deterministic signatures only, without the SavedModel's per-row checks and error output: pass "
            "x float32 in [0, 1] (int32 token ids for a token model); random signatures are in the "
            "tf_saved_model export"
        ),
    }
