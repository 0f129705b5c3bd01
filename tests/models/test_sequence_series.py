"""SequenceVAE's real-valued variant (no vocabulary, `features` per step) on the Mackey-Glass series."""

import keras
import numpy as np

from vae_zoo.models import SequenceVAE


def mackey_glass(length, tau=17, beta=0.2, gamma=0.1, n=10, dt=1.0):
    """The Mackey-Glass delay differential equation, a standard chaotic benchmark series."""
    history = [1.2] * (tau + 1)
    for _ in range(length + 500):
        x, x_tau = history[-1], history[-1 - tau]
        history.append(x + dt * (beta * x_tau / (1 + x_tau**n) - gamma * x))
    return np.array(history[-length:], "float32")


def test_real_valued_variant_on_mackey_glass():
    keras.utils.set_random_seed(0)
    series = mackey_glass(6000)
    windows = np.stack([series[i : i + 24] for i in range(0, 5000, 2)])[..., None]  # [2500, 24, 1]
    windows = (windows - series.mean()) / series.std()
    # input dropout and free bits keep the autoregressive decoder from ignoring z
    model = SequenceVAE(
        max_length=24, features=1, hidden_units=32, latent_dim=4, word_dropout=0.5, free_bits=0.5, seed=0
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(windows[:2000], batch_size=50, epochs=10, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 10
    assert history["kl"][-1] > 1.0
    test = windows[2000:]
    reconstruction = model.reconstruct(test).numpy()  # decoded from z alone, no teacher forcing
    assert reconstruction.shape == test.shape
    mse = float(np.mean((reconstruction - test) ** 2))
    assert mse < 0.25 * float(np.var(test)), mse  # measured 0.088 against a variance of 0.99
    assert model.sample(3, seed=1).shape == (3, 24, 1)
