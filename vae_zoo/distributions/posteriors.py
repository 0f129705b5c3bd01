"""Posterior heads `q(z|x)`: encoder features `[B, F]` to a distribution over `z`."""

import numpy as np
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

    `batch_norm_scale=gamma` batch-normalizes the means (BN-VAE, Zhu et al.
    2020, "A Batch Normalized Inference Network Keeps the KL Vanishing Away"):
    `loc = gamma * (mu - mean_B(mu)) / std_B(mu) + shift`, with `gamma` fixed
    and `shift` learned. In training the batch's statistics are used, so the
    batch-averaged KL to N(0, I) of each dimension is at least `gamma^2 / 2`
    (the KL of a Gaussian is at least half its squared mean): the posterior
    cannot collapse onto the prior, whatever the decoder. Outside training
    the moving statistics are used (an affine map in the exported graph).
    BatchNormalization's epsilon is 1e-12, not Keras's 1e-3: with a larger one
    an encoder escapes the floor by shrinking its raw means' spread towards
    the epsilon (an LSTM encoder under Adam did so in 40 steps). Under
    `tf.distribute` the statistics are synchronized over the replicas, so N
    replicas take the step one device takes on the global batch.

    Example:

    >>> import numpy as np
    >>> head = DiagonalGaussianPosterior(latent_dim=4)
    >>> q = head.distribution(head(np.ones((2, 8), "float32")))
    >>> q.sample(seed=(1, 2)).shape
    TensorShape([2, 4])
    """

    factorized = True

    def __init__(self, latent_dim, min_scale=1e-4, batch_norm_scale=None, **kwargs):
        super().__init__(latent_dim, min_scale=min_scale, **kwargs)
        if batch_norm_scale is not None:
            if isinstance(batch_norm_scale, bool) or not float(batch_norm_scale) > 0:
                raise ValueError(
                    "batch_norm_scale must be a positive number (gamma of BN-VAE) or None, "
                    f"got {batch_norm_scale!r}"
                )
            batch_norm_scale = float(batch_norm_scale)
            self.mean_norm = keras.layers.BatchNormalization(
                epsilon=1e-12, center=False, scale=False, synchronized=True, dtype="float32", name="mean_norm"
            )  # synchronized: under tf.distribute the statistics are the global batch's, as on one device
        self.batch_norm_scale = batch_norm_scale

    @property
    def num_outputs(self):
        return 2 * self.latent_dim

    def build(self, input_shape):
        super().build(input_shape)
        if self.batch_norm_scale is not None:
            self.mean_norm.build((None, self.latent_dim))
            self.shift = self.add_weight(
                shape=(self.latent_dim,), initializer="zeros", name="shift", dtype="float32"
            )

    def call(self, features, training=False):
        if self.batch_norm_scale is None:
            out = self.projection(features)
        else:
            out = self._projection_without_mean_bias_gradient(features)
        loc, raw_scale = tf.split(out, 2, axis=-1)
        if self.batch_norm_scale is not None:
            loc = self.batch_norm_scale * self.mean_norm(loc, training=training) + self.shift
        return {"loc": loc, "scale": tf.math.softplus(raw_scale) + self.min_scale}

    def _projection_without_mean_bias_gradient(self, features):
        """`self.projection(features)` (the same ops and values), with no gradient to the bias of the
        means: batch normalization subtracts it, so its true gradient is zero, and what the chain
        rule computes instead is rounding noise that 2 replicas and 1 device round differently."""
        kernel, bias = self.projection.kernel, self.projection.bias
        bias = tf.concat([tf.stop_gradient(bias[: self.latent_dim]), bias[self.latent_dim :]], axis=0)
        return tf.matmul(tf.cast(features, kernel.dtype), kernel) + bias

    def distribution(self, params):
        return tfd.MultivariateNormalDiag(loc=params["loc"], scale_diag=params["scale"])

    def marginals(self, params):
        """Per-dimension `tfd.Normal`, batch shape `[B, latent_dim]`."""
        return tfd.Normal(params["loc"], params["scale"])

    def reparameterize(self, params, eps):
        return params["loc"] + params["scale"] * eps

    def serving_outputs(self, params):
        return {"mean": params["loc"], "stddev": params["scale"]}

    def get_config(self):
        config = super().get_config()
        if self.batch_norm_scale is not None:  # absent otherwise: configs saved before it still match
            config["batch_norm_scale"] = self.batch_norm_scale
        return config


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
        # The mask is a constant, not tf.eye (MatrixDiagV3, which OpenVINO cannot convert).
        tril = tfp.math.fill_triangular(raw_tril)
        diagonal = tf.constant(np.eye(self.latent_dim, dtype=bool))
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
