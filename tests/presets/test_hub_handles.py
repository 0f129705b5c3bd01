"""Preset directories uploaded to a hub load from `hf://` and `kaggle://` handles: the handles' HTTP(S)
layouts served from 127.0.0.1 (HF_ENDPOINT, KAGGLE_API_ENDPOINT point there), every file checked."""

import json
import os
import shutil

import numpy as np
import pytest

import vae_zoo
from vae_zoo import presets
from vae_zoo.models import DenseVAE, SequenceVAE
from vae_zoo.text import TextCodec
from vae_zoo.utils.checksums import sha256

SENTENCES = ["the cat sat on the mat", "a dog ran"]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Preset directories as save_to_preset writes them: a dense model, a sentence model (with assets/)."""
    root = tmp_path_factory.mktemp("published")
    dense = DenseVAE((4, 4, 1), latent_dim=2, hidden_units=(3,), seed=0)
    dense.encode(np.zeros((1, 4, 4, 1), "float32"))
    codec = TextCodec(["the", "a", "cat", "dog", "sat", "ran", "on", "mat"], max_length=5)
    sentence = SequenceVAE(
        vocabulary=codec.vocabulary, max_length=5, embedding_dim=4, hidden_units=8, latent_dim=2, seed=0
    )
    return {
        "dense": (dense, dense.save_to_preset(str(root / "dense"))),
        "sentence": (sentence, sentence.save_to_preset(str(root / "sentence"))),
    }


X = (np.arange(32).reshape(2, 4, 4, 1) % 2).astype("float32")


def same(a, b, x):
    np.testing.assert_array_equal(a.encode(x).mean().numpy(), b.encode(x).mean().numpy())


@pytest.fixture
def hub(server, tmp_path, monkeypatch):
    root, url = server
    monkeypatch.setenv("VAE_ZOO_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", url)
    return root


def test_hf_handles(hub, published, monkeypatch):
    for kind, (model, path) in published.items():
        shutil.copytree(path, hub / "someone" / kind / "resolve" / "main")
        loaded = vae_zoo.load(f"hf://someone/{kind}")
        same(model, loaded, SENTENCES if kind == "sentence" else X)
    cached = os.path.join(os.environ["VAE_ZOO_HOME"], "presets", "hf", "someone", "sentence", "main")
    assert os.path.isfile(os.path.join(cached, "assets", "tokenizer", "vocabulary.txt"))
    model, path = published["dense"]
    shutil.copytree(path, hub / "someone" / "dense" / "resolve" / "v1.0")
    assert type(DenseVAE.from_preset("hf://someone/dense@v1.0")) is DenseVAE
    # pinned by metadata.json's SHA-256: loads, then loads offline from the cache
    pin = sha256(os.path.join(path, "metadata.json"))
    same(model, vae_zoo.load(f"hf://someone/dense#sha256={pin}"), X)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    same(model, vae_zoo.load(f"hf://someone/dense#sha256={pin}"), X)
    with pytest.raises(
        ConnectionError, match="hf://someone/dense: could not reach http://127.0.0.1:9/.*HF_ENDPOINT"
    ):
        vae_zoo.load("hf://someone/dense")


def test_kaggle_handles(hub, published, served_requests):
    model, path = published["dense"]
    variation = hub / "api" / "v1" / "models" / "someone" / "vae" / "keras" / "dense"
    shutil.copytree(path, variation / "3" / "download")
    same(model, vae_zoo.load("kaggle://someone/vae/keras/dense/3"), X)
    assert [p for p, _ in served_requests] == [
        f"/api/v1/models/someone/vae/keras/dense/3/download/{name}"
        for name in ("metadata.json", "config.json", "model.weights.h5")
    ]
    (variation / "get").write_text(
        json.dumps({"versionNumber": 3})
    )  # the latest version, as Kaggle's API reports it
    same(model, vae_zoo.load("kaggle://someone/vae/keras/dense"), X)


def test_a_hub_serving_other_bytes_is_refused(hub, published):
    model, path = published["dense"]
    served = shutil.copytree(path, hub / "someone" / "dense" / "resolve" / "main")
    weights = served / "model.weights.h5"
    weights.write_bytes(weights.read_bytes() + b"tampered")
    expected = sha256(os.path.join(path, "model.weights.h5"))
    with pytest.raises(
        presets.PresetChecksumError,
        match=f"hf://someone/dense: http://.*/someone/dense/resolve/main/model.weights.h5 did not serve the "
        f"published model.weights.h5: its SHA-256 is [0-9a-f]{{64}}, expected {expected}",
    ):
        vae_zoo.load("hf://someone/dense")
    with pytest.raises(presets.PresetChecksumError, match="did not serve the published metadata.json"):
        vae_zoo.load(f"hf://someone/dense#sha256={'0' * 64}")


@pytest.mark.parametrize(
    "handle, error, message",
    [
        (
            "hf://someone/nothing",
            FileNotFoundError,
            "answered 404 Not Found; the preset has no metadata.json there",
        ),
        ("hf://someone", ValueError, "'hf://someone' is not a hf handle: expected hf://OWNER/NAME"),
        ("hf://a/b/c", ValueError, "is not a hf handle"),
        ("kaggle://someone/vae/keras", ValueError, "expected kaggle://OWNER/MODEL/FRAMEWORK/VARIATION"),
        ("kaggle://someone/vae/keras/dense/latest", ValueError, "a Kaggle version is a number, got 'latest'"),
        ("hf://a/b#sha256=abc", ValueError, "pinned with #sha256=<64 hex digits of its metadata.json>"),
        ("s3://bucket/preset", ValueError, "unknown scheme 's3'; a preset is a name .* hf://OWNER/NAME"),
    ],
)
def test_bad_handles(hub, handle, error, message):
    with pytest.raises(error, match=message):
        vae_zoo.load(handle)


def test_credentials_go_to_the_hub_as_its_clients_send_them(hub, published, served_requests, monkeypatch):
    _, path = published["dense"]
    shutil.copytree(path, hub / "someone" / "private" / "resolve" / "main")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    vae_zoo.load("hf://someone/private")
    assert served_requests and all(auth == "Bearer hf_secret" for _, auth in served_requests)
    served_requests.clear()
    shutil.copytree(
        path, hub / "api" / "v1" / "models" / "someone" / "vae" / "keras" / "private" / "1" / "download"
    )
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "key")
    vae_zoo.load("kaggle://someone/vae/keras/private/1")
    assert served_requests and all(auth == "Basic c29tZW9uZTprZXk=" for _, auth in served_requests)


def test_a_shipped_entry_goes_to_a_hub_with_its_recorded_checksum(tmp_path, hub):
    name = "dense_fashion_mnist_2d"
    e = presets.entry(name)
    path = presets.save_registered(name, str(tmp_path / name))
    meta = json.load(open(os.path.join(path, "metadata.json")))
    assert meta["files"]["model.weights.h5"]["sha256"] == e["weights"]["sha256"]  # the same bytes
    assert meta["metrics"] == e["metrics"] and meta["description"] == e["description"]
    shutil.copytree(path, hub / "vae-zoo" / name / "resolve" / "main")
    x = (np.arange(2 * 784).reshape(2, 28, 28, 1) % 3 == 0).astype("float32")
    same(vae_zoo.load(name), vae_zoo.load(f"hf://vae-zoo/{name}"), x)
