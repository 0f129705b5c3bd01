"""DenseVAE: the shared family checks, and the linear (pPCA) case."""

import keras
import numpy as np
import tensorflow as tf

from vae_zoo.models import DenseVAE
from family_testing import run_family_test

SMALL = dict(hidden_units=(64,), seed=0)


def test_linear_dense_vae_has_no_hidden_layers():
    model = DenseVAE((5,), latent_dim=2, hidden_units=(), likelihood="gaussian", seed=0)
    layers = model.encoder_network.layers + model.decoder_network.layers
    dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.name for layer in dense] == ["likelihood_params"]
    assert dense[0].activation is keras.activations.linear
    # the decoder mean is affine in z: mean(a + b) - mean(a) - mean(b) + mean(0) == 0
    a, b = tf.constant([[0.3, -1.0]]), tf.constant([[2.0, 0.5]])
    mean = lambda z: model.decode(z).mean()  # noqa: E731
    np.testing.assert_allclose(
        (mean(a + b) - mean(a) - mean(b) + mean(tf.zeros((1, 2)))).numpy(), 0, atol=1e-5
    )


def test_dense_family(tmp_path, fashion_train):
    run_family_test(
        DenseVAE,
        dict(input_shape=(28, 28, 1), latent_dim=3, hidden_units=(16,), seed=0),
        fashion_train[:8],
        tmp_path,
    )


def test_dense_family_with_mixture_prior_and_full_posterior(tmp_path):
    kwargs = dict(
        input_shape=(6,),
        latent_dim=2,
        hidden_units=(8,),
        likelihood="gaussian",
        posterior="full",
        prior="mixture",
        seed=0,
    )
    run_family_test(
        DenseVAE, kwargs, np.random.default_rng(0).normal(size=(8, 6)).astype("float32"), tmp_path
    )
