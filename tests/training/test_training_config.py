"""Training configs: defaults, files, flags, refusals."""

import json
import os

import pytest

from vae_zoo.training import config as config_lib

from training_testing import ENV, QUICK, assert_same_weights, run_cli, weights_of  # noqa: F401


def test_config_file_and_flags(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("model: conv\nepochs: 3\nmodel_kwargs: {filters: [8, 16]}\n")
    config = config_lib.resolve(str(path), {"epochs": 5})
    assert (config["model"], config["epochs"], config["model_kwargs"]) == ("conv", 5, {"filters": [8, 16]})
    assert config["out"] == os.path.join("runs", "conv_fashion_mnist")
    (tmp_path / "r.json").write_text(json.dumps({"latent_dim": 2}))
    assert config_lib.resolve(str(tmp_path / "r.json"))["latent_dim"] == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"model": "gan"}, "Unknown model 'gan'. Valid: dense, conv, beta."),
        ({"strategy": "tpu"}, "Unknown strategy 'tpu'. Valid: auto, default, mirrored, multiworker."),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"learning_rat": 0.1}, "Unknown setting\\(s\\) in flags: learning_rat"),
        ({"lr_schedule": "step"}, "Unknown lr_schedule 'step'. Valid: none, cosine."),
        ({"lr_final_fraction": 2}, "lr_final_fraction must be a number in \\[0, 1\\], got 2"),
    ],
)
def test_bad_configs_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_lib.resolve(overrides=overrides)


def test_kl_annealing_is_refused_where_there_is_no_kl_weight():
    with pytest.raises(
        ValueError,
        match="kl_annealing 'linear' drives the ELBO's KL weight, but objective 'iwae' has no KL term",
    ):
        config_lib.resolve(overrides={"objective": "iwae", "num_samples": 5, "kl_annealing": "linear"})
    with pytest.raises(
        ValueError, match="the capacity objective \\(capacity 25.0\\) weights \\|KL - C\\| by gamma"
    ):
        config_lib.resolve(
            overrides={"model": "beta", "model_kwargs": {"capacity": 25.0}, "kl_annealing": "linear"}
        )
    with pytest.raises(ValueError, match="Unknown optimizer 'rmsprop'. Valid: adam, sgd."):
        config_lib.resolve(overrides={"optimizer": "rmsprop"})


def test_bad_config_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="must hold a mapping of settings, got list"):
        config_lib.resolve(str(path))
