"""Stateless seeds: the one form of randomness that reproduces in eager code, graphs and SavedModels."""

import numpy as np
import tensorflow as tf


def as_seed(seed):
    """A `[2]` int32 stateless seed from None (fresh random), an int, or a pair/tensor."""
    if seed is None:
        return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed) % (2**31 - 1), 0], tf.int32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)
    if seed.shape.rank != 1 or (seed.shape[0] is not None and seed.shape[0] != 2):
        raise ValueError(f"seed must be an int or a pair of ints (shape [2]), got shape {seed.shape}")
    return seed


#: Stateless seeds are pairs of int32 in [0, SEED_MODULUS); a row seed `s` (int64) is the pair
#: `[s mod M, (s div M) mod M]`, so an int seed `s < M` is the pair `[s, 0]`, as in `as_seed`.
SEED_MODULUS = 2**31 - 1

#: Streams folded into a row's key, one per kind of draw, so that draws of one row never collide.
PRIOR, LIKELIHOOD, POSTERIOR, IMPORTANCE = 0, 1, 2, 3


def row_keys(seeds):
    """Per-row stateless keys `[B, 2]` int32 from integer seeds `[B]` (one seed per row)."""
    seeds = tf.convert_to_tensor(seeds)
    if not seeds.dtype.is_integer:
        raise ValueError(f"seed must hold integers, one per row, got dtype {seeds.dtype.name}")
    if seeds.shape.rank is not None and seeds.shape.rank != 1:
        raise ValueError(f"seed must have shape [B] (one integer per row), got shape {seeds.shape}")
    seeds = tf.cast(seeds, tf.int64)
    modulus = tf.constant(SEED_MODULUS, tf.int64)
    return tf.cast(tf.stack([seeds % modulus, (seeds // modulus) % modulus], axis=-1), tf.int32)


def seed_rows(num_rows, seed=None):
    """The row seeds `[num_rows]` int64 that a Python method uses for its `seed` argument.

    An int `s` gives `s, s + 1, ..., s + num_rows - 1`; a pair `(a, b)` is the
    int `a + b * SEED_MODULUS`; None draws a random start. So
    `model.sample(n, seed=s)` is the `sample` signature called with
    `seed = s + arange(n)`.
    """
    if seed is None:
        base = tf.random.uniform([], maxval=SEED_MODULUS, dtype=tf.int64)
    elif isinstance(seed, (int, np.integer)):
        base = tf.constant(int(seed), tf.int64)
    else:
        pair = tf.cast(as_seed(seed), tf.int64)
        base = pair[0] + pair[1] * SEED_MODULUS
    return base + tf.range(tf.cast(num_rows, tf.int64), dtype=tf.int64)


def stream(keys, which):
    """`keys` `[B, 2]` folded with a stream id (PRIOR, LIKELIHOOD, ...): independent keys per kind of draw."""
    return tf.map_fn(
        lambda key: tf.random.experimental.stateless_fold_in(key, which),
        keys,
        fn_output_signature=tf.TensorSpec([2], tf.int32),
    )


def per_row(fn, elems, output_signature):
    """`fn` applied to each row of `elems` (a tensor or a tuple of tensors with the same `[B]`):
    row i's output depends on row i's inputs alone, whatever else is in the batch."""
    return tf.map_fn(fn, elems, fn_output_signature=output_signature)


def per_row_normal(keys, shape):
    """`[B, *shape]` standard normal draws, row i keyed by `keys[i]` alone."""
    shape = list(shape)
    return per_row(lambda key: tf.random.stateless_normal(shape, key), keys, tf.TensorSpec(shape, tf.float32))
