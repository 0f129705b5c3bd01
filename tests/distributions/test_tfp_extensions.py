"""TFP extensions: the fast diagonal Gaussian mixture and tempered sampling."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo import distributions as d

tfd = tfp.distributions


def test_diagonal_gaussian_mixture_log_prob_matches_float64():
    # 500 components of 32 dims with scales down to 0.03, points near components and far from them.
    rng = np.random.default_rng(0)
    k, dims = 500, 32
    loc = rng.normal(0, 1, (k, dims)).astype("float32")
    scale = np.exp(rng.uniform(np.log(0.03), 0, (k, dims))).astype("float32")
    logits = rng.normal(size=k).astype("float32")
    near = loc[rng.integers(0, k, 300)] + scale[rng.integers(0, k, 300)] * rng.normal(size=(300, dims))
    z = np.concatenate([near, 2 * rng.normal(size=(300, dims))]).astype("float32").reshape(2, 300, dims)
    fast = d.DiagonalGaussianMixture(tfd.Categorical(logits=logits), tfd.MultivariateNormalDiag(loc, scale))
    exact = tfd.MixtureSameFamily(
        tfd.Categorical(logits=logits.astype("float64")),
        tfd.MultivariateNormalDiag(loc.astype("float64"), scale.astype("float64")),
    ).log_prob(z.astype("float64"))
    values = fast.log_prob(z)
    assert values.shape == (2, 300) and values.dtype == tf.float32
    np.testing.assert_allclose(values.numpy(), exact.numpy(), atol=5e-4, rtol=0)
    # Gradients reach the parameters and agree with TFP's mixture.
    loc_var = tf.Variable(loc)

    def grad(cls):
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(
                cls(tfd.Categorical(logits=logits), tfd.MultivariateNormalDiag(loc_var, scale)).log_prob(
                    z[0, :20]
                )
            )
        return tape.gradient(value, loc_var).numpy()

    np.testing.assert_allclose(
        grad(d.DiagonalGaussianMixture), grad(tfd.MixtureSameFamily), atol=2e-2, rtol=1e-3
    )


def _two_component_mixture(full):
    loc = tf.constant([[-10.0, 0.0], [10.0, 0.0]])
    if full:
        components = tfd.MultivariateNormalTriL(
            loc, tf.constant([[[1.0, 0.0], [0.5, 2.0]], [[0.5, 0.0], [0.0, 0.5]]])
        )
    else:
        components = tfd.MultivariateNormalDiag(loc, tf.constant([[1.0, 2.0], [0.5, 0.5]]))
    return tfd.MixtureSameFamily(tfd.Categorical(probs=[0.25, 0.75]), components)


@pytest.mark.parametrize("full", [False, True])
def test_tempered_mixture_sampling(full):
    mixture = _two_component_mixture(full)
    z = d.tempered_sample(mixture, 20000, tf.constant([1, 2]), temperature=0.5).numpy()
    right = z[:, 0] > 0
    assert right.mean() == pytest.approx(0.75, abs=0.015)  # components drawn by their weights
    covariance = mixture.components_distribution.covariance().numpy()
    for side, component in ((~right, 0), (right, 1)):
        np.testing.assert_allclose(
            z[side].mean(axis=0), mixture.components_distribution.mean().numpy()[component], atol=0.05
        )
        np.testing.assert_allclose(np.cov(z[side].T), 0.25 * covariance[component], atol=0.03)  # spread x T


def test_tempered_mixture_sampling_draws_only_the_chosen_components():
    """A VampPrior-sized mixture (500 components): no tensor of the traced sampler holds [n, K, d]."""
    k, dims, n = 500, 3, 7
    mixture = tfd.MixtureSameFamily(
        tfd.Categorical(logits=tf.zeros([k])),
        tfd.MultivariateNormalDiag(tf.zeros([k, dims]), tf.ones([k, dims])),
    )
    graph = (
        tf.function(lambda seed: d.tempered_sample(mixture, n, seed, 0.7))
        .get_concrete_function(tf.TensorSpec([2], tf.int32))
        .graph
    )
    largest = max(
        int(np.prod(t.shape.as_list()))
        for op in graph.get_operations()
        for t in op.outputs
        if t.shape.is_fully_defined()
    )
    assert largest <= k * dims, largest  # the components' own parameters, never n x K x d


def test_temperature_zero_gives_the_mean():
    p = d.StandardNormalPrior(latent_dim=3).distribution()
    z = d.tempered_sample(p, 4, tf.constant([5, 6]), temperature=0.0)
    np.testing.assert_array_equal(z.numpy(), np.zeros((4, 3)))
