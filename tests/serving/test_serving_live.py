"""Live tests of the serving.client REST and gRPC clients against a real TensorFlow Serving.

Skipped unless ``TF_SERVING_URL`` (REST base URL, e.g. http://localhost:8501)
is set; set ``TF_SERVING_GRPC`` (e.g. localhost:8500) to also exercise gRPC::

    docker compose -f serving/docker-compose.yml up -d
    TF_SERVING_URL=http://localhost:8501 TF_SERVING_GRPC=localhost:8500 \\
        python -m pytest tests/serving -q -k Live
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from serving_testing import sc

# ---------------------------------------------------------------------------
# Live server (skipped unless TF_SERVING_URL is set)
# ---------------------------------------------------------------------------

LIVE_URL = os.environ.get("TF_SERVING_URL")
LIVE_GRPC = os.environ.get("TF_SERVING_GRPC")
LIVE_MODEL = os.environ.get("TF_SERVING_MODEL", "vae")
EXPECTED_SIGNATURES = {
    "encode",
    "decode",
    "reconstruct",
    "serving_default",
    "encode_sample",
    "decode_sample",
    "sample",
    "log_likelihood",
}


def _close(a, b):
    assert set(a) == set(b)
    for name in a:
        if a[name].dtype == object:
            assert a[name].tolist() == b[name].tolist(), name
        else:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.skipif(
    not LIVE_URL, reason="set TF_SERVING_URL (e.g. http://localhost:8501) to test a live TF Serving"
)
class TestLiveServer:
    @pytest.fixture(scope="class")
    def rest(self):
        return sc.RestClient(LIVE_URL, LIVE_MODEL, timeout=120)

    @pytest.fixture(scope="class")
    def specs(self, rest):
        return rest.specs()

    @pytest.fixture(scope="class")
    def data(self, specs):
        """Three rows of valid data for the model's data input (images or sentences), from the metadata."""
        (name,) = specs["encode"]["inputs"]
        spec = specs["encode"]["inputs"][name]
        if spec.dtype == "DT_STRING":
            return ["a small dog", "the cat sat", "a man walked"]
        assert all(d > 0 for d in spec.shape[1:]), spec
        x = np.random.default_rng(0).uniform(size=(3, *spec.shape[1:]))
        return x.astype(np.float32) if spec.dtype == "DT_FLOAT" else (x * 3).astype(np.int32)

    @pytest.fixture(scope="class")
    def grpc_client(self):
        if not LIVE_GRPC:
            pytest.skip("set TF_SERVING_GRPC (e.g. localhost:8500) to test gRPC")
        client = sc.GrpcClient(LIVE_GRPC, LIVE_MODEL, timeout=120)
        yield client
        client.close()

    def _check_all(self, client, specs, data):
        n = len(data)
        latent = specs["decode"]["inputs"]["z"].shape[-1]
        results = {}
        for signature in sorted(EXPECTED_SIGNATURES - {"serving_default"}):
            if signature == "sample":
                out = client.sample(seed=3, temperature=0.7, num_rows=n)
            elif signature in ("decode", "decode_sample"):
                z = np.random.default_rng(1).standard_normal((n, latent)).astype(np.float32)
                out = client.decode(z) if signature == "decode" else client.decode_sample(z, seed=4)
            elif signature in ("encode", "reconstruct"):
                out = getattr(client, signature)(data)
            else:
                out = getattr(client, signature)(data, seed=5)
            outputs = specs[signature]["outputs"]
            assert set(out) == set(outputs), signature
            for name, spec in outputs.items():
                assert out[name].shape[0] == n and (
                    spec.shape is None or out[name].ndim == len(spec.shape)
                ), name
            results[signature] = out
        assert np.all(np.isfinite(results["log_likelihood"]["log_likelihood"]))
        # Same seeds, same rows; rows do not depend on each other.
        _close(client.sample(seed=3, temperature=0.7, num_rows=n), results["sample"])
        _close(client.sample(seed=5, temperature=0.7), {k: v[2:] for k, v in results["sample"].items()})
        return results

    def test_status_available(self, rest):
        states = [v["state"] for v in rest.status()["model_version_status"]]
        assert "AVAILABLE" in states

    def test_metadata_signatures(self, specs):
        assert EXPECTED_SIGNATURES <= set(specs), sorted(specs)
        assert specs["sample"]["inputs"]["seed"] == ("DT_INT64", [-1])
        assert specs["sample"]["inputs"]["temperature"] == ("DT_FLOAT", [-1])
        assert specs["log_likelihood"]["outputs"]["log_likelihood"].shape == [-1]
        for signature in EXPECTED_SIGNATURES:
            assert all(s.shape and s.shape[0] == -1 for s in specs[signature]["inputs"].values()), signature

    def test_rest_signatures(self, rest, specs, data):
        self._check_all(rest, specs, data)

    def test_rest_row_format(self, specs, data):
        row = sc.RestClient(LIVE_URL, LIVE_MODEL, timeout=120, format="row")
        col = sc.RestClient(LIVE_URL, LIVE_MODEL, timeout=120)
        _close(row.log_likelihood(data, seed=1), col.log_likelihood(data, seed=1))
        _close(row.sample(seed=1, num_rows=2), col.sample(seed=1, num_rows=2))

    def test_serving_default_is_reconstruct(self, rest, specs, data):
        (name,) = specs["serving_default"]["inputs"]
        _close(rest.predict("serving_default", {name: data}), rest.reconstruct(data))

    def test_bad_requests_are_refused_before_sending(self, rest, data):
        with pytest.raises(ValueError, match="disagree on dimension 0"):
            rest.encode_sample(data, seed=[1])

    def test_grpc_signatures(self, grpc_client, rest, specs, data):
        assert "AVAILABLE" in json.dumps(grpc_client.status())
        assert grpc_client.specs() == specs
        via_grpc = self._check_all(grpc_client, specs, data)
        via_rest = self._check_all(rest, specs, data)
        for signature in via_rest:
            _close(via_grpc[signature], via_rest[signature])
