"""The VAE contract on every family: shapes, training on real data, KL, saving, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import unit_images

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


@pytest.mark.parametrize(
    "shape, filters", [((28, 28, 1), (32, 64)), ((32, 32, 3), (32, 64)), ((64, 64, 3), (32, 32, 64, 64))]
)
def test_conv_shapes(shape, filters):
    model = ConvVAE(shape, latent_dim=4, filters=filters, hidden_units=32, seed=0)
    x = unit_images(2, shape)
    assert model.reconstruct(x).shape == (2, *shape)
    assert model.sample(3, seed=0).shape == (3, *shape)
    assert model.encode(x).event_shape == [4]


def test_conv_rejects_sizes_it_cannot_invert():
    with pytest.raises(ValueError, match="divisible by 4, got input_shape \\(30, 30, 1\\)"):
        ConvVAE((30, 30, 1), latent_dim=2)


def test_linear_dense_vae_has_no_hidden_layers():
    model = DenseVAE((5,), latent_dim=2, hidden_units=(), likelihood="gaussian", seed=0)
    dense = [l for l in model.encoder_network.layers + model.decoder_network.layers if isinstance(l, keras.layers.Dense)]
    assert [l.name for l in dense] == ["likelihood_params"]
    assert dense[0].activation is keras.activations.linear
    # the decoder mean is affine in z: mean(a + b) - mean(a) - mean(b) + mean(0) == 0
    a, b = tf.constant([[0.3, -1.0]]), tf.constant([[2.0, 0.5]])
    mean = lambda z: model.decode(z).mean()  # noqa: E731
    np.testing.assert_allclose((mean(a + b) - mean(a) - mean(b) + mean(tf.zeros((1, 2)))).numpy(), 0, atol=1e-5)


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
    np.testing.assert_allclose(history["elbo"][-1], -(history["reconstruction"][-1] + history["kl"][-1]), rtol=1e-5)
    evaluated = model.evaluate(fashion_train[:500], batch_size=250, verbose=0, return_dict=True)
    assert evaluated["loss"] < losses[0]


def test_dataset_inputs_with_labels_and_uint8(fashion_train):
    model = DenseVAE((28, 28, 1), latent_dim=4, **SMALL)
    model.compile(optimizer="adam")
    labels = np.zeros(len(fashion_train), "int64")
    ds = tf.data.Dataset.from_tensor_slices((fashion_train, labels)).batch(200)
    history = model.fit(ds, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    # uint8 is converted in the graph: identical to float / 255
    x8 = fashion_train[:4]
    np.testing.assert_allclose(
        model.encode(x8).mean().numpy(), model.encode(x8.astype("float32") / 255).mean().numpy(), atol=1e-6
    )
    # a missing trailing channel of size one is added
    np.testing.assert_allclose(model.reconstruct(x8[..., 0]).numpy(), model.reconstruct(x8).numpy(), atol=1e-6)


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
    with pytest.raises(ValueError, match="No analytic KL between MultivariateNormalDiag and DiagonalGaussianMixture"):
        DenseVAE((10,), latent_dim=2, hidden_units=(8,), prior="mixture", kl="analytic", seed=0)


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
    np.testing.assert_allclose(model.kl_penalty(tf.reduce_sum(kl_per_dim, -1), kl_per_dim).numpy(), penalty * 0.5)


def test_iwae_objective_is_tighter_than_elbo(fashion_train):
    model = DenseVAE((28, 28, 1), latent_dim=4, objective="iwae", num_samples=16, **SMALL)
    x = tf.constant(fashion_train[:64].astype("float32") / 255)
    values = model._objective(x, tf.constant([0, 1]), training=False)
    # -loss is IWAE-16 per example; the k-sample mean ELBO is below it on average
    assert float(tf.reduce_mean(-values["loss"])) > float(tf.reduce_mean(values["elbo"]))


def test_beta_vae_capacity_schedule_follows_the_optimizer_and_survives_saving(tmp_path, fashion_train):
    model = BetaVAE((28, 28, 1), latent_dim=4, filters=(8, 8), hidden_units=16, capacity=20.0, capacity_steps=40, seed=0)
    assert float(model.current_capacity()) == 0.0
    model.compile(optimizer="adam")
    model.fit(fashion_train[:1000], batch_size=100, epochs=1, verbose=0)
    assert float(model.current_capacity()) == pytest.approx(5.0)  # 10 of 40 steps
    path = str(tmp_path / "beta.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, BetaVAE) and float(restored.current_capacity()) == pytest.approx(5.0)
    restored.fit(fashion_train[:1000], batch_size=100, epochs=1, verbose=0)
    assert float(restored.current_capacity()) == pytest.approx(10.0)
    # the capacity objective: gamma * |KL - C| with batch-mean KL
    kl = tf.constant([1.0, 3.0])
    np.testing.assert_allclose(float(tf.reduce_mean(restored.kl_penalty(kl, None))), 1000.0 * 8.0, rtol=1e-6)


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (DenseVAE, dict(prior="vamp", likelihood="gaussian_per_dimension", hidden_units=(32,))),
        (DenseVAE, dict(posterior="full", prior="mixture", likelihood="discretized_logistic", hidden_units=(32,))),
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
    np.testing.assert_array_equal(model.sample(2, seed=[1, 2]).numpy(), model.sample(2, seed=tf.constant([1, 2])).numpy())


class TestBadInput:
    model = None

    @classmethod
    def setup_class(cls):
        cls.model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
        cls.model.compile(optimizer="adam")

    def test_wrong_shape(self):
        with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, 28, 28, 1\), got \(4, 784\)"):
            self.model.encode(np.zeros((4, 784), "float32"))
        with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, 28, 28, 1\), got \(4, 32, 32, 1\)"):
            self.model.fit(np.zeros((4, 32, 32, 1), "float32"), verbose=0)

    def test_values_outside_unit_interval_for_bernoulli(self):
        x = unit_images(4) * 255
        with pytest.raises(ValueError, match=r"BernoulliLikelihood needs input values in \[0, 1\].*got values in \[0"):
            self.model.elbo(x)
        with pytest.raises(ValueError, match=r"needs input values in \[0, 1\]"):
            self.model.fit(x, verbose=0)

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_nan_and_inf(self, bad):
        x = unit_images(4)
        x[1, 3, 3, 0] = bad
        with pytest.raises(ValueError, match="input contains NaN or Inf values: 1 of 3136 values are not finite"):
            self.model.encode(x)
        with pytest.raises(ValueError, match="NaN or Inf"):
            self.model.evaluate(x, verbose=0)

    def test_nan_inside_a_dataset_fails_in_the_graph(self):
        x = unit_images(4)
        x[0, 0, 0, 0] = np.nan
        with pytest.raises(tf.errors.InvalidArgumentError, match="input contains NaN or Inf values"):
            self.model.fit(tf.data.Dataset.from_tensor_slices(x).batch(2), verbose=0)

    @pytest.mark.parametrize("bad", ["nan", "range"])
    def test_xla_steps_keep_the_input_checks(self, bad):
        # XLA drops in-graph asserts; the checks run around the compiled step instead.
        model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
        model.compile(optimizer="adam", jit_compile=True, steps_per_execution=2)
        x = unit_images(4)
        clean = model.fit(tf.data.Dataset.from_tensor_slices(x).batch(2), verbose=0).history["loss"][0]
        assert np.isfinite(clean) and model.optimizer.iterations.numpy() == 2
        if bad == "nan":
            x[3, 0, 0, 0] = np.nan
            message = "input contains NaN or Inf values"
        else:
            x[3] *= 255
            message = r"BernoulliLikelihood needs input values in \[0, 1\]"
        for run in (model.fit, model.evaluate):
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                run(tf.data.Dataset.from_tensor_slices(x).batch(2), verbose=0)

    def test_wrong_dtype(self):
        with pytest.raises(ValueError, match="expects float images in \\[0, 1\\] or uint8 images in \\[0, 255\\], got dtype int64"):
            self.model.encode(np.zeros((2, 28, 28, 1), "int64"))

    def test_unknown_names(self):
        with pytest.raises(ValueError, match="Unknown likelihood 'poisson'. Valid likelihood names: bernoulli, categorical"):
            DenseVAE((4,), 2, likelihood="poisson")
        with pytest.raises(ValueError, match="Unknown prior 'flow'. Valid prior names: mixture, normal, vamp"):
            DenseVAE((4,), 2, prior="flow")

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="num_samples must be >= 1, got 0"):
            self.model.elbo(unit_images(1), num_samples=0)
        with pytest.raises(ValueError, match=r"decode expects z of shape \(..., 2\), got \(3, 5\)"):
            self.model.decode(np.zeros((3, 5), "float32"))
        with pytest.raises(ValueError, match="output must be 'mean' or 'sample'"):
            self.model.sample(2, output="mode")


def test_gaussian_likelihood_accepts_any_real_values():
    model = DenseVAE((6,), latent_dim=2, hidden_units=(8,), likelihood="gaussian", seed=0)
    assert np.isfinite(model.elbo(np.full((2, 6), -30.0, "float32")).numpy()).all()


def test_saturated_pixels_never_give_nan(fashion_train):
    model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
    last = model.decoder_network.get_layer("likelihood_params")
    last.bias.assign(np.full(last.bias.shape, 500.0, "float32"))  # sigmoid(logits) == 1.0 in float32
    x = (fashion_train[:8] > 127).astype("float32")  # many zeros under probability-one pixels
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model._objective(tf.constant(x), tf.constant([0, 0]), training=True)["loss"])
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss)) and float(loss) > 1000
    assert all(np.isfinite(g.numpy()).all() for g in grads if g is not None)


def test_mixed_precision_keeps_distribution_heads_in_float32(fashion_train):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = DenseVAE((28, 28, 1), latent_dim=4, **SMALL)
        model.compile(optimizer="adam")
        assert model.encoder_network.layers[1].compute_dtype == "float16"
        history = model.fit(fashion_train[:400], batch_size=100, epochs=1, verbose=0).history
        assert np.isfinite(history["loss"][0])
        params = model._posterior_params(tf.constant(fashion_train[:2].astype("float32") / 255))
        assert all(v.dtype == tf.float32 for v in params.values())
        assert model.decode(tf.zeros((1, 4))).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
