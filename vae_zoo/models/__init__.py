"""vae-zoo model families. Every model is a `keras.Model` built on `VAE`."""

from vae_zoo.models.base import VAE
from vae_zoo.models.beta import BetaVAE
from vae_zoo.models.conv import ConvVAE
from vae_zoo.models.dense import DenseVAE
from vae_zoo.models.sequence import SequenceVAE

#: Short names used by configs and the command line.
MODELS = {"dense": DenseVAE, "conv": ConvVAE, "beta": BetaVAE, "sequence": SequenceVAE}

__all__ = ["VAE", "DenseVAE", "ConvVAE", "BetaVAE", "SequenceVAE", "MODELS"]
