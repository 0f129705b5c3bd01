"""Tests for serving/client/grpc_client.py: PredictRequest / response protos and GrpcClient.

Offline (no server): requests are built from the metadata of real exports
(``serving_testing``), round-tripped through the wire format and run through
the loaded SavedModel; ``GrpcClient`` talks to a stand-in channel that
answers ``GetModelMetadata`` with the export's ``SignatureDefMap`` and runs
``Predict`` on the SavedModel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from serving_testing import (
    CORPUS,
    KINDS,
    SIGNATURES,
    SMALL_IMAGE,
    SMALL_LATENT,
    assert_outputs_equal,
    exported,
    grpc_metadata_response,
    model_inputs,
    rest_metadata,
    run_signature,
    sc,
    specs,
)
from tf_serving_standins import GrpcChannel

CASES = [(kind, signature) for kind in KINDS for signature in SIGNATURES]


@pytest.fixture(scope="module")
def tf():
    import tensorflow as tf

    return tf


class TestGrpcProtos:
    @pytest.mark.parametrize("kind, signature", CASES)
    def test_predict_request_runs_against_the_saved_model(self, tf, kind, signature):
        from tensorflow_serving.apis import predict_pb2

        inputs = model_inputs(kind, signature, n=3)
        request = sc.grpc_predict_request(inputs, signature, specs(kind))
        parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
        assert parsed == request
        assert parsed.model_spec.name == "vae" and parsed.model_spec.signature_name == signature
        assert not parsed.model_spec.HasField("version")
        known = specs(kind)[signature]["inputs"]
        assert set(parsed.inputs) == set(known)
        # Each tensor has the metadata's dtype (gRPC does not convert) ...
        assert {n: tf.dtypes.as_dtype(t.dtype).name for n, t in parsed.inputs.items()} == {
            n: {"DT_FLOAT": "float32", "DT_INT64": "int64", "DT_STRING": "string"}[s.dtype]
            for n, s in known.items()
        }
        # ... and the SavedModel gives the same outputs on them as on the original inputs.
        tensors = {name: tf.make_ndarray(proto) for name, proto in parsed.inputs.items()}
        assert_outputs_equal(run_signature(kind, signature, tensors), run_signature(kind, signature, inputs))

    def test_strings_are_dt_string(self, tf):
        from tensorflow.core.framework import types_pb2

        request = sc.grpc_predict_request(
            {"sentences": ["a small dog", b"\xff"]}, "reconstruct", specs("sentence")
        )
        proto = request.inputs["sentences"]
        assert proto.dtype == types_pb2.DT_STRING and [d.size for d in proto.tensor_shape.dim] == [2]
        assert list(proto.string_val) == [b"a small dog", b"\xff"]

    def test_python_values_get_the_metadata_dtypes(self, tf):
        from tensorflow.core.framework import types_pb2

        request = sc.grpc_predict_request({"seed": [1, 2], "temperature": [1, 0]}, "sample", specs("image"))
        assert request.inputs["seed"].dtype == types_pb2.DT_INT64
        assert request.inputs["temperature"].dtype == types_pb2.DT_FLOAT
        assert [d.size for d in request.inputs["seed"].tensor_shape.dim] == [2]
        empty = sc.grpc_predict_request({"z": np.zeros((0, SMALL_LATENT))}, "decode", specs("image"))
        assert [d.size for d in empty.inputs["z"].tensor_shape.dim] == [0, SMALL_LATENT]

    def test_checked_against_the_metadata(self, tf):
        with pytest.raises(
            ValueError, match=r"input 'seed' of signature 'sample' must have shape \[-1\] \(DT_INT64\)"
        ):
            sc.grpc_predict_request({"seed": 1, "temperature": [1.0]}, "sample", specs("image"))
        with pytest.raises(ValueError, match="disagree on dimension 0"):
            sc.grpc_predict_request({"sentences": CORPUS, "seed": [1]}, "log_likelihood", specs("sentence"))

    def test_version_and_label(self, tf):
        z = {"z": np.zeros((1, SMALL_LATENT))}
        request = sc.grpc_predict_request(z, "decode", specs("image"), model_name="other", version=12)
        assert request.model_spec.name == "other"
        assert request.model_spec.HasField("version") and request.model_spec.version.value == 12
        labelled = sc.grpc_predict_request(z, "decode", specs("image"), label="canary")
        assert labelled.model_spec.version_label == "canary"
        with pytest.raises(ValueError):
            sc.grpc_predict_request(z, "decode", specs("image"), version=1, label="canary")

    def test_parse_hand_built_predict_response(self, tf):
        from tensorflow_serving.apis import predict_pb2

        mean = np.arange(6, dtype=np.float32).reshape(2, 3)
        scale_tril = np.stack([np.eye(3, dtype=np.float32)] * 2)
        response = predict_pb2.PredictResponse()
        for name, arr in {
            "mean": mean,
            "scale_tril": scale_tril,
            "sentences": np.array([b"a dog", b"\xff"], object),
        }.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(arr))
        out = sc.parse_predict_response(predict_pb2.PredictResponse.FromString(response.SerializeToString()))
        assert set(out) == {"mean", "scale_tril", "sentences"}
        np.testing.assert_array_equal(out["mean"], mean)
        assert out["scale_tril"].shape == (2, 3, 3) and out["scale_tril"].dtype == np.float32
        assert out["sentences"].dtype == object and out["sentences"].tolist() == ["a dog", b"\xff"]

    @pytest.mark.parametrize("kind", KINDS)
    def test_metadata_response_is_the_rest_layout(self, tf, kind):
        from tensorflow_serving.apis import get_model_metadata_pb2

        wire = get_model_metadata_pb2.GetModelMetadataResponse.FromString(
            grpc_metadata_response(kind).SerializeToString()
        )
        meta = sc.parse_metadata_response(wire)
        assert meta["model_spec"] == {"name": "vae", "version": "1"}  # int64 as a JSON string, as over REST
        assert meta["metadata"] == rest_metadata(kind)["metadata"]
        parsed = sc.signature_specs(json.loads(json.dumps(meta)))
        assert set(parsed) == set(SIGNATURES)
        assert parsed["sample"]["inputs"] == {
            "seed": sc.TensorSpec("DT_INT64", [-1]),
            "temperature": sc.TensorSpec("DT_FLOAT", [-1]),
        }
        with pytest.raises(ValueError):
            sc.signature_specs({"model_spec": {}})


class TestGrpcClient:
    @pytest.mark.parametrize("kind", KINDS)
    def test_every_signature_through_the_saved_model(self, tf, kind):
        channel = GrpcChannel(kind)
        client = sc.GrpcClient("tfs:8500", channel=channel, version=2)
        for signature in SIGNATURES:
            inputs = model_inputs(kind, signature, n=3)
            assert_outputs_equal(client.predict(signature, **inputs), run_signature(kind, signature, inputs))
        methods = [method for method, _ in channel.calls]
        assert methods == ["GetModelMetadata"] + ["Predict"] * len(SIGNATURES)  # metadata fetched once
        assert all(r.model_spec.version.value == 2 for _, r in channel.calls)

    def test_image_methods_match_the_python_api(self, tf):
        model, _ = exported("image")
        client = sc.GrpcClient("tfs:8500", channel=GrpcChannel("image"))
        x = model_inputs("image", "encode", n=2)["x"]
        np.testing.assert_allclose(
            client.encode(x)["mean"], model.encode(x).mean().numpy(), rtol=1e-5, atol=1e-6
        )
        smp = client.sample(seed=3, temperature=0.5, num_rows=3)
        np.testing.assert_allclose(
            smp["x"], model.sample(3, seed=3, temperature=0.5).numpy(), rtol=1e-5, atol=1e-6
        )
        assert smp["z"].shape == (3, SMALL_LATENT) and smp["z"].dtype == np.float32
        assert client.reconstruct(x)["reconstruction"].shape == (2, *SMALL_IMAGE)
        assert client.log_likelihood(x, seed=1)["log_likelihood"].shape == (2,)
        assert client.decode_sample(smp["z"], seed=0)["x"].shape == (3, *SMALL_IMAGE)
        empty = client.decode(np.zeros((0, SMALL_LATENT), np.float32))  # B = 0 goes to the server over gRPC
        assert empty["mean"].shape == (0, *SMALL_IMAGE)

    def test_sentence_methods_match_the_python_api(self, tf):
        model, _ = exported("sentence")
        channel = GrpcChannel("sentence")
        client = sc.GrpcClient("tfs:8500", channel=channel)
        assert client.reconstruct(["a small dog"])["sentences"].tolist() == model.reconstruct_sentences(
            ["a small dog"]
        )
        smp = client.sample(seed=2, temperature=1.0, num_rows=3)
        assert smp["sentences"].tolist() == model.sample_sentences(3, seed=2, temperature=1.0)
        request = channel.calls[-1][1]
        assert tf.make_ndarray(request.inputs["seed"]).tolist() == [2, 3, 4]
        enc = client.encode(CORPUS)
        assert client.decode_sample(enc["mean"], seed=1, temperature=0.0)[
            "sentences"
        ].tolist() == model.generate(enc["mean"])

    def test_server_errors_are_tfservingerror(self, tf):
        grpc = pytest.importorskip("grpc")
        client = sc.GrpcClient("tfs:8500", channel=GrpcChannel("image"))
        client.specs()
        # A stale cache lets a bad request through: the server's refusal is reported with its status.
        client._specs["decode"]["inputs"]["z"] = sc.TensorSpec("DT_FLOAT", [-1, SMALL_LATENT + 1])
        with pytest.raises(sc.TFServingError, match="INVALID_ARGUMENT") as info:
            client.decode(np.zeros((1, SMALL_LATENT + 1)))
        assert info.value.status == grpc.StatusCode.INVALID_ARGUMENT
        client.specs(refresh=True)
        assert client.decode(np.zeros((1, SMALL_LATENT)))["mean"].shape == (1, *SMALL_IMAGE)

    def test_status(self, tf):
        client = sc.GrpcClient("tfs:8500", channel=GrpcChannel("image"))
        assert client.status()["model_version_status"][0]["state"] == "AVAILABLE"

    def test_grpc_client_builds_stubs_without_connecting(self, tf):
        grpc = pytest.importorskip("grpc")
        client = sc.GrpcClient("localhost:1", timeout=0.5)
        try:
            assert hasattr(client.prediction_stub, "Predict")
            assert hasattr(client.model_stub, "GetModelStatus")
            with pytest.raises(sc.TFServingError) as info:
                client.decode(np.zeros((1, SMALL_LATENT)))  # fetching the metadata fails first
            assert info.value.status == grpc.StatusCode.UNAVAILABLE
        finally:
            client.close()
