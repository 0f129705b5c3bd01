"""serving/client/rest_json.py's parse_rest_response: TF Serving's REST bodies, hand-written in the shapes
TF Serving documents (columnar and row, named and unnamed outputs, dtypes, b64, errors), read into arrays.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from serving_testing import sc


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

    def test_output_specs_name_and_type_the_outputs(self):
        outputs = {"sentences": sc.TensorSpec("DT_STRING", [-1])}
        out = sc.parse_rest_response({"outputs": ["a dog", "a cat"]}, outputs=outputs)
        assert out["sentences"].dtype == object and out["sentences"].tolist() == ["a dog", "a cat"]
        out = sc.parse_rest_response({"predictions": ["a dog"]}, outputs=outputs)
        assert out["sentences"].tolist() == ["a dog"]
        typed = {"z": sc.TensorSpec("DT_FLOAT", [-1, 1]), "n": sc.TensorSpec("DT_INT32", [-1])}
        out = sc.parse_rest_response({"outputs": {"z": [[1]], "n": [2]}}, outputs=typed)
        assert out["z"].dtype == np.float32 and out["n"].dtype == np.int32
        empty = sc.parse_rest_response({"outputs": []}, outputs=outputs)
        assert empty["sentences"].shape == (0,) and empty["sentences"].dtype == object

    def test_b64_outputs(self):
        out = sc.parse_rest_response({"outputs": {"png_bytes": [{"b64": "aGk="}]}})
        assert out["png_bytes"].tolist() == [b"hi"]

    @pytest.mark.parametrize(
        "body",
        [
            {"error": "Servable not found for request: Latest(vae)"},
            "{ \"error\": \"Missing 'inputs' or 'instances' key\" }",
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
