"""`DenseVAE`: a multilayer-perceptron encoder and decoder."""

import math

import keras

from vae_zoo.models.registry import FamilyArgument, int_list, register_family
from vae_zoo.models.vae import VAE


@register_family("dense")
@keras.saving.register_keras_serializable(package="vae_zoo")
class DenseVAE(VAE):
    """A VAE whose encoder and decoder are stacks of dense layers.

    The encoder flattens x and applies `hidden_units`; the decoder mirrors it
    (`hidden_units` reversed) and ends in a float32 dense layer producing the
    likelihood's parameters. `hidden_units=()` gives a linear encoder and a
    linear decoder: with `likelihood="gaussian"` that is probabilistic PCA's
    generative model with an amortized Gaussian posterior.

    Args:
        input_shape: shape of one example, e.g. `(28, 28, 1)`.
        latent_dim: size of z.
        hidden_units: widths of the encoder's hidden layers.
        activation: activation of the hidden layers.
        **kwargs: `VAE` arguments (`likelihood`, `posterior`, `prior`, `beta`,
            `kl`, `free_bits`, `stl`, `objective`, `num_samples`, `seed`, ...).

    Example:

    >>> import keras, numpy as np
    >>> import vae_zoo
    >>> model = vae_zoo.models.DenseVAE((28, 28, 1), latent_dim=8, hidden_units=(64,), seed=0)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> x = np.random.default_rng(0).random((64, 28, 28, 1), dtype="float32")
    >>> history = model.fit(x, batch_size=32, epochs=1, verbose=0)
    >>> model.encode(x[:4]).event_shape, model.sample(3, seed=1).shape
    (TensorShape([8]), TensorShape([3, 28, 28, 1]))
    """

    arguments = {
        "hidden_units": FamilyArgument(int_list, "widths of the hidden layers, e.g. 512,256 ('' for linear)"),
        "activation": FamilyArgument(str, "activation of the hidden layers (default relu)"),
    }

    def __init__(self, input_shape, latent_dim, hidden_units=(512, 256), activation="relu", **kwargs):
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        super().__init__(input_shape, latent_dim, **kwargs)

    def build_encoder(self):
        return keras.Sequential(
            [keras.layers.Flatten()]
            + [keras.layers.Dense(u, activation=self.activation) for u in self.hidden_units],
            name="encoder",
        )

    def build_decoder(self):
        outputs = math.prod(self.data_shape) * self.likelihood.num_params
        return keras.Sequential(
            [keras.layers.Dense(u, activation=self.activation) for u in reversed(self.hidden_units)]
            + [
                keras.layers.Dense(outputs, dtype="float32", name="likelihood_params"),
                keras.layers.Reshape((*self.data_shape, self.likelihood.num_params), dtype="float32"),
            ],
            name="decoder",
        )

    def get_config(self):
        config = super().get_config()
        config.update(hidden_units=list(self.hidden_units), activation=self.activation)
        return config
