"""REST client for a vae-zoo model on TensorFlow Serving (standard library + numpy only).

This module never imports TensorFlow, ``grpc`` or ``tensorflow_serving``, not
even lazily: it only builds JSON bodies, sends them with ``urllib`` and parses
the answers with numpy.

REST request formats
--------------------
TF Serving accepts two JSON layouts for ``:predict``:

* columnar (``"inputs"``): one entry per named input, each any shape. This is
  the only layout that can carry the scalar / ``[2]`` inputs
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
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable, Mapping

import numpy as np

from .common import (
    DEFAULT_MODEL_NAME,
    DEFAULT_REST_URL,
    SINGLE_OUTPUT_NAMES,
    TFServingError,
    _is_unbatched,
    _SignatureMethods,
    prepare_inputs,
)

__all__ = ["rest_url", "rest_request", "parse_rest_response", "RestClient"]


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

