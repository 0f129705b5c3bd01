"""Tests for serving/client/grpc_client.py: PredictRequest / response protos and GrpcClient.

Offline (no server): requests are built and round-tripped through the wire
format, and hand-built responses are parsed, with the
``tensorflow-serving-api`` protos.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from serving import client as sc  # noqa: E402

LATENT = 4
IMAGE = (28, 28, 1)


@pytest.fixture(scope="module")
def tf():
    import tensorflow as tf

    return tf


def _x(n=2, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *IMAGE)).astype(np.float32)


def _z(n=3, seed=1):
    return np.random.default_rng(seed).standard_normal((n, LATENT)).astype(np.float32)



# ---------------------------------------------------------------------------
# gRPC protos
# ---------------------------------------------------------------------------


GRPC_CASES = {
    "encode": {"x": _x(2), "seed": np.array([3, 4], np.int32)},
    "decode": {"z": _z(3)},
    "sample": {"num_samples": np.int32(5), "seed": np.array([1, 2], np.int32), "temperature": np.float32(0.7)},
    "reconstruct": {"x": _x(1), "seed": np.array([0, 0], np.int32)},
    "serving_default": {"x": _x(1), "seed": np.array([9, 9], np.int32)},
    "log_likelihood": {"x": _x(2), "num_samples": np.int32(64), "seed": np.array([5, 6], np.int32)},
}


class TestGrpcProtos:
    @pytest.mark.parametrize("signature", sorted(GRPC_CASES))
    def test_predict_request_round_trip(self, tf, signature):
        from tensorflow_serving.apis import predict_pb2

        inputs = GRPC_CASES[signature]
        request = sc.grpc_predict_request(inputs, signature)
        assert isinstance(request, predict_pb2.PredictRequest)
        parsed = predict_pb2.PredictRequest()
        parsed.ParseFromString(request.SerializeToString())
        assert parsed == request
        assert parsed.model_spec.name == "vae"
        assert parsed.model_spec.signature_name == signature
        assert not parsed.model_spec.HasField("version")
        assert set(parsed.inputs) == set(inputs)
        for name, expected in inputs.items():
            got = tf.make_ndarray(parsed.inputs[name])
            assert got.dtype == expected.dtype, name
            assert got.shape == expected.shape, name
            np.testing.assert_array_equal(got, expected)
        expected_dtypes = {n: tf.as_dtype(v.dtype).as_datatype_enum for n, v in inputs.items()}
        assert {n: t.dtype for n, t in parsed.inputs.items()} == expected_dtypes

    def test_python_values_get_signature_dtypes(self, tf):
        from tensorflow.core.framework import types_pb2

        request = sc.grpc_predict_request({"num_samples": 3, "seed": [1, 2], "temperature": 1}, "sample")
        assert request.inputs["num_samples"].dtype == types_pb2.DT_INT32
        assert request.inputs["seed"].dtype == types_pb2.DT_INT32
        assert request.inputs["temperature"].dtype == types_pb2.DT_FLOAT
        assert [d.size for d in request.inputs["num_samples"].tensor_shape.dim] == []
        assert [d.size for d in request.inputs["seed"].tensor_shape.dim] == [2]

    def test_version_and_label(self, tf):
        request = sc.grpc_predict_request({"z": _z()}, "decode", model_name="other", version=12)
        assert request.model_spec.name == "other"
        assert request.model_spec.HasField("version") and request.model_spec.version.value == 12
        labelled = sc.grpc_predict_request({"z": _z()}, "decode", label="canary")
        assert labelled.model_spec.version_label == "canary"
        with pytest.raises(ValueError):
            sc.grpc_predict_request({"z": _z()}, "decode", version=1, label="canary")

    def test_parse_hand_built_predict_response(self, tf):
        from tensorflow_serving.apis import predict_pb2

        mean = np.arange(6, dtype=np.float32).reshape(2, 3)
        scale_tril = np.stack([np.eye(3, dtype=np.float32)] * 2)
        z = np.full((2, 3), 0.5, np.float32)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = "vae"
        response.model_spec.signature_name = "encode"
        response.model_spec.version.value = 1
        for name, arr in {"mean": mean, "scale_tril": scale_tril, "z": z}.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(arr))
        wire = predict_pb2.PredictResponse.FromString(response.SerializeToString())
        out = sc.parse_predict_response(wire)
        assert set(out) == {"mean", "scale_tril", "z"}
        np.testing.assert_array_equal(out["mean"], mean)
        np.testing.assert_array_equal(out["scale_tril"], scale_tril)
        assert out["scale_tril"].shape == (2, 3, 3)
        assert all(v.dtype == np.float32 for v in out.values())

    def test_metadata_response_and_signature_specs(self, tf):
        from tensorflow.core.protobuf import meta_graph_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        def info(dtype, dims):
            t = meta_graph_pb2.TensorInfo(name="n:0", dtype=dtype)
            t.tensor_shape.SetInParent()  # scalars have an empty, present shape
            for d in dims:
                t.tensor_shape.dim.add(size=d)
            return t

        f32, i32 = tf.float32.as_datatype_enum, tf.int32.as_datatype_enum
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        sample = sig_map.signature_def["sample"]
        sample.method_name = "tensorflow/serving/predict"
        sample.inputs["num_samples"].CopyFrom(info(i32, []))
        sample.inputs["seed"].CopyFrom(info(i32, [2]))
        sample.inputs["temperature"].CopyFrom(info(f32, []))
        sample.outputs["x"].CopyFrom(info(f32, [-1, 28, 28, 1]))
        sample.outputs["z"].CopyFrom(info(f32, [-1, LATENT]))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = "vae"
        response.model_spec.version.value = 1
        response.metadata["signature_def"].Pack(sig_map)
        wire = get_model_metadata_pb2.GetModelMetadataResponse.FromString(response.SerializeToString())

        meta = sc.parse_metadata_response(wire)
        assert meta["model_spec"]["name"] == "vae"
        # int64 fields are JSON strings, as in TF Serving's REST answer.
        assert meta["model_spec"]["version"] == "1"
        specs = sc.signature_specs(json.loads(json.dumps(meta)))
        assert specs["sample"]["inputs"] == {
            "num_samples": ("DT_INT32", []),
            "seed": ("DT_INT32", [2]),
            "temperature": ("DT_FLOAT", []),
        }
        assert specs["sample"]["outputs"]["x"] == ("DT_FLOAT", [-1, 28, 28, 1])
        with pytest.raises(ValueError):
            sc.signature_specs({"model_spec": {}})

    def test_grpc_client_builds_stubs_without_connecting(self, tf):
        grpc = pytest.importorskip("grpc")
        client = sc.GrpcClient("localhost:1", timeout=0.5)
        try:
            assert hasattr(client.prediction_stub, "Predict")
            assert hasattr(client.model_stub, "GetModelStatus")
            with pytest.raises(sc.TFServingError) as info:
                client.decode(_z())
            assert info.value.status == grpc.StatusCode.UNAVAILABLE
        finally:
            client.close()
