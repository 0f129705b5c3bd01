"""Input preparation and checks: dtypes, shapes, ranges, NaN/Inf, datasets, XLA."""

import numpy as np
import pytest
import tensorflow as tf
from image_testing import unit_images

from vae_zoo.models import DenseVAE

SMALL = dict(hidden_units=(64,), seed=0)


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
    np.testing.assert_allclose(
        model.reconstruct(x8[..., 0]).numpy(), model.reconstruct(x8).numpy(), atol=1e-6
    )


class TestBadInput:
    model = None

    @classmethod
    def setup_class(cls):
        cls.model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), seed=0)
        cls.model.compile(optimizer="adam")

    def test_wrong_shape(self):
        with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, 28, 28, 1\), got \(4, 784\)"):
            self.model.encode(np.zeros((4, 784), "float32"))
        with pytest.raises(
            ValueError, match=r"expects inputs of shape \(batch, 28, 28, 1\), got \(4, 32, 32, 1\)"
        ):
            self.model.fit(np.zeros((4, 32, 32, 1), "float32"), verbose=0)

    def test_values_outside_unit_interval_for_bernoulli(self):
        x = unit_images(4) * 255
        with pytest.raises(
            ValueError, match=r"BernoulliLikelihood needs input values in \[0, 1\].*got values in \[0"
        ):
            self.model.elbo(x)
        with pytest.raises(ValueError, match=r"needs input values in \[0, 1\]"):
            self.model.fit(x, verbose=0)

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_nan_and_inf(self, bad):
        x = unit_images(4)
        x[1, 3, 3, 0] = bad
        with pytest.raises(
            ValueError, match="input contains NaN or Inf values: 1 of 3136 values are not finite"
        ):
            self.model.encode(x)
        with pytest.raises(ValueError, match="NaN or Inf"):
            self.model.evaluate(x, verbose=0)

    def test_nan_inside_a_dataset_fails_in_the_graph(self):
        x = unit_images(4)
        x[0, 0, 0, 0] = np.nan
        with pytest.raises(tf.errors.InvalidArgumentError, match="input contains NaN or Inf values"):
            self.model.fit(tf.data.Dataset.from_tensor_slices(x).batch(2), verbose=0)

    def test_graph_check_tells_overflowing_sums_from_nan(self):
        # The graph check sums the batch to decide finiteness in one pass; a finite batch whose
        # sum overflows must still pass, and a NaN next to out-of-range values is named as NaN.
        model = DenseVAE((28, 28, 1), latent_dim=2, hidden_units=(8,), likelihood="gaussian", seed=0)
        check = tf.function(model.prepare_inputs)
        huge = np.full((2, 28, 28, 1), 3e38, "float32")
        assert np.isinf(huge.sum(dtype="float32"))
        np.testing.assert_array_equal(check(huge).numpy(), huge)
        huge[1, 2, 2, 0] = np.inf
        with pytest.raises(tf.errors.InvalidArgumentError, match="input contains NaN or Inf values"):
            check(huge)
        x = unit_images(2) * 255
        x[0, 0, 0, 0] = np.nan
        with pytest.raises(tf.errors.InvalidArgumentError, match="input contains NaN or Inf values"):
            tf.function(self.model.prepare_inputs)(x)

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
        with pytest.raises(
            ValueError,
            match="expects float images in \\[0, 1\\] or uint8 images in \\[0, 255\\], got dtype int64",
        ):
            self.model.encode(np.zeros((2, 28, 28, 1), "int64"))

    def test_unknown_names(self):
        with pytest.raises(
            ValueError, match="Unknown likelihood 'poisson'. Valid likelihood names: bernoulli, categorical"
        ):
            DenseVAE((4,), 2, likelihood="poisson")
        with pytest.raises(
            ValueError, match="Unknown prior 'flow'. Valid prior names: mixture, normal, vamp"
        ):
            DenseVAE((4,), 2, prior="flow")

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="num_samples must be >= 1, got 0"):
            self.model.elbo(unit_images(1), num_samples=0)
        with pytest.raises(ValueError, match=r"decode expects z of shape \(..., 2\), got \(3, 5\)"):
            self.model.decode(np.zeros((3, 5), "float32"))
        with pytest.raises(ValueError, match="output must be 'mean' or 'sample'"):
            self.model.sample(2, output="mode")


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
