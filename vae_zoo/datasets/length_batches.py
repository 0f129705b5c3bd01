"""Batches of token sequences of like length: what a batch costs is the positions its longest row uses.

Sentences are padded to one `max_length` when tokenized, but a recurrent model's step costs
the positions it reads: `SequenceVAE` reads only up to its batch's last non-padding token
(`vae_zoo.models.sequence_bounds.used_length`, exact: the padding after it counts zero).
Batched in random order, nearly every batch holds one long sentence and pays for
`max_length`; grouped by length, a batch pays for about its own rows' length. WordNet's
training sentences use 10.4 of 32 positions on average.

`length_grouped_batches` is the bucketing of torchtext's BucketIterator and fairseq: each
epoch, the rows are shuffled, cut into pools of `pool` batches, sorted by length inside a
pool (stable: rows of one length stay in shuffled order), cut into batches, and the batches
are shuffled again. Every row is used once an epoch as with `shuffle().batch()`, and the
number of batches is the same (`rows // batch_size` with `drop_remainder`), which the
dataset's cardinality states so that Keras shows the epoch's length.

`length_sorted_batches` is the evaluation order (no shuffling): per-example means do not
depend on the order, and the batches cost their rows' length.

Example:

>>> import numpy as np
>>> tokens = np.array([[5, 0, 0], [5, 6, 7], [5, 6, 0], [5, 0, 0]], "int32")
>>> [b.shape[0] for b in length_sorted_batches(tokens, 2)]
[2, 2]
>>> [int((b != 0).sum(axis=1).max()) for b in length_sorted_batches(tokens, 2).as_numpy_iterator()]
[1, 3]
"""

import numpy as np
import tensorflow as tf

#: Batches per pool that is sorted by length (torchtext sorts pools of 100 batches).
DEFAULT_POOL = 64


def token_lengths(tokens, pad_id=0):
    """Non-padding positions per row of `tokens` `[N, T]` (NumPy)."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
        raise ValueError(
            f"token ids must be an integer array [rows, positions]; got {tokens.dtype} {tokens.shape}"
        )
    return (tokens != pad_id).sum(axis=1).astype(np.int32)


def length_grouped_batches(tokens, batch_size, pad_id=0, seed=None, pool=DEFAULT_POOL, drop_remainder=True):
    """A reshuffled-every-epoch `tf.data.Dataset` of `[batch_size, T]` batches of like-length rows."""
    if int(batch_size) < 1 or int(pool) < 1:
        raise ValueError(f"batch_size and pool must be >= 1; got batch_size={batch_size}, pool={pool}")
    lengths = token_lengths(tokens, pad_id)
    rows, batch_size, pool = len(lengths), int(batch_size), int(pool)
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(tokens), lengths))
    ds = ds.shuffle(max(rows, 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size * pool)
    ds = ds.map(lambda t, n: tf.gather(t, tf.argsort(n, stable=True)), num_parallel_calls=1)
    ds = ds.unbatch().batch(batch_size, drop_remainder=drop_remainder)
    batch_seed = None if seed is None else int(seed) + 1
    ds = ds.shuffle(pool, seed=batch_seed, reshuffle_each_iteration=True)
    batches = rows // batch_size if drop_remainder else -(-rows // batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(batches))


def length_sorted_batches(tokens, batch_size, pad_id=0):
    """`[batch_size, T]` batches of `tokens` in order of length (stable), the last one short."""
    order = np.argsort(token_lengths(tokens, pad_id), kind="stable")
    return tf.data.Dataset.from_tensor_slices(np.asarray(tokens)[order]).batch(int(batch_size))
