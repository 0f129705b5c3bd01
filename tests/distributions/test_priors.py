"""Prior heads p(z): shapes and the VampPrior as a mixture of posteriors."""

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import distributions as d


@pytest.mark.parametrize(
    "prior",
    [
        d.StandardNormalPrior(latent_dim=4),
        d.MixtureOfGaussiansPrior(latent_dim=4, num_components=3),
    ],
)
def test_prior_shapes(prior):
    prior.build()
    p = prior.distribution()
    assert p.batch_shape == [] and p.event_shape == [4]
    z = d.tempered_sample(p, 6, tf.constant([1, 2]), temperature=0.5)
    assert z.shape == (6, 4)


def test_vamp_prior_is_a_mixture_of_posteriors():
    head = d.DiagonalGaussianPosterior(latent_dim=2)
    prior = d.VampPrior(latent_dim=2, num_components=3, pseudo_input_shape=(5,))
    prior.build()
    p = prior.distribution(lambda u: head.distribution(head(u)))
    assert p.batch_shape == [] and p.event_shape == [2]
    z = tf.constant([[0.1, -0.3]])
    components = head.distribution(head(prior.pseudo_inputs()))
    expected = tf.reduce_logsumexp(components.log_prob(z[:, None, :]), axis=-1) - np.log(3)
    np.testing.assert_allclose(p.log_prob(z).numpy(), expected.numpy(), rtol=1e-5)
    assert isinstance(p, d.DiagonalGaussianMixture)
