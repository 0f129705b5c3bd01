"""`ConvVAE`: strided convolutions down, transposed convolutions up."""

import keras
import numpy as np
import tensorflow as tf

from vae_zoo.models.registry import FamilyArgument, int_list, register_family
from vae_zoo.models.vae import VAE

#: Up to this many output channels, `shift_sum_conv2d` computes a stride-1 "same" convolution as
#: a per-pixel product and a shift-and-sum (faster on CPU for 1 and 2 channels, not for 3:
#: benchmarks/README.md).
SHIFT_SUM_MAX_FILTERS = 2

CONV_ARGUMENTS = {
    "filters": FamilyArgument(int_list, "channels of each stride-2 convolution, e.g. 32,64"),
    "kernel_size": FamilyArgument(int, "convolution kernel size (default 3)"),
    "hidden_units": FamilyArgument(int, "width of the dense layer between convolutions and z (0: none)"),
    "activation": FamilyArgument(str, "activation of the hidden layers (default relu)"),
}


def _shift_sum_applies(layer):
    """Whether `layer` is a stride-1 "same" convolution with a square odd kernel and few filters."""
    square_odd_kernel = layer.kernel_size[0] == layer.kernel_size[1] and layer.kernel_size[0] % 2 == 1
    return (
        layer.filters <= SHIFT_SUM_MAX_FILTERS
        and square_odd_kernel
        and tuple(layer.strides) == (1, 1)
        and layer.padding == "same"
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.groups == 1
        and layer.data_format == "channels_last"
    )


def _shift_sum_convolution(inputs, kernel):
    """y = sum over taps (kh, kw) of shift_(kh, kw)(x @ W[kh, kw]) for a stride-1 "same" convolution."""
    k, _, channels, filters = kernel.shape
    shape = tf.shape(inputs)
    taps = tf.reshape(tf.transpose(kernel, [2, 0, 1, 3]), [channels, k * k * filters])  # columns (kh, kw, o)
    products = tf.matmul(tf.reshape(inputs, [-1, channels]), taps)
    products = tf.reshape(products, tf.concat([shape[:3], [k * k * filters]], axis=0))
    one_hot = np.zeros((k, k, k * k * filters, filters), "float32")  # tap (kh, kw) of product o -> output o
    for kh in range(k):
        for kw in range(k):
            for o in range(filters):
                one_hot[kh, kw, (kh * k + kw) * filters + o, o] = 1
    return tf.nn.conv2d(products, tf.constant(one_hot, products.dtype), 1, "SAME")


def with_shift_sum(layer):
    """`layer` (a `keras.layers.Conv2D`), its convolution computed as a shift-and-sum when it has few filters.

    oneDNN's convolution kernels run a 3x3 convolution to 1 channel (the Bernoulli head of a
    grayscale ConvVAE) at a small fraction of their usual rate, forward and backward. The same
    function, y = sum over taps (kh, kw) of shift_(kh, kw)(x @ W[kh, kw]), is one matrix product
    `[N*H*W, C] x [C, k*k*m]` and a fixed one-hot k x k convolution from k*k*m channels to m that
    shifts and sums the products; only the order of the additions changes. Used for stride 1,
    "same" padding, no dilation or groups, channels last and at most `SHIFT_SUM_MAX_FILTERS`
    filters; otherwise Keras's own convolution runs. Only the layer's `convolution_op` is
    replaced: it stays a `keras.layers.Conv2D` (its config, its weights, and their path
    `.../conv2d/vars/0` in `.weights.h5` files, which Keras derives from the class name), so the
    shipped presets and files saved earlier load unchanged. Its config is plain Keras's: a layer
    rebuilt from it alone computes the same function with Keras's kernels.
    """
    keras_convolution = layer.convolution_op

    def convolution_op(inputs, kernel):
        if not _shift_sum_applies(layer):
            return keras_convolution(inputs, kernel)
        return _shift_sum_convolution(inputs, kernel)

    layer.convolution_op = convolution_op
    layer._shift_sum = lambda: _shift_sum_applies(layer)  # benchmarks/step_floor.py counts the fast path
    return layer


def shift_sum_conv2d(filters, kernel_size, **kwargs):
    """`keras.layers.Conv2D(filters, kernel_size, **kwargs)` with `with_shift_sum`'s convolution."""
    return with_shift_sum(keras.layers.Conv2D(filters, kernel_size, **kwargs))


@keras.saving.register_keras_serializable(package="vae_zoo", name="ShiftSumConv2D")
class ShiftSumConv2DConfig:
    """Reads a config saved under the registered name `vae_zoo>ShiftSumConv2D`.

    The shift-and-sum layer was once a `Conv2D` subclass registered under that name; such
    configs give the `keras.layers.Conv2D` of `with_shift_sum`. Nothing saves this name now.
    """

    @classmethod
    def from_config(cls, config):
        return with_shift_sum(keras.layers.Conv2D.from_config(config))

    def get_config(self):
        raise TypeError(
            "ShiftSumConv2DConfig only reads old configs; shift_sum_conv2d layers save as keras Conv2D"
        )


@register_family("conv")
@keras.saving.register_keras_serializable(package="vae_zoo")
class ConvVAE(VAE):
    """A VAE for images `(H, W, C)` with a convolutional encoder and decoder.

    The encoder applies one stride-2 `Conv2D` per entry of `filters`, then a
    dense layer of `hidden_units`; the decoder mirrors it with stride-2
    `Conv2DTranspose` layers and ends in a float32 `Conv2D` (`shift_sum_conv2d`) that produces the
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

    #: Outputs per chunk of the importance-weighted decoding: the decoder holds tens of activations
    #: per output, so the chunk bounds the memory of `log_likelihood` with many samples (a few GiB
    #: for IW-5000 on batches of 100 28x28 images) without slowing it (benchmarks/README.md).
    IW_MAX_ELEMENTS = 2**21

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
                f"{factor}, got input_shape {tuple(int(d) for d in shape)}; "
                "pass fewer filters or pad the images"
            )
        super().__init__(input_shape, latent_dim, **kwargs)

    def _conv(self):
        return dict(kernel_size=self.kernel_size, strides=2, padding="same", activation=self.activation)

    def _hidden(self):
        return (
            [keras.layers.Dense(self.hidden_units, activation=self.activation)] if self.hidden_units else []
        )

    def build_encoder(self):
        return keras.Sequential(
            [keras.layers.Conv2D(f, **self._conv()) for f in self.filters]
            + [keras.layers.Flatten()]
            + self._hidden(),
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
                shift_sum_conv2d(
                    channels * params,
                    self.kernel_size,
                    padding="same",
                    dtype="float32",
                    name="likelihood_params",
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
