"""`SequenceDistribution`: p(x|z) of an autoregressive decoder, over whole sequences."""

import tensorflow as tf
import tensorflow_probability as tfp

from vae_zoo.utils.seeds import fold

tfd = tfp.distributions


class SequenceDistribution(tfd.Distribution):
    """The distribution over whole sequences that a `SequenceVAE` decoder defines for each `z`.

    p(x|z) = prod_t p(x_t | x_<t, z): each position is conditioned on the
    previous ones, so the sequence is not a product of independent positions.

    * `log_prob(x)`: the teacher-forced log-likelihood of `x` (token ids
      `[..., max_length]`, or values `[..., max_length, features]`): the
      decoder reads `x` itself as its previous tokens. Padding counts zero.
      This is the reconstruction term of `SequenceVAE.elbo` for the same `z`.
    * `sample(n, seed=...)`: ancestral sampling, one position at a time from
      the decoder's own previous draws (temperature 1), stateless in `seed`.
    * `mode()`: greedy decoding (argmax at each position; the mean for real
      values), the usual stand-in for the most likely sequence.

    Batch shape: `z.shape[:-1]`; event shape: the model's input shape.
    `mean()` and `entropy()` have no tractable form and are not implemented.
    """

    def __init__(self, model, z, training=False, name="SequenceDistribution"):
        parameters = dict(locals())
        self._model = model
        self._z = tf.convert_to_tensor(z, tf.float32)
        self._training = training
        super().__init__(
            dtype=tf.int32 if model.tokens else tf.float32,
            reparameterization_type=tfd.NOT_REPARAMETERIZED,
            validate_args=False,
            allow_nan_stats=True,
            parameters=parameters,
            name=name,
        )

    @property
    def z(self):
        return self._z

    def _batch_shape(self):
        return self._z.shape[:-1]

    def _batch_shape_tensor(self):
        return tf.shape(self._z)[:-1]

    def _event_shape(self):
        return tf.TensorShape(self._model.data_shape)

    def _event_shape_tensor(self):
        return tf.constant(self._model.data_shape, tf.int32)

    def _flat_z(self, lead):
        z = tf.broadcast_to(self._z, tf.concat([lead, [self._model.latent_dim]], axis=0))
        return tf.reshape(z, [-1, self._model.latent_dim])

    def _log_prob(self, x):
        model = self._model
        x = tf.cast(x, self.dtype)
        event_rank = len(model.data_shape)
        event = tf.shape(x)[tf.rank(x) - event_rank :]
        lead = tf.broadcast_dynamic_shape(tf.shape(x)[: tf.rank(x) - event_rank], self._batch_shape_tensor())
        x_flat = tf.reshape(
            tf.broadcast_to(x, tf.concat([lead, event], axis=0)), tf.concat([[-1], event], axis=0)
        )
        params = model._likelihood_params(self._flat_z(lead), self._training, targets=x_flat)
        return tf.reshape(model.likelihood.log_prob(params, x_flat), lead)

    def _decoded(self, n, temperature, seed):
        model = self._model
        lead = self._batch_shape_tensor()
        z = self._flat_z(lead)
        z = tf.tile(z, [n, 1])
        if seed is None:
            x = model.generate_ids(z, temperature=temperature)
        else:  # a TFP seed `[2]`: row i's key is that seed folded with i
            rows = tf.shape(z)[0]
            keys = fold(tf.broadcast_to(tf.cast(seed, tf.int32), [rows, 2]), tf.range(rows))
            x = model.generate_rows(z, tf.fill([rows], tf.cast(temperature, tf.float32)), keys)
        return tf.reshape(x, tf.concat([[n], lead, model.data_shape], axis=0))

    def _sample_n(self, n, seed=None):
        return self._decoded(n, 1.0, tfp.random.sanitize_seed(seed))

    def _mode(self):
        return self._decoded(1, 0.0, None)[0]
