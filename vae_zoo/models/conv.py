"""`ConvVAE`: strided convolutions down, transposed convolutions up."""

import keras

from vae_zoo.models.registry import FamilyArgument, int_list, register_family
from vae_zoo.models.vae import VAE

CONV_ARGUMENTS = {
    "filters": FamilyArgument(int_list, "channels of each stride-2 convolution, e.g. 32,64"),
    "kernel_size": FamilyArgument(int, "convolution kernel size (default 3)"),
    "hidden_units": FamilyArgument(int, "width of the dense layer between convolutions and z (0: none)"),
    "activation": FamilyArgument(str, "activation of the hidden layers (default relu)"),
}


@register_family("conv")
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

    arguments = CONV_ARGUMENTS

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
        self.filters = tuple(int(f) for f in filters)
        if not self.filters:
            raise ValueError("ConvVAE needs at least one entry in filters")
        self.kernel_size = int(kernel_size)
        self.hidden_units = int(hidden_units)
        self.activation = activation
        shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
        if len(shape) != 3:
            raise ValueError(f"ConvVAE expects input_shape (height, width, channels), got {input_shape!r}")
        factor = 2 ** len(self.filters)
        if int(shape[0]) % factor or int(shape[1]) % factor:
            raise ValueError(
                f"ConvVAE with {len(self.filters)} stride-2 layers needs height and width divisible by "
                f"{factor}, got input_shape {tuple(int(d) for d in shape)}; pass fewer filters or pad the images"
            )
        super().__init__(input_shape, latent_dim, **kwargs)

    def _conv(self):
        return dict(kernel_size=self.kernel_size, strides=2, padding="same", activation=self.activation)

    def _hidden(self):
        return [keras.layers.Dense(self.hidden_units, activation=self.activation)] if self.hidden_units else []

    def build_encoder(self):
        return keras.Sequential(
            [keras.layers.Conv2D(f, **self._conv()) for f in self.filters] + [keras.layers.Flatten()] + self._hidden(),
            name="encoder",
        )

    def build_decoder(self):
        height, width, channels = self.data_shape
        factor = 2 ** len(self.filters)
        bottom = (height // factor, width // factor, self.filters[-1])
        params = self.likelihood.num_params
        return keras.Sequential(
            self._hidden()
            + [
                keras.layers.Dense(bottom[0] * bottom[1] * bottom[2], activation=self.activation),
                keras.layers.Reshape(bottom),
            ]
            + [keras.layers.Conv2DTranspose(f, **self._conv()) for f in reversed(self.filters)]
            + [
                keras.layers.Conv2D(
                    channels * params, self.kernel_size, padding="same", dtype="float32", name="likelihood_params"
                ),
                keras.layers.Reshape((height, width, channels, params), dtype="float32"),
            ],
            name="decoder",
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=list(self.filters),
            kernel_size=self.kernel_size,
            hidden_units=self.hidden_units,
            activation=self.activation,
        )
        return config
