"""Posterior heads q(z|x): shapes and the scale floor."""

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo import distributions as d


@pytest.mark.parametrize(
    "head, outputs",
    [
        (d.DiagonalGaussianPosterior(latent_dim=5), {"loc": (4, 5), "scale": (4, 5)}),
        (d.FullCovarianceGaussianPosterior(latent_dim=5), {"loc": (4, 5), "scale_tril": (4, 5, 5)}),
    ],
)
def test_posterior_shapes(head, outputs):
    params = head(np.random.default_rng(0).normal(size=(4, 7)).astype("float32"))
    assert {k: tuple(v.shape) for k, v in params.items()} == outputs
    q = head.distribution(params)
    assert q.batch_shape == [4] and q.event_shape == [5]
    eps = tf.random.stateless_normal([3, 4, 5], seed=[1, 2])
    z = head.reparameterize(params, eps)
    assert z.shape == (3, 4, 5)
    # the reparameterized draw is a draw of q: its density under q is finite
    assert np.isfinite(q.log_prob(z).numpy()).all()


def test_posterior_scale_floor():
    head = d.DiagonalGaussianPosterior(latent_dim=3, min_scale=1e-3)
    head.build((None, 2))
    head.projection.kernel.assign(np.zeros((2, 6), "float32"))
    head.projection.bias.assign(np.array([0, 0, 0, -200, -200, -200], "float32"))
    scale = head(np.ones((1, 2), "float32"))["scale"].numpy()
    np.testing.assert_allclose(scale, 1e-3, rtol=1e-6)
