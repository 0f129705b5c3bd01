"""The Keras integration: mixed precision keeps the heads in float32."""

import keras
import numpy as np
import tensorflow as tf

from vae_zoo.models import DenseVAE

SMALL = dict(hidden_units=(64,), seed=0)


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
