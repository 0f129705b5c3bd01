"""Request preparation shared by the REST and gRPC clients (numpy only).

Nothing here knows the VAE signatures in advance: a model's input names,
dtypes and shapes are read from its own metadata (:func:`signature_specs` of
REST ``GET .../metadata`` or gRPC ``GetModelMetadata``), and
:func:`prepare_inputs` checks and converts the inputs of a request against
them. :class:`_SignatureMethods` turns a client's ``predict`` into the VAE
methods (``encode``, ``sample``, ...). Imports only the standard library and
numpy, never TensorFlow, ``grpc`` or ``tensorflow_serving``.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_REST_URL",
    "DEFAULT_GRPC_TARGET",
    "TensorSpec",
    "TFServingError",
    "InvalidRowsError",
    "check_rows",
    "numpy_dtype",
    "signature_specs",
    "signature_inputs",
    "prepare_inputs",
    "batch_size",
]

DEFAULT_MODEL_NAME = "vae"
DEFAULT_REST_URL = "http://localhost:8501"
DEFAULT_GRPC_TARGET = "localhost:8500"

#: TensorFlow ``DataType`` names (as in the metadata) -> numpy dtypes; strings are object arrays.
_NUMPY_DTYPES = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_HALF": np.float16,
    "DT_INT8": np.int8,
    "DT_INT16": np.int16,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_UINT8": np.uint8,
    "DT_UINT16": np.uint16,
    "DT_UINT32": np.uint32,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_STRING": object,
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


class InvalidRowsError(TFServingError, ValueError):
    """Rows of a request that the model refused: every vae-zoo signature checks each row by itself
    and answers with an ``error`` output, ``""`` for a valid row, else the rule the row broke.

    ``rows`` maps each refused row's index to its rule; ``outputs`` is the whole answer (the valid
    rows' results are there, the refused rows' are NaN / 0 / ``""``).
    """

    def __init__(self, signature: str, rows: Mapping[int, str], outputs: Mapping[str, np.ndarray]):
        listed = "; ".join(f"row {i}: {rule}" for i, rule in sorted(rows.items())[:5])
        more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
        total = len(np.asarray(outputs.get(ERROR_OUTPUT, ())))
        super().__init__(f"{signature}: {len(rows)} of {total} rows refused: {listed}{more}")
        self.signature = signature
        self.rows = dict(rows)
        self.outputs = dict(outputs)


#: The per-row error output of the vae-zoo signatures.
ERROR_OUTPUT = "error"


def check_rows(signature: str, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``outputs`` of ``signature`` less the ``error`` output once it names no row, else
    :class:`InvalidRowsError` naming each refused row and its rule.

    >>> sorted(check_rows("encode", {"mean": np.zeros((1, 2)), "error": np.array([""], object)}))
    ['mean']
    """
    errors = outputs.get(ERROR_OUTPUT)
    if errors is None:
        return dict(outputs)
    text = [
        e.decode("utf-8", "replace") if isinstance(e, bytes) else str(e) for e in np.asarray(errors).ravel()
    ]
    rows = {i: rule for i, rule in enumerate(text) if rule}
    if rows:
        raise InvalidRowsError(signature, rows, outputs)
    return {name: value for name, value in outputs.items() if name != ERROR_OUTPUT}


class TensorSpec(NamedTuple):
    """One input or output of a signature, as the metadata gives it.

    ``dtype`` is the TensorFlow name (``"DT_FLOAT"``, ``"DT_INT64"``,
    ``"DT_STRING"``, ...); ``shape`` lists the dimensions with ``-1`` for an
    unknown one, or is ``None`` for an unknown rank.
    """

    dtype: str
    shape: list[int] | None


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype of a metadata dtype name (``object`` for ``DT_STRING``).

    >>> numpy_dtype("DT_INT64"), numpy_dtype("DT_STRING")
    (dtype('int64'), dtype('O'))
    """
    if dtype not in _NUMPY_DTYPES:
        raise ValueError(f"unsupported tensor dtype {dtype!r} (supported: {sorted(_NUMPY_DTYPES)})")
    return np.dtype(_NUMPY_DTYPES[dtype])


def _shape_text(shape: list[int] | None) -> str:
    return "(any)" if shape is None else str(list(shape))


def signature_specs(metadata: Mapping[str, Any]) -> dict[str, dict[str, dict[str, TensorSpec]]]:
    """Summarize a model-metadata answer as ``{signature: {"inputs"|"outputs": {name: TensorSpec}}}``.

    Accepts the JSON of REST ``GET .../metadata`` or :meth:`GrpcClient.metadata`
    (both nest as ``metadata.signature_def.signature_def``; dimension sizes
    may be strings, as protobuf's JSON writes int64). Unknown dimensions are
    ``-1``; an unknown rank gives ``shape=None``. Internal entries such as
    ``__saved_model_init_op`` are left out.

    >>> meta = {"metadata": {"signature_def": {"signature_def": {"decode": {
    ...     "inputs": {"z": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "16"}]}}},
    ...     "outputs": {"mean": {"dtype": "DT_FLOAT",
    ...                          "tensor_shape": {"dim": [{"size": "-1"}, {"size": "784"}]}}}}}}}}
    >>> signature_specs(meta)["decode"]["inputs"]
    {'z': TensorSpec(dtype='DT_FLOAT', shape=[-1, 16])}
    """
    try:
        defs = metadata["metadata"]["signature_def"]["signature_def"]
    except (KeyError, TypeError) as err:
        raise ValueError("not a TF Serving model metadata answer (no metadata.signature_def)") from err

    def spec(info: Mapping[str, Any]) -> TensorSpec:
        tshape = info.get("tensor_shape", {})
        shape = None if tshape.get("unknown_rank") else [int(d.get("size", 0)) for d in tshape.get("dim", [])]
        return TensorSpec(info.get("dtype", "DT_INVALID"), shape)

    return {
        sig: {
            kind: {name: spec(info) for name, info in d.get(kind, {}).items()}
            for kind in ("inputs", "outputs")
        }
        for sig, d in defs.items()
        if not sig.startswith("__")
    }


def signature_inputs(specs: Mapping[str, Any], signature_name: str) -> Mapping[str, TensorSpec]:
    """The input specs of ``signature_name`` in ``specs`` (a :func:`signature_specs` result)."""
    if signature_name not in specs:
        raise ValueError(f"the model has no signature {signature_name!r}; it has {sorted(specs)}")
    return specs[signature_name]["inputs"]


# -- Inputs ----------------------------------------------------------------


def _is_string_array(arr: np.ndarray) -> bool:
    return arr.dtype == object and all(isinstance(v, (str, bytes)) for v in arr.ravel())


def _convert(name: str, value: Any, spec: TensorSpec, where: str) -> np.ndarray:
    expected = f"{spec.dtype} with shape {_shape_text(spec.shape)}"
    dtype = numpy_dtype(spec.dtype)
    strings = dtype == np.dtype(object)
    try:
        src = np.asarray(value, dtype=object if strings or isinstance(value, (str, bytes)) else None)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"input {name!r} of {where} must be {expected}: {err}") from err
    if strings:
        if src.dtype.kind in "US":
            src = src.astype(object)
        if src.size and not _is_string_array(src):
            kinds = sorted({type(v).__name__ for v in src.ravel()})
            raise ValueError(f"input {name!r} of {where} must be {expected} (str or bytes), got {kinds}")
        return src
    if src.size and (src.dtype.kind not in "iufb" or (src.dtype.kind == "b") != (dtype.kind == "b")):
        raise ValueError(f"input {name!r} of {where} must be {expected}, got dtype {src.dtype}")
    if dtype.kind in "iu" and src.size:
        if src.dtype.kind == "f" and not np.all(np.isfinite(src) & (src == np.round(src))):
            raise ValueError(
                f"input {name!r} of {where} must hold integers ({spec.dtype}), "
                f"got {src.ravel()[:8].tolist()!r}"
            )
        info = np.iinfo(dtype)
        if src.min() < info.min or src.max() > info.max:
            raise ValueError(
                f"input {name!r} of {where} does not fit in {spec.dtype}: {src.ravel()[:8].tolist()!r}"
            )
    return src.astype(dtype)


def prepare_inputs(
    inputs: Mapping[str, Any],
    signature_name: str,
    specs: Mapping[str, Any],
) -> dict[str, np.ndarray]:
    """Check ``inputs`` against the model's metadata and convert them to numpy arrays.

    ``specs`` is :func:`signature_specs` of the model's metadata. Every input
    of the signature must be given (and nothing else); each gets the dtype
    the metadata names (``DT_STRING`` -> an object array of ``str`` /
    ``bytes``) and must have its rank and every known dimension. Inputs whose
    first dimension is unknown (the batch) must agree on it. Any mismatch
    raises ``ValueError`` naming the input and the metadata's dtype and shape.

    >>> specs = {"sample": {"inputs": {"seed": TensorSpec("DT_INT64", [-1]),
    ...                                "temperature": TensorSpec("DT_FLOAT", [-1])}, "outputs": {}}}
    >>> arrays = prepare_inputs({"seed": [1, 2], "temperature": [1, 0.5]}, "sample", specs)
    >>> {k: (v.dtype.name, v.shape) for k, v in arrays.items()}
    {'seed': ('int64', (2,)), 'temperature': ('float32', (2,))}
    >>> prepare_inputs({"seed": 1, "temperature": [1.0]}, "sample", specs)
    Traceback (most recent call last):
    ValueError: input 'seed' of signature 'sample' must have shape [-1] (DT_INT64), got shape []
    """
    if not isinstance(inputs, Mapping):
        raise ValueError("inputs must be a mapping of input name -> array")
    known = signature_inputs(specs, signature_name)
    where = f"signature {signature_name!r}"
    missing = sorted(set(known) - set(inputs))
    unknown = sorted(set(inputs) - set(known))
    if missing or unknown:
        raise ValueError(f"{where} takes inputs {sorted(known)}; missing {missing}, unexpected {unknown}")
    out = {}
    for name in inputs:  # in the caller's order (the metadata's map order varies)
        spec = known[name]
        arr = _convert(name, inputs[name], spec, where)
        if spec.shape is not None:
            if arr.ndim != len(spec.shape) or any(e >= 0 and e != d for e, d in zip(spec.shape, arr.shape)):
                raise ValueError(
                    f"input {name!r} of {where} must have shape {list(spec.shape)} ({spec.dtype}), "
                    f"got shape {list(arr.shape)}"
                )
        out[name] = arr
    batch_size(out, known, where)
    return out


def batch_size(
    arrays: Mapping[str, np.ndarray], known: Mapping[str, TensorSpec], where: str = "the request"
) -> int | None:
    """The common dimension 0 of the batched inputs (those whose first dimension is unknown in the metadata).

    ``None`` when no input is batched; ``ValueError`` naming the inputs when they disagree.
    """
    sizes = {
        n: a.shape[0]
        for n, a in arrays.items()
        if a.ndim and (known[n].shape is None or (known[n].shape and known[n].shape[0] < 0))
    }
    if len(set(sizes.values())) > 1:
        raise ValueError(f"the inputs of {where} disagree on dimension 0 (the batch): {sizes}")
    return next(iter(sizes.values()), None)


# -- Signature methods (shared by RestClient and GrpcClient) ----------------

#: Inputs of the vae-zoo signature contract that the convenience methods fill in per row.
_ROW_ARGUMENTS = ("seed", "temperature")


def _rows(name: str, value: Any, n: int | None) -> Any:
    """A scalar ``seed`` ``s`` as ``s, s + 1, ..., s + n - 1``, a scalar ``temperature`` repeated ``n`` times.

    Anything else is returned as given (``prepare_inputs`` checks it against
    the metadata); so is a scalar when ``n`` is unknown (a data input without
    rows, which ``prepare_inputs`` refuses with the expected shape).
    """
    arr = np.asarray(value)
    if arr.ndim or n is None:
        return value
    if name == "seed":
        if isinstance(value, bool) or arr.dtype.kind not in "iu":
            raise ValueError(
                "seed must be an integer (expanded to one seed per row) or one integer per row, "
                f"got {value!r}"
            )
        first = int(arr)
        if not -(2**63) <= first <= 2**63 - max(n, 1):
            raise ValueError(f"seed {first} and the following {n - 1} row seeds do not fit in int64")
        return first + np.arange(n, dtype=np.int64)
    return np.full(n, arr, dtype=arr.dtype if arr.dtype.kind == "f" else np.float32)


class _SignatureMethods:
    """The vae-zoo signatures as methods, on top of a client's ``predict(signature, inputs)`` and ``specs()``.

    The data input (``x`` for images, ``sentences`` for sentence models) is
    whichever input of the signature is not ``seed`` / ``temperature``, read
    from the metadata. A scalar ``seed`` ``s`` for ``n`` rows becomes the row
    seeds ``s, s + 1, ..., s + n - 1`` and a scalar ``temperature`` is
    repeated, as in the Python API (``model.sample(n, seed=s)`` equals
    ``client.sample(seed=s, num_rows=n)``); arrays give one value per row.
    A client sets ``self._specs = None`` and defines ``metadata()`` and
    ``_metadata_source()`` (where the metadata comes from, for errors).
    """

    def specs(self, refresh: bool = False) -> dict:
        """:func:`signature_specs` of the model's metadata, fetched once and cached."""
        if self._specs is None or refresh:
            try:
                self._specs = signature_specs(self.metadata())
            except ValueError as err:
                raise TFServingError(f"bad metadata from {self._metadata_source()}: {err}") from err
        return self._specs

    def _data_name(self, signature: str) -> str:
        names = [n for n in signature_inputs(self.specs(), signature) if n not in _ROW_ARGUMENTS]
        if len(names) != 1:
            raise ValueError(
                f"signature {signature!r} has data inputs {names}; call predict() with them by name"
            )
        return names[0]

    def _predict_rows(self, signature: str, data: Any, **row_arguments: Any) -> dict[str, np.ndarray]:
        """``predict`` with ``data`` as the signature's data input, scalar row arguments expanded to rows."""
        inputs = {self._data_name(signature): data}
        n = None if isinstance(data, (str, bytes)) or not np.ndim(data) else len(data)
        for name, value in row_arguments.items():
            if value is not None:
                inputs[name] = _rows(name, value, n)
        return self.predict(signature, inputs)

    def encode(self, x: Any) -> dict[str, np.ndarray]:
        """Posterior of each row: ``mean``, ``stddev`` (+ ``scale_tril`` for a full-covariance posterior)."""
        return self._predict_rows("encode", x)

    def decode(self, z: Any) -> dict[str, np.ndarray]:
        """``z`` [B, L] -> likelihood parameters and ``mean`` (sentence models: greedy ``sentences``)."""
        return self._predict_rows("decode", z)

    def reconstruct(self, x: Any) -> dict[str, np.ndarray]:
        """``reconstruct`` (= ``serving_default``): ``reconstruction`` (sentence models: ``sentences``)."""
        return self._predict_rows("reconstruct", x)

    def encode_sample(self, x: Any, seed: Any = 0) -> dict[str, np.ndarray]:
        """One draw ``z`` of q(z|x) per row, keyed by the row seeds."""
        return self._predict_rows("encode_sample", x, seed=seed)

    def decode_sample(self, z: Any, seed: Any = 0, temperature: Any = None) -> dict[str, np.ndarray]:
        """One draw of p(x|z) per row: ``x`` (sentence models: ``sentences`` sampled at ``temperature``).

        ``temperature`` goes only to a signature that takes it (sentence
        models, where it defaults to 1.0); giving one to a model whose
        ``decode_sample`` has no such input is a ``ValueError``.
        """
        if temperature is None and "temperature" in signature_inputs(self.specs(), "decode_sample"):
            temperature = 1.0
        return self._predict_rows("decode_sample", z, seed=seed, temperature=temperature)

    def sample(
        self, seed: Any = 0, temperature: Any = 1.0, num_rows: int | None = None
    ) -> dict[str, np.ndarray]:
        """One prior draw per row: ``x`` (likelihood mean) and ``z`` (sentence models: ``sentences``, ``z``).

        The number of rows is ``len(seed)`` / ``len(temperature)`` when they
        are arrays, else ``num_rows`` (default 1).
        """
        lengths = {len(v) for v in (np.asarray(seed), np.asarray(temperature)) if v.ndim == 1}
        if num_rows is not None:
            if isinstance(num_rows, bool) or int(num_rows) != num_rows or num_rows < 0:
                raise ValueError(f"num_rows must be a non-negative integer, got {num_rows!r}")
            if lengths - {int(num_rows)}:
                raise ValueError(f"num_rows={num_rows} but seed / temperature have {sorted(lengths)} rows")
            lengths = {int(num_rows)}
        if len(lengths) > 1:
            raise ValueError(f"seed and temperature disagree on the number of rows: {sorted(lengths)}")
        n = lengths.pop() if lengths else 1
        return self.predict(
            "sample", {"seed": _rows("seed", seed, n), "temperature": _rows("temperature", temperature, n)}
        )

    def log_likelihood(self, x: Any, seed: Any = 0) -> dict[str, np.ndarray]:
        """Importance-sampled ``log_likelihood`` [B] in nats (K samples per row, fixed at export)."""
        return self._predict_rows("log_likelihood", x, seed=seed)
