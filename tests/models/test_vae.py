"""The VAE contract on every family: shapes, training on real data, KL, saving, seeds."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from image_testing import unit_images

from vae_zoo.models import VAE, BetaVAE, ConvVAE, DenseVAE

SMALL = dict(hidden_units=(64,), seed=0)


def test_public_api_shapes():
    model = DenseVAE((28, 28, 1), latent_dim=6, **SMALL)
    x = unit_images(5)
    q = model.encode(x)
    assert q.batch_shape == [5] and q.event_shape == [6]
    p = model.decode(q.sample(seed=(1, 2)))
    assert p.batch_shape == [5] and p.event_shape == [28, 28, 1]
    assert model.decode(tf.zeros((3, 5, 6))).batch_shape == [3, 5]
    assert model.sample(4, seed=1).shape == (4, 28, 28, 1)
    assert model.sample(4, seed=1, output="sample").shape == (4, 28, 28, 1)
    assert model.reconstruct(x).shape == (5, 28, 28, 1)
    assert model.elbo(x, num_samples=3).shape == (5,)
    assert model(x).shape == (5, 28, 28, 1)
    assert isinstance(model, keras.Model) and isinstance(model, VAE)


@pytest.mark.parametrize("cls", [DenseVAE, ConvVAE])
def test_fit_lowers_the_loss_on_real_fashion_mnist(cls, fashion_train):
    kwargs = SMALL if cls is DenseVAE else dict(filters=(16, 32), hidden_units=64, seed=0)
    model = cls((28, 28, 1), latent_dim=8, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(fashion_train, batch_size=100, epochs=3, verbose=0).history
    assert set(history) == {"loss", "elbo", "kl", "reconstruction"}
    losses = history["loss"]
    assert losses[-1] < losses[0] - 50, losses  # nats per image: starts ~440, goes well below
    assert history["kl"][-1] > 1.0  # the code is used, no collapse
    np.testing.assert_allclose(
        history["elbo"][-1], -(history["reconstruction"][-1] + history["kl"][-1]), rtol=1e-5
    )
    evaluated = model.evaluate(fashion_train[:500], batch_size=250, verbose=0, return_dict=True)
    assert evaluated["loss"] < losses[0]


@pytest.mark.parametrize("posterior", ["diagonal", "full"])
def test_analytic_kl_matches_monte_carlo(posterior):
    analytic = DenseVAE((10,), latent_dim=3, hidden_units=(16,), posterior=posterior, kl="analytic", seed=0)
    mc = DenseVAE.from_config({**analytic.get_config(), "kl": "mc"})
    mc.set_weights(analytic.get_weights())
    x = tf.constant(unit_images(4, (10,)))
    seed = tf.constant([7, 8])
    exact = analytic.compute_terms(x, seed, num_samples=1)["kl"].numpy()
    terms = mc.compute_terms(x, seed, num_samples=200_000)
    estimate = terms["kl"].numpy()
    stderr = (terms["log_qz"] - terms["log_pz"]).numpy().std(axis=0) / np.sqrt(200_000)
    assert np.all(np.abs(estimate - exact) < 4 * stderr + 1e-4), (exact, estimate, stderr)
    assert exact.min() > 0


def test_kl_auto_falls_back_to_monte_carlo_for_mixture_priors():
    model = DenseVAE((10,), latent_dim=2, hidden_units=(8,), prior="mixture", seed=0)
    terms = model.compute_terms(tf.constant(unit_images(3, (10,))), tf.constant([1, 1]), num_samples=2)
    np.testing.assert_allclose(
        terms["kl"].numpy(), (terms["log_qz"] - terms["log_pz"]).numpy().mean(axis=0), rtol=1e-6
    )
    with pytest.raises(
        ValueError, match="No analytic KL between MultivariateNormalDiag and DiagonalGaussianMixture"
    ):
        DenseVAE((10,), latent_dim=2, hidden_units=(8,), prior="mixture", kl="analytic", seed=0)


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (DenseVAE, dict(prior="vamp", likelihood="gaussian_per_dimension", hidden_units=(32,))),
        (
            DenseVAE,
            dict(posterior="full", prior="mixture", likelihood="discretized_logistic", hidden_units=(32,)),
        ),
        (ConvVAE, dict(filters=(8, 16), hidden_units=32)),
        (BetaVAE, dict(filters=(8, 16), hidden_units=32, capacity=10.0)),
    ],
)
def test_keras_round_trip_is_exact(tmp_path, cls, kwargs, fashion_train):
    model = cls((28, 28, 1), latent_dim=5, seed=3, **kwargs)
    model.compile(optimizer="adam")
    model.fit(fashion_train[:400], batch_size=100, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)  # no custom_objects
    assert type(restored) is cls
    x = fashion_train[:6]
    z = tf.random.stateless_normal([3, 5], seed=[1, 1])
    pairs = [
        (model.encode(x).mean(), restored.encode(x).mean()),
        (model.encode(x).stddev(), restored.encode(x).stddev()),
        (model.decode(z).mean(), restored.decode(z).mean()),
        (model.sample(4, seed=9), restored.sample(4, seed=9)),
        (model.elbo(x, seed=5), restored.elbo(x, seed=5)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert restored.optimizer.iterations.numpy() == model.optimizer.iterations.numpy()


def test_same_seed_same_samples():
    model = DenseVAE((28, 28, 1), latent_dim=3, **SMALL)
    np.testing.assert_array_equal(model.sample(3, seed=4).numpy(), model.sample(3, seed=4).numpy())
    assert not np.array_equal(model.sample(3, seed=4).numpy(), model.sample(3, seed=5).numpy())
    # one form only: an int (row i uses seed + i) or None; a pair or an array is refused, naming the form
    for seed in ([1, 2], (1, 2), tf.constant([1, 2]), np.array([1, 2]), 1.5):
        with pytest.raises(
            ValueError, match=r"seed must be an int \(row i uses row seed seed \+ i\) or None"
        ):
            model.sample(2, seed=seed)


def test_gaussian_likelihood_accepts_any_real_values():
    model = DenseVAE((6,), latent_dim=2, hidden_units=(8,), likelihood="gaussian", seed=0)
    assert np.isfinite(model.elbo(np.full((2, 6), -30.0, "float32")).numpy()).all()
