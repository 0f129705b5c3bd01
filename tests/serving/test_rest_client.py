"""serving/client/rest.py's RestClient, offline (no server, no network).

The client runs over a stubbed ``urllib.request.urlopen`` (the ``transport`` fixture) that answers the
metadata of a real export and runs its requests through the loaded SavedModel (``serving_testing``):
every signature, the image and sentence methods against the Python API, checks made before sending,
versions, and the errors of the server and of the connection.
"""

from __future__ import annotations

import io
import urllib.error

import numpy as np
import pytest
from serving_testing import (
    CORPUS,
    SMALL_IMAGE,
    SMALL_LATENT,
    assert_outputs_equal,
    exported,
    model_inputs,
    rest_metadata,
    run_signature,
    sc,
)
from tf_serving_standins import rest_server

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
