"""Posterior heads q(z|x): shapes and the scale floor."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

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


def _near_prior(head, features_dim, shrink):
    """Projection weights that put q(z|x) almost on N(0, I): means ~ shrink * features, scale 1."""
    head.build((None, features_dim))
    d_ = head.latent_dim
    rng = np.random.default_rng(0)
    kernel = np.concatenate([shrink * rng.normal(size=(features_dim, d_)), np.zeros((features_dim, d_))], 1)
    bias = np.concatenate([np.zeros(d_), np.full(d_, np.log(np.e - 1.0))])  # softplus(b) = 1
    head.projection.kernel.assign(kernel.astype("float32"))
    head.projection.bias.assign(bias.astype("float32"))


def _batch_kl_per_dim(head, params):
    return _batch_kl_tensor(head, params).numpy()


def test_batch_normalized_means_keep_the_kl_off_zero():
    """BN-VAE: in training the batch-averaged KL of every dimension is >= gamma^2 / 2, even where the
    encoder's raw means say nothing (a plain head there has KL ~ 0); outside training the moving
    statistics are used, so each row's posterior does not depend on the rest of the batch."""
    features = np.random.default_rng(1).normal(size=(256, 7)).astype("float32")
    plain = d.DiagonalGaussianPosterior(latent_dim=4)
    normed = d.get_posterior("diagonal_batch_norm", 4)
    assert normed.batch_norm_scale == 0.6
    for head in (plain, normed):
        _near_prior(head, 7, shrink=3e-2)  # raw means' variance ~ 6e-3
    plain_kl = _batch_kl_per_dim(plain, plain(features, training=True))
    normed_kl = _batch_kl_per_dim(normed, normed(features, training=True))
    assert plain_kl.max() < 0.005  # the plain head: collapsed
    np.testing.assert_allclose(normed_kl, 0.6**2 / 2, rtol=0.01)
    # inference: the moving statistics (one training call moved them 1% of the way), row by row
    one = normed(features[:1])["loc"].numpy()
    np.testing.assert_allclose(one, normed(features)["loc"].numpy()[:1], rtol=1e-6)
    norm = normed.mean_norm
    mean, var = norm.moving_mean.numpy(), norm.moving_variance.numpy()
    assert 0 < np.abs(mean).max() and var.max() < 1.0
    raw = plain(features[:1])["loc"].numpy()
    np.testing.assert_allclose(one, 0.6 * (raw - mean) / np.sqrt(var + 1e-12), rtol=1e-5)


def test_batch_norm_scale_round_trip_and_refusals():
    head = d.DiagonalGaussianPosterior(latent_dim=3, batch_norm_scale=0.8)
    assert head.get_config()["batch_norm_scale"] == 0.8
    assert "batch_norm_scale" not in d.DiagonalGaussianPosterior(latent_dim=3).get_config()
    clone = d.DiagonalGaussianPosterior.from_config(head.get_config())
    assert clone.batch_norm_scale == 0.8
    for bad in (0, -1.0, True):
        with pytest.raises(ValueError, match="batch_norm_scale must be a positive number"):
            d.DiagonalGaussianPosterior(latent_dim=3, batch_norm_scale=bad)


def test_batch_normalized_means_cannot_be_shrunk_away():
    """An encoder trained by Adam to minimize the KL alone cannot escape BN-VAE's floor by making
    the raw means' spread small against BatchNormalization's epsilon. With epsilon 1e-5 it does:
    the KL falls from 1.6 to 0.003 nats in 600 steps here (and an LSTM sentence VAE did the same
    in 40 steps); the head's epsilon of 1e-12 keeps it at 4 x 0.18."""
    keras.utils.set_random_seed(0)
    inputs = tf.constant(np.random.default_rng(2).normal(size=(128, 7)).astype("float32"))
    front = keras.layers.Dense(16, activation="tanh")
    front.build((None, 7))
    head = d.get_posterior("diagonal_batch_norm", 4)
    head.build((None, 16))
    variables = front.trainable_variables + head.trainable_variables
    optimizer = keras.optimizers.Adam(1e-3)

    def kl():
        return tf.reduce_sum(_batch_kl_tensor(head, head(front(inputs), training=True)))

    for _ in range(600):
        with tf.GradientTape() as tape:
            loss = kl()
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    assert 4 * 0.6**2 / 2 * 0.999 < float(kl()) < 0.74


def _batch_kl_tensor(head, params):
    prior = tf.zeros_like(params["loc"])
    return tf.reduce_mean(
        head.marginals(params).kl_divergence(tfp.distributions.Normal(prior, 1.0 + prior)), 0
    )


def test_batch_normalized_means_give_their_bias_no_gradient_and_the_same_outputs():
    """Batch normalization subtracts the means' bias, so its true gradient is zero; the chain rule
    gives rounding noise instead (~1e-7 here), which 2 replicas and 1 device round differently
    and SGD compounds. The head passes no gradient to it, computes what the plain projection
    computes, and still trains the kernel and the scales' bias."""
    head = d.DiagonalGaussianPosterior(latent_dim=4, batch_norm_scale=0.6)
    features = tf.constant(np.random.default_rng(0).standard_normal((16, 6)), tf.float32)
    head.build(features.shape)
    head.projection.bias.assign(np.linspace(-1, 1, 8).astype("float32"))
    with tf.GradientTape() as tape:
        params = head(features, training=True)
        loss = tf.reduce_sum(params["loc"] ** 3) + tf.reduce_sum(params["scale"])
    kernel_grad, bias_grad = tape.gradient(loss, [head.projection.kernel, head.projection.bias])
    assert np.all(bias_grad.numpy()[:4] == 0.0), bias_grad.numpy()
    assert np.all(np.abs(bias_grad.numpy()[4:]) > 1e-3) and np.abs(kernel_grad.numpy()).max() > 1e-3
    np.testing.assert_array_equal(
        head._projection_without_mean_bias_gradient(features).numpy(), head.projection(features).numpy()
    )
