"""The data-kind registry: kinds register themselves, families name theirs, upper layers ask the kind."""

import pytest

import vae_zoo
from vae_zoo import kinds
from vae_zoo.models.registry import register_family
from vae_zoo.training import callbacks as cb
from vae_zoo.training import config as config_lib


def test_built_in_kinds_and_unknown_names():
    assert kinds.kind_names()[:3] == ("images", "sentences", "series")
    with pytest.raises(ValueError, match="Unknown data kind 'audio'. Valid: images, sentences, series"):
        kinds.get_kind("audio")


def test_a_new_kind_registers_itself_and_is_not_a_closed_tuple():
    @kinds.register_kind("test_only_kind")
    class TestOnly(kinds.DataKind):
        datasets = ("test_only_data",)

    try:
        assert kinds.get_kind("test_only_kind").claims("test_only_data")
        with pytest.raises(ValueError, match="already registered by TestOnly"):

            @kinds.register_kind("test_only_kind")
            class Other(kinds.DataKind):
                pass

        with pytest.raises(ValueError, match="expects a DataKind subclass"):
            kinds.register_kind("test_bad")(object)
    finally:
        kinds.KINDS.pop("test_only_kind")


def test_a_family_names_its_kinds_as_a_tuple():
    class Bad(vae_zoo.models.DenseVAE):
        data_kinds = "images"

    with pytest.raises(
        ValueError, match="Bad.data_kinds must be a non-empty tuple of kind names, got 'images'"
    ):
        register_family("test_bad_family")(Bad)


def test_the_run_kind_follows_the_family_and_dataset():
    assert config_lib.data_kind(config_lib.resolve(overrides={"model": "dense"})).name == "images"
    config = config_lib.resolve(overrides={"model": "sequence", "dataset": "wordnet_sentences"})
    assert config_lib.data_kind(config).name == "sentences" and config["binarize"] is None
    config = config_lib.resolve(overrides={"model": "sequence", "dataset": "sunspots"})
    assert config_lib.data_kind(config).name == "series" and config["binarize"] is None
    assert config_lib.resolve(overrides={"model": "conv"})["binarize"] == "dynamic"


def test_kl_annealing_names_the_capacity_objective_through_the_model():
    model = vae_zoo.models.BetaVAE(
        (28, 28, 1), latent_dim=2, filters=(4, 4), hidden_units=8, capacity=10.0, seed=0
    )
    callback = cb.KLAnnealing("linear", steps=10)
    callback.set_model(model)
    with pytest.raises(
        ValueError, match=r"trains the capacity objective \(capacity=10.0, weighted by gamma\)"
    ):
        callback.on_train_begin()


def test_a_card_asks_the_kind_whose_record_the_entry_holds():
    images = {"preprocessing": {"train_binarize": "dynamic", "test_binarize": "static", "seed": 3}}
    sentences = {
        "preprocessing": {"tokenizer": "TextCodec", "max_length": 32, "vocabulary_size": 9, "seed": 0}
    }
    series = {"preprocessing": {"windows": "8 steps, stride 1", "split_by_time": {}, "seed": 0}}
    other = {"preprocessing": {"scale": 2}}
    assert [kinds.kind_of_entry(e).card_unit for e in (images, sentences, series, other)] == [
        "image",
        "sentence",
        "window",
        "example",
    ]
    test_line = kinds.kind_of_entry(images).card_data_lines(images)[1]
    assert test_line.startswith("- Test images: binarized once (`static`) with seed 3")
    assert kinds.kind_of_entry(other).card_data_lines(other) == ["- `scale`: 2"]
    rows = kinds.kind_of_entry(sentences).card_metric_rows(
        {"perplexity": 12.0, "tokens": 1000}, "10", sentences
    )
    assert rows == ["| perplexity per token (`[EOS]` included) | 12.00 | 1,000 tokens of the n examples |"]
