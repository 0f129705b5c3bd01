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
