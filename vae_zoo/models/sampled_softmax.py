"""Sampled softmax for token decoders: the training-time estimate of log p(x_t | x_<t, z).

A decoder over V tokens computes V logits per position; at V = 32,000 and a
batch of 128 sentences of 32 tokens the output product alone is ~200 GFLOP a
step. In training the softmax's normalizer can instead be estimated from a few
hundred candidate tokens (importance sampling, Bengio and Senecal 2008; Jean et
al. 2015): S candidates `c` are drawn with replacement from a proposal Q and

    log p(t) ~ s_t - log(exp(s_t) + sum over c != t of exp(s_c - log(S Q(c))))

with s the logits and t the position's target. The sum is an unbiased estimate
of the other tokens' mass, so as S grows the estimate converges to the exact
log-softmax (the logged `reconstruction` is on the exact one's scale; for
finite S it is optimistic on average, by Jensen). This differs from
`tf.nn.sampled_softmax_loss` in two points: the target's logit is not
corrected by log(S Q(t)) (there the estimate drifts by that amount as S
grows), and every candidate equal to the target is left out, not one copy.

Here the proposal is log-uniform (Zipfian) over the ids the model can emit
(`[PAD]` and `[BOS]` left out, the others in id order j = 0, 1, ...):
`Q(j) = log((j + 2) / (j + 1)) / log(n + 1)` over n ids, which suits
`vae_zoo.text.TextCodec` vocabularies (most frequent words first). The
candidates are drawn statelessly from the training step's own seed, so a
resumed or distributed run draws the same ones; one draw serves the whole
batch. Under `jit_compile=True` they come from XLA's generator, which gives
other numbers for the same seed than the plain one (as word dropout's do):
an XLA run and a plain run draw different candidates. Evaluation, the importance-weighted NLL and
every exported signature use the exact softmax: only the training loss (and
the `reconstruction` it logs) is the sampled estimate.

Example:

>>> import numpy as np
>>> ids, log_q = log_uniform_candidates(4, 100, [1, 2])
>>> ids.shape, bool(np.all((ids.numpy() >= 0) & (ids.numpy() < 100)))
(TensorShape([4]), True)
"""

import math

import tensorflow as tf


def log_uniform_log_prob(ids, vocab_size):
    """log Q(id) of the log-uniform proposal over `vocab_size` ids (float32, the shape of `ids`)."""
    ids = tf.cast(ids, tf.float64)
    return tf.cast(tf.math.log(tf.math.log1p(1.0 / (ids + 1.0)) / math.log(vocab_size + 1.0)), tf.float32)


def log_uniform_candidates(num_sampled, vocab_size, seed, excluded=()):
    """`num_sampled` ids drawn with replacement from the log-uniform proposal over the ids of
    `range(vocab_size)` not in `excluded` (in id order), and log(S Q(id)) of each.

    Inverse-CDF draws keyed by `seed` (`[2]`): `j = floor((n + 1) ** u) - 1`, `u ~ U[0, 1)`,
    over the n allowed ids; the candidate is the j-th allowed id.
    """
    excluded = set(excluded)
    allowed = [i for i in range(vocab_size) if i not in excluded]
    u = tf.random.stateless_uniform([num_sampled], seed, dtype=tf.float64)
    j = tf.cast(tf.floor(tf.exp(u * math.log(len(allowed) + 1.0))) - 1.0, tf.int32)
    j = tf.clip_by_value(j, 0, len(allowed) - 1)
    ids = tf.gather(tf.constant(allowed, tf.int32), j)
    return ids, log_uniform_log_prob(j, len(allowed)) + math.log(num_sampled)


def sampled_log_softmax(hidden, kernel, bias, labels, candidates, log_expected, banned_ids=()):
    """Per-position sampled estimate of log softmax(hidden @ kernel + bias)[label], `[...]`.

    `hidden` `[..., H]` (`[N, T, H]` positions, or `[tokens, H]` packed), `kernel` `[H, V]`,
    `bias` `[V]`, `labels` `[...]`,
    `candidates` `[S]` with `log_expected` = log(S Q(candidate)) `[S]`.
    The label's own logit enters the normalizer exactly; candidates equal to
    it, or in `banned_ids` (tokens the model never emits), are left out.
    """
    hidden = tf.cast(hidden, tf.float32)
    labels = tf.cast(labels, tf.int32)
    true_weights = tf.gather(tf.transpose(kernel), labels)  # [..., H]
    true_logits = tf.reduce_sum(hidden * true_weights, axis=-1) + tf.gather(bias, labels)
    sampled_logits = tf.tensordot(hidden, tf.gather(kernel, candidates, axis=1), 1)  # [..., S]
    sampled_logits += tf.gather(bias, candidates) - log_expected
    excluded = tf.equal(labels[..., None], candidates)
    for banned in banned_ids:
        excluded = tf.logical_or(excluded, tf.equal(candidates, banned))
    sampled_logits = tf.where(excluded, -math.inf, sampled_logits)
    logits = tf.concat([true_logits[..., None], sampled_logits], axis=-1)
    return true_logits - tf.reduce_logsumexp(logits, axis=-1)


#: `sampled_softmax="auto"` (SequenceVAE's default): AUTO_CANDIDATES candidates from a vocabulary of at
#: least AUTO_VOCABULARY tokens, else the exact softmax. On 2 CPU cores, batches of like length
#: (benchmarks/README.md): a step 1.7x faster at 10,000 tokens, 1.4x at 5,000 and 1.3x at 2,000,
#: where the candidates would be half the vocabulary and the estimate far from a softmax over it.
AUTO_VOCABULARY = 5_000
AUTO_CANDIDATES = 1_024


def check_sampled_softmax(sampled_softmax, tokens, vocab_size):
    """The validated number of candidates (0: the exact softmax; "auto": see AUTO_VOCABULARY); refuses
    what cannot apply."""
    if isinstance(sampled_softmax, str) and sampled_softmax == "auto":
        return AUTO_CANDIDATES if tokens and vocab_size >= AUTO_VOCABULARY else 0
    if isinstance(sampled_softmax, bool) or not isinstance(sampled_softmax, int) or sampled_softmax < 0:
        raise ValueError(
            "sampled_softmax must be a non-negative integer (0: exact softmax) or 'auto', got "
            f"{sampled_softmax!r}"
        )
    if sampled_softmax and not tokens:
        raise ValueError(
            "sampled_softmax applies to token sequences; a real-valued SequenceVAE has no softmax"
        )
    if sampled_softmax and sampled_softmax >= vocab_size:
        raise ValueError(
            f"sampled_softmax={sampled_softmax} candidates would not be fewer than the {vocab_size} tokens; "
            "use the exact softmax (0) or fewer candidates"
        )
    return sampled_softmax


__all__ = ["check_sampled_softmax", "log_uniform_candidates", "sampled_log_softmax"]
