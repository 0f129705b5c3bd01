"""Helpers for code that runs inside a `tf.distribute` replica context (and on one device alike).

A global batch need not split evenly: `tf.distribute` cuts a short last batch of R rows into
contiguous pieces in replica order, the first `R % N` replicas taking one row more, and a replica
may get no rows at all (1 row on 2 replicas: 1 and 0). So nothing here assumes equal rows per
replica: the global rows and a replica's first global row come from the replicas' row counts.
On one device (or outside a replica context) no collective runs.

Every all-reduce here goes through `all_reduce_sum`, which places its values on the replica's device
first: MultiWorkerMirroredStrategy's collectives take their destination from each value's device, and
a variable read inside a replica (a metric's running total) has none ("destinations can not be empty").
"""

import tensorflow as tf

from vae_zoo.utils.keras_compat import in_multi_worker_mode


def replicated():
    """The replica context when more than one replica runs in sync, else None."""
    if tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return None
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def all_reduce_sum(context, values):
    """`context.all_reduce(SUM, values)` for a replica context, each value first copied onto
    this replica's device.

    `tf.identity` under the replica's device scope gives a value the device that a read of a variable
    (colocated with it, so without a device of its own) lacks; MirroredStrategy reduces either alike.
    """
    return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.nest.map_structure(tf.identity, values))


def replica_rows(rows):
    """`(offset, total)` int32: this replica's first row in the global batch and the global batch's rows.

    `rows` is this replica's row count. On one device: `(0, rows)`, with no collective.
    Under N replicas, one all-reduce of a one-hot of the replica's rows gives every replica's count.
    """
    rows = tf.cast(rows, tf.int32)
    context = replicated()
    if context is None:
        return tf.constant(0, tf.int32), rows
    replicas = context.num_replicas_in_sync
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    counts = all_reduce_sum(context, tf.one_hot(replica, replicas, dtype=tf.int32) * rows)
    offset = tf.reduce_sum(tf.where(tf.range(replicas) < replica, counts, 0))
    return offset, tf.reduce_sum(counts)


def global_rows(rows):
    """The rows of the global batch (all replicas) given this replica's `rows`; `rows` itself
    on one device."""
    return replica_rows(rows)[1]


def global_batch_draw(sampler, num_samples, batch_size, event_shape, seed):
    """A stateless draw `[num_samples, batch_size, *event_shape]` for this replica's rows.

    `sampler(shape, seed)` is a stateless sampler (`tf.random.stateless_normal`, ...);
    `batch_size` is this replica's row count. Under N replicas, replica r takes
    rows [offset_r, offset_r + batch_size) of one `[num_samples, R, *event_shape]`
    draw, R the global batch's rows and offset_r the rows of the replicas before r,
    so a global batch gets the same noise on any number of replicas as on one
    device, however its rows split.
    """
    event_shape = list(event_shape)
    if replicated() is None:
        return sampler([num_samples, batch_size, *event_shape], seed)
    offset, total = replica_rows(batch_size)
    full = sampler([num_samples, total, *event_shape], seed)
    return full[:, offset : offset + tf.cast(batch_size, tf.int32)]


def global_batch_mean(values):
    """Mean over the global batch (all replicas) of `values` `[B, ...]`; no gradient.

    Sums and row counts are all-reduced, so replicas holding different rows (or none) weigh each row alike.
    """
    values = tf.stop_gradient(values)
    total = tf.reduce_sum(values, axis=0)
    count = tf.cast(tf.shape(values)[0], values.dtype)
    context = replicated()
    if context is not None:
        total, count = all_reduce_sum(context, [total, count])
    return total / count


def rows_of_all_replicas(strategy, row):
    """`[replicas, len(row)]` int32 numpy: every replica's `row` (ints), from outside a replica context.

    Each replica contributes the `row` of its own process, so under MultiWorkerMirroredStrategy every
    worker learns every worker's row (one collective: all workers must call this, in the same order).
    Under one process no collective runs: every row is this `row`.
    """
    row = tf.constant(row, tf.int32, shape=[len(row)])
    replicas = strategy.num_replicas_in_sync
    if not multi_worker(strategy):
        return tf.tile(row[None], [replicas, 1]).numpy()

    def one_row(context):
        return tf.one_hot(context.replica_id_in_sync_group, replicas, dtype=tf.int32)[:, None] * row[None]

    values = strategy.experimental_distribute_values_from_function(one_row)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None).numpy()


def multi_worker(strategy=None):
    """Whether `strategy` (by default the current one) is a MultiWorkerMirroredStrategy
    spanning several workers."""
    strategy = tf.distribute.get_strategy() if strategy is None else strategy
    return in_multi_worker_mode(strategy)
