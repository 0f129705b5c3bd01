"""Likelihood heads `p(x|z)`: raw decoder outputs `[N, *event_shape, num_params]` to parameters."""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo.distributions.base import DistributionHead, _inverse_softplus, _register
from vae_zoo.distributions.tfp_extensions import DiscretizedLogistic

tfd = tfp.distributions


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
    #: The class id of padding positions, which count zero (token sequences with padding), or None.
    pad_id = None

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

    @property
    def data_range(self):
        """The ids a position can hold: `(0, num_classes - 1)`."""
        return (0, self.num_classes - 1)

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
