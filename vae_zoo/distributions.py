"""Distribution layers: Keras 3 layers whose outputs are distribution parameters.

`tfp.layers` are Keras 2 (`tf_keras`) layers and cannot live in a Keras 3 model.
The layers here play their part: each is a small Keras 3 layer that maps a
network's features to a dict of parameter tensors (always float32, also under
mixed precision), and each has a `distribution(params)` method that turns those
tensors into a `tfp.distributions` object. Models call the layer inside their
graph and build the distribution where they need it, so distributions stay
first-class values while the layers stay plain, serializable Keras layers.

Three roles:

* **posteriors** `q(z|x)`: `DiagonalGaussianPosterior`,
  `FullCovarianceGaussianPosterior`; they map encoder features `[B, F]` to
  parameters and can reparameterize standard normal noise into `z`.
* **likelihoods** `p(x|z)`: `BernoulliLikelihood`, `GaussianLikelihood`,
  `DiscretizedLogisticLikelihood`, `CategoricalLikelihood`; they map raw
  decoder outputs of shape `[N, *event_shape, num_params]` to parameters.
* **priors** `p(z)`: `StandardNormalPrior`, `MixtureOfGaussiansPrior`,
  `VampPrior`; they hold their own (possibly learnable) parameters.

Example:

>>> import numpy as np
>>> head = DiagonalGaussianPosterior(latent_dim=2)
>>> params = head(np.zeros((3, 5), "float32"))
>>> sorted(params)
['loc', 'scale']
>>> q = head.distribution(params)
>>> q.batch_shape, q.event_shape
(TensorShape([3]), TensorShape([2]))

Names accepted by the models (`likelihood="bernoulli"`, `prior="vamp"`, ...)
are listed in `LIKELIHOODS`, `POSTERIORS` and `PRIORS`; a dict
`{"name": ..., **kwargs}`, a serialized layer config or a layer instance work too.
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
tfb = tfp.bijectors

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


# --------------------------------------------------------------------------
# Posteriors q(z|x)
# --------------------------------------------------------------------------


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

    The diagonal of `L` is `softplus(raw) + min_scale` (`tfb.FillScaleTriL`).

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
        fill = tfb.FillScaleTriL(diag_bijector=tfb.Softplus(), diag_shift=self.min_scale)
        return {"loc": loc, "scale_tril": fill.forward(raw_tril)}

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


# --------------------------------------------------------------------------
# Likelihoods p(x|z)
# --------------------------------------------------------------------------


class LikelihoodHead(DistributionHead):
    """A likelihood head: raw decoder output `[N, *event_shape, num_params]` to parameters.

    Subclasses define `num_params` (values per event element the decoder must
    produce) and `distribution(params)`, a distribution over x in data space
    (its `log_prob`, `sample` and `mean` all in the units of the data).
    """

    #: Values the decoder produces per element of x.
    num_params = 1
    #: (low, high) that inputs must lie in, or None.
    data_range = None
    #: True when x holds integer class ids (token sequences).
    integer_events = False

    def build(self, input_shape):
        self.event_shape = tuple(input_shape[1:-1])

    @property
    def event_rank(self):
        return len(self.event_shape)

    def log_prob(self, params, x):
        """`log p(x|z)` summed over the event: shape = the parameters' batch shape."""
        return self.distribution(params).log_prob(x)

    def mean(self, params):
        """The likelihood mean, in data space."""
        return self.distribution(params).mean()

    def serving_outputs(self, params):
        """The parameters exported by the `decode` signature, plus `mean`."""
        raise NotImplementedError


@_register
class BernoulliLikelihood(LikelihoodHead):
    """Independent Bernoulli per element, parameterized by logits.

    `log_prob` is the binary cross-entropy written with softplus of logits, so
    saturated logits (|logit| > 100) give finite values and gradients. Inputs
    must lie in [0, 1]; grey levels are treated as soft targets.

    Example:

    >>> import numpy as np
    >>> head = BernoulliLikelihood()
    >>> p = head(np.zeros((2, 28, 28, 1, 1), "float32"))
    >>> float(head.log_prob(p, np.ones((2, 28, 28, 1), "float32"))[0])  # 784 * log(1/2)
    -543.42...
    """

    data_range = (0.0, 1.0)

    def call(self, raw):
        return {"logits": raw[..., 0]}

    def distribution(self, params):
        return tfd.Independent(
            tfd.Bernoulli(logits=params["logits"], dtype=tf.float32),
            reinterpreted_batch_ndims=self.event_rank,
        )

    def log_prob(self, params, x):
        # -BCE(x, logits) = x * logits - softplus(logits), summed over the event: one
        # transcendental per element, exact for any x in [0, 1], finite for any logits.
        logits = params["logits"]
        elementwise = x * logits - tf.math.softplus(logits)
        return tf.reduce_sum(elementwise, axis=list(range(-self.event_rank, 0)))

    def mean(self, params):
        return tf.sigmoid(params["logits"])

    def serving_outputs(self, params):
        probs = tf.sigmoid(params["logits"])
        return {"logits": params["logits"], "probs": probs, "mean": probs}


@_register
class GaussianLikelihood(LikelihoodHead):
    """Independent Gaussian per element with a fixed or learned scale.

    Args:
        scale: "fixed" (`fixed_scale` everywhere, not trained), "global" (one
            learned scalar, an isotropic model as in probabilistic PCA) or
            "per_dimension" (one learned scale per element of x).
        fixed_scale: the scale for "fixed", the initial scale otherwise.
        min_scale: floor added to the softplus of the learned scale.

    Example:

    >>> import numpy as np
    >>> head = GaussianLikelihood(scale="per_dimension")
    >>> params = head(np.zeros((4, 10, 1), "float32"))
    >>> params["scale"].shape
    TensorShape([4, 10])
    """

    SCALES = ("fixed", "global", "per_dimension")

    def __init__(self, scale="global", fixed_scale=1.0, min_scale=1e-3, **kwargs):
        super().__init__(**kwargs)
        if scale not in self.SCALES:
            raise ValueError(f"GaussianLikelihood scale must be one of {self.SCALES}, got {scale!r}")
        if fixed_scale <= min_scale:
            raise ValueError(f"fixed_scale must exceed min_scale={min_scale}, got {fixed_scale}")
        self.scale = scale
        self.fixed_scale = float(fixed_scale)
        self.min_scale = float(min_scale)

    def build(self, input_shape):
        super().build(input_shape)
        if self.scale == "fixed":
            return
        shape = () if self.scale == "global" else self.event_shape
        init = _inverse_softplus(self.fixed_scale - self.min_scale)
        self.raw_scale = self.add_weight(
            name="raw_scale", shape=shape, initializer=keras.initializers.Constant(init)
        )

    def _scale(self):
        if self.scale == "fixed":
            return tf.constant(self.fixed_scale, tf.float32)
        return tf.math.softplus(self.raw_scale) + self.min_scale

    def call(self, raw):
        loc = raw[..., 0]
        return {"loc": loc, "scale": tf.broadcast_to(self._scale(), tf.shape(loc))}

    def distribution(self, params):
        return tfd.Independent(
            tfd.Normal(params["loc"], params["scale"]), reinterpreted_batch_ndims=self.event_rank
        )

    def mean(self, params):
        return params["loc"]

    def serving_outputs(self, params):
        return {"loc": params["loc"], "scale": params["scale"], "mean": params["loc"]}

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, fixed_scale=self.fixed_scale, min_scale=self.min_scale)
        return config


class DiscretizedLogistic(tfd.QuantizedDistribution):
    """A logistic discretized to the grid `{0, 1/top, ..., 1}` (8-bit pixels: `top = 255`), in data units.

    `distribution` is the logistic over pixel levels, `Logistic(top * loc - 0.5,
    top * scale)`; level `k` gets its mass on `(k - 1, k]` (TFP's
    `QuantizedDistribution`), the edge levels take the tails. This class moves
    the quantized variable to data units: `log_prob(x)` is the mass of the
    level `round(top * x)`, `sample()` returns `level / top`, and `mean()` is in
    [0, 1] too, so every method speaks the scale of the data and of the
    likelihood head's `mean`.

    `mean()` is the mean of the logistic clipped to [0, top], in closed form
    (`s * (softplus(m / s) - softplus((m - top) / s)) / top` with `m = top * loc`,
    `s = top * scale`): the midpoint rule for the sum over levels, within half
    a level (1/510) of the discrete mean, and exact in the tails' limits.
    """

    def _log_prob(self, x):
        return super()._log_prob(tf.round(x * self.high))

    def _prob(self, x):
        return super()._prob(tf.round(x * self.high))

    def _sample_n(self, n, seed=None):
        return super()._sample_n(n, seed=seed) / self.high

    def _mean(self):
        top = self.high
        scale = self.distribution.scale
        location = self.distribution.loc + 0.5  # top * loc: the level the logistic centres on
        clipped = scale * (tf.math.softplus(location / scale) - tf.math.softplus((location - top) / scale))
        return clipped / top


@_register
class DiscretizedLogisticLikelihood(LikelihoodHead):
    """Discretized logistic over 8-bit pixel values (PixelCNN++ style, one component).

    `x` in [0, 1] is treated as the level `round(255 x)` of 256: level `k` gets
    the logistic mass of `(k - 0.5, k + 0.5]` (in levels), the edge levels take
    the tails. `log_prob` is therefore a log-probability mass, directly
    comparable with bits/dim figures. Everything is in data units [0, 1]:
    `distribution(params)` (a `DiscretizedLogistic`) takes x in [0, 1] in
    `log_prob`, samples on the grid `k / 255`, and its `mean()` equals
    `mean(params)`, the head's mean used by `reconstruct`, `sample` and the
    exported signatures.

    Example:

    >>> import numpy as np
    >>> head = DiscretizedLogisticLikelihood()
    >>> params = head(np.zeros((1, 4, 2), "float32"))
    >>> x = head.distribution(params).sample(seed=(0, 1))  # on the grid k / 255
    >>> x.shape, bool(np.allclose(x * 255, np.round(x * 255), atol=1e-4))
    (TensorShape([1, 4]), True)
    """

    num_params = 2
    data_range = (0.0, 1.0)
    levels = 256

    def __init__(self, min_scale=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.min_scale = float(min_scale)

    def call(self, raw):
        return {"loc": raw[..., 0], "scale": tf.math.softplus(raw[..., 1]) + self.min_scale}

    def distribution(self, params):
        top = self.levels - 1.0
        # Quantized(X) puts P[k-1 < X <= k] on k; X = L - 0.5 centres level k on k.
        logistic = tfd.Logistic(loc=params["loc"] * top - 0.5, scale=params["scale"] * top)
        quantized = DiscretizedLogistic(logistic, low=0.0, high=top)
        return tfd.Independent(quantized, reinterpreted_batch_ndims=self.event_rank)

    def serving_outputs(self, params):
        return {"loc": params["loc"], "scale": params["scale"], "mean": self.mean(params)}

    def get_config(self):
        config = super().get_config()
        config.update(min_scale=self.min_scale)
        return config


@_register
class CategoricalLikelihood(LikelihoodHead):
    """Independent categorical per position (token sequences), parameterized by logits.

    The decoder produces `num_classes` logits per position: raw shape `[N, T, num_classes]`.
    `mean` returns the most likely class per position (the mode). With `pad_id`,
    positions holding that id are padding: `log_prob` leaves them out.

    Example:

    >>> import numpy as np
    >>> head = CategoricalLikelihood(num_classes=5)
    >>> params = head(np.zeros((2, 7, 5), "float32"))
    >>> float(head.log_prob(params, np.zeros((2, 7), "int32"))[0])  # 7 * log(1/5)
    -11.26...
    """

    integer_events = True

    def __init__(self, num_classes, pad_id=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.pad_id = None if pad_id is None else int(pad_id)

    def log_prob(self, params, x):
        """Sum of per-position log-probabilities; positions holding `pad_id` count zero."""
        logits = params["logits"]
        labels = tf.broadcast_to(tf.cast(x, tf.int32), tf.shape(logits)[:-1])
        per_position = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        if self.pad_id is not None:
            per_position = tf.where(tf.equal(labels, self.pad_id), 0.0, per_position)
        return tf.reduce_sum(per_position, axis=list(range(-self.event_rank, 0)))

    @property
    def num_params(self):
        return self.num_classes

    def call(self, raw):
        return {"logits": raw}

    def distribution(self, params):
        return tfd.Independent(
            tfd.Categorical(logits=params["logits"]), reinterpreted_batch_ndims=self.event_rank
        )

    def mean(self, params):
        return tf.argmax(params["logits"], axis=-1, output_type=tf.int32)

    def serving_outputs(self, params):
        return {"logits": params["logits"], "mean": self.mean(params)}

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, pad_id=self.pad_id)
        return config


# --------------------------------------------------------------------------
# Priors p(z)
# --------------------------------------------------------------------------


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


class DiagonalGaussianMixture(tfd.MixtureSameFamily):
    """A `tfd.MixtureSameFamily` of `MultivariateNormalDiag` components with a fast `log_prob`.

    TFP's mixture evaluates every component at every point, an `[N, K, D]`
    tensor of differences that is memory-bound for large `N * K` (the
    importance-weighted estimate scores millions of z under a 500-component
    VampPrior). Here the squared Mahalanobis distances come from two matrix
    products, `sum_d (z_d - m_kd)^2 / s_kd^2 = z^2 @ P^T - 2 z @ (m P)^T + sum_d m_kd^2 P_kd`
    with `P = 1 / s^2`, computed in float64 (the terms are large and cancel;
    float32 products may also run as TF32 on GPUs) after shifting z and the
    means by the means' average. The result matches a float64 TFP mixture to
    float32 rounding, and is about 9 times faster than TFP's mixture for
    500 components of 32 dimensions (see tests/test_distributions.py). Only
    components with batch shape `[K]` and event shape `[D]` are expected.

    Example:

    >>> import numpy as np
    >>> tfd = tfp.distributions
    >>> mix = DiagonalGaussianMixture(
    ...     mixture_distribution=tfd.Categorical(logits=[0.0, 0.0]),
    ...     components_distribution=tfd.MultivariateNormalDiag(loc=[[0.0], [2.0]], scale_diag=[[1.0], [0.5]]))
    >>> z = np.array([[0.3], [1.7]], "float32")
    >>> plain = tfd.MixtureSameFamily(mix.mixture_distribution, mix.components_distribution)
    >>> bool(np.allclose(mix.log_prob(z), plain.log_prob(z), atol=1e-5))
    True
    """

    def _log_prob(self, x):
        components = self.components_distribution
        dtype = components.loc.dtype
        x = tf.convert_to_tensor(x, dtype)
        # float64 for the expansion: its terms are large and cancel, and float32 products may run
        # as TF32 (10-bit mantissa) on recent GPUs, which would cost tens of nats.
        loc = tf.cast(components.loc, tf.float64)  # [K, D]
        scale = tf.cast(components.scale.diag, tf.float64)  # [K, D]
        center = tf.reduce_mean(loc, axis=0)
        loc = loc - center
        flat = tf.reshape(tf.cast(x, tf.float64), [-1, tf.shape(x)[-1]]) - center  # [N, D]
        precision = tf.math.reciprocal(tf.square(scale))
        distance = (
            tf.matmul(tf.square(flat), precision, transpose_b=True)
            - 2.0 * tf.matmul(flat, loc * precision, transpose_b=True)
            + tf.reduce_sum(tf.square(loc) * precision, axis=-1)
        )  # [N, K]
        distance = tf.cast(tf.maximum(distance, 0.0), dtype)
        dims = tf.cast(tf.shape(loc)[-1], dtype)
        log_normalizer = tf.reduce_sum(tf.math.log(components.scale.diag), axis=-1) + 0.5 * dims * math.log(2.0 * math.pi)
        log_weights = tf.math.log_softmax(self.mixture_distribution.logits_parameter())
        log_prob = tf.reduce_logsumexp(log_weights - log_normalizer - 0.5 * distance, axis=-1)
        return tf.reshape(log_prob, tf.shape(x)[:-1])


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
        mixture = DiagonalGaussianMixture if isinstance(components, tfd.MultivariateNormalDiag) else tfd.MixtureSameFamily
        return mixture(
            mixture_distribution=tfd.Categorical(logits=tf.zeros([self.num_components])),
            components_distribution=components,
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_components=self.num_components, pseudo_input_shape=list(self.pseudo_input_shape))
        return config


def tempered_sample(distribution, num_samples, seed, temperature=1.0):
    """Stateless draws from a Gaussian or a mixture of Gaussians, spread scaled by `temperature`.

    For a location-scale distribution, `z = loc + temperature * scale @ eps`.
    For a `MixtureSameFamily` of Gaussians, the component of each draw is drawn
    first, then `z` from that component alone: memory is `[n, d]` (`[n, d, d]`
    for full-covariance components), never `[n, K, d]`. `seed` is a `[2]` int
    tensor.
    """
    seed_component, seed_draw = tfp.random.split_seed(seed, n=2)
    temperature = tf.cast(temperature, tf.float32)
    if isinstance(distribution, tfd.MixtureSameFamily):
        components = distribution.components_distribution
        index = distribution.mixture_distribution.sample(num_samples, seed=seed_component)
        loc = tf.gather(components.loc, index)  # [n, d]
        eps = tf.random.stateless_normal(tf.shape(loc), seed_draw)
        if isinstance(components, tfd.MultivariateNormalDiag):
            deviation = tf.gather(components.scale.diag, index) * eps
        elif isinstance(components, tfd.MultivariateNormalTriL):
            deviation = tf.linalg.matvec(tf.gather(components.scale.to_dense(), index), eps)
        else:
            raise ValueError(
                "tempered_sample draws from mixtures of MultivariateNormalDiag or MultivariateNormalTriL "
                f"components, got {type(components).__name__}"
            )
        return loc + temperature * deviation
    draws = distribution.sample(num_samples, seed=seed_draw)
    means = distribution.mean()
    return means + temperature * (draws - means)


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------

LIKELIHOODS = {
    "bernoulli": (BernoulliLikelihood, {}),
    "gaussian": (GaussianLikelihood, {"scale": "global"}),
    "gaussian_fixed": (GaussianLikelihood, {"scale": "fixed"}),
    "gaussian_global": (GaussianLikelihood, {"scale": "global"}),
    "gaussian_per_dimension": (GaussianLikelihood, {"scale": "per_dimension"}),
    "discretized_logistic": (DiscretizedLogisticLikelihood, {}),
    "categorical": (CategoricalLikelihood, {}),
}
POSTERIORS = {
    "diagonal": (DiagonalGaussianPosterior, {}),
    "full": (FullCovarianceGaussianPosterior, {}),
    "full_covariance": (FullCovarianceGaussianPosterior, {}),
}
PRIORS = {
    "normal": (StandardNormalPrior, {}),
    "mixture": (MixtureOfGaussiansPrior, {}),
    "vamp": (VampPrior, {}),
}


def _resolve(spec, table, base, role, **required):
    if isinstance(spec, base):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        layer = keras.saving.deserialize_keras_object(spec)
        if not isinstance(layer, base):
            raise ValueError(f"{role} config must describe a {base.__name__}, got {type(layer).__name__}")
        return layer
    kwargs = {}
    if isinstance(spec, dict):
        kwargs = dict(spec)
        spec = kwargs.pop("name", None)
    if not isinstance(spec, str) or spec not in table:
        raise ValueError(f"Unknown {role} {spec!r}. Valid {role} names: {', '.join(sorted(table))}.")
    cls, defaults = table[spec]
    return cls(**{**defaults, **required, **kwargs})


def get_likelihood(spec, **required):
    """A likelihood head from a name in `LIKELIHOODS`, a `{"name": ...}` dict, a config or a layer."""
    return _resolve(spec, LIKELIHOODS, LikelihoodHead, "likelihood", **required)


def get_posterior(spec, latent_dim):
    """A posterior head from a name in `POSTERIORS`, a dict, a config or a layer."""
    head = _resolve(spec, POSTERIORS, PosteriorHead, "posterior", latent_dim=latent_dim)
    if head.latent_dim != latent_dim:
        raise ValueError(f"posterior latent_dim={head.latent_dim} does not match the model's {latent_dim}")
    return head


def get_prior(spec, latent_dim, input_shape):
    """A prior head from a name in `PRIORS`, a dict, a config or a layer."""
    required = {"latent_dim": latent_dim}
    name = spec.get("name") if isinstance(spec, dict) else spec
    if name == "vamp":
        required["pseudo_input_shape"] = input_shape
    head = _resolve(spec, PRIORS, PriorHead, "prior", **required)
    if head.latent_dim != latent_dim:
        raise ValueError(f"prior latent_dim={head.latent_dim} does not match the model's {latent_dim}")
    return head


__all__ = [
    "BernoulliLikelihood",
    "CategoricalLikelihood",
    "DiagonalGaussianPosterior",
    "DiscretizedLogisticLikelihood",
    "DistributionHead",
    "FullCovarianceGaussianPosterior",
    "GaussianLikelihood",
    "LIKELIHOODS",
    "LikelihoodHead",
    "MixtureOfGaussiansPrior",
    "POSTERIORS",
    "PRIORS",
    "PosteriorHead",
    "PriorHead",
    "StandardNormalPrior",
    "VampPrior",
    "get_likelihood",
    "get_posterior",
    "get_prior",
    "tempered_sample",
]
