"""Stand-ins for TF Serving on top of a real export (``from tf_serving_standins import ...``).

:func:`rest_server` (a reply for the ``transport`` fixture) and :class:`GrpcChannel` decode request
bodies / ``PredictRequest``s into tensors as the model server does, run the loaded signature of the
export (``serving_testing.exported``) and answer in TF Serving's formats.
"""

from __future__ import annotations

import base64

import numpy as np
from serving_testing import grpc_metadata_response, loaded, rest_metadata, sc, specs


def _leaves(value):
    if isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def json_tensor(value, spec):
    """A JSON input value as TF Serving's REST API reads it for ``spec``'s dtype (strict: no float for an
    int)."""
    dtype = sc.numpy_dtype(spec.dtype)
    for leaf in _leaves(value):
        if dtype.kind == "O":
            assert isinstance(leaf, str) or (isinstance(leaf, dict) and set(leaf) == {"b64"}), leaf
        elif dtype.kind in "iu":
            assert type(leaf) is int, f"{spec.dtype} value {leaf!r} is not a JSON integer"
        else:
            assert type(leaf) in (int, float), f"{spec.dtype} value {leaf!r} is not a JSON number"
    if dtype.kind != "O":
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
    """A stand-in ``grpc.Channel`` for :class:`serving.client.GrpcClient`: calls go through the wire
    format to the export.

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
