"""vae-zoo model families. Every model is a `keras.Model` built on `VAE`."""

from vae_zoo.models.base import VAE
from vae_zoo.models.beta import BetaVAE
from vae_zoo.models.conv import ConvVAE
from vae_zoo.models.dense import DenseVAE

#: Short names used by configs and the command line.
MODELS = {"dense": DenseVAE, "conv": ConvVAE, "beta": BetaVAE}

__all__ = ["VAE", "DenseVAE", "ConvVAE", "BetaVAE", "MODELS"]
