"""In-graph decoding of `SequenceVAE`: greedy or temperature sampling, one position at a time."""

import tensorflow as tf

from vae_zoo import text
from vae_zoo.utils.seeds import as_seed


class DecodingMixin:
    """`generate_ids` for `SequenceVAE` (uses its decoder layers and settings)."""

    def generate_ids(self, z, temperature=0.0, seed=None):
        """Decodes `z` `[N, latent]` inside the graph: token ids `[N, max_length]` (values
        `[N, max_length, features]` for real-valued models).

        A `tf.while_loop` over positions, stopping once every sequence has
        emitted `[EOS]`; greedy (argmax) when `temperature` is 0, else a
        stateless draw from softmax(logits / temperature) keyed by `seed`.
        `[PAD]` and `[BOS]` are never generated; after `[EOS]` come `[PAD]`s.
        Real values: the mean when `temperature` is 0, else a Gaussian draw
        with the likelihood's scale times `temperature`.
        """
        z = tf.convert_to_tensor(z, tf.float32)
        n = tf.shape(z)[0]
        temperature = tf.cast(temperature, tf.float32)
        seed = tf.constant([0, 0], tf.int32) if seed is None else as_seed(seed)
        h, c = self._initial_state(z)
        cell = self.decoder_lstm.cell
        if self.tokens:
            first = tf.fill([n], text.BOS)
            banned = self._banned_logits()
        else:
            first = tf.zeros([n, self.features])
        outputs = tf.TensorArray(tf.int32 if self.tokens else tf.float32, size=self.max_length)

        def step(t, previous, h, c, finished, outputs):
            inputs = self._step_inputs(previous[:, None], z)[:, 0]
            hidden, (h, c) = cell(inputs, [h, c])
            raw = self.decoder_output(hidden)
            step_seed = tf.random.experimental.stateless_fold_in(seed, t)
            if not self.tokens:
                value = tf.reshape(raw, [-1, self.features, self.likelihood.num_params])[..., 0]
                noise = tf.random.stateless_normal(tf.shape(value), step_seed) * self._value_scale(t)
                value = value + tf.where(temperature > 0, temperature, 0.0) * noise
                return t + 1, value, h, c, finished, outputs.write(t, value)
            logits = raw + banned
            greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
            scaled = logits / tf.maximum(temperature, 1e-6)
            sampled = tf.cast(tf.random.stateless_categorical(scaled, 1, step_seed)[:, 0], tf.int32)
            token = tf.where(temperature > 0, sampled, greedy)
            token = tf.where(finished, text.PAD, token)
            finished = tf.logical_or(finished, tf.equal(token, text.EOS))
            return t + 1, token, h, c, finished, outputs.write(t, token)

        def running(t, previous, h, c, finished, outputs):
            return tf.logical_and(t < self.max_length, tf.logical_not(tf.reduce_all(finished)))

        _, _, _, _, _, outputs = tf.while_loop(
            running, step, (tf.constant(0), first, h, c, tf.zeros([n], tf.bool), outputs)
        )
        generated = outputs.stack()  # [steps, N(, F)]
        steps = tf.shape(generated)[0]
        if self.tokens:
            generated = tf.transpose(generated)
            return tf.pad(generated, [[0, 0], [0, self.max_length - steps]], constant_values=text.PAD)
        generated = tf.transpose(generated, [1, 0, 2])
        return tf.pad(generated, [[0, 0], [0, self.max_length - steps], [0, 0]])

    def _banned_logits(self):
        """`[vocab]`: -1e9 on `[PAD]` and `[BOS]`, 0 elsewhere. Neither is ever a token of a sentence,
        so p(x_t | x_<t, z) is a softmax over the other ids, in teacher forcing and decoding alike."""
        return tf.reduce_sum(tf.one_hot([text.PAD, text.BOS], self.vocab_size, on_value=-1e9), axis=0)

    def _value_scale(self, t):
        """The Gaussian likelihood's scale at position `t`, `[features]` (real-valued models)."""
        scale = getattr(self.likelihood, "_scale", None)
        if scale is None:
            raise ValueError(
                f"sampling real values needs a Gaussian likelihood, this model has {type(self.likelihood).__name__}"
            )
        if not self.likelihood.built:  # decoding may run before the first teacher-forced pass builds it
            self.likelihood.build((None, self.max_length, self.features, self.likelihood.num_params))
        return tf.broadcast_to(scale(), [self.max_length, self.features])[t]
