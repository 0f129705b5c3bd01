"""Shared helpers of the serving client tests (``from serving_testing import ...``).

* hand-made arrays (``_x``, ``_z``, ``LATENT``, ``IMAGE``) and the stubbed
  ``urllib.request.urlopen`` (``_Response``, the ``transport`` fixture);
* two real exports, made once per test process: a tiny image model
  (``DenseVAE``) and a tiny sentence model (``SequenceVAE`` with a
  vocabulary), with the metadata TF Serving would answer for them (REST JSON
  and a gRPC ``GetModelMetadataResponse``, both built from the SavedModel's
  own ``SignatureDefMap``);
* stand-ins for TF Serving on top of such an export (:func:`rest_server`,
  :class:`GrpcChannel`): they decode request bodies / ``PredictRequest``s
  into tensors as the model server does, run the loaded signature and answer
  in TF Serving's formats.

TensorFlow and vae_zoo are imported only inside the export helpers.
"""

from __future__ import annotations

import atexit
import base64
import functools
import io
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from serving import client as sc  # noqa: E402

LATENT = 4
IMAGE = (28, 28, 1)

#: The tiny exports: image data [B, 4, 4, 1] and latent 3; sentences and latent 2.
SMALL_IMAGE, SMALL_LATENT, SENTENCE_LATENT = (4, 4, 1), 3, 2
CORPUS = ["a small dog", "a cat sat", "the dog ran", "a dog sat"]
KINDS = ("image", "sentence")
#: Every signature of an export, `serving_default` included.
SIGNATURES = (
    "encode",
    "decode",
    "reconstruct",
    "serving_default",
    "encode_sample",
    "decode_sample",
    "sample",
    "log_likelihood",
)
LOG_LIKELIHOOD_SAMPLES = 4


def _x(n=2, seed=0, shape=IMAGE):
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype(np.float32)


def _z(n=3, seed=1, latent=LATENT):
    return np.random.default_rng(seed).standard_normal((n, latent)).astype(np.float32)


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def transport(monkeypatch):
    """``(calls, replies)``: every request is recorded in ``calls``; ``replies`` are popped in order.

    A reply is a JSON value, an exception to raise, or a callable ``(call) ->
    reply`` (e.g. :func:`rest_server`), which is kept and answers every
    later request.
    """
    calls = []
    replies = []

    def urlopen(request, timeout=None):
        body = json.loads(request.data) if request.data else None
        call = {"url": request.full_url, "method": request.get_method(), "body": body, "timeout": timeout}
        calls.append(call)
        reply = replies[0] if callable(replies[0]) else replies.pop(0)
        if callable(reply):
            reply = reply(call)
        if isinstance(reply, Exception):
            raise reply
        return _Response(json.dumps(reply).encode())

    monkeypatch.setattr(sc.urllib.request, "urlopen", urlopen)
    return calls, replies


# ---------------------------------------------------------------------------
# Real exports
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def exported(kind):
    """``(model, saved_model_dir)`` of the tiny image or sentence model, exported once per process."""
    import vae_zoo
    from vae_zoo.export import export_saved_model
    from vae_zoo.text import TextCodec

    if kind == "image":
        model = vae_zoo.models.DenseVAE(SMALL_IMAGE, latent_dim=SMALL_LATENT, hidden_units=(8,), seed=0)
    elif kind == "sentence":
        codec = TextCodec.from_corpus(CORPUS, max_length=6)
        model = vae_zoo.models.SequenceVAE(
            vocabulary=codec.vocabulary,
            max_length=6,
            embedding_dim=4,
            hidden_units=8,
            latent_dim=SENTENCE_LATENT,
            seed=0,
        )
    else:
        raise ValueError(kind)
    base = tempfile.mkdtemp(prefix=f"serving-{kind}-")
    atexit.register(shutil.rmtree, base, True)
    path = export_saved_model(model, base, warmup=False, log_likelihood_samples=LOG_LIKELIHOOD_SAMPLES)
    return model, path


@functools.lru_cache(maxsize=None)
def loaded(kind):
    import tensorflow as tf

    return tf.saved_model.load(exported(kind)[1])


def signature_def_map(kind):
    """The export's ``SignatureDefMap`` (what ``GetModelMetadata`` packs), read from its saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(exported(kind)[1], "saved_model.pb"), "rb") as fh:
        saved.ParseFromString(fh.read())
    (graph,) = saved.meta_graphs
    result = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in graph.signature_def.items():
        result.signature_def[name].CopyFrom(signature)
    return result


def grpc_metadata_response(kind, model_name="vae", version=1):
    from tensorflow_serving.apis import get_model_metadata_pb2

    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = model_name
    response.model_spec.version.value = version
    response.metadata["signature_def"].Pack(signature_def_map(kind))
    return response


@functools.lru_cache(maxsize=None)
def _rest_metadata_text(kind):
    from google.protobuf import json_format

    signature_defs = json_format.MessageToDict(signature_def_map(kind), preserving_proto_field_name=True)
    return json.dumps(
        {
            "model_spec": {"name": "vae", "signature_name": "", "version": "1"},
            "metadata": {"signature_def": signature_defs},
        }
    )


def rest_metadata(kind):
    """The JSON of REST ``GET /v1/models/vae/metadata`` for the export (a fresh copy)."""
    return json.loads(_rest_metadata_text(kind))


def specs(kind):
    return sc.signature_specs(rest_metadata(kind))


def model_inputs(kind, signature, n=3, seed=0):
    """Valid inputs of ``signature`` for ``n`` rows, by name, from the metadata."""
    rng = np.random.default_rng(seed)
    values = {}
    for name, spec in specs(kind)[signature]["inputs"].items():
        if name in ("x", "sentences"):
            values[name] = (
                [CORPUS[i % len(CORPUS)] for i in range(n)]
                if spec.dtype == "DT_STRING"
                else _x(n, seed, SMALL_IMAGE)
            )
        elif name == "z":
            values[name] = rng.standard_normal((n, spec.shape[1])).astype(np.float32)
        elif name == "seed":
            values[name] = np.arange(11, 11 + n, dtype=np.int64)
        elif name == "temperature":
            values[name] = np.linspace(0.5, 1.0, n).astype(np.float32)
        else:
            raise AssertionError(f"no test value for input {name!r}")
    return values


def run_signature(kind, signature, inputs):
    """The loaded SavedModel's ``signature`` on numpy ``inputs`` -> ``{name: np.ndarray}`` (strings as str)."""
    import tensorflow as tf

    fn = loaded(kind).signatures[signature]
    out = fn(**{name: tf.constant(value) for name, value in inputs.items()})
    # Every row of these inputs is valid; the clients drop the per-row `error` output once it is all "".
    assert _as_text(out.pop("error").numpy()).tolist() == [""] * len(next(iter(inputs.values()))), signature
    return {name: _as_text(t.numpy()) for name, t in out.items()}


def _as_text(arr):
    if arr.dtype == object:
        return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v, otypes=[object])(arr)
    return arr


def assert_outputs_equal(got, expected, atol=1e-5):
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    for name in expected:
        assert got[name].shape == expected[name].shape, name
        if expected[name].dtype == object:
            assert got[name].tolist() == expected[name].tolist(), name
        else:
            assert got[name].dtype == expected[name].dtype, name
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=atol, err_msg=name)


# ---------------------------------------------------------------------------
# TF Serving stand-ins on a real export
# ---------------------------------------------------------------------------


def _leaves(value):
    if isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def json_tensor(value, spec):
    """A JSON input value as TF Serving's REST API reads it for ``spec``'s dtype (strict: no float for an int)."""
    dtype = sc.numpy_dtype(spec.dtype)
    for leaf in _leaves(value):
        if dtype == object:
            assert isinstance(leaf, str) or (isinstance(leaf, dict) and set(leaf) == {"b64"}), leaf
        elif dtype.kind in "iu":
            assert type(leaf) is int, f"{spec.dtype} value {leaf!r} is not a JSON integer"
        else:
            assert type(leaf) in (int, float), f"{spec.dtype} value {leaf!r} is not a JSON number"
    if dtype != object:
        return np.asarray(value, dtype=dtype)

    def decode(v):
        if isinstance(v, list):
            return [decode(e) for e in v]
        return base64.b64decode(v["b64"]) if isinstance(v, dict) else v.encode("utf-8")

    return np.asarray(decode(value), dtype=object)


def decode_rest_body(body, kind):
    """``(signature, {input: np.ndarray})`` from a REST ``:predict`` body, as the model server reads it."""
    signature = body.get("signature_name", "serving_default")
    known = specs(kind)[signature]["inputs"]
    assert ("inputs" in body) != ("instances" in body), sorted(body)
    if "inputs" in body:
        columns = body["inputs"]
        if not isinstance(columns, dict):
            (name,) = known
            columns = {name: columns}
    else:
        rows = body["instances"]
        if rows and not isinstance(rows[0], dict):
            (name,) = known
            rows = [{name: row} for row in rows]
        columns = {name: [row[name] for row in rows] for name in known}
    assert set(columns) == set(known), (sorted(columns), sorted(known))
    return signature, {name: json_tensor(value, known[name]) for name, value in columns.items()}


def _json_output(arr):
    if arr.dtype == object:
        return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v, otypes=[object])(
            arr
        ).tolist()
    return arr.tolist()


def rest_server(kind, status=None):
    """A ``transport`` reply that answers like TF Serving's REST API for the export ``kind``."""
    import tensorflow as tf

    def reply(call):
        url = call["url"]
        if call["method"] == "GET":
            if url.endswith("/metadata"):
                return rest_metadata(kind)
            return status or {
                "model_version_status": [
                    {
                        "version": "1",
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            }
        body = call["body"]
        signature, arrays = decode_rest_body(body, kind)
        try:
            out = loaded(kind).signatures[signature](**{n: tf.constant(a) for n, a in arrays.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as err:
            return {"error": str(err).splitlines()[0]}
        values = {name: _json_output(t.numpy()) for name, t in out.items()}
        if "instances" in body:
            rows = len(next(iter(values.values())))
            preds = (
                [next(iter(values.values()))[i] for i in range(rows)]
                if len(values) == 1
                else [{n: v[i] for n, v in values.items()} for i in range(rows)]
            )
            return {"predictions": preds}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}

    return reply


class RpcError(Exception):
    """What a failed call raises, like ``grpc.RpcError`` (subclassed at use: see :class:`GrpcChannel`)."""


class GrpcChannel:
    """A stand-in ``grpc.Channel`` for :class:`serving.client.GrpcClient`: calls go through the wire format to the export.

    ``calls`` records ``(method, request)``; ``Predict`` runs the loaded
    signature on ``tf.make_ndarray`` of each input; ``GetModelMetadata``
    answers :func:`grpc_metadata_response`.
    """

    def __init__(self, kind):
        import grpc

        self.kind = kind
        self.calls = []
        self._error = type(
            "FakeRpcError",
            (grpc.RpcError, RpcError),
            {"code": lambda s: s._code, "details": lambda s: s._details},
        )

    def unary_unary(self, path, request_serializer=None, response_deserializer=None, **_):
        method = path.rsplit("/", 1)[1]

        def call(request, timeout=None, **__):
            wire = request_serializer(request)
            return response_deserializer(self._handle(method, wire).SerializeToString())

        return call

    def close(self):
        pass

    def _handle(self, method, wire):
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

        if method == "GetModelMetadata":
            request = get_model_metadata_pb2.GetModelMetadataRequest.FromString(wire)
            self.calls.append((method, request))
            assert list(request.metadata_field) == ["signature_def"]
            return grpc_metadata_response(self.kind, request.model_spec.name)
        if method == "GetModelStatus":
            self.calls.append((method, get_model_status_pb2.GetModelStatusRequest.FromString(wire)))
            response = get_model_status_pb2.GetModelStatusResponse()
            response.model_version_status.add(
                version=1, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE
            )
            return response
        assert method == "Predict", method
        request = predict_pb2.PredictRequest.FromString(wire)
        self.calls.append((method, request))
        signature = request.model_spec.signature_name or "serving_default"
        fn = loaded(self.kind).signatures[signature]
        try:
            out = fn(**{name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()})
        except (tf.errors.InvalidArgumentError, TypeError) as err:
            error = self._error(str(err).splitlines()[0])
            error._code, error._details = grpc.StatusCode.INVALID_ARGUMENT, str(err).splitlines()[0]
            raise error from None
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for name, tensor in out.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(tensor.numpy()))
        return response
