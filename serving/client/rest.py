"""REST client for a vae-zoo model on TensorFlow Serving (standard library + numpy only).

This module never imports TensorFlow, ``grpc`` or ``tensorflow_serving``, not
even lazily: it builds JSON bodies, sends them with ``urllib`` and parses the
answers with numpy. What a signature takes (names, dtypes, shapes) comes from
the model's metadata, ``GET /v1/models/NAME[/versions/N]/metadata``.

TF Serving accepts two JSON layouts for ``:predict``: columnar
(``{"inputs": {name: value}}``, the default) and row (``{"instances":
[{name: row}, ...]}``, every input sliced along dimension 0). Every input of
a vae-zoo signature is batch-major, so both work for every signature.

Examples (offline; they build URLs and parse responses)::

    >>> rest_url("http://localhost:8501")
    'http://localhost:8501/v1/models/vae:predict'
    >>> rest_url("localhost:8501", version=3, verb="metadata")
    'http://localhost:8501/v1/models/vae/versions/3/metadata'
    >>> out = parse_rest_response({"outputs": {"z": [[0.5, -1.0]]}})
    >>> out["z"].shape, out["z"].dtype
    ((1, 2), dtype('float32'))

Against a running server (``docker compose -f serving/docker-compose.yml up``)::

    >>> client = RestClient("http://localhost:8501")          # doctest: +SKIP
    >>> client.status()["model_version_status"][0]["state"]  # doctest: +SKIP
    'AVAILABLE'
    >>> client.sample(seed=1, num_rows=4)["x"].shape         # doctest: +SKIP
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
    _NUMPY_DTYPES as _NUMPY_NAMES,
    DEFAULT_MODEL_NAME,
    DEFAULT_REST_URL,
    TensorSpec,
    TFServingError,
    _SignatureMethods,
    check_rows,
    batch_size,
    numpy_dtype,
    prepare_inputs,
    signature_inputs,
)

__all__ = ["rest_url", "rest_request", "parse_rest_response", "empty_outputs", "RestClient"]


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


def _json_value(arr: np.ndarray) -> Any:
    """A numpy array as JSON: numbers via ``tolist``; strings as JSON strings, ``bytes`` as ``{"b64": ...}``."""
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

    ``specs`` is :func:`signature_specs` of the model's metadata (what
    :meth:`RestClient.specs` returns): the inputs are checked and converted
    by :func:`prepare_inputs` against it, so a wrong name, dtype or shape is
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
    return _body(prepare_inputs(inputs, signature_name, specs), signature_name, specs, format)


def _body(
    arrays: Mapping[str, np.ndarray], signature_name: str, specs: Mapping[str, Any], format: str
) -> dict:
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

    ``outputs`` (the signature's output specs from :func:`signature_specs`,
    as :class:`RestClient` passes them) names a single unnamed output and
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
    >>> parse_rest_response({"outputs": ["a dog", "a cat"]}, outputs={"sentences": TensorSpec("DT_STRING", [-1])})
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


def empty_outputs(outputs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray] | None:
    """The outputs of a zero-row request, from the output specs (dimension 0 -> 0), or None if a shape is unknown."""
    result = {}
    for name, spec in outputs.items():
        if (
            spec.shape is None
            or not spec.shape
            or any(d < 0 for d in spec.shape[1:])
            or spec.dtype not in _NUMPY_NAMES
        ):
            return None
        result[name] = np.zeros([0, *spec.shape[1:]], dtype=numpy_dtype(spec.dtype))
    return result


class RestClient(_SignatureMethods):
    """REST client for a vae-zoo model on TF Serving (stdlib ``urllib`` + numpy).

    The model's metadata (``GET .../metadata``) is fetched on first use and
    cached (:meth:`specs`; ``specs(refresh=True)`` fetches it again): every
    request is checked against it and every output gets its dtype from it
    (float32 tensors as float32, strings as object arrays of ``str``).
    Results are ``{output_name: np.ndarray}``; server errors raise
    :class:`TFServingError`, bad inputs ``ValueError`` before sending.
    ``format="row"`` sends ``"instances"`` instead of ``"inputs"``.

    >>> client = RestClient("http://localhost:8501")                 # doctest: +SKIP
    >>> client.sample(seed=1, temperature=0.8, num_rows=4)["x"].shape  # doctest: +SKIP
    (4, 28, 28, 1)
    >>> client.predict("sample", seed=[1, 2], temperature=[1.0, 1.0])["z"].shape  # doctest: +SKIP
    (2, 16)
    """

    def __init__(
        self,
        base_url: str = DEFAULT_REST_URL,
        model_name: str = DEFAULT_MODEL_NAME,
        timeout: float = 30.0,
        version: int | None = None,
        label: str | None = None,
        format: str = "columnar",
    ):
        if format not in ("columnar", "row"):
            raise ValueError(f"format must be 'columnar' or 'row', got {format!r}")
        self.base_url = base_url
        self.model_name = model_name
        self.timeout = timeout
        self.version = version
        self.label = label
        self.format = format
        self._specs: dict | None = None
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
        req = urllib.request.Request(
            url, data=data, headers=headers, method="POST" if data is not None else "GET"
        )
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
        """``GET /v1/models/NAME[/versions/N]/metadata``: the signature definitions (not cached)."""
        return self._http(self.url("metadata"))

    def _metadata_source(self) -> str:
        return self.url("metadata")

    def predict(
        self, signature: str, inputs: Mapping[str, Any] | None = None, /, **named: Any
    ) -> dict[str, np.ndarray]:
        """Run any signature: ``predict("sample", seed=[1, 2], temperature=[1.0, 1.0])``.

        Inputs go by name (keywords, or a mapping for names that are not
        identifiers) and are checked against the metadata first. A request
        with zero rows is answered locally with empty outputs.
        """
        specs = self.specs()
        arrays = prepare_inputs({**(inputs or {}), **named}, signature, specs)
        outputs = specs[signature]["outputs"]
        if batch_size(arrays, specs[signature]["inputs"]) == 0:
            empty = empty_outputs(outputs)
            if empty is not None:
                return empty
        body = _body(arrays, signature, specs, self.format)
        return check_rows(
            signature, parse_rest_response(self._http(self.url("predict"), body), outputs=outputs)
        )
