"""The base of the distribution heads: `DistributionHead`, the float32 layer base class,
and shared helpers."""

import math

import keras

_register = keras.saving.register_keras_serializable(package="vae_zoo")


def _inverse_softplus(y):
    return float(y + math.log(-math.expm1(-y)))


class DistributionHead(keras.layers.Layer):
    """Base class: a layer that outputs a dict of float32 distribution parameters.

    Heads always compute in float32 (the `dtype` argument defaults to
    "float32" whatever the global mixed-precision policy is), because
    log-densities, softplus floors and log-sum-exps lose too much in float16.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def distribution(self, params):
        raise NotImplementedError
