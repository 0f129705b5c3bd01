"""Stateless seeds: the one form of randomness that reproduces in eager code, graphs and SavedModels.

A *row seed* is an int64, one per row of a batch (the `seed` input of the exported signatures; the
Python methods use `seed, seed + 1, ...`). Its *key* is the stateless seed `[2]` int32 holding all
64 bits of it (the low and the high 32-bit halves), so two different row seeds never share a key.
Every kind of draw of a row (prior, likelihood, posterior, importance samples) and every position or
chunk inside one gets its own key through `fold(keys, index)`:

    fold(key, index) = mix64(key XOR mix64(index + 0x9E3779B97F4A7C15))

with `mix64` the SplitMix64 finalizer, a bijection of 64-bit words. For a fixed `index`, `fold` is a
bijection of keys, so distinct row seeds keep distinct keys through any chain of folds (TensorFlow's
`stateless_fold_in` keeps only one random 32-bit word, which collides at birthday rates). All of it
is stock TensorFlow integer ops (BitwiseXor, RightShift, Mul on uint64, Bitcast), vectorized over
rows, so exported signatures compute it without TFP or vae_zoo.
"""

import numpy as np
import tensorflow as tf

from vae_zoo.utils.checks import is_integer

#: Streams folded into a row's key, one per kind of draw, so that draws of one row never collide.
PRIOR, LIKELIHOOD, POSTERIOR, IMPORTANCE = 0, 1, 2, 3

_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio, SplitMix64's increment
_MIX = (30, 0xBF58476D1CE4E5B9, 27, 0x94D049BB133111EB, 31)


def _check_int_seed(seed, what="seed"):
    if not is_integer(seed):
        return False
    if not -(2**63) <= int(seed) < 2**63:
        raise ValueError(f"{what} must fit in int64, got {seed}")
    return True


def as_seed(seed):
    """The `[2]` int32 stateless seed of one batch-wide draw: None (fresh random) or an int.

    An int `s` (int64 range) is its 64-bit key: `[s mod 2^32, s div 2^32]` as int32 words (so
    `s < 2^31` gives `[s, 0]`). A `[2]` int32 tensor (a seed built by the library itself, such as a
    training step's `(seed, step)`) passes through.
    """
    if seed is None:
        return tf.random.uniform([2], minval=-(2**31), maxval=2**31 - 1, dtype=tf.int32)
    if _check_int_seed(seed):
        return tf.bitcast(tf.constant(int(seed), tf.int64), tf.int32)
    if isinstance(seed, (tuple, list, np.ndarray)):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    seed = tf.convert_to_tensor(seed)
    if seed.dtype != tf.int32 or seed.shape.rank != 1 or seed.shape[0] not in (None, 2):
        raise ValueError(f"seed must be an int or None, got a {seed.dtype.name} tensor of shape {seed.shape}")
    return seed


def _mix64(x):
    """SplitMix64's finalizer on uint64 words: a bijection of 64-bit words."""
    shift1, mult1, shift2, mult2, shift3 = _MIX
    xor, right = tf.bitwise.bitwise_xor, tf.bitwise.right_shift

    def constant(value):
        return tf.constant(value, tf.uint64)

    x = xor(x, right(x, constant(shift1))) * constant(mult1)
    x = xor(x, right(x, constant(shift2))) * constant(mult2)
    return xor(x, right(x, constant(shift3)))


def _words(keys):
    """`[..., 2]` int32 keys -> `[...]` uint64 words (low half first)."""
    return tf.bitcast(tf.convert_to_tensor(keys, tf.int32), tf.uint64)


def _keys(words):
    return tf.bitcast(words, tf.int32)


def row_keys(seeds):
    """Per-row stateless keys `[B, 2]` int32 from integer row seeds `[B]`: all 64 bits of each seed."""
    seeds = tf.convert_to_tensor(seeds)
    if not seeds.dtype.is_integer:
        raise ValueError(f"seed must hold integers, one per row, got dtype {seeds.dtype.name}")
    if seeds.shape.rank is not None and seeds.shape.rank != 1:
        raise ValueError(f"seed must have shape [B] (one integer per row), got shape {seeds.shape}")
    return _keys(tf.bitcast(tf.cast(seeds, tf.int64), tf.uint64))


def fold(keys, index):
    """Keys `[..., 2]` folded with an integer `index` (a stream, a position, a chunk): a bijection of
    keys for each index, so distinct keys stay distinct, and other indices give unrelated keys."""
    tag = _mix64(tf.cast(tf.cast(index, tf.int64), tf.uint64) + tf.constant(_GOLDEN, tf.uint64))
    return _keys(_mix64(tf.bitwise.bitwise_xor(_words(keys), tag)))


def stream(keys, which):
    """`keys` `[B, 2]` for one kind of draw (PRIOR, LIKELIHOOD, ...): independent keys per kind."""
    return fold(keys, which)


def seed_rows(num_rows, seed=None):
    """The row seeds `[num_rows]` int64 that a Python method uses for its `seed` argument.

    An int `s` gives `s, s + 1, ..., s + num_rows - 1`; None draws a random start. So
    `model.sample(n, seed=s)` is the `sample` signature called with `seed = s + arange(n)`.
    Any other form (a pair, an array, a tensor) is refused: per-row seeds go to the methods that
    take them (`log_likelihood(x, row_seeds=...)`) or to the signatures.
    """
    if seed is None:
        base = tf.random.uniform([], maxval=2**62, dtype=tf.int64)
    elif _check_int_seed(seed):
        if isinstance(num_rows, (int, np.integer)) and int(seed) + max(int(num_rows), 1) - 1 >= 2**63:
            raise ValueError(f"seed {seed} and the {num_rows - 1} row seeds after it do not fit in int64")
        base = tf.constant(int(seed), tf.int64)
    else:
        raise ValueError(
            f"seed must be an int (row i uses row seed seed + i) or None, got {seed!r}; "
            "one seed per row is the exported signatures' `seed` input"
        )
    return base + tf.range(tf.cast(num_rows, tf.int64), dtype=tf.int64)


def per_row(fn, elems, output_signature):
    """`fn` applied to each row of `elems` (a tensor or a tuple of tensors with the same `[B]`):
    row i's output depends on row i's inputs alone, whatever else is in the batch."""
    return tf.map_fn(fn, elems, fn_output_signature=output_signature)


def per_row_normal(keys, shape):
    """`[B, *shape]` standard normal draws, row i keyed by `keys[i]` alone."""
    shape = list(shape)
    return per_row(lambda key: tf.random.stateless_normal(shape, key), keys, tf.TensorSpec(shape, tf.float32))
