"""Tests for serving/: TF Serving configs, compose file and the REST/gRPC clients.

Everything except ``TestLiveServer`` runs offline (no server, no network):
request bodies and protos are built and checked, and responses are parsed
from hand-written bodies in the shapes TF Serving documents.

``TestLiveServer`` talks to a real TensorFlow Serving instance and is skipped
unless ``TF_SERVING_URL`` (REST base URL, e.g. http://localhost:8501) is set;
set ``TF_SERVING_GRPC`` (e.g. localhost:8500) to also exercise gRPC::

    docker compose -f serving/docker-compose.yml up -d
    TF_SERVING_URL=http://localhost:8501 TF_SERVING_GRPC=localhost:8500 \\
        python -m pytest tests/test_serving_client.py -q
"""

from __future__ import annotations

import doctest
import io
import json
import os
import re
import subprocess
import sys
import urllib.error

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from serving import client as sc  # noqa: E402
from serving import config_protos as cp  # noqa: E402

SERVING_DIR = os.path.join(REPO_ROOT, "serving")
COMPOSE_FILE = os.path.join(SERVING_DIR, "docker-compose.yml")

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
# Configs
# ---------------------------------------------------------------------------


class TestModelsConfig:
    def test_parses_as_model_server_config(self):
        from tensorflow_serving.config import model_server_config_pb2

        config = cp.load_model_server_config(os.path.join(SERVING_DIR, "models.config"))
        assert isinstance(config, model_server_config_pb2.ModelServerConfig)
        assert config.WhichOneof("config") == "model_config_list"
        (model,) = config.model_config_list.config
        assert model.name == "vae"
        assert model.base_path == "/models/vae"
        assert model.model_platform == "tensorflow"
        policy = model.model_version_policy
        assert policy.WhichOneof("policy_choice") == "latest"
        assert policy.latest.num_versions == 2

    def test_text_format_round_trip(self):
        from google.protobuf import text_format

        config = cp.load_model_server_config()
        again = text_format.Parse(text_format.MessageToString(config), type(config)())
        assert again == config


class TestBatchingConfig:
    def test_parses_as_batching_parameters(self):
        params = cp.load_batching_parameters(os.path.join(SERVING_DIR, "batching.config"))
        assert params.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
        for field in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
            assert params.HasField(field), field
        assert params.max_batch_size.value == 32
        assert 0 < params.batch_timeout_micros.value <= 10_000  # <= 10 ms on CPU
        assert params.num_batch_threads.value == 2  # 2-core box
        assert params.max_enqueued_batches.value >= 1
        sizes = list(params.allowed_batch_sizes)
        assert sizes == sorted(set(sizes)) and sizes[-1] == params.max_batch_size.value
        assert cp.check_batching_parameters(params) == []

    def test_fallback_schema_matches_upstream_definition(self):
        cls = cp.batching_parameters_class(prefer_upstream=False)
        fields = {f.name: f for f in cls.DESCRIPTOR.fields}
        expected = {
            "max_batch_size": (1, "google.protobuf.Int64Value"),
            "batch_timeout_micros": (2, "google.protobuf.Int64Value"),
            "max_enqueued_batches": (3, "google.protobuf.Int64Value"),
            "num_batch_threads": (4, "google.protobuf.Int64Value"),
            "thread_pool_name": (5, "google.protobuf.StringValue"),
        }
        for name, (number, wrapper) in expected.items():
            assert fields[name].number == number
            assert fields[name].message_type.full_name == wrapper
        assert fields["allowed_batch_sizes"].number == 6
        assert fields["allowed_batch_sizes"].type == fields["allowed_batch_sizes"].TYPE_INT64
        assert fields["pad_variable_length_inputs"].number == 7
        # The file parses with both the fallback and whatever class is preferred.
        a = cp.load_batching_parameters(prefer_upstream=False)
        b = cp.load_batching_parameters(prefer_upstream=True)
        assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)

    @pytest.mark.skipif(
        not cp.upstream_batching_parameters_available(),
        reason="tensorflow_serving.servables is not shipped in the tensorflow-serving-api wheel",
    )
    def test_fallback_schema_equals_generated_class(self):
        from tensorflow_serving.servables.tensorflow import session_bundle_config_pb2

        upstream = {f.name: f.number for f in session_bundle_config_pb2.BatchingParameters.DESCRIPTOR.fields}
        ours = {f.name: f.number for f in cp.batching_parameters_class(False).DESCRIPTOR.fields}
        assert ours.items() <= upstream.items()

    def test_wrapper_fields_need_value_braces(self):
        from google.protobuf import text_format

        cls = cp.batching_parameters_class()
        with pytest.raises(text_format.ParseError):
            text_format.Parse("max_batch_size: 32", cls())
        assert text_format.Parse("max_batch_size { value: 32 }", cls()).max_batch_size.value == 32

    def test_check_flags_bad_allowed_batch_sizes(self):
        from google.protobuf import text_format

        cls = cp.batching_parameters_class()
        bad = text_format.Parse(
            "max_batch_size { value: 16 } allowed_batch_sizes: 8 allowed_batch_sizes: 4", cls()
        )
        problems = cp.check_batching_parameters(bad)
        assert any("increasing" in p for p in problems)
        assert any("max_batch_size" in p for p in problems)


# ---------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    import yaml

    with open(COMPOSE_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def service(compose):
    services = compose["services"]
    assert len(services) == 1
    return next(iter(services.values()))


def _flags(service):
    command = service["command"]
    if isinstance(command, str):
        command = command.split()
    return {arg.split("=", 1)[0]: (arg.split("=", 1)[1] if "=" in arg else True) for arg in command}


class TestCompose:
    def test_official_image_with_pinned_tag(self, service):
        m = re.fullmatch(r"tensorflow/serving:(?:\$\{TF_SERVING_VERSION:-)?(\d+\.\d+\.\d+)\}?", service["image"])
        assert m, service["image"]
        assert m.group(1).startswith("2.")

    def test_ports(self, service):
        ports = [str(p) for p in service["ports"]]
        assert "8500:8500" in ports and "8501:8501" in ports
        flags = _flags(service)
        assert flags["--port"] == "8500"
        assert flags["--rest_api_port"] == "8501"

    def test_volumes_and_config_flags(self, service):
        volumes = {v["target"]: v for v in service["volumes"]}
        model = volumes["/models/vae"]
        assert "MODEL_BASE_DIR" in model["source"]
        # The mount point must be the base_path models.config serves.
        config = cp.load_model_server_config()
        assert config.model_config_list.config[0].base_path == "/models/vae"

        flags = _flags(service)
        for flag, local in (
            ("--model_config_file", "models.config"),
            ("--batching_parameters_file", "batching.config"),
        ):
            target = flags[flag]
            assert target in volumes, f"{flag}={target} is not mounted"
            source = volumes[target]["source"]
            assert os.path.normpath(os.path.join(SERVING_DIR, source)) == os.path.join(SERVING_DIR, local)
            assert os.path.isfile(os.path.join(SERVING_DIR, local))
        assert "--enable_batching" in flags
        # Without per-model batching the scalar/[2] inputs of sample, encode,
        # reconstruct and log_likelihood would be rejected by the batcher.
        assert "--enable_per_model_batching_parameters" in flags

    def test_healthcheck_hits_model_status(self, service):
        test = service["healthcheck"]["test"]
        text = " ".join(test) if isinstance(test, list) else test
        assert "/v1/models/vae" in text and "8501" in text


# ---------------------------------------------------------------------------
# REST request bodies
# ---------------------------------------------------------------------------


def _all_ints(value):
    if isinstance(value, list):
        return all(_all_ints(v) for v in value)
    return type(value) is int


def _all_floats(value):
    if isinstance(value, list):
        return all(_all_floats(v) for v in value)
    return type(value) is float


def _roundtrip(body):
    return json.loads(json.dumps(body))


class TestRestRequestColumnar:
    def test_encode(self):
        x = _x()
        body = sc.rest_request({"x": x, "seed": (3, 4)}, "encode")
        assert list(body) == ["signature_name", "inputs"]
        assert body["signature_name"] == "encode"
        assert set(body["inputs"]) == {"x", "seed"}
        assert body["inputs"]["seed"] == [3, 4] and _all_ints(body["inputs"]["seed"])
        assert _all_floats(body["inputs"]["x"])
        np.testing.assert_array_equal(np.asarray(body["inputs"]["x"], np.float32), x)
        assert _roundtrip(body) == body

    def test_decode(self):
        z = _z()
        body = sc.rest_request({"z": z}, "decode")
        assert body == {"signature_name": "decode", "inputs": {"z": z.tolist()}}
        assert np.asarray(body["inputs"]["z"]).shape == (3, LATENT)

    def test_sample_exact_json(self):
        body = sc.rest_request({"num_samples": 4, "seed": (1, 2), "temperature": 0.5}, "sample")
        assert json.dumps(body) == (
            '{"signature_name": "sample", "inputs": '
            '{"num_samples": 4, "seed": [1, 2], "temperature": 0.5}}'
        )
        inputs = body["inputs"]
        assert type(inputs["num_samples"]) is int
        assert _all_ints(inputs["seed"])
        assert type(inputs["temperature"]) is float

    def test_ints_stay_ints_even_from_numpy_or_floats(self):
        body = sc.rest_request(
            {"num_samples": np.int64(8), "seed": np.array([5.0, 6.0]), "temperature": 1}, "sample"
        )
        assert body["inputs"] == {"num_samples": 8, "seed": [5, 6], "temperature": 1.0}
        assert type(body["inputs"]["num_samples"]) is int and _all_ints(body["inputs"]["seed"])
        assert type(body["inputs"]["temperature"]) is float
        assert json.dumps(body["inputs"]) == '{"num_samples": 8, "seed": [5, 6], "temperature": 1.0}'

    @pytest.mark.parametrize("signature", ["reconstruct", "serving_default"])
    def test_reconstruct(self, signature):
        x = _x(1)
        body = sc.rest_request({"x": x, "seed": [0, 0]}, signature)
        assert body["signature_name"] == signature
        assert body["inputs"]["seed"] == [0, 0] and _all_ints(body["inputs"]["seed"])
        assert np.asarray(body["inputs"]["x"]).shape == (1, *IMAGE)

    def test_log_likelihood(self):
        x = _x(3)
        body = sc.rest_request({"x": x, "num_samples": 100, "seed": (7, 8)}, "log_likelihood")
        assert body["signature_name"] == "log_likelihood"
        assert body["inputs"]["num_samples"] == 100 and type(body["inputs"]["num_samples"]) is int
        assert body["inputs"]["seed"] == [7, 8]
        assert np.asarray(body["inputs"]["x"]).shape == (3, *IMAGE)

    def test_float32_values_round_trip_exactly(self):
        x = np.array([[0.1, 1 / 3, 1e-8]], dtype=np.float32)
        body = _roundtrip(sc.rest_request({"z": x}, "decode"))
        np.testing.assert_array_equal(np.asarray(body["inputs"]["z"], dtype=np.float32), x)

    @pytest.mark.parametrize(
        "inputs, signature, match",
        [
            ({"num_samples": 4, "seed": (1, 2, 3), "temperature": 1.0}, "sample", "shape \\[2\\]"),
            ({"num_samples": [4], "seed": (1, 2), "temperature": 1.0}, "sample", "scalar"),
            ({"num_samples": 4, "seed": (1, 2)}, "sample", "missing \\['temperature'\\]"),
            ({"z": _z(), "extra": 1}, "decode", "unexpected \\['extra'\\]"),
            ({"num_samples": 2.5, "seed": (1, 2), "temperature": 1.0}, "sample", "integers"),
            ({"num_samples": 4, "seed": (2**40, 1), "temperature": 1.0}, "sample", "int32"),
            ({"z": 1.0}, "decode", "batch dimension"),
        ],
    )
    def test_invalid_inputs(self, inputs, signature, match):
        with pytest.raises(ValueError, match=match):
            sc.rest_request(inputs, signature)

    def test_unknown_signature_uses_name_based_dtypes(self):
        body = sc.rest_request({"a": [1, 2], "seed": [1, 2]}, "custom")
        assert body["inputs"] == {"a": [1.0, 2.0], "seed": [1, 2]}
        assert _all_floats(body["inputs"]["a"]) and _all_ints(body["inputs"]["seed"])


class TestRestRequestRow:
    def test_decode_one_instance_per_row(self):
        z = _z(3)
        body = sc.rest_request({"z": z}, "decode", format="row")
        assert list(body) == ["signature_name", "instances"]
        assert body["signature_name"] == "decode"
        # Single named input: instances are the bare rows.
        assert len(body["instances"]) == 3
        assert body["instances"] == z.tolist()
        assert all(isinstance(row, list) and len(row) == LATENT for row in body["instances"])

    @pytest.mark.parametrize("signature", ["sample", "encode", "reconstruct", "log_likelihood"])
    def test_refuses_signatures_with_unbatched_inputs(self, signature):
        inputs = {
            "sample": {"num_samples": 2, "seed": (0, 0), "temperature": 1.0},
            "encode": {"x": _x(2), "seed": (0, 0)},
            "reconstruct": {"x": _x(2), "seed": (0, 0)},
            "log_likelihood": {"x": _x(2), "num_samples": 10, "seed": (0, 0)},
        }[signature]
        with pytest.raises(ValueError) as info:
            sc.rest_request(inputs, signature, format="row")
        message = str(info.value)
        assert "row format" in message and "columnar" in message
        assert "seed" in message and signature in message

    def test_sample_message_names_all_unbatched_inputs(self):
        with pytest.raises(ValueError, match=r"\['num_samples', 'seed', 'temperature'\]"):
            sc.rest_request({"num_samples": 2, "seed": (0, 0), "temperature": 1.0}, "sample", format="row")

    def test_multi_input_all_batched_gives_objects(self):
        body = sc.rest_request({"a": [[1.0, 2.0], [3.0, 4.0]], "b": [5.0, 6.0]}, "custom", format="row")
        assert body == {
            "signature_name": "custom",
            "instances": [{"a": [1.0, 2.0], "b": 5.0}, {"a": [3.0, 4.0], "b": 6.0}],
        }

    def test_mismatched_batch_sizes(self):
        with pytest.raises(ValueError, match="same dimension 0"):
            sc.rest_request({"a": [[1.0], [2.0]], "b": [1.0]}, "custom", format="row")

    def test_unknown_format(self):
        with pytest.raises(ValueError, match="columnar"):
            sc.rest_request({"z": _z()}, "decode", format="rows")


# ---------------------------------------------------------------------------
# REST responses
# ---------------------------------------------------------------------------


class TestParseRestResponse:
    def test_columnar_named_outputs(self):
        body = {
            "outputs": {
                "mean": [[0.1, 0.2], [0.3, 0.4]],
                "stddev": [[1.0, 1.1], [0.9, 0.8]],
                "z": [[0.5, -0.5], [1.5, 2.5]],
            }
        }
        out = sc.parse_rest_response(body)
        assert set(out) == {"mean", "stddev", "z"}
        for arr in out.values():
            assert arr.shape == (2, 2) and arr.dtype == np.float32
        np.testing.assert_allclose(out["z"], [[0.5, -0.5], [1.5, 2.5]])

    def test_columnar_single_unnamed_output(self):
        body = json.dumps({"outputs": [[[[0.0], [1.0]], [[0.5], [0.25]]]]})
        out = sc.parse_rest_response(body, output_name="reconstruction")
        assert list(out) == ["reconstruction"]
        assert out["reconstruction"].shape == (1, 2, 2, 1)
        # Without a name the key is the JSON field.
        assert list(sc.parse_rest_response(body)) == ["outputs"]

    def test_row_predictions_named(self):
        body = {
            "predictions": [
                {"logits": [0.0, 1.0], "probs": [0.5, 0.73], "mean": [0.5, 0.73]},
                {"logits": [2.0, -1.0], "probs": [0.88, 0.27], "mean": [0.88, 0.27]},
                {"logits": [0.0, 0.0], "probs": [0.5, 0.5], "mean": [0.5, 0.5]},
            ]
        }
        out = sc.parse_rest_response(body)
        assert set(out) == {"logits", "probs", "mean"}
        assert out["probs"].shape == (3, 2) and out["probs"].dtype == np.float32
        np.testing.assert_allclose(out["logits"][1], [2.0, -1.0])

    def test_row_predictions_single_output(self):
        out = sc.parse_rest_response({"predictions": [-90.5, -101.25]}, output_name="log_likelihood")
        np.testing.assert_array_equal(out["log_likelihood"], np.array([-90.5, -101.25], np.float32))

    def test_dtype_options(self):
        body = {"outputs": {"a": [1, 2], "b": [1.5]}}
        auto = sc.parse_rest_response(body)
        assert auto["a"].dtype == np.int64 and auto["b"].dtype == np.float32
        raw = sc.parse_rest_response(body, dtype=None)
        assert raw["b"].dtype == np.float64
        cast = sc.parse_rest_response(body, dtype={"a": np.int32})
        assert cast["a"].dtype == np.int32

    def test_b64_outputs(self):
        out = sc.parse_rest_response({"outputs": {"png_bytes": [{"b64": "aGk="}]}})
        assert out["png_bytes"].tolist() == [b"hi"]

    @pytest.mark.parametrize(
        "body",
        [
            {"error": "Servable not found for request: Latest(vae)"},
            '{ "error": "Missing \'inputs\' or \'instances\' key" }',
            b'{"error": "Expected tensor name: seed"}',
        ],
    )
    def test_error_bodies_raise(self, body):
        with pytest.raises(sc.TFServingError, match="TF Serving error: ") as info:
            sc.parse_rest_response(body)
        assert info.value.body and "error" in info.value.body

    @pytest.mark.parametrize("body", [{"result": 1}, "not json", [1, 2], {"predictions": {"a": 1}}])
    def test_unrecognised_bodies_raise(self, body):
        with pytest.raises(sc.TFServingError):
            sc.parse_rest_response(body)


# ---------------------------------------------------------------------------
# REST URLs
# ---------------------------------------------------------------------------


class TestRestUrl:
    def test_without_version(self):
        assert sc.rest_url("http://localhost:8501") == "http://localhost:8501/v1/models/vae:predict"

    def test_with_version(self):
        assert (
            sc.rest_url("http://localhost:8501/", "vae", version=7)
            == "http://localhost:8501/v1/models/vae/versions/7:predict"
        )

    def test_other_forms(self):
        assert sc.rest_url("localhost:8501", "m", verb="metadata") == "http://localhost:8501/v1/models/m/metadata"
        assert sc.rest_url("https://h", version=2, verb=None) == "https://h/v1/models/vae/versions/2"
        assert sc.rest_url("http://h", verb="status") == "http://h/v1/models/vae"
        assert sc.rest_url("http://h", label="stable") == "http://h/v1/models/vae/labels/stable:predict"
        assert sc.rest_url("http://h/prefix/", verb="regress") == "http://h/prefix/v1/models/vae:regress"

    @pytest.mark.parametrize(
        "kwargs", [{"verb": "explain"}, {"version": -1}, {"version": 1, "label": "a"}, {"model_name": ""}]
    )
    def test_invalid(self, kwargs):
        with pytest.raises(ValueError):
            sc.rest_url("http://h", **kwargs)


# ---------------------------------------------------------------------------
# RestClient over a stubbed transport (urllib.request.urlopen replaced; no
# server, no sockets). Responses are hand-written documented shapes.
# ---------------------------------------------------------------------------


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def transport(monkeypatch):
    calls = []
    replies = []

    def urlopen(request, timeout=None):
        body = json.loads(request.data) if request.data else None
        calls.append({"url": request.full_url, "method": request.get_method(), "body": body, "timeout": timeout})
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return _Response(json.dumps(reply).encode())

    monkeypatch.setattr(sc.urllib.request, "urlopen", urlopen)
    return calls, replies


class TestRestClient:
    def test_sample(self, transport):
        calls, replies = transport
        replies.append({"outputs": {"x": np.zeros((2, *IMAGE)).tolist(), "z": np.zeros((2, LATENT)).tolist()}})
        client = sc.RestClient("http://tfs:8501", timeout=5)
        out = client.sample(2, seed=(1, 2), temperature=0.5)
        assert out["x"].shape == (2, *IMAGE) and out["z"].shape == (2, LATENT)
        (call,) = calls
        assert call["url"] == "http://tfs:8501/v1/models/vae:predict"
        assert call["method"] == "POST" and call["timeout"] == 5
        assert call["body"] == {
            "signature_name": "sample",
            "inputs": {"num_samples": 2, "seed": [1, 2], "temperature": 0.5},
        }

    def test_single_output_signatures_are_named(self, transport):
        calls, replies = transport
        replies += [{"outputs": [-80.0]}, {"outputs": _x(1).tolist()}]
        client = sc.RestClient("http://tfs:8501", version=3)
        ll = client.log_likelihood(_x(1), num_samples=10)
        rec = client.reconstruct(_x(1))
        assert list(ll) == ["log_likelihood"] and list(rec) == ["reconstruction"]
        assert calls[0]["url"].endswith("/v1/models/vae/versions/3:predict")
        assert calls[0]["body"]["inputs"]["num_samples"] == 10

    def test_decode_row_format_and_status_metadata(self, transport):
        calls, replies = transport
        replies += [
            {"predictions": [{"mean": [0.0] * 3, "logits": [1.0] * 3}] * 2},
            {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK"}}]},
            {"model_spec": {"name": "vae"}, "metadata": {"signature_def": {"signature_def": {}}}},
        ]
        client = sc.RestClient("http://tfs:8501")
        out = client.decode(_z(2), format="row")
        assert out["mean"].shape == (2, 3)
        assert calls[0]["body"]["instances"] == _z(2).tolist()
        assert client.status()["model_version_status"][0]["state"] == "AVAILABLE"
        assert client.metadata()["model_spec"]["name"] == "vae"
        assert [c["method"] for c in calls[1:]] == ["GET", "GET"]
        assert calls[1]["url"] == "http://tfs:8501/v1/models/vae"
        assert calls[2]["url"] == "http://tfs:8501/v1/models/vae/metadata"

    def test_http_error_body(self, transport):
        calls, replies = transport
        body = io.BytesIO(b'{ "error": "Could not find any versions of model vae" }')
        replies.append(urllib.error.HTTPError("http://tfs:8501/v1/models/vae", 404, "Not Found", {}, body))
        with pytest.raises(sc.TFServingError, match="HTTP 404.*Could not find any versions") as info:
            sc.RestClient("http://tfs:8501").status()
        assert info.value.status == 404

    def test_unreachable(self, transport):
        calls, replies = transport
        replies.append(urllib.error.URLError("Connection refused"))
        with pytest.raises(sc.TFServingError, match="cannot reach"):
            sc.RestClient("http://tfs:8501").decode(_z())

    def test_cli_sample(self, transport, capsys):
        calls, replies = transport
        replies.append({"outputs": {"x": np.ones((4, 2)).tolist(), "z": np.zeros((4, LATENT)).tolist()}})
        rc = sc.main(["--url", "http://tfs:8501", "sample", "--num-samples", "4", "--seed", "1", "2"])
        assert rc == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["x"]["shape"] == [4, 2] and printed["x"]["dtype"] == "float32"
        assert calls[0]["body"]["inputs"] == {"num_samples": 4, "seed": [1, 2], "temperature": 1.0}


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


# ---------------------------------------------------------------------------
# Module hygiene and docs
# ---------------------------------------------------------------------------


def test_import_does_not_pull_tensorflow_grpc_or_vae_zoo():
    code = (
        "import sys, serving.client, serving.config_protos; "
        "bad = [m for m in ('tensorflow', 'grpc', 'tensorflow_serving', 'vae_zoo') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, os.path.join(SERVING_DIR, "client.py"), "--help"],
        cwd=SERVING_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "sample" in result.stdout and "--url" in result.stdout


@pytest.mark.parametrize("module", [sc, cp])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------------------
# Live server (skipped unless TF_SERVING_URL is set)
# ---------------------------------------------------------------------------

LIVE_URL = os.environ.get("TF_SERVING_URL")
LIVE_GRPC = os.environ.get("TF_SERVING_GRPC")
LIVE_MODEL = os.environ.get("TF_SERVING_MODEL", "vae")
EXPECTED_SIGNATURES = {"encode", "decode", "sample", "reconstruct", "serving_default", "log_likelihood"}


@pytest.mark.skipif(not LIVE_URL, reason="set TF_SERVING_URL (e.g. http://localhost:8501) to test a live TF Serving")
class TestLiveServer:
    @pytest.fixture(scope="class")
    def rest(self):
        return sc.RestClient(LIVE_URL, LIVE_MODEL, timeout=120)

    @pytest.fixture(scope="class")
    def specs(self, rest):
        return sc.signature_specs(rest.metadata())

    @pytest.fixture(scope="class")
    def dims(self, specs):
        input_shape = tuple(specs["encode"]["inputs"]["x"][1][1:])
        latent = specs["decode"]["inputs"]["z"][1][-1]
        assert all(d > 0 for d in input_shape) and latent > 0
        return input_shape, latent

    @pytest.fixture(scope="class")
    def grpc_client(self):
        if not LIVE_GRPC:
            pytest.skip("set TF_SERVING_GRPC (e.g. localhost:8500) to test gRPC")
        client = sc.GrpcClient(LIVE_GRPC, LIVE_MODEL, timeout=120)
        yield client
        client.close()

    def _check_all(self, client, dims):
        input_shape, latent = dims
        n = 3
        x = np.random.default_rng(0).uniform(size=(n, *input_shape)).astype(np.float32)

        enc = client.encode(x, seed=(1, 2))
        assert enc["mean"].shape == (n, latent) and enc["z"].shape == (n, latent)
        if "stddev" in enc:
            assert enc["stddev"].shape == (n, latent) and np.all(enc["stddev"] > 0)
        else:
            assert enc["scale_tril"].shape == (n, latent, latent)

        dec = client.decode(enc["z"])
        assert dec["mean"].shape == (n, *input_shape)
        assert len(dec) >= 2  # likelihood parameters + mean

        smp = client.sample(4, seed=(3, 4), temperature=0.7)
        assert smp["x"].shape == (4, *input_shape) and smp["z"].shape == (4, latent)
        again = client.sample(4, seed=(3, 4), temperature=0.7)
        np.testing.assert_allclose(again["x"], smp["x"], rtol=1e-5, atol=1e-6)

        rec = client.reconstruct(x, seed=(5, 6))
        assert rec["reconstruction"].shape == (n, *input_shape)

        ll = client.log_likelihood(x, num_samples=8, seed=(7, 8))
        assert ll["log_likelihood"].shape == (n,) and np.all(np.isfinite(ll["log_likelihood"]))
        for out in (enc, dec, smp, rec, ll):
            assert all(v.dtype == np.float32 for v in out.values())
        return enc, dec

    def test_status_available(self, rest):
        status = rest.status()
        states = [v["state"] for v in status["model_version_status"]]
        assert "AVAILABLE" in states, status

    def test_metadata_signatures(self, specs):
        assert EXPECTED_SIGNATURES <= set(specs), sorted(specs)
        assert specs["sample"]["inputs"]["num_samples"] == ("DT_INT32", [])
        assert specs["sample"]["inputs"]["seed"] == ("DT_INT32", [2])
        assert specs["sample"]["inputs"]["temperature"] == ("DT_FLOAT", [])
        assert specs["log_likelihood"]["outputs"]["log_likelihood"][1] in ([-1], None)

    def test_rest_signatures(self, rest, dims):
        self._check_all(rest, dims)

    def test_rest_row_format_decode(self, rest, dims):
        _, latent = dims
        z = np.random.default_rng(1).standard_normal((2, latent)).astype(np.float32)
        row = rest.decode(z, format="row")
        col = rest.decode(z)
        assert set(row) == set(col)
        for name in col:
            np.testing.assert_allclose(row[name], col[name], rtol=1e-5, atol=1e-6)

    def test_serving_default_is_reconstruct(self, rest, dims):
        input_shape, _ = dims
        x = np.random.default_rng(2).uniform(size=(2, *input_shape)).astype(np.float32)
        a = rest.predict({"x": x, "seed": (1, 1)}, "serving_default")["reconstruction"]
        b = rest.reconstruct(x, seed=(1, 1))["reconstruction"]
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    def test_grpc_signatures(self, grpc_client, rest, dims):
        assert "AVAILABLE" in json.dumps(grpc_client.status())
        assert EXPECTED_SIGNATURES <= set(sc.signature_specs(grpc_client.metadata()))
        _, dec = self._check_all(grpc_client, dims)
        z = np.random.default_rng(3).standard_normal((2, dims[1])).astype(np.float32)
        via_grpc = grpc_client.decode(z)
        via_rest = rest.decode(z)
        for name in via_rest:
            np.testing.assert_allclose(via_grpc[name], via_rest[name], rtol=1e-5, atol=1e-6)
