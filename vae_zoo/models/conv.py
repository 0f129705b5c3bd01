"""`ConvVAE`: strided convolutions down, transposed convolutions up."""

import keras

from vae_zoo.models.base import VAE


@keras.saving.register_keras_serializable(package="vae_zoo")
class ConvVAE(VAE):
    """A VAE for images `(H, W, C)` with a convolutional encoder and decoder.

    The encoder applies one stride-2 `Conv2D` per entry of `filters`, then a
    dense layer of `hidden_units`; the decoder mirrors it with stride-2
    `Conv2DTranspose` layers and ends in a float32 `Conv2D` that produces the
    likelihood's parameters for every pixel and channel. `H` and `W` must be
    divisible by `2 ** len(filters)`: `(32, 64)` suits 28x28 and 32x32 inputs,
    `(32, 32, 64, 64)` suits 64x64.

    Args:
        input_shape: `(H, W, C)`, e.g. `(28, 28, 1)`, `(32, 32, 3)`, `(64, 64, 3)`.
        latent_dim: size of z.
        filters: channels of each stride-2 convolution of the encoder.
        kernel_size: convolution kernel size.
        hidden_units: width of the dense layer between convolutions and z (0: none).
        activation: activation of the hidden layers.
        **kwargs: `VAE` arguments.

    Example:

    >>> import numpy as np
    >>> import vae_zoo
    >>> model = vae_zoo.models.ConvVAE((32, 32, 3), latent_dim=16, seed=0)
    >>> x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
    >>> model.reconstruct(x).shape
    TensorShape([2, 32, 32, 3])
    """

    def __init__(
        self,
        input_shape,
        latent_dim,
        filters=(32, 64),
        kernel_size=3,
        hidden_units=256,
        activation="relu",
        **kwargs,
    ):
        super().__init__(input_shape, latent_dim, **kwargs)
        if len(self.data_shape) != 3:
            raise ValueError(f"ConvVAE expects input_shape (height, width, channels), got {input_shape!r}")
        self.filters = tuple(int(f) for f in filters)
        if not self.filters:
            raise ValueError("ConvVAE needs at least one entry in filters")
        self.kernel_size = int(kernel_size)
        self.hidden_units = int(hidden_units)
        self.activation = activation
        height, width, channels = self.data_shape
        factor = 2 ** len(self.filters)
        if height % factor or width % factor:
            raise ValueError(
                f"ConvVAE with {len(self.filters)} stride-2 layers needs height and width divisible by "
                f"{factor}, got input_shape {self.data_shape}; pass fewer filters or pad the images"
            )
        conv = dict(kernel_size=self.kernel_size, strides=2, padding="same", activation=activation)
        def hidden():
            return [keras.layers.Dense(self.hidden_units, activation=activation)] if self.hidden_units else []

        self.encoder_network = keras.Sequential(
            [keras.layers.Conv2D(f, **conv) for f in self.filters] + [keras.layers.Flatten()] + hidden(),
            name="encoder",
        )
        bottom = (height // factor, width // factor, self.filters[-1])
        params = self.likelihood.num_params
        self.decoder_network = keras.Sequential(
            hidden()
            + [
                keras.layers.Dense(bottom[0] * bottom[1] * bottom[2], activation=activation),
                keras.layers.Reshape(bottom),
            ]
            + [keras.layers.Conv2DTranspose(f, **conv) for f in reversed(self.filters)]
            + [
                keras.layers.Conv2D(
                    channels * params, self.kernel_size, padding="same", dtype="float32", name="likelihood_params"
                ),
                keras.layers.Reshape((height, width, channels, params), dtype="float32"),
            ],
            name="decoder",
        )
        self._finish_init()

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=list(self.filters),
            kernel_size=self.kernel_size,
            hidden_units=self.hidden_units,
            activation=self.activation,
        )
        return config
