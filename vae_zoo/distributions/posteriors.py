"""Posterior heads `q(z|x)`: encoder features `[B, F]` to a distribution over `z`."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo.distributions.base import DistributionHead, _register

tfd = tfp.distributions
tfb = tfp.bijectors


class PosteriorHead(DistributionHead):
    """A posterior head: features `[B, F]` to a distribution over `z` in R^latent_dim."""

    #: True when q(z|x) factorizes over latent dimensions (per-dimension KL exists).
    factorized = False

    def __init__(self, latent_dim, min_scale=1e-4, **kwargs):
        super().__init__(**kwargs)
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        self.latent_dim = int(latent_dim)
        self.min_scale = float(min_scale)
        self.projection = keras.layers.Dense(self.num_outputs, dtype="float32", name="projection")

    @property
    def num_outputs(self):
        raise NotImplementedError

    def build(self, input_shape):
        self.projection.build(input_shape)

    def reparameterize(self, params, eps):
        """Maps standard normal noise `eps` of shape `[..., B, latent_dim]` to `z`."""
        raise NotImplementedError

    def serving_outputs(self, params):
        """The parameters exported by the `encode` signature (`mean`, `stddev`, ...)."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, min_scale=self.min_scale)
        return config


@_register
class DiagonalGaussianPosterior(PosteriorHead):
    """Diagonal Gaussian `N(loc, diag(scale^2))`, `scale = softplus(raw) + min_scale`.

    Example:

    >>> import numpy as np
    >>> head = DiagonalGaussianPosterior(latent_dim=4)
    >>> q = head.distribution(head(np.ones((2, 8), "float32")))
    >>> q.sample(seed=(1, 2)).shape
    TensorShape([2, 4])
    """

    factorized = True

    @property
    def num_outputs(self):
        return 2 * self.latent_dim

    def call(self, features):
        out = self.projection(features)
        loc, raw_scale = tf.split(out, 2, axis=-1)
        return {"loc": loc, "scale": tf.math.softplus(raw_scale) + self.min_scale}

    def distribution(self, params):
        return tfd.MultivariateNormalDiag(loc=params["loc"], scale_diag=params["scale"])

    def marginals(self, params):
        """Per-dimension `tfd.Normal`, batch shape `[B, latent_dim]`."""
        return tfd.Normal(params["loc"], params["scale"])

    def reparameterize(self, params, eps):
        return params["loc"] + params["scale"] * eps

    def serving_outputs(self, params):
        return {"mean": params["loc"], "stddev": params["scale"]}


@_register
class FullCovarianceGaussianPosterior(PosteriorHead):
    """Full-covariance Gaussian `N(loc, L L^T)` with a lower-triangular `scale_tril`.

    The diagonal of `L` is `softplus(raw) + min_scale` (as `tfb.FillScaleTriL`).

    Example:

    >>> import numpy as np
    >>> head = FullCovarianceGaussianPosterior(latent_dim=3)
    >>> head(np.ones((2, 8), "float32"))["scale_tril"].shape
    TensorShape([2, 3, 3])
    """

    @property
    def num_outputs(self):
        d = self.latent_dim
        return d + d * (d + 1) // 2

    def call(self, features):
        out = self.projection(features)
        loc, raw_tril = out[..., : self.latent_dim], out[..., self.latent_dim :]
        # tfb.FillScaleTriL(diag_bijector=Softplus(), diag_shift=min_scale), written with a mask
        # instead of tf.linalg.diag_part (MatrixDiagPartV3 is not a TFLite builtin): the same numbers.
        tril = tfp.math.fill_triangular(raw_tril)
        diagonal = tf.eye(self.latent_dim, dtype=tf.bool)
        return {"loc": loc, "scale_tril": tf.where(diagonal, tf.math.softplus(tril) + self.min_scale, tril)}

    def distribution(self, params):
        return tfd.MultivariateNormalTriL(loc=params["loc"], scale_tril=params["scale_tril"])

    def reparameterize(self, params, eps):
        return params["loc"] + tf.linalg.matvec(params["scale_tril"], eps)

    def serving_outputs(self, params):
        tril = params["scale_tril"]
        return {
            "mean": params["loc"],
            "stddev": tf.sqrt(tf.reduce_sum(tf.square(tril), axis=-1)),
            "scale_tril": tril,
        }
