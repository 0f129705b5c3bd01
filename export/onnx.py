"""ONNX export: one `.onnx` graph per deterministic signature, for ONNX Runtime (`pip install vae-zoo[onnx]`).

`export_onnx(model, directory)` (or `model.export(directory, format="onnx")`)
converts the raw contract functions of `model.serving_signatures()` with
tf2onnx's Python API (`tf2onnx.convert.from_function`, opset 17 by default)
and writes a directory:

| file | inputs | outputs |
|---|---|---|
| `encode.onnx` | `x` [B, *input_shape] | `mean`, `stddev` [B, L] (+ `scale_tril` [B, L, L]) |
| `decode.onnx` | `z` [B, L] float32 | likelihood parameters (`logits`, `probs` / `loc`, `scale`), `mean` |
| `reconstruct.onnx` | `x` | `reconstruction` [B, *input_shape] |
| `vae_zoo_manifest.json` | | versions, opset, each file's input and output names, shapes, dtypes |

B is dynamic. `x` is float32 in [0, 1] (int32 token ids for a token-id
`SequenceVAE`); there are no per-row checks and no `error` output
(`portable.py` says why). What converts (tf2onnx 1.17, ONNX Runtime 1.32):

| model | encode | decode | reconstruct |
|---|---|---|---|
| DenseVAE, ConvVAE (also `posterior="full"`), BetaVAE | yes | yes | yes |
| SequenceVAE, token ids | yes | no: greedy decoding's Bitcast, BitwiseXor, StatelessMultinomial | no: same |
| SequenceVAE, sentences (strings) | no: string and lookup-table ops | no | no |

The random signatures are refused (`portable.py`). tf2onnx writes a TensorFlow
op that has no ONNX counterpart into the graph under its TensorFlow name, and
ONNX Runtime then refuses the file; so every node is checked against ONNX's
operator schemas and such a signature is refused with its ops named.

Example:

>>> import tempfile
>>> import numpy as np
>>> import onnxruntime
>>> import vae_zoo
>>> model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=4, hidden_units=(32,), seed=0)
>>> path = model.export(tempfile.mkdtemp() + "/vae_onnx", format="onnx")  # doctest: +SKIP
>>> encode = onnxruntime.InferenceSession(path + "/encode.onnx")  # doctest: +SKIP
>>> encode.run(["mean"], {"x": np.zeros((2, 28, 28, 1), "float32")})[0].shape  # doctest: +SKIP
(2, 4)
"""

import logging

from vae_zoo.export import portable
from vae_zoo.utils.checks import is_integer

FORMAT = "onnx"
#: tf2onnx's opset unless `opset_version` is given (ONNX Runtime 1.32 runs opsets up to 23).
DEFAULT_OPSET = 17
MIN_OPSET = 13
SUFFIX = ".onnx"
#: Operator domains of the files that plain ONNX Runtime runs.
_RUNTIME_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")


def _nodes(graph):
    """Every node of `graph` and of its subgraphs (the bodies of If and Loop)."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.g.node:
                yield from _nodes(attribute.g)
            for subgraph in attribute.graphs:
                yield from _nodes(subgraph)


def unsupported_ops(model_proto):
    """Sorted op types of `model_proto` that ONNX does not define (TensorFlow ops tf2onnx passed through)."""
    import onnx

    missing = set()
    for node in _nodes(model_proto.graph):
        domain = node.domain or ""
        if domain not in _RUNTIME_DOMAINS:
            missing.add(f"{domain}.{node.op_type}")
        elif domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, domain):
            missing.add(node.op_type)
    return sorted(missing)


def _check_opset(opset_version):
    if opset_version is None:
        return DEFAULT_OPSET
    if not is_integer(opset_version, MIN_OPSET):
        raise ValueError(
            f"Received an invalid value for `opset_version`, expected an integer >= {MIN_OPSET}. "
            f"Received: opset_version={opset_version!r}"
        )
    return opset_version


def convert(model, names=None, opset_version=None, verbose=False):
    """`{name: onnx.ModelProto}` of the signatures `names` (default `encode`, `decode`, `reconstruct`).

    Raises `ValueError` naming each signature that does not convert and its ops,
    and `ImportError` naming `pip install vae-zoo[onnx]` without tf2onnx.
    """
    opset = _check_opset(opset_version)
    signatures = portable.select(model, names, FORMAT)
    tf2onnx = portable.require("tf2onnx", FORMAT)
    portable.require("onnx", FORMAT)
    if not model.built:
        model.build((None, *model.data_shape))
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.CRITICAL)  # tf2onnx logs each unsupported op itself; the error names them
    protos, failures = {}, {}
    try:
        for name, (function, specs) in signatures.items():
            try:
                proto, _ = tf2onnx.convert.from_function(
                    portable.traced(function, specs), input_signature=specs, opset=opset
                )
            except Exception as error:  # tf2onnx raises plain exceptions (ValueError, KeyError, ...)
                failures[name] = f"tf2onnx failed: {type(error).__name__}: {str(error).splitlines()[0][:300]}"
                continue
            ops = unsupported_ops(proto)
            if ops:
                failures[name] = (
                    f"needs TensorFlow ops that ONNX opset {opset} does not have ({', '.join(ops)})"
                )
            else:
                protos[name] = proto
    finally:
        logger.setLevel(level)
    if failures:
        raise portable.unconvertible(model, FORMAT, failures)
    return protos


def export_onnx(model, filepath, signatures=None, opset_version=None, verbose=None):
    """Writes `model`'s deterministic signatures as `<filepath>/<signature>.onnx` plus a manifest; returns
    `filepath`.

    Args:
        model: a `vae_zoo.models.VAE` with float or token-id inputs.
        filepath: the directory to write (created; an existing non-empty one is never overwritten).
        signatures: a subset of `("encode", "decode", "reconstruct")` (default: all three).
        opset_version: the ONNX opset (default 17, at least 13).
        verbose: print what was written, and let tf2onnx log.
    """
    path = portable.check_directory(filepath)
    protos = convert(model, signatures, opset_version, verbose=bool(verbose))
    specs = {name: spec for name, (_, spec) in model.serving_signatures().items() if name in protos}

    def writer(proto):
        def write(target):
            with open(target, "wb") as f:
                f.write(proto.SerializeToString())

        return write

    files = {f"{name}{SUFFIX}": writer(proto) for name, proto in protos.items()}
    record = portable.manifest(
        model,
        FORMAT,
        {
            name: (specs[name], [output.name for output in proto.graph.output])
            for name, proto in protos.items()
        },
        {name: [f"{name}{SUFFIX}"] for name in protos},
        opset=_check_opset(opset_version),
    )
    portable.write_directory(path, files, record)
    if verbose:
        print(f"Saved ONNX graphs {sorted(protos)} (opset {record['opset']}) at '{path}'.")
    return path
