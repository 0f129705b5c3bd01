"""Clients for a vae-zoo model served by TensorFlow Serving (REST and gRPC).

Every input of every signature is batch-major (``[B, ...]``, one seed and
one temperature per row); the client reads the names, dtypes and shapes from
the model's own metadata (fetched once per client and cached) and checks
each request against them before sending. Image models (``x`` float32) and
sentence models (``sentences`` strings) share the same signatures::

    encode          x | sentences                 -> mean, stddev (+ scale_tril)
    decode          z                             -> likelihood params + mean | sentences
    reconstruct     x | sentences                 -> reconstruction | sentences
      (= serving_default)
    encode_sample   x | sentences, seed           -> z
    decode_sample   z, seed (+ temperature)       -> x | sentences
    sample          seed, temperature             -> x | sentences, z
    log_likelihood  x | sentences, seed           -> log_likelihood

``client.predict(signature, **inputs)`` runs any signature as is. The
methods ``encode(x)``, ``decode(z)``, ``reconstruct(x)``,
``encode_sample(x, seed)``, ``decode_sample(z, seed[, temperature])``,
``sample(seed, temperature, num_rows)`` and ``log_likelihood(x, seed)``
expand a scalar seed ``s`` for ``n`` rows to ``s, s + 1, ..., s + n - 1``
and repeat a scalar temperature, as the Python API does
(``model.sample(n, seed=s, temperature=t)`` equals
``client.sample(seed=s, temperature=t, num_rows=n)``).

The package is split by transport; every name is re-exported here:

* :mod:`.common` -- :func:`signature_specs` (metadata -> specs),
  :func:`prepare_inputs` (checks and dtypes), :class:`TFServingError`,
  :class:`InvalidRowsError` (raised by every ``predict`` when the answer's
  per-row ``error`` output names a refused row: its ``rows`` give each row's
  rule, its ``outputs`` the whole answer) and the ``_SignatureMethods`` mixin
  (numpy only);
* :mod:`.rest_json` -- :func:`rest_request`, :func:`parse_rest_response`:
  the JSON bodies of REST ``:predict`` both ways (numpy only);
* :mod:`.rest` -- :func:`rest_url`, :func:`empty_outputs`, :class:`RestClient`
  (standard library + numpy; like :mod:`.rest_json`, never imports
  TensorFlow, ``grpc`` or ``tensorflow_serving``);
* :mod:`.grpc_client` -- :func:`grpc_predict_request`,
  :func:`parse_predict_response`, :func:`parse_metadata_response`,
  :class:`GrpcClient` (TensorFlow, ``tensorflow_serving`` and ``grpc`` are
  imported lazily);
* :mod:`.command` (run by ``__main__``) -- the command line.

Imports inside the package are relative, so it works from a checkout
(``serving.client``) and installed (``vae_zoo.serving.client``). Importing it
does not import TensorFlow, ``grpc`` or ``tensorflow_serving``, and nothing
here imports the rest of ``vae_zoo``.

Against a running server (``docker compose -f serving/docker-compose.yml up``)::

    >>> client = RestClient("http://localhost:8501")                  # doctest: +SKIP
    >>> client.sample(seed=1, temperature=0.8, num_rows=4)["x"].shape  # doctest: +SKIP
    (4, 28, 28, 1)
    >>> GrpcClient("localhost:8500").decode(np.zeros((2, 16)))["mean"].shape  # doctest: +SKIP
    (2, 28, 28, 1)

Command line (prints JSON summaries)::

    python -m serving.client --url http://localhost:8501 status
    python -m serving.client --url http://localhost:8501 sample --seed 1 --num-rows 4 --temperature 0.8
    python -m serving.client --grpc localhost:8500 decode --random 3
"""

from __future__ import annotations

# ``<package>.urllib`` stays reachable as in the single-module version
# (tests stub ``urllib.request.urlopen`` through it).
import urllib.error  # noqa: F401
import urllib.parse  # noqa: F401
import urllib.request  # noqa: F401

from .command import main
from .common import (
    DEFAULT_GRPC_TARGET,
    DEFAULT_MODEL_NAME,
    DEFAULT_REST_URL,
    InvalidRowsError,
    TensorSpec,
    TFServingError,
    batch_size,
    check_rows,
    numpy_dtype,
    prepare_inputs,
    signature_inputs,
    signature_specs,
)
from .grpc_client import GrpcClient, grpc_predict_request, parse_metadata_response, parse_predict_response
from .rest import RestClient, empty_outputs, rest_url
from .rest_json import parse_rest_response, rest_request

__all__ = [
    "DEFAULT_GRPC_TARGET",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_REST_URL",
    "TensorSpec",
    "TFServingError",
    "InvalidRowsError",
    "check_rows",
    "batch_size",
    "numpy_dtype",
    "prepare_inputs",
    "signature_inputs",
    "signature_specs",
    "rest_url",
    "rest_request",
    "parse_rest_response",
    "empty_outputs",
    "RestClient",
    "grpc_predict_request",
    "parse_predict_response",
    "parse_metadata_response",
    "GrpcClient",
    "main",
]
