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
import sys

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from serving import client as sc  # noqa: E402


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
