"""gRPC client for a vae-zoo model on TensorFlow Serving.

TensorFlow, ``tensorflow_serving`` and ``grpc`` are imported lazily, inside
the functions and methods that need them, so importing this module (or
:mod:`serving.client`) stays cheap. Named ``grpc_client`` rather than
``grpc`` so that it cannot shadow the real ``grpc`` package, e.g. when the
package directory is run as a script (``python serving/client``), which puts
``serving/client/`` first on ``sys.path``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .common import (
    DEFAULT_GRPC_TARGET,
    DEFAULT_MODEL_NAME,
    TFServingError,
    _SignatureMethods,
    check_rows,
    prepare_inputs,
)

__all__ = ["grpc_predict_request", "parse_predict_response", "parse_metadata_response", "GrpcClient"]


def _tf():
    import tensorflow as tf

    return tf


def _tensor_proto(tf, arr: np.ndarray, dtype_name: str):
    from tensorflow.core.framework import types_pb2

    dtype = tf.dtypes.as_dtype(types_pb2.DataType.Value(dtype_name))
    return tf.make_tensor_proto(arr, dtype=dtype, shape=arr.shape)


def grpc_predict_request(
    inputs: Mapping[str, Any],
    signature_name: str,
    specs: Mapping[str, Any],
    model_name: str = DEFAULT_MODEL_NAME,
    version: int | None = None,
    *,
    label: str | None = None,
):
    """Build a ``tensorflow_serving.apis.predict_pb2.PredictRequest``.

    ``specs`` is :func:`signature_specs` of the model's metadata (what
    :meth:`GrpcClient.specs` returns). The inputs are checked against it by
    :func:`prepare_inputs` (``ValueError`` naming the input and the expected
    shape) and each becomes a ``TensorProto`` of the metadata's dtype
    (``tf.make_tensor_proto``; ``DT_STRING`` from an object array of ``str`` /
    ``bytes``). gRPC, unlike REST, does not convert dtypes server-side, so
    this matters.

    >>> from serving.client.common import TensorSpec
    >>> specs = {"decode": {"inputs": {"z": TensorSpec("DT_FLOAT", [-1, 3])}}}
    >>> req = grpc_predict_request({"z": np.zeros((2, 3))}, "decode", specs, version=1)  # doctest: +SKIP
    >>> req.model_spec.version.value, req.inputs["z"].dtype                              # doctest: +SKIP
    (1, 1)
    """
    tf = _tf()
    from tensorflow_serving.apis import predict_pb2

    if version is not None and label is not None:
        raise ValueError("pass either version or label, not both")
    arrays = prepare_inputs(inputs, signature_name, specs)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    if label is not None:
        request.model_spec.version_label = label
    known = specs[signature_name]["inputs"]
    for name, arr in arrays.items():
        request.inputs[name].CopyFrom(_tensor_proto(tf, arr, known[name].dtype))
    return request


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def parse_predict_response(response) -> dict[str, np.ndarray]:
    """``PredictResponse`` -> ``{output_name: np.ndarray}`` via ``tf.make_ndarray``.

    Numeric outputs keep the server's dtype; ``DT_STRING`` outputs become
    object arrays of ``str`` (UTF-8; ``bytes`` kept when not valid UTF-8), as
    over REST.
    """
    tf = _tf()
    out = {}
    for name, proto in response.outputs.items():
        arr = tf.make_ndarray(proto)
        if arr.dtype == object:
            arr = np.vectorize(_text, otypes=[object])(arr) if arr.size else arr.astype(object)
        out[name] = arr
    return out


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
        "metadata": {
            "signature_def": json_format.MessageToDict(signature_map, preserving_proto_field_name=True)
        },
    }


class GrpcClient(_SignatureMethods):
    """gRPC client (``PredictionService`` / ``ModelService``) for a vae-zoo model.

    Same methods as :class:`RestClient`: the metadata (``GetModelMetadata``)
    is fetched on first use and cached (:meth:`specs`), requests are checked
    against it and sent with its dtypes. Numeric results keep the dtypes the
    server returns; strings come back as ``str``. Use as a context manager
    to close the channel.

    >>> with GrpcClient("localhost:8500") as client:               # doctest: +SKIP
    ...     client.sample(seed=1, temperature=0.8, num_rows=4)["x"].shape
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
        self._specs: dict | None = None
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
            raise TFServingError(
                f"TF Serving gRPC error {name} from {self.target}: {details}", status=code
            ) from err

    def _model_spec(self, spec) -> None:
        spec.name = self.model_name
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.label is not None:
            spec.version_label = self.label

    def predict(
        self, signature: str, inputs: Mapping[str, Any] | None = None, /, **named: Any
    ) -> dict[str, np.ndarray]:
        """Run any signature: ``predict("sample", seed=[1, 2], temperature=[1.0, 1.0])``
        (checked against the metadata)."""
        request = grpc_predict_request(
            {**(inputs or {}), **named},
            signature,
            self.specs(),
            self.model_name,
            self.version,
            label=self.label,
        )
        return check_rows(
            signature, parse_predict_response(self._call(self.prediction_stub.Predict, request))
        )

    def _metadata_source(self) -> str:
        return self.target

    def status(self) -> dict:
        """``ModelService.GetModelStatus`` as a JSON-style dict."""
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._model_spec(request.model_spec)
        response = self._call(self.model_stub.GetModelStatus, request)
        return json_format.MessageToDict(response, preserving_proto_field_name=True)

    def metadata(self) -> dict:
        """``PredictionService.GetModelMetadata`` (signature_def) as a JSON-style dict (not cached)."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._model_spec(request.model_spec)
        request.metadata_field.append("signature_def")
        return parse_metadata_response(self._call(self.prediction_stub.GetModelMetadata, request))
