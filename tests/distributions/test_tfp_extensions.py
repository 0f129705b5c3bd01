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


def _three_product_log_prob(mixture, x):
    """`DiagonalGaussianMixture.log_prob` before issue 27: three float64 products, then the sums."""
    components = mixture.components_distribution
    loc = tf.cast(components.loc, tf.float64)
    scale = tf.cast(components.scale.diag, tf.float64)
    center = tf.reduce_mean(loc, axis=0)
    loc = loc - center
    flat = tf.cast(tf.reshape(x, [-1, x.shape[-1]]), tf.float64) - center
    precision = 1.0 / tf.square(scale)
    distance = (
        tf.matmul(tf.square(flat), precision, transpose_b=True)
        - 2.0 * tf.matmul(flat, loc * precision, transpose_b=True)
        + tf.reduce_sum(tf.square(loc) * precision, axis=-1)
    )
    distance = tf.cast(tf.maximum(distance, 0.0), tf.float32)
    log_normalizer = tf.reduce_sum(tf.math.log(components.scale.diag), axis=-1) + 0.5 * x.shape[-1] * np.log(
        2 * np.pi
    )
    log_weights = tf.math.log_softmax(mixture.mixture_distribution.logits)
    return tf.reshape(
        tf.reduce_logsumexp(log_weights - log_normalizer - 0.5 * distance, axis=-1), x.shape[:-1]
    )


def test_one_product_mixture_log_prob_equals_the_three_product_one():
    """Issue 27: the log weights and normalizers folded into one float64 product change nothing beyond
    float32 rounding; a wrong offset (here: the log weights left out) is caught."""
    rng = np.random.default_rng(1)
    k, dims = 500, 32
    loc = rng.normal(0, 1, (k, dims)).astype("float32")
    scale = np.exp(rng.uniform(np.log(0.03), 0, (k, dims))).astype("float32")
    logits = rng.normal(size=k).astype("float32")
    near = loc[rng.integers(0, k, 400)] + scale[rng.integers(0, k, 400)] * rng.normal(size=(400, dims))
    z = np.concatenate([near, 2 * rng.normal(size=(400, dims))]).astype("float32")
    mixture = d.DiagonalGaussianMixture(
        tfd.Categorical(logits=logits), tfd.MultivariateNormalDiag(loc, scale)
    )
    new, old = mixture.log_prob(z).numpy(), _three_product_log_prob(mixture, z).numpy()
    exact = tfd.MixtureSameFamily(
        tfd.Categorical(logits=logits.astype("float64")),
        tfd.MultivariateNormalDiag(loc.astype("float64"), scale.astype("float64")),
    ).log_prob(z.astype("float64"))
    # near the components (log p of tens of nats): within 1e-4 nats of the old formula; far from them
    # (thousands of nats) within float32 rounding of the exact value (measured 6.6e-8 relative; the
    # old formula's float32 sums gave 7.2e-7)
    assert np.abs(new - old)[:400].max() <= 1e-4, np.abs(new - old)[:400].max()
    assert (np.abs(new - exact) / np.abs(exact)).max() <= 1.2e-7
    uniform = d.DiagonalGaussianMixture(
        tfd.Categorical(logits=np.zeros(k, "float32")), tfd.MultivariateNormalDiag(loc, scale)
    )
    assert np.abs(uniform.log_prob(z).numpy() - old).max() > 0.1
