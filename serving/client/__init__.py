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

The package is split by transport; every name is re-exported here, so
``from serving.client import RestClient, GrpcClient`` works as before:

* :mod:`serving.client.common` -- signature tables, :func:`prepare_inputs`
  (dtypes and shapes), :func:`signature_specs`, :class:`TFServingError` and
  the ``_SignatureMethods`` mixin (numpy only);
* :mod:`serving.client.rest` -- :func:`rest_url`, :func:`rest_request`,
  :func:`parse_rest_response`, :class:`RestClient` (standard library + numpy;
  never imports TensorFlow, ``grpc`` or ``tensorflow_serving``);
* :mod:`serving.client.grpc_client` -- :func:`grpc_predict_request`,
  :func:`parse_predict_response`, :func:`parse_metadata_response`,
  :class:`GrpcClient` (TensorFlow, ``tensorflow_serving`` and ``grpc`` are
  imported lazily);
* :mod:`serving.client.command` (run by ``__main__``) -- the command line.

Importing the package does not import TensorFlow, ``grpc`` or
``tensorflow_serving``, and nothing here imports ``vae_zoo``.

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

# ``serving.client.urllib`` stays reachable as in the single-module version
# (tests stub ``urllib.request.urlopen`` through it).
import urllib.error  # noqa: F401
import urllib.parse  # noqa: F401
import urllib.request  # noqa: F401

from .command import _build_parser, _load_array, _summarize, main
from .common import (
    DEFAULT_GRPC_TARGET,
    DEFAULT_MODEL_NAME,
    DEFAULT_REST_URL,
    INT32_INPUTS,
    SIGNATURES,
    SINGLE_OUTPUT_NAMES,
    UNBATCHED_INPUTS,
    TFServingError,
    _check_int_cast,
    _dtype_for,
    _is_unbatched,
    _SignatureMethods,
    prepare_inputs,
    signature_specs,
)
from .grpc_client import (
    GrpcClient,
    _tf,
    grpc_predict_request,
    parse_metadata_response,
    parse_predict_response,
)
from .rest import (
    RestClient,
    _contains_bytes,
    _decode_b64,
    _is_b64,
    _resolve_dtype,
    _to_array,
    parse_rest_response,
    rest_request,
    rest_url,
)

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
