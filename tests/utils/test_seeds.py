"""Row seeds key their rows with all 64 bits (vae_zoo/utils/seeds.py).

The keys before this were `[s mod M, (s div M) mod M]` (M = 2^31 - 1) folded by TensorFlow's
`stateless_fold_in`, which keeps one random 32-bit word: about 116 colliding pairs are expected
among 10^6 seeds, and s and s + M^2 had the same key. Both tests below fail on that scheme.
"""

import numpy as np
import pytest
import tensorflow as tf

from vae_zoo.utils import seeds

M = 2**31 - 1


def _words(keys):
    return tf.bitcast(keys, tf.uint64).numpy()


@pytest.mark.parametrize("which", [seeds.PRIOR, seeds.LIKELIHOOD, seeds.POSTERIOR, seeds.IMPORTANCE])
def test_a_million_seeds_keep_a_million_keys_through_every_stream_and_position(which):
    keys = seeds.row_keys(np.arange(10**6, dtype=np.int64))
    assert len(np.unique(_words(keys))) == 10**6
    streamed = seeds.stream(keys, which)
    assert len(np.unique(_words(streamed))) == 10**6
    for position in (0, 7):  # the decoder's per-position keys, the importance chunks' keys
        assert len(np.unique(_words(seeds.fold(streamed, position)))) == 10**6


def test_seeds_that_agree_modulo_the_old_key_width_get_other_keys():
    base = np.array([0, 1, 12345, 2**40 + 5], np.int64)
    for shift in (M**2, 2**32, 2**31 - 1, -(2**62)):
        a, b = (seeds.stream(seeds.row_keys(s), seeds.PRIOR) for s in (base, base + shift))
        assert (_words(a) != _words(b)).all(), shift


def test_fold_is_stateless_and_separates_streams_and_positions():
    keys = seeds.row_keys(np.arange(1000, dtype=np.int64))
    np.testing.assert_array_equal(seeds.fold(keys, 3).numpy(), seeds.fold(keys, 3).numpy())
    words = {which: set(_words(seeds.stream(keys, which))) for which in range(4)}
    for i in range(4):
        for j in range(i):
            assert not words[i] & words[j], (i, j)
    graph = tf.function(lambda k, i: seeds.fold(k, i))  # stock integer ops in a graph give the same keys
    np.testing.assert_array_equal(graph(keys, tf.constant(5)).numpy(), seeds.fold(keys, 5).numpy())


def test_keys_hold_the_seed_itself():
    """row_keys is the seed's two 32-bit halves (low first), so small seeds are [s, 0]."""
    np.testing.assert_array_equal(seeds.row_keys([3, 2**32 + 7, -1]).numpy(), [[3, 0], [7, 1], [-1, -1]])
    np.testing.assert_array_equal(seeds.as_seed(3).numpy(), [3, 0])


def test_seed_forms_are_refused_naming_the_form():
    for seed in ((1, 2), [1, 2], np.array([1, 2]), 1.5, True):
        with pytest.raises(ValueError, match=r"seed must be an int"):
            seeds.seed_rows(2, seed)
    with pytest.raises(ValueError, match="do not fit in int64"):
        seeds.seed_rows(3, 2**63 - 2)
    with pytest.raises(ValueError, match="seed must have shape \\[B\\]"):
        seeds.row_keys([[1, 2]])
    with pytest.raises(ValueError, match="seed must hold integers"):
        seeds.row_keys([1.0])
