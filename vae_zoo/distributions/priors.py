"""Prior heads `p(z)`: they hold their own (possibly learnable) parameters."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo.distributions.base import DistributionHead, _inverse_softplus, _register
from vae_zoo.distributions.tfp_extensions import DiagonalGaussianMixture

tfd = tfp.distributions


class PriorHead(DistributionHead):
    """A prior over `z` in R^latent_dim; `distribution()` has batch shape `[]`."""

    #: True when p(z) factorizes over latent dimensions (per-dimension KL exists).
    factorized = False

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)

    def distribution(self, posterior_fn=None):
        """The prior. `posterior_fn(x) -> tfd.Distribution` is needed by `VampPrior` only."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim)
        return config


@_register
class StandardNormalPrior(PriorHead):
    """`N(0, I)`. Example:

    >>> StandardNormalPrior(latent_dim=3).distribution().event_shape
    TensorShape([3])
    """

    factorized = True

    def build(self, input_shape=None):
        pass

    def distribution(self, posterior_fn=None):
        zeros = tf.zeros([self.latent_dim], tf.float32)
        return tfd.MultivariateNormalDiag(loc=zeros, scale_diag=tf.ones_like(zeros))

    def marginals(self):
        return tfd.Normal(tf.zeros([self.latent_dim]), tf.ones([self.latent_dim]))


@_register
class MixtureOfGaussiansPrior(PriorHead):
    """A learnable mixture of `num_components` diagonal Gaussians.

    Example:

    >>> p = MixtureOfGaussiansPrior(latent_dim=2, num_components=5)
    >>> p.build()
    >>> p.distribution().log_prob([[0.0, 0.0]]).shape
    TensorShape([1])
    """

    def __init__(self, latent_dim, num_components=10, min_scale=1e-3, **kwargs):
        super().__init__(latent_dim, **kwargs)
        if int(num_components) < 1:
            raise ValueError(f"num_components must be a positive integer, got {num_components!r}")
        self.num_components = int(num_components)
        self.min_scale = float(min_scale)

    def build(self, input_shape=None):
        k, d = self.num_components, self.latent_dim
        self.logits = self.add_weight(name="logits", shape=(k,), initializer="zeros")
        self.locs = self.add_weight(
            name="locs", shape=(k, d), initializer=keras.initializers.RandomNormal(stddev=1.0, seed=0)
        )
        self.raw_scales = self.add_weight(
            name="raw_scales",
            shape=(k, d),
            initializer=keras.initializers.Constant(_inverse_softplus(1.0 - self.min_scale)),
        )

    def distribution(self, posterior_fn=None):
        return DiagonalGaussianMixture(
            mixture_distribution=tfd.Categorical(logits=self.logits),
            components_distribution=tfd.MultivariateNormalDiag(
                loc=self.locs, scale_diag=tf.math.softplus(self.raw_scales) + self.min_scale
            ),
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_components=self.num_components, min_scale=self.min_scale)
        return config


@_register
class VampPrior(PriorHead):
    """VampPrior (Tomczak & Welling 2018): `p(z) = 1/K sum_k q(z | u_k)`.

    Holds `num_components` learnable pseudo-inputs `u_k` of the data's shape,
    kept in [0, 1] by a sigmoid; the model passes its encoder as `posterior_fn`.

    Example:

    >>> import tensorflow_probability as tfp
    >>> p = VampPrior(latent_dim=2, num_components=3, pseudo_input_shape=(4,))
    >>> p.build()
    >>> p.pseudo_inputs().shape
    TensorShape([3, 4])
    """

    def __init__(self, latent_dim, num_components=100, pseudo_input_shape=None, **kwargs):
        super().__init__(latent_dim, **kwargs)
        if pseudo_input_shape is None:
            raise ValueError("VampPrior needs pseudo_input_shape (the model passes its input_shape)")
        if int(num_components) < 1:
            raise ValueError(f"num_components must be a positive integer, got {num_components!r}")
        self.num_components = int(num_components)
        self.pseudo_input_shape = tuple(int(d) for d in pseudo_input_shape)

    def build(self, input_shape=None):
        self.pseudo_input_logits = self.add_weight(
            name="pseudo_input_logits",
            shape=(self.num_components, *self.pseudo_input_shape),
            initializer=keras.initializers.RandomNormal(mean=-1.0, stddev=0.3, seed=0),
        )

    def pseudo_inputs(self):
        return tf.sigmoid(self.pseudo_input_logits)

    def distribution(self, posterior_fn=None):
        if posterior_fn is None:
            raise ValueError("VampPrior.distribution needs posterior_fn (the model's encoder)")
        components = posterior_fn(self.pseudo_inputs())
        mixture = (
            DiagonalGaussianMixture
            if isinstance(components, tfd.MultivariateNormalDiag)
            else tfd.MixtureSameFamily
        )
        return mixture(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.num_components])),
            components_distribution=components,
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_components=self.num_components, pseudo_input_shape=list(self.pseudo_input_shape))
        return config
