"""In-graph decoding of `SequenceVAE`: greedy or temperature sampling, one position at a time."""

import tensorflow as tf

from vae_zoo import text
from vae_zoo.utils.seeds import fold, per_row, per_row_normal, row_keys, seed_rows


class DecodingMixin:
    """`generate_ids` for `SequenceVAE` (uses its decoder layers and settings)."""

    def generate_ids(self, z, temperature=0.0, seed=None):
        """Decodes `z` `[N, latent]` inside the graph: token ids `[N, max_length]` (values
        `[N, max_length, features]` for real-valued models).

        Greedy (argmax) when `temperature` is 0, else a stateless draw from
        softmax(logits / temperature); row i is keyed by its row seed (`seed + i`
        for an int seed, see `vae_zoo.utils.seeds.seed_rows`). `[PAD]` and
        `[BOS]` are never generated; after `[EOS]` come `[PAD]`s. Real values:
        the mean when `temperature` is 0, else a Gaussian draw with the
        likelihood's scale times `temperature`.
        """
        z = tf.convert_to_tensor(z, tf.float32)
        n = tf.shape(z)[0]
        temperatures = tf.broadcast_to(tf.cast(temperature, tf.float32), [n])
        return self.generate_rows(z, temperatures, row_keys(seed_rows(n, seed)))

    def generate_rows(self, z, temperatures, keys):
        """`generate_ids` with one temperature `[N]` and one stateless key `[N, 2]` per row.

        A `tf.while_loop` over positions, stopping once every row has emitted
        `[EOS]`. Row i's draw at position t is keyed by `fold(keys[i], t)`
        alone, so its sentence never depends on the other rows of the batch.
        """
        z = tf.convert_to_tensor(z, tf.float32)
        shape = [self.max_length] if self.tokens else [self.max_length, self.features]
        dtype = tf.int32 if self.tokens else tf.float32
        n = tf.shape(z)[0]
        return tf.cond(
            n > 0,
            lambda: self._decode_loop(z, tf.cast(temperatures, tf.float32), keys),
            lambda: tf.zeros([0, *shape], dtype),
        )

    def _decode_loop(self, z, temperatures, keys):
        n = tf.shape(z)[0]
        h, c = self._initial_state(z)
        cell = self.decoder_lstm.cell
        if self.tokens:
            first = tf.fill([n], text.BOS)
            banned = self._banned_logits()
        else:
            first = tf.zeros([n, self.features])
        outputs = tf.TensorArray(tf.int32 if self.tokens else tf.float32, size=self.max_length)
        hot = temperatures > 0

        def row_keys_at(t):
            return fold(keys, t)

        def step(t, previous, h, c, finished, outputs):
            inputs = self._step_inputs(previous[:, None], z)[:, 0]
            hidden, (h, c) = cell(inputs, [h, c])
            raw = self.decoder_output(hidden)
            if not self.tokens:
                value = tf.reshape(raw, [-1, self.features, self.likelihood.num_params])[..., 0]
                noise = per_row_normal(row_keys_at(t), [self.features]) * self._value_scale(t)
                value = value + tf.where(hot, temperatures, 0.0)[:, None] * noise
                return t + 1, value, h, c, finished, outputs.write(t, value)
            logits = raw + banned
            greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)

            def sampled():
                scaled = logits / tf.maximum(temperatures, 1e-6)[:, None]
                return per_row(
                    lambda row: tf.cast(
                        tf.random.stateless_categorical(row[0][None], 1, row[1])[0, 0], tf.int32
                    ),
                    (scaled, row_keys_at(t)),
                    tf.TensorSpec([], tf.int32),
                )

            token = tf.cond(tf.reduce_any(hot), lambda: tf.where(hot, sampled(), greedy), lambda: greedy)
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
                "sampling real values needs a Gaussian likelihood, "
                f"this model has {type(self.likelihood).__name__}"
            )
        if not self.likelihood.built:  # decoding may run before the first teacher-forced pass builds it
            self.likelihood.build((None, self.max_length, self.features, self.likelihood.num_params))
        return tf.broadcast_to(scale(), [self.max_length, self.features])[t]
