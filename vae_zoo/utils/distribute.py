"""Helpers for code that runs inside a `tf.distribute` replica context (and on one device alike)."""

import tensorflow as tf


def global_batch_draw(sampler, num_samples, batch_size, event_shape, seed):
    """A stateless draw `[num_samples, batch_size, *event_shape]` for this replica's rows.

    `sampler(shape, seed)` is a stateless sampler (`tf.random.stateless_normal`, ...).
    Under N replicas, replica r takes rows [rB, (r+1)B) of one
    `[num_samples, N*B, *event_shape]` draw, so a global batch gets the same
    noise on any number of replicas as on one device.
    """
    event_shape = list(event_shape)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return sampler([num_samples, batch_size, *event_shape], seed)
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    full = sampler([num_samples, batch_size * replicas, *event_shape], seed)
    start = tf.cast(replica, tf.int32) * batch_size
    return full[:, start : start + batch_size]


def global_batch_mean(values):
    """Mean over the global batch (all replicas) of `values` `[B, ...]`; no gradient."""
    values = tf.stop_gradient(values)
    total = tf.reduce_sum(values, axis=0)
    count = tf.cast(tf.shape(values)[0], values.dtype)
    context = tf.distribute.get_replica_context()
    if context is not None and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        total, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [total, count])
    return total / count


def multi_worker():
    """Whether the current strategy is a MultiWorkerMirroredStrategy spanning several workers."""
    strategy = tf.distribute.get_strategy()
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()
