"""Tests for serving/client/rest.py: response parsing, RestClient, and REST without TensorFlow.

Offline (no server, no network): responses are parsed from hand-written
bodies in the shapes TF Serving documents, and ``RestClient`` runs over a
stubbed ``urllib.request.urlopen``. The REST client needs neither TensorFlow
nor ``grpc``, which the last tests check (in a subprocess where both are
blocked, and in the source).
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

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from serving import client as sc  # noqa: E402

CLIENT_DIR = os.path.join(REPO_ROOT, "serving", "client")

LATENT = 4
IMAGE = (28, 28, 1)


def _x(n=2, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *IMAGE)).astype(np.float32)


def _z(n=3, seed=1):
    return np.random.default_rng(seed).standard_normal((n, LATENT)).astype(np.float32)



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


# ---------------------------------------------------------------------------
# REST without TensorFlow / grpc
# ---------------------------------------------------------------------------

BLOCKED = ("tensorflow", "tensorflow_serving", "grpc")

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

    body = rest.rest_request({{"num_samples": 4, "seed": (1, 2), "temperature": 0.5}}, "sample")
    row = rest.rest_request({{"z": [[0.0, 1.0], [2.0, 3.0]]}}, "decode", format="row")
    url = rest.rest_url("localhost:8501", version=3)
    parsed = rest.parse_rest_response({{"outputs": {{"z": [[0.5, -1.0]]}}}})


    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()


    sent = []


    def urlopen(request, timeout=None):
        sent.append(json.loads(request.data))
        return Response(json.dumps({{"outputs": {{"x": [[0.0, 1.0]] * 2, "z": [[0.5]] * 2}}}}).encode())


    urllib.request.urlopen = urlopen
    out = rest.RestClient("http://tfs:8501").sample(2, seed=(1, 2))
    print(json.dumps({{
        "body": body,
        "row": row,
        "url": url,
        "parsed": [list(parsed["z"].shape), parsed["z"].dtype.name],
        "sent": sent,
        "client": {{k: [list(v.shape), v.dtype.name] for k, v in out.items()}},
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    }}))
    """
).format(blocked=BLOCKED)


def test_rest_works_with_tensorflow_and_grpc_blocked():
    result = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["body"] == {
        "signature_name": "sample",
        "inputs": {"num_samples": 4, "seed": [1, 2], "temperature": 0.5},
    }
    assert got["row"] == {"signature_name": "decode", "instances": [[0.0, 1.0], [2.0, 3.0]]}
    assert got["url"] == "http://localhost:8501/v1/models/vae/versions/3:predict"
    assert got["parsed"] == [[1, 2], "float32"]
    assert got["sent"] == [
        {"signature_name": "sample", "inputs": {"num_samples": 2, "seed": [1, 2], "temperature": 1.0}}
    ]
    assert got["client"] == {"x": [[2, 2], "float32"], "z": [[2, 1], "float32"]}
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
