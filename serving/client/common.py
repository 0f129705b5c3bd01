"""Request preparation shared by the REST and gRPC clients (numpy only).

Signature tables, dtype handling (:func:`prepare_inputs`), the metadata
summary (:func:`signature_specs`), :class:`TFServingError` and the
``_SignatureMethods`` mixin that turns a client's ``predict`` into the five
VAE signatures. Imports only the standard library and numpy, never
TensorFlow, ``grpc`` or ``tensorflow_serving``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_REST_URL",
    "DEFAULT_GRPC_TARGET",
    "SIGNATURES",
    "INT32_INPUTS",
    "UNBATCHED_INPUTS",
    "SINGLE_OUTPUT_NAMES",
    "TFServingError",
    "prepare_inputs",
    "signature_specs",
]

DEFAULT_MODEL_NAME = "vae"
DEFAULT_REST_URL = "http://localhost:8501"
DEFAULT_GRPC_TARGET = "localhost:8500"

#: Inputs sent as int32 (everything else is float32 unless ``dtypes`` says otherwise).
INT32_INPUTS = frozenset({"num_samples", "seed"})
#: Inputs without a batch dimension (scalars and the ``[2]`` seed).
UNBATCHED_INPUTS = frozenset({"num_samples", "seed", "temperature"})

#: Inputs of the exported signatures: name -> (dtype, batched).
SIGNATURES: dict[str, dict[str, tuple[str, bool]]] = {
    "encode": {"x": ("float32", True), "seed": ("int32", False)},
    "decode": {"z": ("float32", True)},
    "sample": {
        "num_samples": ("int32", False),
        "seed": ("int32", False),
        "temperature": ("float32", False),
    },
    "reconstruct": {"x": ("float32", True), "seed": ("int32", False)},
    "serving_default": {"x": ("float32", True), "seed": ("int32", False)},
    "log_likelihood": {
        "x": ("float32", True),
        "num_samples": ("int32", False),
        "seed": ("int32", False),
    },
}

#: Name of the only output of single-output signatures. TF Serving drops the
#: name in that case (``{"outputs": [...]}`` / ``{"predictions": [...]}``).
SINGLE_OUTPUT_NAMES = {
    "reconstruct": "reconstruction",
    "serving_default": "reconstruction",
    "log_likelihood": "log_likelihood",
}


class TFServingError(RuntimeError):
    """An error reported by (or while reaching) TensorFlow Serving.

    ``status`` is the HTTP status (REST) or the ``grpc.StatusCode`` (gRPC)
    when known; ``body`` is the decoded error payload, if any.
    """

    def __init__(self, message: str, status: Any = None, body: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def _dtype_for(name: str, signature_name: str, dtypes: Mapping[str, Any] | None) -> np.dtype:
    if dtypes and name in dtypes:
        return np.dtype(dtypes[name])
    spec = SIGNATURES.get(signature_name, {})
    if name in spec:
        return np.dtype(spec[name][0])
    return np.dtype(np.int32 if name in INT32_INPUTS else np.float32)


def _check_int_cast(name: str, value: Any, dtype: np.dtype) -> None:
    src = np.asarray(value)
    if src.dtype.kind not in "iufb":
        raise ValueError(f"input {name!r} must be numeric, got dtype {src.dtype}")
    if not src.size:
        return
    if src.dtype.kind == "f" and not np.all(np.isfinite(src) & (src == np.round(src))):
        raise ValueError(f"input {name!r} must hold integers, got {src.tolist()!r}")
    info = np.iinfo(dtype)
    if src.min() < info.min or src.max() > info.max:
        raise ValueError(f"input {name!r} does not fit in {dtype.name}: {src.tolist()!r}")


def prepare_inputs(
    inputs: Mapping[str, Any],
    signature_name: str,
    dtypes: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Convert ``inputs`` to numpy arrays with the dtypes the signature expects.

    ``num_samples`` and ``seed`` become int32, everything else float32 (or the
    dtype given in ``dtypes``). For the known signatures, ``seed`` must have
    shape ``[2]`` and ``num_samples`` / ``temperature`` must be scalars.

    >>> arrays = prepare_inputs({"x": [[1, 2]], "seed": (3, 4)}, "encode")
    >>> {k: (v.dtype.name, v.shape) for k, v in arrays.items()}
    {'x': ('float32', (1, 2)), 'seed': ('int32', (2,))}
    """
    if not isinstance(inputs, Mapping) or not inputs:
        raise ValueError("inputs must be a non-empty mapping of input name -> array")
    known = SIGNATURES.get(signature_name)
    if known is not None:
        missing = sorted(set(known) - set(inputs))
        unknown = sorted(set(inputs) - set(known))
        if missing or unknown:
            raise ValueError(
                f"signature {signature_name!r} takes inputs {sorted(known)}; "
                f"missing {missing}, unexpected {unknown}"
            )
    out = {}
    for name, value in inputs.items():
        dtype = _dtype_for(name, signature_name, dtypes)
        if dtype.kind in "iu":
            _check_int_cast(name, value, dtype)
        arr = np.asarray(value, dtype=dtype)
        if known is not None:
            if name == "seed" and arr.shape != (2,):
                raise ValueError(f"'seed' must have shape [2], got {list(arr.shape)}")
            if name in ("num_samples", "temperature") and arr.ndim != 0:
                raise ValueError(f"{name!r} must be a scalar, got shape {list(arr.shape)}")
            if known[name][1] and arr.ndim == 0:
                raise ValueError(f"{name!r} needs a batch dimension, got a scalar")
        out[name] = arr
    return out


def _is_unbatched(name: str, arr: np.ndarray, signature_name: str, unbatched: Iterable[str] | None) -> bool:
    if arr.ndim == 0:
        return True
    if unbatched is not None:
        return name in set(unbatched)
    spec = SIGNATURES.get(signature_name)
    if spec is not None and name in spec:
        return not spec[name][1]
    return name in UNBATCHED_INPUTS


def signature_specs(metadata: Mapping[str, Any]) -> dict[str, dict[str, dict[str, tuple[str, list[int] | None]]]]:
    """Summarize a model-metadata answer as ``{signature: {"inputs"|"outputs": {name: (dtype, shape)}}}``.

    Accepts the JSON of REST ``GET .../metadata`` or :meth:`GrpcClient.metadata`
    (both nest as ``metadata.signature_def.signature_def``). Unknown
    dimensions are ``-1``; an unknown rank gives ``shape=None``.

    >>> meta = {"metadata": {"signature_def": {"signature_def": {"decode": {
    ...     "inputs": {"z": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "16"}]}}},
    ...     "outputs": {"mean": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "784"}]}}}}}}}}
    >>> signature_specs(meta)["decode"]["inputs"]
    {'z': ('DT_FLOAT', [-1, 16])}
    """
    try:
        defs = metadata["metadata"]["signature_def"]["signature_def"]
    except (KeyError, TypeError) as err:
        raise ValueError("not a TF Serving model metadata answer (no metadata.signature_def)") from err

    def shape(info: Mapping[str, Any]) -> list[int] | None:
        tshape = info.get("tensor_shape", {})
        if tshape.get("unknown_rank"):
            return None
        return [int(d.get("size", 0)) for d in tshape.get("dim", [])]

    return {
        sig: {
            kind: {name: (info.get("dtype", "DT_INVALID"), shape(info)) for name, info in d.get(kind, {}).items()}
            for kind in ("inputs", "outputs")
        }
        for sig, d in defs.items()
    }



# --------------------------------------------------------------------------
# Signature methods (shared by RestClient and GrpcClient)
# --------------------------------------------------------------------------


class _SignatureMethods:
    """The five VAE signatures as methods, on top of a client's ``predict(inputs, signature_name, **options)``."""

    def encode(self, x: Any, seed: Iterable[int] = (0, 0)) -> dict[str, np.ndarray]:
        """Posterior of ``x``: ``mean``, ``stddev`` (or ``scale_tril``) and ``z`` (the mean for seed (0, 0))."""
        return self.predict({"x": x, "seed": tuple(seed)}, "encode")

    def decode(self, z: Any, **options: Any) -> dict[str, np.ndarray]:
        """Likelihood parameters and ``mean`` for latents ``z`` (REST: ``format="row"`` allowed)."""
        return self.predict({"z": z}, "decode", **options)

    def sample(
        self, num_samples: int, seed: Iterable[int] = (0, 0), temperature: float = 1.0
    ) -> dict[str, np.ndarray]:
        """``num_samples`` draws from the model: ``x`` and the latents ``z``."""
        inputs = {"num_samples": int(num_samples), "seed": tuple(seed), "temperature": float(temperature)}
        return self.predict(inputs, "sample")

    def reconstruct(self, x: Any, seed: Iterable[int] = (0, 0)) -> dict[str, np.ndarray]:
        """``{"reconstruction": ...}`` for ``x`` (same as ``serving_default``)."""
        return self.predict({"x": x, "seed": tuple(seed)}, "reconstruct")

    def log_likelihood(
        self, x: Any, num_samples: int = 100, seed: Iterable[int] = (0, 0)
    ) -> dict[str, np.ndarray]:
        """Importance-sampled ``{"log_likelihood": [N]}`` of ``x`` with ``num_samples`` samples."""
        inputs = {"x": x, "num_samples": int(num_samples), "seed": tuple(seed)}
        return self.predict(inputs, "log_likelihood")

