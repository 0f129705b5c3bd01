"""User-published presets: save_to_preset in keras-hub's layout, loading a directory (this layout and vae_zoo
0.2's) or a URL (served on 127.0.0.1), refusals."""

import datetime
import json
import os
import shutil
import tarfile

import keras
import numpy as np
import pytest

import vae_zoo
from vae_zoo import presets
from vae_zoo.models import ConvVAE, DenseVAE
from vae_zoo.utils.checksums import sha256


@pytest.fixture(scope="module")
def trained(fashion_train):
    model = DenseVAE((28, 28, 1), latent_dim=3, hidden_units=(16,), seed=0)
    model.compile(optimizer="adam")
    model.fit(fashion_train[:256], batch_size=64, epochs=1, verbose=0)
    return model


def same_model(a, b, x):
    np.testing.assert_array_equal(a.encode(x).mean().numpy(), b.encode(x).mean().numpy())
    np.testing.assert_array_equal(a.sample(3, seed=1).numpy(), b.sample(3, seed=1).numpy())


def test_save_and_load_a_preset_directory(tmp_path, trained, fashion_train):
    path = trained.save_to_preset(
        str(tmp_path / "mine"), metrics={"test_nll": 300.5}, description="a test preset"
    )
    assert sorted(os.listdir(path)) == ["config.json", "metadata.json", "model.weights.h5"]
    # keras-hub's config.json: the object as Keras serializes it
    config = json.load(open(os.path.join(path, "config.json")))
    assert list(config) == ["module", "class_name", "config", "registered_name"]
    assert (config["module"], config["class_name"], config["registered_name"]) == (
        "vae_zoo.models.dense",
        "DenseVAE",
        "vae_zoo>DenseVAE",
    )
    meta = json.load(open(os.path.join(path, "metadata.json")))
    # keras-hub's metadata fields, then ours
    assert meta["keras_version"] == keras.__version__ and meta["parameter_count"] == trained.count_params()
    datetime.datetime.strptime(meta["date_saved"], "%Y-%m-%d@%H:%M:%S")
    assert meta["metrics"] == {"test_nll": 300.5} and meta["model_class"] == "DenseVAE"
    assert meta["vae_zoo_version"] == vae_zoo.__version__ and meta["format_version"] == 2
    assert set(meta["files"]) == {"config.json", "model.weights.h5"}
    for name, record in meta["files"].items():
        assert record == {
            "sha256": sha256(os.path.join(path, name)),
            "bytes": os.path.getsize(os.path.join(path, name)),
        }
    assert set(meta["versions"]) == {"vae_zoo", "tensorflow", "keras", "tensorflow_probability"}
    x = fashion_train[:5]
    for loaded in (vae_zoo.load(path), DenseVAE.from_preset(path), presets.load_model(path)):
        assert type(loaded) is DenseVAE
        same_model(trained, loaded, x)
    assert vae_zoo.load(path, validate_inputs=False).validate_inputs is False  # overrides reach the config
    with pytest.raises(ValueError, match="is a DenseVAE, not a ConvVAE; use DenseVAE.from_preset"):
        ConvVAE.from_preset(path)
    with pytest.raises(FileExistsError, match="already exists and is not empty"):
        trained.save_to_preset(path)


@pytest.mark.parametrize("damage", ["flip", "missing", "version", "unlisted", "outside"])
def test_broken_preset_directories_are_refused(tmp_path, trained, damage):
    path = trained.save_to_preset(str(tmp_path / "p"))
    weights = os.path.join(path, "model.weights.h5")
    expected = sha256(weights)
    meta_path = os.path.join(path, "metadata.json")
    meta = json.load(open(meta_path))
    if damage == "flip":
        data = bytearray(open(weights, "rb").read())
        data[len(data) // 2] ^= 0xFF
        open(weights, "wb").write(bytes(data))
        error, message = (
            presets.PresetChecksumError,
            f"{weights} has SHA-256 [0-9a-f]{{64}}, expected {expected}",
        )
    elif damage == "missing":
        os.remove(weights)
        error, message = (
            FileNotFoundError,
            f"preset file {weights} is missing \\(expected SHA-256 {expected}\\)",
        )
    elif damage == "version":
        meta["vae_zoo_version"] = "1.3.0"
        json.dump(meta, open(meta_path, "w"))
        error, message = ValueError, "was written by vae_zoo 1.3.0 \\(major version 1\\); this is vae_zoo 0"
    elif damage == "unlisted":
        del meta["files"]["model.weights.h5"]
        json.dump(meta, open(meta_path, "w"))
        error, message = ValueError, "lists no SHA-256 for model.weights.h5"
    else:
        meta["files"]["../secret"] = {"sha256": expected, "bytes": 1}
        json.dump(meta, open(meta_path, "w"))
        error, message = ValueError, "lists a file '../secret' outside the preset directory"
    with pytest.raises(error, match=message):
        vae_zoo.load(path)


def test_url_presets_are_downloaded_with_their_hash(tmp_path, trained, fashion_train, server, monkeypatch):
    monkeypatch.setenv("VAE_ZOO_HOME", str(tmp_path / "cache"))
    root, url = server
    path = trained.save_to_preset(str(tmp_path / "published"))
    archive = root / "published.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(path, arcname="published")
    digest = sha256(str(archive))
    loaded = vae_zoo.load(f"{url}/published.tar.gz#sha256={digest}")
    same_model(trained, loaded, fashion_train[:4])
    with pytest.raises(ValueError, match="needs its archive's SHA-256 to be checked"):
        vae_zoo.load(f"{url}/published.tar.gz")
    # the server now serves other bytes under another name with the old hash: refused, nothing loaded
    shutil.copy(archive, root / "other.tar.gz")
    with open(root / "other.tar.gz", "ab") as f:
        f.write(b"tampered")
    with pytest.raises(
        presets.PresetChecksumError,
        match=f"other.tar.gz did not serve the published preset: its SHA-256 is not {digest}",
    ):
        vae_zoo.load(f"{url}/other.tar.gz#sha256={digest}")


DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.mark.parametrize("name", ["dense_v1", "sentence_v1"])
def test_directories_of_vae_zoo_0_2_still_load(name):
    """tests/presets/data holds directories save_to_preset wrote before keras-hub's layout (commit 2658fce):
    no `module` in config.json, no keras-hub fields in metadata.json, vocabulary.txt beside config.json."""
    path = os.path.join(DATA, name)
    assert "module" not in json.load(open(os.path.join(path, "config.json")))
    assert "format_version" not in json.load(open(os.path.join(path, "metadata.json")))
    expected = json.load(open(os.path.join(DATA, "old_layout_expected.json")))[name]
    model = vae_zoo.load(path)
    inputs = expected["inputs"] if name == "sentence_v1" else np.array(expected["inputs"], "float32")
    np.testing.assert_allclose(
        model.encode(inputs).mean().numpy(), expected["encode_mean"], rtol=0, atol=1e-6
    )


def test_a_tampered_vocabulary_of_a_0_2_directory_is_refused(tmp_path):
    path = shutil.copytree(os.path.join(DATA, "sentence_v1"), tmp_path / "old")
    with open(path / "vocabulary.txt", "a") as f:
        f.write("extra\n")
    with pytest.raises(presets.PresetChecksumError, match="vocabulary file .*vocabulary.txt has SHA-256"):
        vae_zoo.load(str(path))
