"""Tests for serving/client/rest.py, requests: REST ``:predict`` bodies (columnar and row) and URLs.

Offline (no server, no network): request bodies are built and checked.
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


def _x(n=2, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *IMAGE)).astype(np.float32)


def _z(n=3, seed=1):
    return np.random.default_rng(seed).standard_normal((n, LATENT)).astype(np.float32)



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
