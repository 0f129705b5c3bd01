"""A sentence model's vocabulary is an asset file (beside the shipped weights; under assets/tokenizer/ of a
preset directory), named with its SHA-256 by the config."""

import hashlib
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

import vae_zoo
from vae_zoo import presets
from vae_zoo.models import SequenceVAE
from vae_zoo.text import TextCodec

NAME = "lstm_wordnet_sentences"
#: SHA-256 of `json.dumps(vocabulary)` for the 35,996 words the entry listed inline in registry.json before
#: the move.
OLD_VOCABULARY_SHA256 = "f3270b048619920eb574f68dfe29d03e0cb4fe7885aaf61f574d55cddd739c40"


def test_the_registry_file_lists_no_vocabulary():
    assert os.path.getsize(presets.REGISTRY_FILE) < 100_000
    for name, e in presets.registry(resolve=False).items():
        assert not isinstance(e["config"].get("vocabulary"), list), name
    reference = presets.registry(resolve=False)[NAME]["config"]["vocabulary"]
    assert (
        os.path.isfile(os.path.join(presets.WEIGHTS_DIR, reference["file"]))
        and len(reference["sha256"]) == 64
    )


def test_the_shipped_sentence_preset_has_the_vocabulary_it_had():
    vocabulary = presets.registry()[NAME]["config"]["vocabulary"]
    assert hashlib.sha256(json.dumps(vocabulary).encode()).hexdigest() == OLD_VOCABULARY_SHA256
    model = vae_zoo.load(NAME)
    assert list(model.codec.vocabulary) == vocabulary and model.vocab_size == 36_000


@pytest.fixture
def registry_copy(tmp_path):
    """A copy of the shipped registry whose `weights/` holds only the vocabulary file."""
    (tmp_path / "weights").mkdir()
    shutil.copy(presets.REGISTRY_FILE, tmp_path / "registry.json")
    reference = presets.registry(resolve=False)[NAME]["config"]["vocabulary"]
    path = tmp_path / "weights" / reference["file"]
    shutil.copy(os.path.join(presets.WEIGHTS_DIR, reference["file"]), path)
    return tmp_path / "registry.json", path, reference["sha256"]


def test_a_corrupted_vocabulary_file_is_refused(registry_copy):
    registry_file, path, expected = registry_copy
    assert path.read_bytes().startswith(b"the\n")
    path.write_bytes(b"teh" + path.read_bytes()[3:])
    refusal = f"vocabulary file {path} has SHA-256 [0-9a-f]{{64}}, expected {expected}"
    with pytest.raises(presets.PresetChecksumError, match=refusal):
        presets.loader.build_registered(NAME, registry_file=str(registry_copy[0]))
    path.unlink()  # not beside the registry: the shipped file with that SHA-256 is used
    shipped = presets.entry(NAME)["config"]["vocabulary"]
    assert presets.entry(NAME, str(registry_file))["config"]["vocabulary"] == shipped
    with open(registry_file) as f:
        entries = json.load(f)
    entries[NAME]["config"]["vocabulary"]["file"] = "other.vocabulary.txt"
    with open(registry_file, "w") as f:
        json.dump(entries, f)
    with pytest.raises(
        FileNotFoundError, match=f"vocabulary file {path.parent / 'other.vocabulary.txt'} is missing"
    ):
        presets.entry(NAME, str(registry_file))


@pytest.fixture(scope="module")
def sentence_model():
    codec = TextCodec(["the", "a", "cat", "dog", "sat", "ran", "on", "mat", " ", "ünï"], max_length=5)
    return SequenceVAE(
        vocabulary=codec.vocabulary, max_length=5, embedding_dim=4, hidden_units=8, latent_dim=2, seed=0
    )


def test_a_user_preset_keeps_its_vocabulary_beside_the_config(tmp_path, sentence_model):
    path = sentence_model.save_to_preset(str(tmp_path / "mine"))
    # keras-hub's layout: the tokenizer's assets under assets/tokenizer/
    assert sorted(os.listdir(path)) == ["assets", "config.json", "metadata.json", "model.weights.h5"]
    vocabulary_file = os.path.join(path, "assets", "tokenizer", "vocabulary.txt")
    assert os.listdir(os.path.join(path, "assets")) == ["tokenizer"]
    assert os.listdir(os.path.join(path, "assets", "tokenizer")) == ["vocabulary.txt"]
    config = json.load(open(os.path.join(path, "config.json")))["config"]
    digest = presets.checks.sha256(vocabulary_file)
    assert config["vocabulary"] == {"file": "vocabulary.txt", "sha256": digest}
    files = json.load(open(os.path.join(path, "metadata.json")))["files"]
    assert files["assets/tokenizer/vocabulary.txt"]["sha256"] == digest
    loaded = vae_zoo.load(path)
    assert list(loaded.codec.vocabulary) == list(sentence_model.codec.vocabulary)
    assert json.dumps(loaded.get_config()) == json.dumps(sentence_model.get_config())
    sentences = ["the cat sat on the mat", "a dog ran", "ünï"]
    np.testing.assert_array_equal(loaded.prepare_inputs(sentences), sentence_model.prepare_inputs(sentences))
    np.testing.assert_array_equal(
        loaded.encode(sentences).mean().numpy(), sentence_model.encode(sentences).mean().numpy()
    )
    with open(vocabulary_file, "a") as f:
        f.write("extra\n")
    with pytest.raises(presets.PresetChecksumError, match="vocabulary file .*vocabulary.txt has SHA-256"):
        vae_zoo.load(path)


def test_the_keras_file_still_carries_the_vocabulary(tmp_path, sentence_model):
    sentence_model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        config = json.loads(archive.read("config.json"))["config"]
    assert config["vocabulary"] == list(sentence_model.codec.vocabulary)
