"""Where `SequenceVAE` computes its bounds: only the positions and tokens a batch has.

Three exact savings, none of which changes a number beyond float32 rounding:

- **Positions used.** Every step and estimate reads only the first `used_length` positions of
  its batch: the encoder masks padding and the decoder is causal, so the padding after the
  batch's longest sentence counts zero (WordNet sentences use 10.4 of 32 positions on average;
  `evaluation_order` groups sentences of like length for the importance-weighted estimate).
- **Packed tokens in the training and validation steps.** A random batch's longest sentence is
  usually cut at 32 tokens while its mean is under 10, so even the positions used are mostly
  padding. Inside `_objective` (the training and validation steps, not under XLA) the encoder's
  LSTMs and the decoder's LSTM run over packed tokens (`vae_zoo.models.packed_lstm`) and the
  output softmax reads tokens only: a step pays for the tokens its batch has, whatever order the
  batches come in, so batches stay random (batches of like length cost BN-VAE's posterior 1.2-1.6
  nats, benchmarks/README.md). `encode`, `decode`, the importance-weighted estimate and every
  export keep the layers' own masked calls.
- **The sampled softmax** in training (`sampled_softmax > 0`, `vae_zoo.models.sampled_softmax`).
"""

import threading

import numpy as np
import tensorflow as tf

from vae_zoo import text
from vae_zoo.models import packed_lstm
from vae_zoo.models.sampled_softmax import log_uniform_candidates, sampled_log_softmax
from vae_zoo.utils.seeds import as_seed

#: The model whose `_objective` is being traced on this thread (replica threads trace apart).
_PACKING = threading.local()


def used_length(x, pad_id):
    """The number of leading positions of `x` `[B, T]` up to the batch's last non-`pad_id` token
    (at least 1)."""
    positions = tf.range(1, tf.shape(x)[1] + 1)
    return tf.maximum(1, tf.reduce_max(tf.where(tf.not_equal(x, pad_id), positions[None, :], 0)))


class SequenceBoundsMixin:
    """`SequenceVAE`'s q(z|x) and log p(x|z) where the bounds are computed (see the module doc)."""

    #: Whether the training and validation steps of token models run packed LSTMs (exact; off only
    #: to measure what packing saves, `benchmarks/sentence_step_time.py`).
    packed_steps = True

    def evaluation_order(self, x):
        """Token ids `x` `[N, T]` by length (stable), so that a batch's `used_length` is close to its mean."""
        x = np.asarray(x)
        if not self.tokens or self.likelihood.pad_id is None or x.ndim != 2 or x.dtype.kind not in "iu":
            return None
        return np.argsort((x != self.likelihood.pad_id).sum(axis=1), kind="stable")

    def used_positions(self, x):
        """Token ids `x` `[B, T]` cut after the batch's last non-padding token (`used_length`).

        Exact: the encoder masks padding and the decoder is causal, so the positions cut count
        zero. Not under XLA (`jit_compile=True`), whose shapes are static: there every batch
        pays for all `max_length` positions.
        """
        if self._cuts_padding():
            return x[:, : used_length(x, self.likelihood.pad_id)]
        return x

    def _cuts_padding(self):
        return self.tokens and self.likelihood.pad_id is not None and not self.jit_compile

    def _packs(self):
        """Whether the computation being traced runs over packed tokens (inside `_objective`)."""
        return getattr(_PACKING, "model", None) is self

    def _objective(self, x, seed, training):
        x = self.used_positions(x)
        if not (self.packed_steps and self._cuts_padding()):
            return super()._objective(x, seed, training)
        outer, _PACKING.model = getattr(_PACKING, "model", None), self
        try:
            return super()._objective(x, seed, training)
        finally:
            _PACKING.model = outer

    def _posterior_params(self, x, training=False):
        if not self._packs():
            return super()._posterior_params(x, training)
        embedding, rnn = self.encoder_network.layers
        lengths = packed_lstm.pad_lengths(x, self.likelihood.pad_id)
        features = packed_lstm.encode_final(rnn, embedding(x), packed_lstm.packing(lengths))
        return self.posterior(features, training=training)

    def _log_px_z(self, z, x, training=False, seed=None):
        x = self.used_positions(x)
        sampled = bool(training and self.sampled_softmax)
        packed = self._packs()
        if not (sampled or packed):
            return super()._log_px_z(z, x, training, seed)
        lead = tf.shape(z)[:-1]
        flat_z = tf.reshape(tf.convert_to_tensor(z, tf.float32), [-1, self.latent_dim])
        if packed:
            inputs, state, targets = self._decoder_inputs(flat_z, x, training, seed)
            p = packed_lstm.packing(packed_lstm.pad_lengths(targets, self.likelihood.pad_id))
            hidden, _ = packed_lstm.run_lstm(self.decoder_lstm, packed_lstm.pack(inputs, p), p, state)
            targets = packed_lstm.pack(targets, p)
        else:
            hidden, targets = self._decoder_hidden(flat_z, x, training, seed)
        if sampled:
            per_token = self._sampled_log_probs(hidden, targets, seed)
        else:
            logits = self.decoder_output(hidden) + self._banned_logits()
            per_token = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
        if packed:
            total = tf.math.unsorted_segment_sum(per_token, p.rows, tf.shape(flat_z)[0])
        else:  # as CategoricalLikelihood.log_prob: padding counts zero
            total = tf.reduce_sum(tf.where(tf.equal(targets, self.likelihood.pad_id), 0.0, per_token), -1)
        return tf.reshape(total, lead)

    def _sampled_log_probs(self, hidden, targets, seed):
        """The sampled softmax's estimate of log p(target) for each of `hidden`'s rows (any leading
        shape), its candidates drawn from the step's decoder `seed`."""
        seed = as_seed(None) if seed is None else seed  # an ad-hoc call outside the training step
        candidate_seed = tf.random.experimental.stateless_fold_in(seed, 2)
        banned = (text.PAD, text.BOS)  # never emitted (see _banned_logits): not in the normalizer
        candidates, log_expected = log_uniform_candidates(
            self.sampled_softmax, self.vocab_size, candidate_seed, banned
        )
        return sampled_log_softmax(
            hidden,
            self.decoder_output.kernel,
            self.decoder_output.bias,
            targets,
            candidates,
            log_expected,
            banned_ids=banned,
        )


__all__ = ["SequenceBoundsMixin", "used_length"]
