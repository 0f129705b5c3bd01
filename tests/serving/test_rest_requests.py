"""Tests for serving/client/rest.py, requests: REST ``:predict`` bodies (columnar and row) and URLs.

Offline (no server, no network). The bodies are built from the metadata of
real exports (a tiny image and a tiny sentence model, see
``serving_testing``), checked for TF Serving's JSON types, then read back
the way the model server reads them and run through the loaded SavedModel:
the outputs must be those of the signature called directly.
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
    _x,
    assert_outputs_equal,
    model_inputs,
    run_signature,
    sc,
    specs,
)
from tf_serving_standins import decode_rest_body

CASES = [(kind, signature) for kind in KINDS for signature in SIGNATURES]


def _leaf_types(value):
    if isinstance(value, list):
        return set().union(*(_leaf_types(v) for v in value)) if value else set()
    return {type(value).__name__}


class TestRestRequestBodies:
    @pytest.mark.parametrize("kind, signature", CASES)
    @pytest.mark.parametrize("format", ["columnar", "row"])
    def test_body_runs_against_the_saved_model(self, kind, signature, format):
        inputs = model_inputs(kind, signature, n=3)
        body = sc.rest_request(inputs, signature, specs(kind), format=format)
        body = json.loads(json.dumps(body))  # what goes over the wire
        assert body["signature_name"] == signature
        assert list(body) == ["signature_name", "inputs" if format == "columnar" else "instances"]
        if format == "row":
            assert len(body["instances"]) == 3 and all(set(r) == set(inputs) for r in body["instances"])
        decoded_signature, tensors = decode_rest_body(body, kind)  # strict about JSON types
        assert decoded_signature == signature
        assert_outputs_equal(run_signature(kind, signature, tensors), run_signature(kind, signature, inputs))

    def test_json_types_follow_the_metadata(self):
        body = sc.rest_request(
            {"seed": np.array([3.0, 4.0]), "temperature": [1, 2]}, "sample", specs("image")
        )
        assert body == {"signature_name": "sample", "inputs": {"seed": [3, 4], "temperature": [1.0, 2.0]}}
        assert _leaf_types(body["inputs"]["seed"]) == {"int"}
        assert _leaf_types(body["inputs"]["temperature"]) == {"float"}
        assert json.dumps(body["inputs"]) == '{"seed": [3, 4], "temperature": [1.0, 2.0]}'

    def test_strings_are_json_strings_and_bytes_b64(self):
        body = sc.rest_request(
            {"sentences": ["a small dog", b"a cat", b"\xff\x00"]}, "reconstruct", specs("sentence")
        )
        assert body["inputs"]["sentences"] == ["a small dog", {"b64": "YSBjYXQ="}, {"b64": "/wA="}]
        row = sc.rest_request(
            {"sentences": np.array(["a small dog"])}, "reconstruct", specs("sentence"), format="row"
        )
        assert row == {"signature_name": "reconstruct", "instances": [{"sentences": "a small dog"}]}

    def test_exact_sample_json(self):
        body = sc.rest_request(
            {"seed": [1, 2, 3], "temperature": [1.0, 1.0, 1.0]}, "sample", specs("sentence")
        )
        assert json.dumps(body) == (
            '{"signature_name": "sample", "inputs": {"seed": [1, 2, 3], "temperature": [1.0, 1.0, 1.0]}}'
        )

    def test_float32_values_round_trip_exactly(self):
        z = np.array([[0.1, 1 / 3, 1e-8]], dtype=np.float32)
        body = json.loads(json.dumps(sc.rest_request({"z": z}, "decode", specs("image"))))
        np.testing.assert_array_equal(np.asarray(body["inputs"]["z"], dtype=np.float32), z)

    def test_zero_rows(self):
        body = sc.rest_request({"seed": [], "temperature": []}, "sample", specs("image"))
        assert body["inputs"] == {"seed": [], "temperature": []}
        assert (
            sc.rest_request({"seed": [], "temperature": []}, "sample", specs("image"), format="row")[
                "instances"
            ]
            == []
        )


class TestValidationAgainstTheMetadata:
    @pytest.mark.parametrize(
        "kind, signature, inputs, match",
        [
            (
                "image",
                "reconstruct",
                {"x": _x(2, 0, (16,))},
                r"input 'x' of signature 'reconstruct' must have shape \[-1, 4, 4, 1\] \(DT_FLOAT\), "
                r"got shape \[2, 16\]",
            ),
            ("image", "reconstruct", {"x": _x(2, 0, (4, 4, 2))}, r"'x' .* \[-1, 4, 4, 1\]"),
            (
                "image",
                "decode",
                {"z": np.zeros((2, SMALL_LATENT + 1))},
                r"input 'z' .* \[-1, 3\] \(DT_FLOAT\), got shape \[2, 4\]",
            ),
            ("image", "decode", {"z": np.zeros(SMALL_LATENT)}, r"input 'z' .* \[-1, 3\]"),
            (
                "image",
                "sample",
                {"seed": 1, "temperature": [1.0]},
                r"input 'seed' of signature 'sample' must have shape \[-1\] \(DT_INT64\), got shape \[\]",
            ),
            ("image", "sample", {"seed": [[1, 2]], "temperature": [1.0]}, r"input 'seed' .* \[-1\]"),
            ("image", "sample", {"seed": [1.5], "temperature": [1.0]}, r"'seed' .* integers \(DT_INT64\)"),
            ("image", "sample", {"seed": [2**63], "temperature": [1.0]}, r"'seed' .*(DT_INT64|integers)"),
            (
                "image",
                "sample",
                {"seed": [1], "temperature": ["hot"]},
                r"input 'temperature' .* DT_FLOAT with shape \[-1\]",
            ),
            ("image", "encode", {"x": [["a"]]}, r"input 'x' .* DT_FLOAT"),
            (
                "sentence",
                "encode",
                {"sentences": [1, 2]},
                r"input 'sentences' .* DT_STRING with shape \[-1\] \(str or bytes\)",
            ),
            (
                "sentence",
                "encode",
                {"sentences": "a small dog"},
                r"input 'sentences' .* \[-1\] \(DT_STRING\), got shape \[\]",
            ),
            (
                "sentence",
                "encode",
                {"sentences": [["a small dog"]]},
                r"input 'sentences' .* \[-1\] \(DT_STRING\), got shape \[1, 1\]",
            ),
        ],
    )
    def test_wrong_rank_shape_or_dtype(self, kind, signature, inputs, match):
        with pytest.raises(ValueError, match=match):
            sc.rest_request(inputs, signature, specs(kind))

    @pytest.mark.parametrize(
        "kind, signature, inputs",
        [
            ("image", "sample", {"seed": [1, 2, 3], "temperature": [1.0, 1.0]}),
            ("image", "encode_sample", {"x": _x(2, 0, SMALL_IMAGE), "seed": [1, 2, 3]}),
            ("sentence", "decode_sample", {"z": np.zeros((2, 2)), "seed": [1, 2], "temperature": [1.0]}),
            ("sentence", "log_likelihood", {"sentences": CORPUS[:2], "seed": [1]}),
        ],
    )
    @pytest.mark.parametrize("format", ["columnar", "row"])
    def test_inputs_disagreeing_on_dimension_0(self, kind, signature, inputs, format):
        with pytest.raises(ValueError, match=f"inputs of signature '{signature}' disagree on dimension 0"):
            sc.rest_request(inputs, signature, specs(kind), format=format)

    def test_names(self):
        with pytest.raises(ValueError, match=r"missing \['temperature'\], unexpected \[\]"):
            sc.rest_request({"seed": [1]}, "sample", specs("image"))
        with pytest.raises(ValueError, match=r"missing \[\], unexpected \['num_samples'\]"):
            sc.rest_request({"seed": [1], "temperature": [1.0], "num_samples": 1}, "sample", specs("image"))
        with pytest.raises(
            ValueError, match=r"unexpected \['temperature'\]"
        ):  # images: decode_sample has no temperature
            sc.rest_request(
                {"z": np.zeros((1, 3)), "seed": [1], "temperature": [1.0]}, "decode_sample", specs("image")
            )
        with pytest.raises(ValueError, match=r"no signature 'generate'; it has \['decode', "):
            sc.rest_request({"z": np.zeros((1, 3))}, "generate", specs("image"))

    def test_internal_signatures_are_not_offered(self):
        assert set(specs("image")) == set(SIGNATURES)
        assert specs("image")["encode"]["inputs"]["x"] == sc.TensorSpec("DT_FLOAT", [-1, *SMALL_IMAGE])

    def test_unknown_format(self):
        with pytest.raises(ValueError, match="columnar"):
            sc.rest_request({"z": np.zeros((1, 3))}, "decode", specs("image"), format="rows")

    def test_row_format_refuses_inputs_without_a_batch_dimension(self):
        custom = {
            "f": {
                "inputs": {"a": sc.TensorSpec("DT_FLOAT", [-1]), "k": sc.TensorSpec("DT_INT32", [])},
                "outputs": {},
            }
        }
        assert sc.rest_request({"a": [1.0], "k": 3}, "f", custom)["inputs"] == {"a": [1.0], "k": 3}
        with pytest.raises(ValueError, match=r"row format .* \['k'\] have no batch dimension"):
            sc.rest_request({"a": [1.0], "k": 3}, "f", custom, format="row")


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
        assert (
            sc.rest_url("localhost:8501", "m", verb="metadata")
            == "http://localhost:8501/v1/models/m/metadata"
        )
        assert (
            sc.rest_url("http://h", version=2, verb="metadata")
            == "http://h/v1/models/vae/versions/2/metadata"
        )
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
