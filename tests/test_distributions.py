"""Distribution layers: shapes, numerics, names and serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo import distributions as d

tfd = tfp.distributions


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
        tfd.Categorical(logits=logits.astype("float64")), tfd.MultivariateNormalDiag(loc.astype("float64"), scale.astype("float64"))
    ).log_prob(z.astype("float64"))
    values = fast.log_prob(z)
    assert values.shape == (2, 300) and values.dtype == tf.float32
    np.testing.assert_allclose(values.numpy(), exact.numpy(), atol=5e-4, rtol=0)
    # Gradients reach the parameters and agree with TFP's mixture.
    loc_var = tf.Variable(loc)
    def grad(cls):
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(cls(tfd.Categorical(logits=logits), tfd.MultivariateNormalDiag(loc_var, scale)).log_prob(z[0, :20]))
        return tape.gradient(value, loc_var).numpy()
    np.testing.assert_allclose(grad(d.DiagonalGaussianMixture), grad(tfd.MixtureSameFamily), atol=2e-2, rtol=1e-3)


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
    for values in (model.decode(z).mean(), model.decode(z).sample(seed=(3, 4)), model.sample(4, seed=1),
                   model.sample(4, seed=1, output="sample"), model.reconstruct(x), model.decode_outputs(z)["mean"]):  # fmt: skip
        assert 0.0 <= float(tf.reduce_min(values)) and float(tf.reduce_max(values)) <= 1.0
    np.testing.assert_allclose(model.decode(z).mean().numpy(), model.decode_outputs(z)["mean"].numpy(), rtol=1e-6)
    # decode(z).log_prob takes data in [0, 1], like every likelihood, and equals the ELBO's term
    expected = model.likelihood.log_prob(model._likelihood_params(z), x)
    np.testing.assert_allclose(model.decode(z).log_prob(x).numpy(), expected.numpy(), rtol=1e-6)


def _two_component_mixture(full):
    loc = tf.constant([[-10.0, 0.0], [10.0, 0.0]])
    if full:
        components = tfd.MultivariateNormalTriL(loc, tf.constant([[[1.0, 0.0], [0.5, 2.0]], [[0.5, 0.0], [0.0, 0.5]]]))
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
        np.testing.assert_allclose(z[side].mean(axis=0), mixture.components_distribution.mean().numpy()[component], atol=0.05)
        np.testing.assert_allclose(np.cov(z[side].T), 0.25 * covariance[component], atol=0.03)  # spread x T


def test_tempered_mixture_sampling_draws_only_the_chosen_components():
    """A VampPrior-sized mixture (500 components): no tensor of the traced sampler holds [n, K, d]."""
    k, dims, n = 500, 3, 7
    mixture = tfd.MixtureSameFamily(
        tfd.Categorical(logits=tf.zeros([k])), tfd.MultivariateNormalDiag(tf.zeros([k, dims]), tf.ones([k, dims]))
    )
    graph = tf.function(lambda seed: d.tempered_sample(mixture, n, seed, 0.7)).get_concrete_function(
        tf.TensorSpec([2], tf.int32)
    ).graph
    largest = max(
        int(np.prod(t.shape.as_list())) for op in graph.get_operations() for t in op.outputs if t.shape.is_fully_defined()
    )
    assert largest <= k * dims, largest  # the components' own parameters, never n x K x d


def test_temperature_zero_gives_the_mean():
    p = d.StandardNormalPrior(latent_dim=3).distribution()
    z = d.tempered_sample(p, 4, tf.constant([5, 6]), temperature=0.0)
    np.testing.assert_array_equal(z.numpy(), np.zeros((4, 3)))


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'. Valid likelihood names: bernoulli"):
        d.get_likelihood("poisson")
    with pytest.raises(ValueError, match="Unknown prior 'flow'.*mixture, normal, vamp"):
        d.get_prior("flow", 2, (4,))
    with pytest.raises(ValueError, match="Unknown posterior 'iaf'.*diagonal, full"):
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
