"""BetaVAE: the shared family checks, the capacity schedule."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae_zoo.models import BetaVAE
from family_testing import run_family_test

SMALL = dict(hidden_units=(64,), seed=0)


def test_beta_vae_capacity_schedule_follows_the_optimizer_and_survives_saving(tmp_path, fashion_train):
    model = BetaVAE(
        (28, 28, 1), latent_dim=4, filters=(8, 8), hidden_units=16, capacity=20.0, capacity_steps=40, seed=0
    )
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


def test_beta_family(tmp_path, fashion_train):
    kwargs = dict(
        input_shape=(28, 28, 1), latent_dim=3, filters=(4, 8), hidden_units=16, capacity=5.0, seed=0
    )
    run_family_test(BetaVAE, kwargs, fashion_train[:8], tmp_path)
