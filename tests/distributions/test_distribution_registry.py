"""Distribution names, dict specs and serialization."""

import keras
import pytest

from vae_zoo import distributions as d


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'. Valid likelihood names: bernoulli"):
        d.get_likelihood("poisson")
    with pytest.raises(ValueError, match="Unknown prior 'flow'.*mixture, normal, vamp"):
        d.get_prior("flow", 2, (4,))
    with pytest.raises(ValueError, match="Unknown posterior 'iaf'.*diagonal, diagonal_batch_norm, full"):
        d.get_posterior("iaf", 2)


def test_dict_specs_and_serialization_round_trip():
    head = d.get_prior({"name": "mixture", "num_components": 7}, 3, (4,))
    assert isinstance(head, d.MixtureOfGaussiansPrior) and head.num_components == 7
    for layer in [
        d.GaussianLikelihood(scale="per_dimension", fixed_scale=0.2),
        d.VampPrior(latent_dim=2, num_components=4, pseudo_input_shape=(3, 3)),
        d.FullCovarianceGaussianPosterior(latent_dim=3, min_scale=1e-2),
    ]:
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
