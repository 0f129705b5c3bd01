"""Objectives do what their arguments say: STL with free bits, IWAE's refusals, num_samples checks."""

import numpy as np
import pytest
import tensorflow as tf
from image_testing import unit_images

from vae_zoo.models import BetaVAE, DenseVAE

SMALL = dict(hidden_units=(64,), seed=0)


def _posterior_gradient(model, x, seed):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model._objective(x, seed, training=True)["loss"])
    return float(loss), [g.numpy() for g in tape.gradient(loss, model.posterior.trainable_weights)]


def _twin(model, **changes):
    twin = DenseVAE.from_config({**model.get_config(), **changes})
    twin.set_weights(model.get_weights())
    return twin


def test_stl_stays_on_with_free_bits():
    x = tf.constant(unit_images(16, (10,)))
    seed = tf.constant([3, 4])
    stl = DenseVAE((10,), latent_dim=3, hidden_units=(8,), stl=True, seed=0)
    # A floor below every dimension's KL (about 0.1 nats each here): free bits are inactive.
    stl_fb = _twin(stl, free_bits=1e-6)
    plain_fb = _twin(stl, stl=False, kl="mc", free_bits=1e-6)
    kl_per_dim = stl.compute_terms(x, seed)["kl_per_dim"].numpy().mean(axis=0)
    assert kl_per_dim.min() > 1e-3, kl_per_dim
    loss, reference = _posterior_gradient(stl, x, seed)
    loss_fb, with_free_bits = _posterior_gradient(stl_fb, x, seed)
    _, without_stl = _posterior_gradient(plain_fb, x, seed)
    assert loss_fb == pytest.approx(loss, rel=1e-6)
    for a, b in zip(reference, with_free_bits):  # the free-bits step is the plain STL step
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert max(np.abs(a - b).max() for a, b in zip(with_free_bits, without_stl)) > 1e-4  # and STL is on


def test_active_free_bits_replace_the_kl_of_low_dimensions_only():
    x = tf.constant(unit_images(16, (10,)))
    model = DenseVAE((10,), latent_dim=3, hidden_units=(8,), stl=True, free_bits=50.0, seed=0)
    values = model._objective(x, tf.constant([3, 4]), training=True)
    # every dimension is below the 50-nat floor: the KL part of the loss is 3 x 50 nats
    np.testing.assert_allclose(values["loss"].numpy(), values["reconstruction"].numpy() + 150.0, rtol=1e-6)
    assert float(tf.reduce_max(values["kl"])) < 10.0  # the metric still reports the true KL


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(beta=0.0), "objective='iwae' has no KL term to weight: beta must be 1.0, got 0.0"),
        (dict(beta=5.0), "objective='iwae' has no KL term to weight: beta must be 1.0, got 5.0"),
        (dict(free_bits=0.5), "objective='iwae' has no KL term to floor: free_bits must be 0, got 0.5"),
    ],
)
def test_iwae_refuses_kl_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DenseVAE((10,), latent_dim=2, hidden_units=(8,), objective="iwae", num_samples=4, **kwargs)


def test_iwae_capacity_and_beta_vae_defaults_are_refused():
    with pytest.raises(
        ValueError, match="capacity=25.0 is a target for the ELBO's KL term; objective='iwae'"
    ):
        BetaVAE((28, 28, 1), latent_dim=2, beta=1.0, capacity=25.0, objective="iwae", filters=(4, 4))
    with pytest.raises(ValueError, match="beta must be 1.0, got 4.0"):  # BetaVAE's default beta
        BetaVAE((28, 28, 1), latent_dim=2, objective="iwae", filters=(4, 4))


def test_iwae_with_beta_one_is_the_importance_weighted_bound():
    model = DenseVAE(
        (10,), latent_dim=2, hidden_units=(8,), objective="iwae", num_samples=4, beta=1.0, seed=0
    )
    assert not model.uses_kl_weight
    x = tf.constant(unit_images(6, (10,)))
    seed = tf.constant([1, 2])
    terms = model.compute_terms(x, seed, num_samples=4)
    log_w = terms["log_px_z"] + terms["log_pz"] - terms["log_qz"]
    expected = -(tf.reduce_logsumexp(log_w, axis=0) - np.log(4.0))
    np.testing.assert_allclose(
        model._objective(x, seed, training=True)["loss"].numpy(), expected.numpy(), rtol=1e-6
    )


class TestNumSamples:
    model = DenseVAE((10,), latent_dim=2, hidden_units=(8,), seed=0)
    x = unit_images(3, (10,))

    @pytest.mark.parametrize("value", [0, -1, -4])
    def test_python_and_eager_values(self, value):
        for call in (
            lambda: self.model.sample(value),
            lambda: self.model.sample(value, output="sample"),
            lambda: self.model.sample(tf.constant(value)),
            lambda: self.model.log_likelihood(self.x, num_samples=value),
            lambda: self.model.log_likelihood(self.x, num_samples=tf.constant(value)),
            lambda: self.model.elbo(self.x, num_samples=value),
        ):
            with pytest.raises(ValueError, match=f"num_samples must be >= 1, got {value}"):
                call()

    def test_graph_tensor_as_in_a_signature(self):
        @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
        def log_likelihood(k):
            return self.model.log_likelihood(self.x, num_samples=k, seed=0)

        assert log_likelihood(tf.constant(3)).shape == (3,)
        with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples must be >= 1"):
            log_likelihood(tf.constant(0))

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
        def sample(n):
            return self.model.sample(n, seed=0)

        with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples must be >= 1"):
            sample(tf.constant(-1))

    def test_wrong_types(self):
        with pytest.raises(ValueError, match="num_samples must be an integer >= 1, got 2.5"):
            self.model.sample(2.5)


def test_sticking_the_landing_changes_gradients_not_values():
    plain = DenseVAE((10,), latent_dim=3, hidden_units=(8,), kl="mc", seed=0)
    stl = DenseVAE.from_config({**plain.get_config(), "stl": True})
    stl.set_weights(plain.get_weights())
    x = tf.constant(unit_images(8, (10,)))
    seed = tf.constant([3, 4])
    grads, values = [], []
    for model in (plain, stl):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model._objective(x, seed, training=True)["loss"])
        values.append(float(loss))
        grads.append(tape.gradient(loss, model.posterior.trainable_weights[0]).numpy())
    assert values[0] == pytest.approx(values[1], rel=1e-6)
    assert np.abs(grads[0] - grads[1]).max() > 1e-4
    with pytest.raises(ValueError, match="stl=True needs a Monte Carlo KL"):
        DenseVAE((10,), latent_dim=3, stl=True, kl="analytic")


def test_free_bits_floor_per_dimension():
    model = DenseVAE((10,), latent_dim=3, hidden_units=(8,), free_bits=0.5, seed=0)
    kl_per_dim = tf.constant([[0.1, 2.0, 0.4], [0.1, 1.0, 0.8]])  # batch means: 0.1, 1.5, 0.6
    penalty = model.kl_penalty(tf.reduce_sum(kl_per_dim, -1), kl_per_dim).numpy()
    np.testing.assert_allclose(penalty, [0.5 + 2.0 + 0.4, 0.5 + 1.0 + 0.8], rtol=1e-6)
    assert penalty.mean() == pytest.approx(0.5 + 1.5 + 0.6)  # sum_j max(lambda, mean KL_j)
    model.beta.assign(0.5)
    np.testing.assert_allclose(
        model.kl_penalty(tf.reduce_sum(kl_per_dim, -1), kl_per_dim).numpy(), penalty * 0.5
    )


def test_iwae_objective_is_tighter_than_elbo(fashion_train):
    model = DenseVAE((28, 28, 1), latent_dim=4, objective="iwae", num_samples=16, **SMALL)
    x = tf.constant(fashion_train[:64].astype("float32") / 255)
    values = model._objective(x, tf.constant([0, 1]), training=False)
    # -loss is IWAE-16 per example; the k-sample mean ELBO is below it on average
    assert float(tf.reduce_mean(-values["loss"])) > float(tf.reduce_mean(values["elbo"]))
