"""REST client for a vae-zoo model on TensorFlow Serving (standard library + numpy only).

This module never imports TensorFlow, ``grpc`` or ``tensorflow_serving``, not
even lazily: it sends requests with ``urllib`` to the URLs :func:`rest_url`
builds and answers a zero-row request locally (:func:`empty_outputs`); the
JSON bodies both ways are :mod:`.rest_json`'s (numpy only). What a signature
takes (names, dtypes, shapes) comes from the model's metadata,
``GET /v1/models/NAME[/versions/N]/metadata``, fetched once and cached.

Examples (offline; they build URLs)::

    >>> rest_url("http://localhost:8501")
    'http://localhost:8501/v1/models/vae:predict'
    >>> rest_url("localhost:8501", version=3, verb="metadata")
    'http://localhost:8501/v1/models/vae/versions/3/metadata'

Against a running server (``docker compose -f serving/docker-compose.yml up``)::

    >>> client = RestClient("http://localhost:8501")          # doctest: +SKIP
    >>> client.status()["model_version_status"][0]["state"]  # doctest: +SKIP
    'AVAILABLE'
    >>> client.sample(seed=1, num_rows=4)["x"].shape         # doctest: +SKIP
    (4, 28, 28, 1)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Mapping

import numpy as np

from .common import (
    _NUMPY_DTYPES as _NUMPY_NAMES,
    DEFAULT_MODEL_NAME,
    DEFAULT_REST_URL,
    TensorSpec,
    TFServingError,
    _SignatureMethods,
    batch_size,
    check_rows,
    numpy_dtype,
    prepare_inputs,
)
from .rest_json import parse_rest_response, request_body

__all__ = ["rest_url", "empty_outputs", "RestClient"]


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


def empty_outputs(outputs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray] | None:
    """The outputs of a zero-row request, from the output specs (dimension 0 -> 0), or None if a shape
    is unknown: :meth:`RestClient.predict` answers such a request without sending it."""
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
        body = request_body(arrays, signature, specs, self.format)
        return check_rows(
            signature, parse_rest_response(self._http(self.url("predict"), body), outputs=outputs)
        )
