"""The JSON of TF Serving's REST ``:predict``: request bodies built, answers parsed (stdlib + numpy).

Requests: :func:`rest_request` checks the inputs against the model's
signature specs (:func:`~.common.prepare_inputs`) and writes them in either
layout TF Serving accepts, columnar (``{"inputs": {name: value}}``, the
default) or row (``{"instances": [{name: row}, ...]}``, every input sliced
along dimension 0). Every input of a vae-zoo signature is batch-major, so
both work for every signature. Integers stay JSON integers, strings JSON
strings, ``bytes`` go as ``{"b64": ...}``.

Answers: :func:`parse_rest_response` reads the columnar (``"outputs"``) and
row (``"predictions"``) answers into ``{name: ndarray}`` with the dtypes of
the signature's output specs, and raises :class:`~.common.TFServingError`
for an ``{"error": ...}`` body.

Like the rest of the REST client it never imports TensorFlow, ``grpc`` or
``tensorflow_serving``, not even lazily.

    >>> out = parse_rest_response({"outputs": {"z": [[0.5, -1.0]]}})
    >>> out["z"].shape, out["z"].dtype
    ((1, 2), dtype('float32'))
"""

from __future__ import annotations

import base64
import json
from typing import Any, Mapping

import numpy as np

from .common import (
    _NUMPY_DTYPES as _NUMPY_NAMES,
    TFServingError,
    batch_size,
    numpy_dtype,
    prepare_inputs,
    signature_inputs,
)

__all__ = ["rest_request", "request_body", "parse_rest_response"]


def _json_value(arr: np.ndarray) -> Any:
    """A numpy array as JSON: numbers via ``tolist``; strings as JSON strings, ``bytes`` as
    ``{"b64": ...}``."""
    if arr.dtype != object:
        return arr.tolist()

    def encode(value: Any) -> Any:
        if isinstance(value, list):
            return [encode(v) for v in value]
        if isinstance(value, bytes):
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value

    return encode(arr.tolist())


def rest_request(
    inputs: Mapping[str, Any],
    signature_name: str,
    specs: Mapping[str, Any],
    format: str = "columnar",
) -> dict:
    """Build the JSON body (a dict) of a REST ``:predict`` request.

    ``specs`` is :func:`~.common.signature_specs` of the model's metadata (what
    :meth:`~.rest.RestClient.specs` returns): the inputs are checked and converted
    by :func:`~.common.prepare_inputs` against it, so a wrong name, dtype or shape is
    a ``ValueError`` before anything is sent. Integers stay JSON integers,
    ``DT_STRING`` values are JSON strings (``bytes`` go as ``{"b64": ...}``,
    TF Serving's binary form).

    ``format="columnar"`` gives ``{"signature_name": ..., "inputs": {name:
    value}}``. ``format="row"`` gives ``{"signature_name": ..., "instances":
    [{name: row_value, ...}, ...]}``, one object per row of dimension 0; every
    input must then be batched (dimension 0 unknown in the metadata), as all
    inputs of the vae-zoo signatures are.

    >>> from serving.client.common import TensorSpec as T
    >>> specs = {"sample": {"inputs": {"seed": T("DT_INT64", [-1]), "temperature": T("DT_FLOAT", [-1])}}}
    >>> rest_request({"seed": [1, 2], "temperature": [1, 0.5]}, "sample", specs)
    {'signature_name': 'sample', 'inputs': {'seed': [1, 2], 'temperature': [1.0, 0.5]}}
    >>> rest_request({"seed": [1, 2], "temperature": [1, 0.5]}, "sample", specs, format="row")["instances"]
    [{'seed': 1, 'temperature': 1.0}, {'seed': 2, 'temperature': 0.5}]
    """
    if format not in ("columnar", "row"):
        raise ValueError(f"format must be 'columnar' or 'row', got {format!r}")
    return request_body(prepare_inputs(inputs, signature_name, specs), signature_name, specs, format)


def request_body(
    arrays: Mapping[str, np.ndarray], signature_name: str, specs: Mapping[str, Any], format: str
) -> dict:
    """The JSON body (a dict) of inputs :func:`~.common.prepare_inputs` has already checked and converted.

    What :func:`rest_request` sends after its checks, and :class:`~.rest.RestClient` after its own.
    """
    if format == "columnar":
        return {"signature_name": signature_name, "inputs": {n: _json_value(a) for n, a in arrays.items()}}
    known = signature_inputs(specs, signature_name)
    not_batched = sorted(
        n for n, a in arrays.items() if not a.ndim or not known[n].shape or known[n].shape[0] >= 0
    )
    if not_batched:
        raise ValueError(
            f"row format ('instances') cannot express signature {signature_name!r}: input(s) {not_batched} "
            f"have no batch dimension in the metadata, and the row format slices every input along "
            f"dimension 0. Use format='columnar' ('inputs')."
        )
    n_rows = batch_size(arrays, known, f"signature {signature_name!r}") or 0
    lists = {n: _json_value(a) for n, a in arrays.items()}
    return {
        "signature_name": signature_name,
        "instances": [{n: lists[n][i] for n in lists} for i in range(n_rows)],
    }


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _decode_b64(value: Any) -> Any:
    if _is_b64(value):
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def _contains_strings(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, (str, bytes))


def _to_array(value: Any, dtype: Any) -> np.ndarray:
    value = _decode_b64(value)
    if _contains_strings(value) or (dtype is not None and np.dtype(dtype) == object):
        return np.asarray(value, dtype=object)  # str / bytes stay Python objects
    arr = np.asarray(value)
    return arr if dtype is None else arr.astype(dtype)


def _resolve_dtype(dtype: Any, name: str) -> Any:
    if isinstance(dtype, Mapping):
        return dtype.get(name)
    return dtype


def parse_rest_response(
    body: Mapping[str, Any] | str | bytes,
    output_name: str | None = None,
    dtype: Any = "auto",
    outputs: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Turn a REST ``:predict`` response body into ``{output_name: ndarray}``.

    Handles TF Serving's three shapes of answer:

    * columnar ``{"outputs": {name: value, ...}}``, or ``{"outputs": value}``
      when the signature has a single output;
    * row ``{"predictions": [{name: row, ...}, ...]}``, or
      ``{"predictions": [row, ...]}`` for a single output, stacked back along
      dimension 0;
    * errors ``{"error": "..."}`` -> raises :class:`TFServingError`.

    ``outputs`` (the signature's output specs from :func:`~.common.signature_specs`,
    as :class:`~.rest.RestClient` passes them) names a single unnamed output and
    gives every output its metadata dtype (``DT_STRING`` -> an object array
    of ``str``). Without it, an unnamed output is called ``output_name`` or
    the JSON key, and ``dtype="auto"`` maps JSON floats to float32 and
    integers to int64; ``None`` keeps numpy's defaults; a dtype or a ``{name:
    dtype}`` mapping casts. ``{"b64": ...}`` values become ``bytes``.

    >>> parse_rest_response({"predictions": [{"z": [1.0, 2.0]}, {"z": [3.0, 4.0]}]})["z"]
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    >>> parse_rest_response({"outputs": [-1.5, -2.5]}, output_name="log_likelihood")
    {'log_likelihood': array([-1.5, -2.5], dtype=float32)}
    >>> from serving.client.common import TensorSpec as T
    >>> parse_rest_response({"outputs": ["a dog", "a cat"]}, outputs={"sentences": T("DT_STRING", [-1])})
    {'sentences': array(['a dog', 'a cat'], dtype=object)}
    """
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as err:
            raise TFServingError(f"response is not JSON: {body[:200]!r}") from err
    if not isinstance(body, Mapping):
        raise TFServingError(f"unexpected response of type {type(body).__name__}: {body!r:.200}")
    if "error" in body:
        raise TFServingError(f"TF Serving error: {body['error']}", body=dict(body))
    if outputs:
        if output_name is None and len(outputs) == 1:
            output_name = next(iter(outputs))
        if isinstance(dtype, str) and dtype == "auto":
            dtype = {n: numpy_dtype(spec.dtype) for n, spec in outputs.items() if spec.dtype in _NUMPY_NAMES}

    def cast(name: str, value: Any) -> np.ndarray:
        if isinstance(dtype, str) and dtype == "auto":
            arr = _to_array(value, None)
            return arr.astype(np.float32) if arr.dtype.kind == "f" else arr
        return _to_array(value, _resolve_dtype(dtype, name))

    if "outputs" in body:
        values = body["outputs"]
        if isinstance(values, Mapping) and not _is_b64(values):
            return {name: cast(name, value) for name, value in values.items()}
        name = output_name or "outputs"
        return {name: cast(name, values)}
    if "predictions" in body:
        preds = body["predictions"]
        if not isinstance(preds, list):
            raise TFServingError(f"'predictions' must be a list, got {type(preds).__name__}")
        if preds and all(isinstance(p, Mapping) and not _is_b64(p) for p in preds):
            names = list(preds[0])
            for p in preds:
                if set(p) != set(names):
                    raise TFServingError(f"rows have different outputs: {sorted(names)} vs {sorted(p)}")
            return {n: cast(n, [p[n] for p in preds]) for n in names}
        name = output_name or "predictions"
        return {name: cast(name, preds)}
    raise TFServingError(f"response has none of 'outputs', 'predictions', 'error': keys {sorted(body)}")
