"""Clients for a vae-zoo model served by TensorFlow Serving (REST and gRPC).

The exported SavedModel has these signatures (batch dimension first)::

    encode          x[N,...] f32, seed[2] i32            -> mean, stddev|scale_tril, z
    decode          z[N,L] f32                           -> likelihood params + mean
    sample          num_samples[] i32, seed[2] i32,
                    temperature[] f32                    -> x[num_samples,...], z
    reconstruct     x[N,...] f32, seed[2] i32            -> reconstruction
      (also serving_default)
    log_likelihood  x[N,...] f32, num_samples[] i32,
                    seed[2] i32                          -> log_likelihood[N]

REST needs only the standard library and numpy; TensorFlow,
``tensorflow_serving`` and ``grpc`` are imported lazily by the gRPC helpers
only. This module never imports ``vae_zoo``.

REST request formats
--------------------
TF Serving accepts two JSON layouts for ``:predict``:

* columnar (``"inputs"``): one entry per named input, each any shape. This is
  the only layout that can carry the scalar / ``[2]`` inputs above
  (``num_samples``, ``temperature``, ``seed``), so it is the default.
* row (``"instances"``): one entry per example, every input sliced along
  dimension 0. Only possible when *every* input is batched, i.e. for
  ``decode`` (or a custom signature with batched inputs only);
  :func:`rest_request` raises ``ValueError`` otherwise.

Examples (offline; they build request bodies and parse responses)::

    >>> rest_url("http://localhost:8501")
    'http://localhost:8501/v1/models/vae:predict'
    >>> rest_url("localhost:8501", version=3, verb="metadata")
    'http://localhost:8501/v1/models/vae/versions/3/metadata'
    >>> body = rest_request({"num_samples": 4, "seed": (1, 2), "temperature": 0.5}, "sample")
    >>> json.dumps(body)
    '{"signature_name": "sample", "inputs": {"num_samples": 4, "seed": [1, 2], "temperature": 0.5}}'
    >>> rest_request({"z": [[0.0, 1.0], [2.0, 3.0]]}, "decode", format="row")
    {'signature_name': 'decode', 'instances': [[0.0, 1.0], [2.0, 3.0]]}
    >>> out = parse_rest_response({"outputs": {"z": [[0.5, -1.0]]}})
    >>> out["z"].shape, out["z"].dtype
    ((1, 2), dtype('float32'))

Against a running server (``docker compose -f serving/docker-compose.yml up``)::

    >>> client = RestClient("http://localhost:8501")          # doctest: +SKIP
    >>> client.status()["model_version_status"][0]["state"]  # doctest: +SKIP
    'AVAILABLE'
    >>> client.sample(4, seed=(1, 2))["x"].shape              # doctest: +SKIP
    (4, 28, 28, 1)
    >>> GrpcClient("localhost:8500").decode(np.zeros((2, 16)))["mean"].shape  # doctest: +SKIP
    (2, 28, 28, 1)

Command line (prints JSON summaries)::

    python -m serving.client --url http://localhost:8501 status
    python -m serving.client --url http://localhost:8501 sample --num-samples 4 --seed 1 2
    python -m serving.client --grpc localhost:8500 decode --random 3 16
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = [
    "SIGNATURES",
    "INT32_INPUTS",
    "UNBATCHED_INPUTS",
    "TFServingError",
    "prepare_inputs",
    "signature_specs",
    "rest_url",
    "rest_request",
    "parse_rest_response",
    "RestClient",
    "grpc_predict_request",
    "parse_predict_response",
    "parse_metadata_response",
    "GrpcClient",
    "main",
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
# REST
# --------------------------------------------------------------------------


def rest_url(
    host: str,
    model_name: str = DEFAULT_MODEL_NAME,
    version: int | None = None,
    verb: str | None = "predict",
    label: str | None = None,
) -> str:
    """Build a TF Serving REST URL.

    ``verb`` is ``"predict"`` (also ``"classify"`` / ``"regress"``) for
    ``/v1/models/NAME[/versions/N]:VERB``, ``"metadata"`` for ``.../metadata``
    and ``None`` / ``""`` / ``"status"`` for the model status URL. ``label``
    selects ``/labels/LABEL`` instead of a version number. A scheme-less
    ``host`` gets ``http://``.

    >>> rest_url("http://localhost:8501/", version=2)
    'http://localhost:8501/v1/models/vae/versions/2:predict'
    >>> rest_url("http://h:8501", verb=None)
    'http://h:8501/v1/models/vae'
    """
    if not host:
        raise ValueError("host must be a non-empty URL such as http://localhost:8501")
    if "://" not in host:
        host = "http://" + host
    base = host.rstrip("/")
    if not model_name or "/" in model_name:
        raise ValueError(f"invalid model name {model_name!r}")
    if version is not None and label is not None:
        raise ValueError("pass either version or label, not both")
    path = f"/v1/models/{urllib.parse.quote(model_name)}"
    if version is not None:
        version = int(version)
        if version < 0:
            raise ValueError(f"version must be >= 0, got {version}")
        path += f"/versions/{version}"
    elif label is not None:
        path += f"/labels/{urllib.parse.quote(label)}"
    if verb in (None, "", "status"):
        return base + path
    if verb == "metadata":
        return base + path + "/metadata"
    if verb in ("predict", "classify", "regress"):
        return base + path + ":" + verb
    raise ValueError(f"unknown verb {verb!r}: use predict, classify, regress, metadata or status")


def rest_request(
    inputs: Mapping[str, Any],
    signature_name: str,
    format: str = "columnar",
    *,
    dtypes: Mapping[str, Any] | None = None,
    unbatched: Iterable[str] | None = None,
) -> dict:
    """Build the JSON body (a dict) of a REST ``:predict`` request.

    ``format="columnar"`` gives ``{"signature_name": ..., "inputs": {name:
    value}}``; values keep their shapes, int32 inputs stay JSON integers.

    ``format="row"`` gives ``{"signature_name": ..., "instances": [...]}``
    with one entry per row of dimension 0: a bare value per row for a
    single-input signature, else ``{name: row_value}`` objects. All inputs
    must be batched with the same dimension 0; a request with a scalar or
    unbatched input (``num_samples``, ``temperature``, ``seed`` or anything in
    ``unbatched``) raises ``ValueError`` because the row format cannot carry
    it -- use the columnar format.

    >>> rest_request({"x": [[0.0]], "seed": [0, 0]}, "encode")
    {'signature_name': 'encode', 'inputs': {'x': [[0.0]], 'seed': [0, 0]}}
    """
    arrays = prepare_inputs(inputs, signature_name, dtypes)
    if format == "columnar":
        return {
            "signature_name": signature_name,
            "inputs": {name: arr.tolist() for name, arr in arrays.items()},
        }
    if format != "row":
        raise ValueError(f"format must be 'columnar' or 'row', got {format!r}")
    not_batched = [n for n, a in arrays.items() if _is_unbatched(n, a, signature_name, unbatched)]
    if not_batched:
        raise ValueError(
            f"row format ('instances') cannot express signature {signature_name!r}: "
            f"input(s) {sorted(not_batched)} have no batch dimension (scalar or "
            f"fixed-shape), and the row format slices every input along dimension 0. "
            f"Use format='columnar' ('inputs'), which TF Serving accepts for any shapes."
        )
    sizes = {n: a.shape[0] for n, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"row format needs the same dimension 0 for every input, got {sizes}")
    if len(arrays) == 1:
        (arr,) = arrays.values()
        instances = arr.tolist()
    else:
        lists = {n: a.tolist() for n, a in arrays.items()}
        n_rows = next(iter(sizes.values()))
        instances = [{n: lists[n][i] for n in lists} for i in range(n_rows)]
    return {"signature_name": signature_name, "instances": instances}


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _decode_b64(value: Any) -> Any:
    if _is_b64(value):
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def _to_array(value: Any, dtype: Any) -> np.ndarray:
    value = _decode_b64(value)
    arr = np.asarray(value, dtype=object if _contains_bytes(value) else None)
    if dtype is not None and arr.dtype != object:
        arr = arr.astype(dtype)
    return arr


def _contains_bytes(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, bytes)


def _resolve_dtype(dtype: Any, name: str) -> Any:
    if isinstance(dtype, Mapping):
        return dtype.get(name)
    return dtype


def parse_rest_response(
    body: Mapping[str, Any] | str | bytes,
    output_name: str | None = None,
    dtype: Any = "auto",
) -> dict[str, np.ndarray]:
    """Turn a REST ``:predict`` response body into ``{output_name: ndarray}``.

    Handles TF Serving's three shapes of answer:

    * columnar ``{"outputs": {name: value, ...}}``, or ``{"outputs": value}``
      when the signature has a single output (the name is then
      ``output_name`` or ``"outputs"``);
    * row ``{"predictions": [{name: row, ...}, ...]}``, or
      ``{"predictions": [row, ...]}`` for a single output (named
      ``output_name`` or ``"predictions"``), stacked back along dimension 0;
    * errors ``{"error": "..."}`` -> raises :class:`TFServingError`.

    JSON does not carry dtypes. ``dtype="auto"`` (default) maps JSON floats to
    float32 (every floating output of the VAE is float32) and integers to
    int64; ``None`` keeps numpy's defaults; a dtype or a ``{name: dtype}``
    mapping casts explicitly. ``{"b64": ...}`` values become ``bytes``.

    >>> parse_rest_response({"predictions": [{"z": [1.0, 2.0]}, {"z": [3.0, 4.0]}]})["z"]
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    >>> parse_rest_response({"outputs": [-1.5, -2.5]}, output_name="log_likelihood")
    {'log_likelihood': array([-1.5, -2.5], dtype=float32)}
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

    def cast(name: str, value: Any) -> np.ndarray:
        if isinstance(dtype, str) and dtype == "auto":
            arr = _to_array(value, None)
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float32)
            return arr
        return _to_array(value, _resolve_dtype(dtype, name))

    if "outputs" in body:
        outputs = body["outputs"]
        if isinstance(outputs, Mapping) and not _is_b64(outputs):
            return {name: cast(name, value) for name, value in outputs.items()}
        name = output_name or "outputs"
        return {name: cast(name, outputs)}
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


class RestClient(_SignatureMethods):
    """Minimal REST client for a vae-zoo model on TF Serving (stdlib ``urllib``).

    Every prediction method returns ``{output_name: np.ndarray}``; float
    outputs come back as float32. Errors raise :class:`TFServingError`.

    >>> client = RestClient("http://localhost:8501")               # doctest: +SKIP
    >>> client.encode(np.zeros((2, 28, 28, 1)), seed=(1, 2))["z"].shape  # doctest: +SKIP
    (2, 16)
    >>> client.log_likelihood(x, num_samples=100)["log_likelihood"]      # doctest: +SKIP
    array([-95.1, -101.7], dtype=float32)
    """

    def __init__(
        self,
        base_url: str = DEFAULT_REST_URL,
        model_name: str = DEFAULT_MODEL_NAME,
        timeout: float = 30.0,
        version: int | None = None,
        label: str | None = None,
    ):
        self.base_url = base_url
        self.model_name = model_name
        self.timeout = timeout
        self.version = version
        self.label = label
        rest_url(base_url, model_name, version, None, label)  # validate early

    def __repr__(self) -> str:
        return f"RestClient({self.base_url!r}, model_name={self.model_name!r}, version={self.version!r})"

    def url(self, verb: str | None = "predict") -> str:
        return rest_url(self.base_url, self.model_name, self.version, verb, self.label)

    def _http(self, url: str, body: Mapping[str, Any] | None = None) -> dict:
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                payload = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                payload = None
            detail = payload.get("error") if isinstance(payload, dict) and "error" in payload else raw[:500]
            raise TFServingError(
                f"TF Serving error (HTTP {err.code}) from {url}: {detail}", status=err.code, body=payload
            ) from err
        except urllib.error.URLError as err:
            raise TFServingError(f"cannot reach TF Serving at {url}: {err.reason}") from err
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise TFServingError(f"non-JSON response from {url}: {raw[:200]!r}") from err
        if isinstance(payload, dict) and "error" in payload:
            raise TFServingError(f"TF Serving error from {url}: {payload['error']}", body=payload)
        return payload

    def status(self) -> dict:
        """``GET /v1/models/NAME[/versions/N]``: the model's version states."""
        return self._http(self.url(None))

    def metadata(self) -> dict:
        """``GET /v1/models/NAME[/versions/N]/metadata``: the signature definitions."""
        return self._http(self.url("metadata"))

    def predict(
        self,
        inputs: Mapping[str, Any],
        signature_name: str,
        format: str = "columnar",
        output_name: str | None = None,
    ) -> dict[str, np.ndarray]:
        """POST ``:predict`` for any signature and parse the answer."""
        body = rest_request(inputs, signature_name, format=format)
        payload = self._http(self.url("predict"), body)
        return parse_rest_response(payload, output_name=output_name or SINGLE_OUTPUT_NAMES.get(signature_name))


# --------------------------------------------------------------------------
# gRPC
# --------------------------------------------------------------------------


def _tf():
    import tensorflow as tf

    return tf


def grpc_predict_request(
    inputs: Mapping[str, Any],
    signature_name: str,
    model_name: str = DEFAULT_MODEL_NAME,
    version: int | None = None,
    *,
    label: str | None = None,
    dtypes: Mapping[str, Any] | None = None,
):
    """Build a ``tensorflow_serving.apis.predict_pb2.PredictRequest``.

    Each input becomes a ``TensorProto`` via ``tf.make_tensor_proto`` with an
    explicit dtype and shape (int32 ``num_samples`` / ``seed``, float32
    otherwise; scalars get shape ``[]``). gRPC, unlike REST, does not convert
    dtypes server-side, so getting them right here matters.

    >>> req = grpc_predict_request({"z": np.zeros((2, 3))}, "decode", version=1)  # doctest: +SKIP
    >>> req.model_spec.version.value, req.inputs["z"].dtype                       # doctest: +SKIP
    (1, 1)
    """
    tf = _tf()
    from tensorflow_serving.apis import predict_pb2

    if version is not None and label is not None:
        raise ValueError("pass either version or label, not both")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    if label is not None:
        request.model_spec.version_label = label
    for name, arr in prepare_inputs(inputs, signature_name, dtypes).items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(arr, dtype=tf.as_dtype(arr.dtype), shape=arr.shape))
    return request


def parse_predict_response(response) -> dict[str, np.ndarray]:
    """``PredictResponse`` -> ``{output_name: np.ndarray}`` via ``tf.make_ndarray``."""
    tf = _tf()
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def parse_metadata_response(response) -> dict:
    """``GetModelMetadataResponse`` -> the same JSON layout REST ``.../metadata`` returns.

    The ``signature_def`` entry is a ``google.protobuf.Any`` holding a
    ``tensorflow_serving.apis.get_model_metadata_pb2.SignatureDefMap``.
    """
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2

    signature_map = get_model_metadata_pb2.SignatureDefMap()
    if "signature_def" in response.metadata:
        if not response.metadata["signature_def"].Unpack(signature_map):
            raise TFServingError("metadata['signature_def'] is not a SignatureDefMap")
    return {
        "model_spec": json_format.MessageToDict(response.model_spec, preserving_proto_field_name=True),
        "metadata": {"signature_def": json_format.MessageToDict(signature_map, preserving_proto_field_name=True)},
    }


class GrpcClient(_SignatureMethods):
    """gRPC client (``PredictionService`` / ``ModelService``) for a vae-zoo model.

    Same prediction methods as :class:`RestClient`; results keep the exact
    dtypes the server returns. Use as a context manager to close the channel.

    >>> with GrpcClient("localhost:8500") as client:               # doctest: +SKIP
    ...     client.sample(4, seed=(1, 2), temperature=0.8)["x"].shape
    (4, 28, 28, 1)
    """

    def __init__(
        self,
        target: str = DEFAULT_GRPC_TARGET,
        model_name: str = DEFAULT_MODEL_NAME,
        timeout: float = 30.0,
        version: int | None = None,
        label: str | None = None,
        max_message_bytes: int = 64 * 1024 * 1024,
        channel=None,
    ):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._grpc = grpc
        self.target = target
        self.model_name = model_name
        self.timeout = timeout
        self.version = version
        self.label = label
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        self._owns_channel = channel is None
        self.channel = channel if channel is not None else grpc.insecure_channel(target, options=options)
        self.prediction_stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_stub = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def __repr__(self) -> str:
        return f"GrpcClient({self.target!r}, model_name={self.model_name!r}, version={self.version!r})"

    def close(self) -> None:
        if self._owns_channel:
            self.channel.close()

    def __enter__(self) -> "GrpcClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except self._grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            details = err.details() if hasattr(err, "details") else str(err)
            name = getattr(code, "name", code)
            raise TFServingError(f"TF Serving gRPC error {name} from {self.target}: {details}", status=code) from err

    def _model_spec(self, spec) -> None:
        spec.name = self.model_name
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.label is not None:
            spec.version_label = self.label

    def predict(self, inputs: Mapping[str, Any], signature_name: str) -> dict[str, np.ndarray]:
        request = grpc_predict_request(
            inputs, signature_name, self.model_name, self.version, label=self.label
        )
        return parse_predict_response(self._call(self.prediction_stub.Predict, request))

    def status(self) -> dict:
        """``ModelService.GetModelStatus`` as a JSON-style dict."""
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._model_spec(request.model_spec)
        response = self._call(self.model_stub.GetModelStatus, request)
        return json_format.MessageToDict(response, preserving_proto_field_name=True)

    def metadata(self) -> dict:
        """``PredictionService.GetModelMetadata`` (signature_def) as a JSON-style dict."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._model_spec(request.model_spec)
        request.metadata_field.append("signature_def")
        return parse_metadata_response(self._call(self.prediction_stub.GetModelMetadata, request))


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _summarize(arrays: Mapping[str, np.ndarray], full: bool) -> dict:
    out = {}
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        info: dict[str, Any] = {"shape": list(arr.shape), "dtype": arr.dtype.name}
        if arr.size and arr.dtype.kind in "fiub":
            info.update(min=float(arr.min()), max=float(arr.max()), mean=float(arr.mean()))
        if full or arr.size <= 16:
            info["values"] = arr.tolist() if arr.dtype != object else [repr(v) for v in arr.ravel()]
        out[name] = info
    return out


def _load_array(path: str | None, random_shape: list[int] | None, kind: str, seed: int) -> np.ndarray:
    if path:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                return np.asarray(json.load(fh), dtype=np.float32)
        return np.load(path).astype(np.float32)
    rng = np.random.default_rng(seed)
    if kind == "x":
        return rng.uniform(size=random_shape).astype(np.float32)
    return rng.standard_normal(size=random_shape).astype(np.float32)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.client",
        description="Query a vae-zoo model on TensorFlow Serving and print JSON summaries.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("TF_SERVING_URL", DEFAULT_REST_URL),
        help="REST base URL (default: $TF_SERVING_URL or %(default)s)",
    )
    parser.add_argument("--grpc", metavar="HOST:PORT", help="use gRPC at HOST:PORT instead of REST")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME, help="model name (default: %(default)s)")
    parser.add_argument("--version", type=int, help="model version (default: newest)")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--full", action="store_true", help="print all values, not just summaries")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="model version status")
    sub.add_parser("metadata", help="signature definitions")

    def add_x(p):
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--x", metavar="FILE", help="inputs as .npy or .json")
        g.add_argument("--random", nargs="+", type=int, metavar="DIM", help="uniform random x of this shape, e.g. 2 28 28 1")

    def add_seed(p):
        p.add_argument("--seed", nargs=2, type=int, default=[0, 0], metavar=("A", "B"))

    p = sub.add_parser("encode", help="posterior parameters and z")
    add_x(p), add_seed(p)
    p = sub.add_parser("reconstruct", help="reconstruction of x")
    add_x(p), add_seed(p)
    p = sub.add_parser("log-likelihood", help="importance-sampled log p(x)")
    add_x(p), add_seed(p)
    p.add_argument("--num-samples", type=int, default=100)
    p = sub.add_parser("decode", help="likelihood parameters for z")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--z", metavar="FILE", help="latents as .npy or .json")
    g.add_argument("--random", nargs=2, type=int, metavar=("N", "LATENT"), help="standard normal z of shape N x LATENT")
    p.add_argument("--format", choices=("columnar", "row"), default="columnar", help="REST body format")
    p = sub.add_parser("sample", help="draw samples")
    p.add_argument("--num-samples", type=int, default=4)
    add_seed(p)
    p.add_argument("--temperature", type=float, default=1.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.grpc:
        client: Any = GrpcClient(args.grpc, args.model, timeout=args.timeout, version=args.version)
    else:
        client = RestClient(args.url, args.model, timeout=args.timeout, version=args.version)
    try:
        cmd = args.command
        if cmd in ("status", "metadata"):
            result: Any = getattr(client, cmd)()
        elif cmd == "sample":
            result = _summarize(client.sample(args.num_samples, args.seed, args.temperature), args.full)
        elif cmd == "decode":
            z = _load_array(args.z, args.random, "z", 0)
            if args.grpc:
                outputs = client.decode(z)
            else:
                outputs = client.decode(z, format=args.format)
            result = _summarize(outputs, args.full)
        else:
            x = _load_array(args.x, args.random, "x", 0)
            if cmd == "encode":
                outputs = client.encode(x, args.seed)
            elif cmd == "reconstruct":
                outputs = client.reconstruct(x, args.seed)
            else:
                outputs = client.log_likelihood(x, args.num_samples, args.seed)
            result = _summarize(outputs, args.full)
    except (TFServingError, ValueError) as err:
        print(json.dumps({"error": str(err)}), file=sys.stderr)
        return 1
    finally:
        if isinstance(client, GrpcClient):
            client.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
