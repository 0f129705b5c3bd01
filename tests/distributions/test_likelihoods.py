"""Likelihood heads p(x|z): shapes, numerics and the discretized logistic's one scale."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo import distributions as d

tfd = tfp.distributions


@pytest.mark.parametrize(
    "head, raw_shape, event_shape",
    [
        (d.BernoulliLikelihood(), (4, 28, 28, 1, 1), (28, 28, 1)),
        (d.GaussianLikelihood(scale="fixed"), (4, 10, 1), (10,)),
        (d.GaussianLikelihood(scale="global"), (4, 10, 1), (10,)),
        (d.GaussianLikelihood(scale="per_dimension"), (4, 6, 5, 1), (6, 5)),
        (d.DiscretizedLogisticLikelihood(), (4, 8, 8, 3, 2), (8, 8, 3)),
        (d.CategoricalLikelihood(num_classes=11), (4, 9, 11), (9,)),
    ],
)
def test_likelihood_shapes(head, raw_shape, event_shape):
    params = head(np.zeros(raw_shape, "float32"))
    p = head.distribution(params)
    assert p.batch_shape == [4] and p.event_shape == list(event_shape)
    x = p.sample(seed=(3, 4))
    assert x.shape == (4, *event_shape)
    assert head.log_prob(params, tf.zeros((4, *event_shape), x.dtype)).shape == (4,)
    assert head.mean(params).shape == (4, *event_shape)


def test_gaussian_scales_are_learned_or_fixed():
    fixed = d.GaussianLikelihood(scale="fixed", fixed_scale=0.5)
    fixed(np.zeros((1, 3, 1), "float32"))
    assert fixed.trainable_weights == []
    glob = d.GaussianLikelihood(scale="global", fixed_scale=0.5)
    params = glob(np.zeros((1, 3, 1), "float32"))
    assert [w.shape for w in glob.trainable_weights] == [()]
    np.testing.assert_allclose(params["scale"].numpy(), 0.5, rtol=1e-5)
    per = d.GaussianLikelihood(scale="per_dimension")
    per(np.zeros((1, 3, 2, 1), "float32"))
    assert [w.shape for w in per.trainable_weights] == [(3, 2)]


def test_bernoulli_saturated_logits_are_finite():
    head = d.BernoulliLikelihood()
    logits = tf.constant([[1e4, -1e4, 80.0, -80.0]])[..., None]
    x = tf.constant([[0.0, 1.0, 0.0, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        log_p = head.log_prob(head(logits), x)
    grad = tape.gradient(log_p, logits)
    assert np.isfinite(log_p.numpy()).all() and np.isfinite(grad.numpy()).all()
    np.testing.assert_allclose(log_p.numpy(), [-(1e4 + 1e4 + 80 + 80)], rtol=1e-5)
    # and agrees with TFP's Bernoulli where both are finite
    moderate = tf.constant([[2.0, -1.0, 0.5]])[..., None]
    y = tf.constant([[1.0, 0.0, 1.0]])
    ours = head.log_prob(head(moderate), y)
    theirs = head.distribution(head(moderate)).log_prob(y)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_discretized_logistic_puts_mass_on_the_right_bin():
    head = d.DiscretizedLogisticLikelihood(min_scale=1e-5)
    # loc = 100/255, scale 0.00255 levels: the mass is on level 100
    raw = np.zeros((1, 1, 2), "float32")
    raw[..., 0] = 100 / 255
    raw[..., 1] = -20.0  # softplus -> ~0, scale = min_scale
    params = head(raw)
    log_p = lambda level: float(head.log_prob(params, np.full((1, 1), level / 255, "float32"))[0])  # noqa: E731
    assert log_p(100) > -1e-3
    assert log_p(99) < -10 and log_p(101) < -10
    # the 256 masses sum to one for a broad distribution
    raw[..., 1] = 0.5
    params = head(raw)
    levels = np.arange(256, dtype="float32").reshape(256, 1) / 255
    mass = np.exp(head.distribution(params).log_prob(levels).numpy())
    np.testing.assert_allclose(mass.sum(), 1.0, rtol=1e-4)


def test_discretized_logistic_speaks_one_scale():
    """mean(), sample() and log_prob() of p(x|z) all in [0, 1], as the head's mean (reconstruct, sample)."""
    head = d.DiscretizedLogisticLikelihood()
    raw = np.zeros((1, 5, 2), "float32")
    raw[0, :, 0] = [0.1, 0.5, 0.8, 0.97, -0.05]  # locations, two of them near or past an edge
    raw[0, :, 1] = np.log(np.expm1(0.04))  # scale 0.04 + min_scale: about 10 levels
    params = head(raw)
    p = head.distribution(params)
    mean = p.mean().numpy()[0]
    np.testing.assert_allclose(mean, head.mean(params).numpy()[0], rtol=1e-6)
    draws = p.sample(20000, seed=(1, 2)).numpy()[:, 0]
    assert draws.min() >= 0.0 and draws.max() <= 1.0
    np.testing.assert_allclose(draws * 255, np.round(draws * 255), atol=1e-3)  # on the grid k / 255
    np.testing.assert_allclose(draws.mean(axis=0), mean, atol=2e-3)  # the mean of the samples
    assert mean[3] < 0.97 and mean[4] > 0.0  # the clipped tails pull the edge means inwards
    levels = np.array([[30.0, 128.0, 200.0, 240.0, 3.0]], "float32")  # interior levels, as data k / 255
    logistic = tfd.Logistic(params["loc"] * 255 - 0.5, params["scale"] * 255)
    expected = np.log(logistic.cdf(levels) - logistic.cdf(levels - 1)).sum(axis=-1)
    np.testing.assert_allclose(p.log_prob(levels / 255).numpy(), expected, rtol=1e-5)


def test_model_outputs_of_a_discretized_logistic_model_lie_in_the_unit_interval():
    from vae_zoo.models import DenseVAE

    model = DenseVAE((6, 6, 1), latent_dim=2, hidden_units=(8,), likelihood="discretized_logistic", seed=0)
    z = tf.random.stateless_normal((4, 2), (0, 1)) * 3
    x = np.random.default_rng(0).random((4, 6, 6, 1)).astype("float32")
    for values in (
        model.decode(z).mean(),
        model.decode(z).sample(seed=(3, 4)),
        model.sample(4, seed=1),
        model.sample(4, seed=1, output="sample"),
        model.reconstruct(x),
        model.decode_outputs(z)["mean"],
    ):
        assert 0.0 <= float(tf.reduce_min(values)) and float(tf.reduce_max(values)) <= 1.0
    np.testing.assert_allclose(
        model.decode(z).mean().numpy(), model.decode_outputs(z)["mean"].numpy(), rtol=1e-6
    )
    # decode(z).log_prob takes data in [0, 1], like every likelihood, and equals the ELBO's term
    expected = model.likelihood.log_prob(model._likelihood_params(z), x)
    np.testing.assert_allclose(model.decode(z).log_prob(x).numpy(), expected.numpy(), rtol=1e-6)
