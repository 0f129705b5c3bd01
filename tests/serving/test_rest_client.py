"""Tests for serving/client/rest.py: response parsing, RestClient, and REST without TensorFlow.

Offline (no server, no network): responses are parsed from hand-written
bodies in the shapes TF Serving documents, and ``RestClient`` runs over a
stubbed ``urllib.request.urlopen`` that answers the metadata of a real export
and runs its requests through the loaded SavedModel (``serving_testing``).
The REST client needs neither TensorFlow nor ``grpc``, which the last tests
check (in a subprocess where both are blocked, and in the source).
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import textwrap
import urllib.error

import numpy as np
import pytest
from serving_testing import (  # noqa: F401  (transport is a fixture)
    CORPUS,
    REPO_ROOT,
    SMALL_IMAGE,
    SMALL_LATENT,
    assert_outputs_equal,
    exported,
    model_inputs,
    rest_metadata,
    rest_server,
    run_signature,
    sc,
    transport,
)

CLIENT_DIR = os.path.join(REPO_ROOT, "serving", "client")

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


# ---------------------------------------------------------------------------
# RestClient over a stubbed transport (urllib.request.urlopen replaced; no
# server, no sockets) that answers like TF Serving for a real export.
# ---------------------------------------------------------------------------


def _client(transport, kind, **kwargs):
    calls, replies = transport
    replies.append(rest_server(kind))
    return sc.RestClient("http://tfs:8501", **kwargs)


class TestRestClient:
    @pytest.mark.parametrize("kind", ["image", "sentence"])
    @pytest.mark.parametrize("format", ["columnar", "row"])
    def test_every_signature_through_the_saved_model(self, transport, kind, format):
        calls, _ = transport
        client = _client(transport, kind, format=format)
        for signature in sc.signature_specs(rest_metadata(kind)):
            inputs = model_inputs(kind, signature, n=3)
            assert_outputs_equal(client.predict(signature, **inputs), run_signature(kind, signature, inputs))
        # The metadata is fetched once, first; every predict is checked against it.
        assert [c["method"] for c in calls] == ["GET"] + ["POST"] * 8
        assert calls[0]["url"] == "http://tfs:8501/v1/models/vae/metadata"
        assert {c["url"] for c in calls[1:]} == {"http://tfs:8501/v1/models/vae:predict"}
        assert {c["body"]["signature_name"] for c in calls[1:]} == set(
            sc.signature_specs(rest_metadata(kind))
        )

    def test_image_methods_match_the_python_api(self, transport):
        model, _ = exported("image")
        client = _client(transport, "image", timeout=5)
        x = model_inputs("image", "encode", n=3)["x"]
        enc = client.encode(x)
        assert set(enc) == {"mean", "stddev"}
        np.testing.assert_allclose(enc["mean"], model.encode(x).mean().numpy(), rtol=1e-5, atol=1e-6)
        rec = client.reconstruct(x)
        assert list(rec) == ["reconstruction"] and rec["reconstruction"].shape == (3, *SMALL_IMAGE)
        dec = client.decode(enc["mean"])
        assert {"logits", "probs", "mean"} <= set(dec)
        np.testing.assert_allclose(dec["mean"], rec["reconstruction"], rtol=1e-5, atol=1e-6)
        # Scalar seed s for n rows -> s, s + 1, ...; scalar temperature repeated: the Python API's convention.
        smp = client.sample(seed=5, temperature=0.7, num_rows=4)
        assert smp["x"].shape == (4, *SMALL_IMAGE) and smp["z"].shape == (4, SMALL_LATENT)
        np.testing.assert_allclose(
            smp["x"], model.sample(4, seed=5, temperature=0.7).numpy(), rtol=1e-5, atol=1e-6
        )
        sent = transport[0][-1]["body"]["inputs"]
        assert sent["seed"] == [5, 6, 7, 8]
        np.testing.assert_array_equal(np.float32(sent["temperature"]), np.float32([0.7] * 4))
        # Row i depends on row i alone: the last row of seed 5 is the first of seed 8.
        np.testing.assert_allclose(
            client.sample(seed=8, temperature=0.7)["x"][0], smp["x"][3], rtol=1e-5, atol=1e-6
        )
        explicit = client.sample(seed=[5, 6, 7, 8], temperature=[0.7] * 4)
        assert_outputs_equal(explicit, smp)
        assert client.encode_sample(x, seed=3)["z"].shape == (3, SMALL_LATENT)
        assert transport[0][-1]["body"]["inputs"]["seed"] == [3, 4, 5]
        assert client.decode_sample(enc["mean"], seed=[1, 1, 2])["x"].shape == (3, *SMALL_IMAGE)
        ll = client.log_likelihood(x, seed=9)
        assert list(ll) == ["log_likelihood"] and ll["log_likelihood"].shape == (3,)
        assert ll["log_likelihood"].dtype == np.float32 and np.all(ll["log_likelihood"] < 0)
        with pytest.raises(ValueError, match=r"unexpected \['temperature'\]"):
            client.decode_sample(enc["mean"], seed=1, temperature=0.5)

    def test_sentence_methods_match_the_python_api(self, transport):
        model, _ = exported("sentence")
        client = _client(transport, "sentence")
        rec = client.reconstruct(["a small dog", "a cat sat"])
        assert list(rec) == ["sentences"] and rec["sentences"].dtype == object
        assert rec["sentences"].tolist() == model.reconstruct_sentences(["a small dog", "a cat sat"])
        assert transport[0][-1]["body"] == {
            "signature_name": "reconstruct",
            "inputs": {"sentences": ["a small dog", "a cat sat"]},
        }
        smp = client.sample(seed=2, temperature=1.0, num_rows=3)
        assert set(smp) == {"sentences", "z"} and smp["z"].shape == (3, 2)
        assert smp["sentences"].tolist() == model.sample_sentences(3, seed=2, temperature=1.0)
        assert all(isinstance(s, str) for s in smp["sentences"])
        enc = client.encode(CORPUS)
        np.testing.assert_allclose(enc["mean"], model.encode(CORPUS).mean().numpy(), rtol=1e-5, atol=1e-6)
        assert client.decode(enc["mean"])["sentences"].tolist() == model.generate(enc["mean"])
        # decode_sample of a sentence model takes a temperature (default 1.0), one per row.
        client.decode_sample(enc["mean"], seed=4)
        assert transport[0][-1]["body"]["inputs"]["temperature"] == [1.0] * 4
        assert transport[0][-1]["body"]["inputs"]["seed"] == [4, 5, 6, 7]
        greedy = client.decode_sample(enc["mean"], seed=4, temperature=0.0)
        assert greedy["sentences"].tolist() == model.generate(enc["mean"])
        assert client.log_likelihood(CORPUS, seed=0)["log_likelihood"].shape == (4,)
        assert client.encode_sample(CORPUS[:2], seed=[3, 9])["z"].shape == (2, 2)

    def test_checked_before_sending(self, transport):
        calls, _ = transport
        client = _client(transport, "image")
        with pytest.raises(
            ValueError, match=r"input 'x' of signature 'encode' must have shape \[-1, 4, 4, 1\]"
        ):
            client.encode(np.zeros((2, 16)))
        with pytest.raises(ValueError, match=r"disagree on dimension 0"):
            client.encode_sample(np.zeros((2, *SMALL_IMAGE)), seed=[1, 2, 3])
        with pytest.raises(ValueError, match=r"seed and temperature disagree"):
            client.sample(seed=[1, 2], temperature=[1.0, 1.0, 1.0])
        with pytest.raises(ValueError, match=r"num_rows=3 but"):
            client.sample(seed=[1, 2], num_rows=3)
        with pytest.raises(ValueError, match=r"seed must be an integer"):
            client.sample(seed=1.5)
        with pytest.raises(ValueError, match=r"no signature 'generate'"):
            client.predict("generate", z=np.zeros((1, 3)))
        assert [c["method"] for c in calls] == ["GET"]  # the metadata only

    def test_zero_rows_answered_locally(self, transport):
        calls, _ = transport
        out = _client(transport, "image").sample(seed=[], temperature=[])
        assert out["x"].shape == (0, *SMALL_IMAGE) and out["x"].dtype == np.float32
        assert out["z"].shape == (0, SMALL_LATENT)
        out = sc.RestClient("http://tfs:8501").reconstruct(np.zeros((0, *SMALL_IMAGE)))
        assert out["reconstruction"].shape == (0, *SMALL_IMAGE)
        assert [c["method"] for c in calls] == ["GET", "GET"]

    def test_specs_cached_and_refreshed(self, transport):
        calls, _ = transport
        client = _client(transport, "image")
        assert client.specs() is client.specs()
        client.specs(refresh=True)
        assert [c["url"] for c in calls] == ["http://tfs:8501/v1/models/vae/metadata"] * 2

    def test_status_metadata_and_versions(self, transport):
        calls, replies = transport
        replies.append(rest_server("image"))
        client = sc.RestClient("http://tfs:8501", version=3)
        assert client.status()["model_version_status"][0]["state"] == "AVAILABLE"
        assert client.metadata()["model_spec"]["name"] == "vae"
        client.decode(np.zeros((1, SMALL_LATENT)))
        assert [c["url"] for c in calls] == [
            "http://tfs:8501/v1/models/vae/versions/3",
            "http://tfs:8501/v1/models/vae/versions/3/metadata",
            "http://tfs:8501/v1/models/vae/versions/3/metadata",
            "http://tfs:8501/v1/models/vae/versions/3:predict",
        ]
        assert [c["method"] for c in calls] == ["GET", "GET", "GET", "POST"]

    def test_server_errors(self, transport):
        calls, replies = transport
        client = sc.RestClient("http://tfs:8501")
        replies += [rest_metadata("image"), {"error": "inputs x and seed must have the same batch size"}]
        with pytest.raises(sc.TFServingError, match="same batch size"):
            client.log_likelihood(np.zeros((1, *SMALL_IMAGE)))
        replies.append({"model_spec": {}})
        with pytest.raises(sc.TFServingError, match="bad metadata"):
            client.specs(refresh=True)

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
            sc.RestClient("http://tfs:8501").decode(np.zeros((1, 3)))

    def test_bad_format(self):
        with pytest.raises(ValueError, match="columnar"):
            sc.RestClient("http://tfs:8501", format="rows")


# ---------------------------------------------------------------------------
# REST without TensorFlow / grpc
# ---------------------------------------------------------------------------

BLOCKED = ("tensorflow", "tensorflow_serving", "grpc", "vae_zoo")

NO_TF_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, io, json, sys

    BLOCKED = {blocked!r}


    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked in this test")
            return None


    sys.meta_path.insert(0, Block())
    for name in BLOCKED:  # the blocker works
        try:
            __import__(name)
        except ImportError:
            pass
        else:
            sys.exit(f"{{name}} is importable despite the blocker")

    import urllib.request

    from serving.client import rest

    metadata = json.load(sys.stdin)  # the metadata answer of a real export


    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()


    sent = []


    def urlopen(request, timeout=None):
        if request.data is None:
            return Response(json.dumps(metadata).encode())
        sent.append(json.loads(request.data))
        rows = len(sent[-1]["inputs"]["seed"])
        return Response(json.dumps({{"outputs": {{"sentences": ["a dog"] * rows, "z": [[0.5, 0.0]] * rows}}}}).encode())


    urllib.request.urlopen = urlopen
    client = rest.RestClient("http://tfs:8501")
    out = client.sample(seed=1, temperature=0.5, num_rows=3)
    print(json.dumps({{
        "url": rest.rest_url("localhost:8501", version=3),
        "sent": sent,
        "client": {{k: [list(v.shape), v.dtype.name, v.tolist()[0]] for k, v in out.items()}},
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    }}))
    """
).format(blocked=BLOCKED)


def test_rest_works_with_tensorflow_grpc_and_vae_zoo_blocked():
    result = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT],
        cwd=REPO_ROOT,
        input=json.dumps(rest_metadata("sentence")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["url"] == "http://localhost:8501/v1/models/vae/versions/3:predict"
    assert got["sent"] == [
        {"signature_name": "sample", "inputs": {"seed": [1, 2, 3], "temperature": [0.5, 0.5, 0.5]}}
    ]
    assert got["client"] == {"sentences": [[3], "object", "a dog"], "z": [[3, 2], "float32", [0.5, 0.0]]}
    assert got["loaded"] == []


@pytest.mark.parametrize("module", ["rest.py", "common.py"])
def test_rest_modules_never_import_tensorflow_or_grpc(module):
    """rest.py and its only in-package dependency, common.py, import nothing beyond the stdlib and numpy, even inside functions."""
    with open(os.path.join(CLIENT_DIR, module), encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    absolute, relative = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            absolute.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                relative.add(node.module)
            else:
                absolute.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    assert absolute <= allowed, sorted(absolute - allowed)
    assert not absolute & set(BLOCKED)
    assert relative <= ({"common"} if module == "rest.py" else set()), relative
